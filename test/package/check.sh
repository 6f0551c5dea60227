#!/usr/bin/env bash
# Checks what ships: packs the tarball, lints it (publint, attw), prints the client/react size
# budget, then installs it into a scratch app under its own name and under another one and runs
# a smoke test of every subpath from there.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

npm pack --pack-destination "$scratch" --silent >/dev/null
tarball=$(ls "$scratch"/particle-sync-*.tgz)
echo "packed $(basename "$tarball")"
tar -xzf "$tarball" -C "$scratch" package/package.json package/LICENSE
node -e '
const p = require(process.argv[1]);
const scripts = Object.keys(p.scripts ?? {}).filter((s) => /^(pre|post)?install$|^prepare$/.test(s));
if (scripts.length) { console.error("install-time scripts in the package: " + scripts); process.exit(1); }
console.log("no install-time scripts; LICENSE present");
' "$scratch/package/package.json"

npx publint run "$tarball" --strict
npx attw "$tarball" --profile esm-only --format table-flipped
node test/package/size.mjs dist
node test/package/exports.mjs

app="$scratch/app"
mkdir -p "$app"
cp test/package/smoke.mjs "$app/"
node -e '
const v = (n) => require(process.argv[1] + "/node_modules/" + n + "/package.json").version;
const pkg = { name: "scratch", private: true, type: "module", dependencies: {
  "particle-sync": "file:" + process.argv[2], "particle-alias": "file:" + process.argv[2],
  react: v("react"), "react-dom": v("react-dom"), mongodb: v("mongodb"), ws: v("ws"), redis: v("redis"), mysql2: v("mysql2"), "happy-dom": v("happy-dom") } };
require("fs").writeFileSync(process.argv[3] + "/package.json", JSON.stringify(pkg, null, 2));
' "$root" "$tarball" "$app"
(cd "$app" && npm install --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
(cd "$app" && node smoke.mjs particle-sync particle-alias)
