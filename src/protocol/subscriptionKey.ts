/**
 * JSON with object keys in sorted order, so equal values give equal strings whatever order
 * their keys were written in. `undefined` object members are left out, as JSON does.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  }
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((k) => record[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(record[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * The canonical name of one subscription: `source + '?' + canonical JSON of params`, plus
 * `'#' + limit` when a limit is given. `stream.snapshot` keys subscribed views by it, and
 * `initialData` is read by it.
 */
export function subscriptionKey(source: string, params?: unknown, limit?: number): string {
  const key = `${source}?${canonicalJson(params ?? {})}`;
  return limit === undefined ? key : `${key}#${limit}`;
}
