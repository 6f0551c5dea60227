/**
 * The wire fake's query evaluation, faithful where mingo alone is not: numbers compare by exact
 * value whatever their BSON type (Double, Int32, Long, Decimal128, as the manual's
 * "Comparison/Sort Order" says: "numeric types undergo conversion before comparison"), and
 * BinData by length, subtype and bytes. mingo compares a Decimal128 as an object and a Binary
 * by its UTF-8 text, so two legacy UUIDs differing only in invalid-UTF-8 bytes look alike.
 *
 * Each number and each Binary, in the documents and in the query's operands, is replaced by a
 * key whose text order is the server's order; mingo then compares those keys (it compares
 * instances of one class by `toString()`), and returns the original documents. Queries using
 * `$type`, `$mod`, `$bitsAll...`, `$expr` or `$where` are evaluated by plain mingo, with its
 * lossy comparisons. This is test support, written independently of Particle's own matcher.
 */
import { Query } from 'mingo';

type Doc = Record<string, unknown>;

/** A number, keyed by its exact value. */
class FakeNumber {
  constructor(readonly key: string) {}
  toString(): string {
    return this.key;
  }
}

/**
 * NaN, which the server's comparison operators find equal to NaN only and neither below nor
 * above any number: a class of its own, which mingo never orders against a number.
 */
class FakeNaN {
  readonly key = 'nan';
  toString(): string {
    return this.key;
  }
}

function numberForm(parts: Parts): FakeNumber | FakeNaN {
  return 'special' in parts && parts.special === 'nan'
    ? new FakeNaN()
    : new FakeNumber(numberKey(parts));
}

/** BinData, keyed by length, subtype and bytes (the manual's BinData order). */
class FakeBinData {
  constructor(readonly key: string) {}
  toString(): string {
    return this.key;
  }
}

const RAW_OPERATORS = new Set([
  '$type',
  '$mod',
  '$bitsAllSet',
  '$bitsAllClear',
  '$bitsAnySet',
  '$bitsAnyClear',
  '$expr',
  '$where',
  '$jsonSchema',
]);

/** A matcher for one filter, evaluated the way the server compares these types. */
export function compileFakeQuery(filter: Doc): (doc: Doc) => boolean {
  if (usesRaw(filter)) {
    const raw = new Query(filter);
    return (doc) => raw.test(doc);
  }
  const query = new Query(queryForm(filter) as Doc);
  return (doc) => query.test(comparisonForm(doc) as Doc);
}

/** `find` over `docs`: filter, sort, skip, limit, then projection, on the original documents. */
export function fakeFind(
  docs: Doc[],
  filter: Doc,
  options: { projection?: Doc; sort?: Doc; skip?: number; limit?: number },
): Doc[] {
  let found: Doc[];
  if (usesRaw(filter)) {
    let cursor = new Query(filter).find(docs);
    if (options.sort) cursor = cursor.sort(options.sort as Record<string, 1 | -1>);
    found = cursor.all() as Doc[];
  } else {
    const test = compileFakeQuery(filter);
    const original = new Map<Doc, Doc>();
    const forms: Doc[] = [];
    for (const doc of docs) {
      if (!test(doc)) continue;
      const form = comparisonForm(doc) as Doc;
      original.set(form, doc);
      forms.push(form);
    }
    const sorted = options.sort
      ? (new Query({})
          .find(forms)
          .sort(options.sort as Record<string, 1 | -1>)
          .all() as Doc[])
      : forms;
    found = sorted.map((form) => {
      const doc = original.get(form);
      if (!doc) throw new Error('fakeFind: the sort returned a document it was not given');
      return doc;
    });
  }
  if (options.skip !== undefined && options.skip > 0) found = found.slice(options.skip);
  if (options.limit !== undefined && options.limit > 0) found = found.slice(0, options.limit);
  if (!options.projection) return found;
  return new Query({}).find(found, options.projection).all() as Doc[];
}

function usesRaw(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(usesRaw);
  if (!isPlain(value)) return false;
  return Object.entries(value).some(([key, v]) => RAW_OPERATORS.has(key) || usesRaw(v));
}

/** The query with every operand that is compared by value in its comparison form. */
function queryForm(query: Doc): Doc {
  const out: Doc = {};
  for (const [key, cond] of Object.entries(query)) {
    if (key === '$and' || key === '$or' || key === '$nor') {
      out[key] = (cond as Doc[]).map(queryForm);
    } else if (key.startsWith('$')) {
      out[key] = cond;
    } else {
      out[key] = conditionForm(cond);
    }
  }
  return out;
}

