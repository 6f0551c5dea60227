import { ParticleError } from '../protocol/errors.js';

/** The edit distance between two keys (insertions, deletions, substitutions, swaps). */
function distance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const prev = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row.push(d);
    }
    rows.push(row);
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/** The valid key closest to `key` (case-insensitive edit distance; ties: the first listed). */
export function closestKey(key: string, allowed: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const d = distance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/**
 * Throws `ParticleError('config')` for the first key of `given` that is not in `allowed`,
 * naming the closest valid key: "dataSources.messages: unknown key 'criterias' (did you mean
 * 'criteria'?)". A misspelled option must never be silently ignored.
 */
export function checkConfigKeys(where: string, given: object, allowed: readonly string[]): void {
  for (const key of Object.keys(given)) {
    if (allowed.includes(key)) continue;
    const closest = closestKey(key, allowed);
    throw new ParticleError(
      'config',
      `${where}: unknown key '${key}'${closest === undefined ? '' : ` (did you mean '${closest}'?)`}`,
    );
  }
}

/** Throws `ParticleError('config')` unless `value` is undefined or a positive integer. */
export function checkPositiveInteger(where: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ParticleError('config', `${where} must be a positive integer, not ${String(value)}`);
  }
}
