import { isPlainObject } from './clone.js';

// The server compares numbers by their exact value whatever their BSON type: a double 9.99 (which
// is 9.99000000000000021...) is greater than Decimal128 9.99, and Long 2^53 + 1 is not the double
// 2^53. Doubles cannot say so. Where a BSON number takes part, the live matcher compares every
// number through the exact form below: mingo compares instances of one class by `toString()`,
// and this text sorts as the values do and is equal exactly when they are.

/** A number in its exact, comparable form. */
class ExactNumber {
  constructor(readonly key: string) {}
  toString(): string {
    return this.key;
  }
}

/**
 * NaN: equal to NaN and to nothing else, and neither above nor below any number, as in the
 * server's queries (`{ $lte: 5 }` does not match it). Its own class keeps mingo from ordering it.
 */
class ExactNaN {
  readonly key = 'NaN';
  toString(): string {
    return this.key;
  }
}

/** A finite nonzero value as `0.digits * 10^point`, digits without leading or trailing zeros. */
interface Decimal {
  readonly negative: boolean;
  readonly digits: string;
  readonly point: number;
}

type Value = Decimal | 'nan' | '-inf' | 'zero' | '+inf';

// -Infinity, negatives, zero of either sign, positives, +Infinity.
const SPECIAL: Record<Exclude<Value, Decimal>, string> = {
  nan: 'A',
  '-inf': 'B',
  zero: 'D',
  '+inf': 'F',
};
const POINT_BIAS = 100_000;

function keyOf(value: Value): string {
  if (typeof value === 'string') return SPECIAL[value];
  const { negative, digits, point } = value;
  if (!negative) return `E${String(point + POINT_BIAS).padStart(6, '0')}${digits}`;
  // A larger magnitude sorts lower: the point and every digit are complemented, and a mark above
  // every digit ends the text so that -0.15 sorts above -0.151.
  let flipped = '';
  for (const d of digits) flipped += String(9 - Number(d));
  return `C${String(POINT_BIAS - point).padStart(6, '0')}${flipped}~`;
}

/** `sign * integer * 10^exponent` in the normal form. */
function decimal(negative: boolean, integer: string, exponent: number): Value {
  const start = integer.search(/[1-9]/);
  if (start < 0) return 'zero';
  const significant = integer.slice(start);
  const digits = significant.replace(/0+$/, '');
  return { negative, digits, point: exponent + significant.length };
}

const view = new DataView(new ArrayBuffer(8));

/** The exact decimal value of a double: every finite double is a finite decimal. */
function ofDouble(x: number): Value {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? '+inf' : '-inf';
  if (Number.isSafeInteger(x)) return decimal(x < 0, String(Math.abs(x)), 0);
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const biased = Number((bits >> 52n) & 0x7ffn);
  const fraction = bits & 0xfffffffffffffn;
  const mantissa = biased === 0 ? fraction : fraction | (1n << 52n);
  const power = (biased === 0 ? 1 : biased) - 1075;
  const negative = x < 0;
  if (power >= 0) return decimal(negative, String(mantissa << BigInt(power)), 0);
  // mantissa * 2^power = mantissa * 5^-power * 10^power
  return decimal(negative, String(mantissa * 5n ** BigInt(-power)), power);
}

const DECIMAL_TEXT = /^(-?)(\d+)(?:\.(\d*))?(?:E([+-]?\d+))?$/i;

/** The value of Decimal128's text (`1.50`, `-1.2E+3`, `NaN`, `-Infinity`). */
function ofDecimalText(text: string): Value {
  if (/^-?NaN$/i.test(text)) return 'nan';
  if (/^-?Inf/i.test(text)) return text.startsWith('-') ? '-inf' : '+inf';
  const match = DECIMAL_TEXT.exec(text);
  if (match === null) throw new Error(`cannot read the Decimal128 ${text}`);
  const [, sign, whole = '', fraction = '', exponent = '0'] = match;
  return decimal(sign === '-', whole + fraction, Number(exponent) - fraction.length);
}

/** The exact value of a JS or BSON number, or `undefined` for anything else. */
function valueOf(value: unknown): Value | undefined {
  if (typeof value === 'number') return ofDouble(value);
  if (typeof value === 'bigint') return decimal(value < 0n, String(value < 0n ? -value : value), 0);
  const bson = (value as { _bsontype?: unknown } | null | undefined)?._bsontype;
  switch (bson) {
    case 'Int32':
    case 'Double':
      return ofDouble(Number((value as { valueOf(): unknown }).valueOf()));
    case 'Long': {
      const text = String(value);
      return decimal(text.startsWith('-'), text.replace('-', ''), 0);
    }
    case 'Decimal128':
      return ofDecimalText(String(value));
    default:
      return undefined;
  }
}

/** The text a number compares by: equal exactly when the values are, ordered as they are. */
export function exactNumberKey(value: unknown): string | undefined {
  const exact = valueOf(value);
  return exact === undefined ? undefined : keyOf(exact);
}

/**
 * `value` with every number, JS or BSON, in its exact form (plain objects and arrays copied).
 * Documents and query operands must both be in this form to be compared.
 */
export function withExactNumbers<T>(value: T): T {
  const key = exactNumberKey(value);
  if (key !== undefined) return (key === SPECIAL.nan ? new ExactNaN() : new ExactNumber(key)) as T;
  if (Array.isArray(value)) return value.map(withExactNumbers) as T;
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const name of Object.keys(value)) out[name] = withExactNumbers(value[name]);
    return out as T;
  }
  return value;
}
