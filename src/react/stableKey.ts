/**
 * A string equal for two JSON-like values exactly when they are equal by value: object keys are
 * sorted, so `{ a: 1, b: 2 }` and `{ b: 2, a: 1 }` give the same key.
 */
export function stableKey(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) => {
    if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) return inner;
    const sorted: Record<string, unknown> = {};
    for (const field of Object.keys(inner).sort()) {
      sorted[field] = (inner as Record<string, unknown>)[field];
    }
    return sorted;
  });
}