function conditionForm(cond: unknown): unknown {
  if (!isPlain(cond) || !Object.keys(cond).some((k) => k.startsWith('$'))) {
    return comparisonForm(cond);
  }
  const out: Doc = {};
  for (const [op, operand] of Object.entries(cond)) {
    switch (op) {
      case '$eq':
      case '$ne':
      case '$gt':
      case '$gte':
      case '$lt':
      case '$lte':
        out[op] = comparisonForm(operand);
        break;
      case '$in':
      case '$nin':
      case '$all':
        out[op] = (operand as unknown[]).map(comparisonForm);
        break;
      case '$not':
        out[op] = operand instanceof RegExp ? operand : conditionForm(operand);
        break;
      case '$elemMatch': {
        const ops = isPlain(operand) && Object.keys(operand).every((k) => k.startsWith('$'));
        out[op] = ops ? conditionForm(operand) : queryForm(operand as Doc);
        break;
      }
      default:
        out[op] = operand;
    }
  }
  return out;
}

/** `value` with every number and Binary replaced by its key (plain objects and arrays copied). */
export function comparisonForm(value: unknown): unknown {
  if (typeof value === 'number') return numberForm(doubleParts(value));
  if (typeof value === 'bigint') return numberForm(exact(value, 0));
  if (Array.isArray(value)) return value.map(comparisonForm);
  if (isPlain(value)) {
    const out: Doc = {};
    for (const [key, v] of Object.entries(value)) out[key] = comparisonForm(v);
    return out;
  }
  const bson = (value as { _bsontype?: unknown } | null | undefined)?._bsontype;
  switch (bson) {
    case 'Int32':
    case 'Double':
      return comparisonForm((value as { valueOf(): number }).valueOf());
    case 'Long':
      return numberForm(exact(BigInt(String(value)), 0));
    case 'Decimal128':
      return numberForm(decimalParts(String(value)));
    case 'Binary': {
      const { buffer, sub_type } = value as { buffer: Uint8Array; sub_type: number };
      const hex = Buffer.from(buffer.buffer, buffer.byteOffset, buffer.byteLength).toString('hex');
      return new FakeBinData(`${pad(buffer.byteLength, 10)}:${pad(sub_type, 3)}:${hex}`);
    }
    default:
      return value;
  }
}

/** A number as sign, coefficient and power of ten (`coef * 10^exp`), or a special value. */
type Parts =
  { special: 'nan' | '+inf' | '-inf' } | { negative: boolean; coef: bigint; exp: number };

function exact(n: bigint, exp: number): Parts {
  return { negative: n < 0n, coef: n < 0n ? -n : n, exp };
}

/** The exact decimal value of a double (every finite double is a finite decimal). */
function doubleParts(x: number): Parts {
  if (Number.isNaN(x)) return { special: 'nan' };
  if (x === Infinity) return { special: '+inf' };
  if (x === -Infinity) return { special: '-inf' };
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const negative = bits >> 63n === 1n;
  const biased = Number((bits >> 52n) & 0x7ffn);
  let mantissa = bits & ((1n << 52n) - 1n);
  let e2 = -1074;
  if (biased !== 0) {
    mantissa |= 1n << 52n;
    e2 = biased - 1075;
  }
  // m * 2^e2 = m * 5^-e2 * 10^e2 when e2 < 0
  if (e2 >= 0) return { negative, coef: mantissa << BigInt(e2), exp: 0 };
  return { negative, coef: mantissa * 5n ** BigInt(-e2), exp: e2 };
}

function decimalParts(text: string): Parts {
  if (/^-?NaN$/i.test(text)) return { special: 'nan' };
  if (/^Infinity$/i.test(text)) return { special: '+inf' };
  if (/^-Infinity$/i.test(text)) return { special: '-inf' };
  const m = /^(-)?(\d+)(?:\.(\d+))?(?:E([+-]?\d+))?$/i.exec(text);
  if (!m) throw new Error(`fakeQuery: cannot read the Decimal128 ${text}`);
  const frac = m[3] ?? '';
  return {
    negative: m[1] === '-',
    coef: BigInt(`${m[2] ?? '0'}${frac}`),
    exp: Number(m[4] ?? 0) - frac.length,
  };
}

/**
 * A text whose order is the numbers' order and whose equality is their equality: NaN first (the
 * server sorts it below every number and matches it to itself), then negatives, zero (either
 * sign), positives. A nonzero value is 0.d1d2...dn * 10^E with d1 != 0 and no trailing zero.
 */
function numberKey(parts: Parts): string {
  if ('special' in parts) return { nan: '0', '-inf': '1', '+inf': '4' }[parts.special];
  if (parts.coef === 0n) return '2';
  let digits = parts.coef.toString();
  let exp = parts.exp;
  const trimmed = digits.replace(/0+$/, '');
  exp += digits.length - trimmed.length;
  digits = trimmed;
  const magnitude = pad(exp + digits.length + 50_000, 6);
  if (!parts.negative) return `3${magnitude}${digits}`;
  // Larger magnitudes sort lower: complement every digit, and end with a mark above any digit so
  // that -0.15 sorts above -0.151.
  return `1${complement(magnitude)}${complement(digits)}~`;
}

function complement(digits: string): string {
  return digits.replace(/\d/g, (d) => String(9 - Number(d)));
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function isPlain(value: unknown): value is Doc {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
