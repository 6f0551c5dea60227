// Prints the gzip size of what importing particle-sync/client and particle-sync/react loads from
// the package (the entry and every chunk it reaches; dependencies not counted), and fails when
// one is over its budget.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const dist = resolve(process.argv[2] ?? 'dist');
// Milestone 2 raised these from 18 / 21 KiB: subscriptions (handles, windows, their wire
// messages and validators), then writes (pending mutations, the optimistic layer, batches,
// direct writes and leases), then publications (the throttled publish handles and their
// messages) and the pacing of mutations to the server's frame bound. Trimming the validators
// shipped to the client is open work. Then +1.5 KiB: a delta's cost no longer grows with its
// root (versions of the root read only when read, ops copying only the path they change). Then +0.5 KiB: the three-parameter rule turned long
// parameter lists into small context classes and option objects. Then +0.5 KiB for the client:
// protocol 2's wire ops (their schema and the conversion to the named ops `on` events carry),
// about 200 bytes of code that save about 60 bytes on every delta.
const budgets = { 'client/index.js': 33.5 * 1024, 'react/index.js': 38.5 * 1024 };

function reach(file, seen = new Set()) {
  if (seen.has(file)) return seen;
  seen.add(file);
  const text = readFileSync(file, 'utf8');
  for (const m of text.matchAll(/(?:from|import)\s*["'](\.[^"']+)["']/g)) {
    reach(join(dirname(file), m[1]), seen);
  }
  return seen;
}

let over = false;
for (const [entry, budget] of Object.entries(budgets)) {
  const files = [...reach(join(dist, entry))];
  const bytes = gzipSync(files.map((f) => readFileSync(f, 'utf8')).join('\n')).length;
  const line = `${entry}: ${(bytes / 1024).toFixed(1)} KiB gzip (budget ${budget / 1024} KiB, ${files.length} files)`;
  console.log(bytes > budget ? `OVER ${line}` : line);
  over ||= bytes > budget;
}
process.exit(over ? 1 : 0);
