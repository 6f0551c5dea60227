import { isPlainObject } from './clone.js';

// mingo compares values of a class by `toString()`, and BSON's Binary prints its bytes as
// UTF-8: two legacy UUIDs (subtype 3) that differ only in bytes invalid as UTF-8 print alike, so
// one identity's criteria would match the other's documents. Queries holding bytes, and the
// documents tested against them, compare through this exact form instead.

/** Bytes with their BSON subtype, printed exactly. */
class ExactBytes {
  constructor(private readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

/** The bytes of a BSON Binary (UUID included) or a Uint8Array, with its subtype; else undefined. */
export function bytesOf(value: unknown): { bytes: Uint8Array; subtype: number } | undefined {
  if (value instanceof Uint8Array) return { bytes: value, subtype: -1 };
  if (typeof value !== 'object' || value === null) return undefined;
  const bson = value as { _bsontype?: unknown; buffer?: unknown; sub_type?: unknown };
  if (bson._bsontype !== 'Binary' || !(bson.buffer instanceof Uint8Array)) return undefined;
  return { bytes: bson.buffer, subtype: Number(bson.sub_type) };
}

/** The exact text of bytes: subtype and base64. */
export function bytesKey(value: { bytes: Uint8Array; subtype: number }): string {
  const { bytes, subtype } = value;
  return `${subtype}:${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}`;
}

/** Whether `value` holds bytes anywhere (in plain objects and arrays). */
export function holdsBytes(value: unknown): boolean {
  if (bytesOf(value)) return true;
  if (Array.isArray(value)) return value.some(holdsBytes);
  if (isPlainObject(value)) return Object.values(value).some(holdsBytes);
  return false;
}

/** `value` with every Binary and Uint8Array replaced by its exact form (a copy where needed). */
export function withExactBytes<T>(value: T): T {
  const bytes = bytesOf(value);
  if (bytes) return new ExactBytes(bytesKey(bytes)) as T;
  if (Array.isArray(value)) return value.map(withExactBytes) as T;
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) out[key] = withExactBytes(value[key]);
    return out as T;
  }
  return value;
}
