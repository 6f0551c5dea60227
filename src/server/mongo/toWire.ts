import { isPlainObject } from '../clone.js';

/** A JSON value, as documents travel to clients. */
export type WireValue =
  null | boolean | number | string | WireValue[] | { [key: string]: WireValue };

/**
 * Converts a stored value to what a client receives, the one documented place for it.
 * Particle applies it to the BSON values of every projected document ({@link wireBson}), so
 * payloads and ops already carry these forms; call it for the same form in your own code:
 *
 * | stored | on the wire |
 * |---|---|
 * | ObjectId | 24-digit hex string |
 * | Date | ISO 8601 string |
 * | Decimal128 | its decimal string (`"1.50"`) |
 * | Long / Int32 / Double | number (a Long beyond 2^53 becomes its decimal string) |
 * | UUID / Binary | UUID string / base64 string |
 * | Timestamp | `{ t, i }` |
 * | undefined (in an object) | left out, as JSON does |
 *
 * Criteria and identity values are never converted: they stay native on the server, so a
 * query compares an ObjectId with an ObjectId.
 */
export function toWire(value: unknown): WireValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
    case 'object':
      break;
    default:
      return null;
  }
  if (Array.isArray(value)) return value.map(toWire);
  if (value instanceof Date) return value.toISOString();
  if (isPlainObject(value)) {
    const out: Record<string, WireValue> = {};
    for (const [key, v] of Object.entries(value)) if (v !== undefined) out[key] = toWire(v);
    return out;
  }
  return bsonToWire(value);
}

/**
 * The form in which a projected document travels: every BSON value (anything with a
 * `_bsontype`: ObjectId, Decimal128, Long, Binary, UUID, Timestamp, ...) and every bigint,
 * at any depth, converted as {@link toWire} converts it; everything else (Dates included,
 * which JSON already turns into ISO strings) is left as it is. Returns `value` itself when
 * nothing needed converting. Applied once, when a document is projected for a group, so ids
 * and data of payloads and ops share one conversion.
 */
export function wireBson(value: unknown): unknown {
  if (typeof value === 'bigint') return toWire(value);
  if (typeof value !== 'object' || value === null) return value;
  // Plain loops: this runs for every document a group loads (100k for a big payload).
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const element: unknown = value[i];
      if (typeof element !== 'object' && typeof element !== 'bigint') continue;
      const converted = wireBson(element);
      if (converted !== element) (out ??= value.slice())[i] = converted;
    }
    return out ?? value;
  }
  if (isPlainObject(value)) {
    let out: Record<string, unknown> | undefined;
    for (const key of Object.keys(value)) {
      const v = value[key];
      if (typeof v !== 'object' && typeof v !== 'bigint') continue;
      const converted = wireBson(v);
      if (converted !== v) (out ??= { ...value })[key] = converted;
    }
    return out ?? value;
  }
  return typeof (value as BsonLike)._bsontype === 'string' ? bsonToWire(value) : value;
}

interface BsonLike {
  _bsontype?: string;
  toHexString?: () => string;
  toString: (radix?: number) => string;
  toNumber?: () => number;
  valueOf?: () => unknown;
  sub_type?: number;
  buffer?: Uint8Array;
  t?: number;
  i?: number;
  getHighBits?: () => number;
  getLowBits?: () => number;
}

function bsonToWire(value: BsonLike): WireValue {
  switch (value._bsontype) {
    case 'ObjectId':
      return value.toHexString ? value.toHexString() : value.toString();
    case 'Decimal128':
      return value.toString();
    case 'Long': {
      const n = value.toNumber ? value.toNumber() : Number(value.toString());
      return Number.isSafeInteger(n) ? n : value.toString();
    }
    case 'Int32':
    case 'Double':
      return Number(value.valueOf ? value.valueOf() : value.toString());
    case 'Binary':
      if (value.sub_type === 4) return uuidString(value.buffer ?? new Uint8Array());
      return Buffer.from(value.buffer ?? new Uint8Array()).toString('base64');
    case 'Timestamp':
      return { t: value.t ?? value.getHighBits?.() ?? 0, i: value.i ?? value.getLowBits?.() ?? 0 };
    default: {
      const json: unknown = JSON.parse(JSON.stringify(value) ?? 'null');
      return json as WireValue;
    }
  }
}

function uuidString(bytes: Uint8Array): string {
  const hex = Buffer.from(bytes).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
