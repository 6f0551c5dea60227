import { ParticleError } from './errors.js';

/** Edit distance with adjacent transpositions (optimal string alignment), case-insensitive. */
function distance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const rows: number[][] = [];
  for (let i = 0; i <= s.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= t.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const above = rows[i - 1]!;
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let best = Math.min(above[j]! + 1, row[j - 1]! + 1, above[j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) {
        best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      }
      row.push(best);
    }
    rows.push(row);
  }
  return rows[s.length]![t.length]!;
}

/** The entry of `allowed` nearest to `key` (the first of equally near ones), if any. */
export function closestKey(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const d = distance(key, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Throws a `ParticleError` with code `'config'` for the first own key of `given` that is not in
 * `allowed`, naming it and the closest valid key:
 * `"Collector: unknown key 'identty' (did you mean 'identity'?)"`. A key whose value is
 * `undefined` still counts: a misspelled option must never be silently ignored.
 * @param where what the options belong to, the start of the message (`'Collector'`,
 * `'dataSources.messages'`).
 */
export function checkKeys(where: string, given: object, allowed: readonly string[]): void {
  for (const key of Object.keys(given)) {
    if (allowed.includes(key)) continue;
    const closest = closestKey(key, allowed);
    const hint = closest === undefined ? '' : ` (did you mean '${closest}'?)`;
    throw new ParticleError('config', `${where}: unknown key '${key}'${hint}`);
  }
}

/**
 * A bad argument as an error message shows it: a scalar as itself (a string quoted), anything
 * else by its kind, so an object never reads as `[object Object]`.
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (
    typeof value === 'number' ||
    typeof value === 'boolean' ||
    typeof value === 'bigint' ||
    typeof value === 'symbol' ||
    value === undefined ||
    value === null
  ) {
    return String(value);
  }
  if (typeof value === 'function') return 'a function';
  return Array.isArray(value) ? 'an array' : 'an object';
}

/** Throws `ParticleError('config')` unless `value` is undefined or a positive integer. */
export function checkPositiveInteger(where: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ParticleError(
      'config',
      `${where} must be a positive integer, not ${describeValue(value)}`,
    );
  }
}
