/**
 * Freezes `value` and everything it holds, stopping at what is frozen already (a document
 * shared with an earlier version). What it freezes is JSON from the server: plain objects,
 * arrays and primitives, so own enumerable keys are all there is. About three times faster than
 * Immer's `freeze(value, true)`, which a 100k-document payload spends tens of milliseconds in.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) freezeAll(value);
  return value;
}

function freezeAll(value: object): void {
  Object.freeze(value);
  if (Array.isArray(value)) {
    for (const item of value as unknown[]) {
      if (typeof item === 'object' && item !== null && !Object.isFrozen(item)) freezeAll(item);
    }
    return;
  }
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    if (typeof item === 'object' && item !== null && !Object.isFrozen(item)) freezeAll(item);
  }
}
