import type { WireErrorCode } from '../protocol/messages.js';
import { canonicalKey } from './canonical.js';
import { isPlainObject } from './clone.js';
import { identityValues } from './criteria.js';
import type { IdentityLookup, IdentityRequest } from './stream.js';

/** The outcome of checking a claimed identity. */
export type Checked =
  | { ok: true; identity: Record<string, unknown> }
  | { ok: false; code: WireErrorCode; message: string };

/**
 * Turns a claimed identity into the one references read: bounded in size (`maxIdentityBytes`),
 * through `identityLookup`, with every referenced value a literal within `maxReferenceValues`.
 */
export class IdentityCheck {
  constructor(
    private readonly identityLookup: IdentityLookup | undefined,
    private readonly limits: { maxIdentityBytes: number; maxReferenceValues: number },
    /** The identity fields some reference reads. */
    private readonly fields: () => readonly string[],
  ) {}

  /** The identity references read, or the refusal to answer (`bad_identity`, `identity_rejected`). */
  async check(claimed: Record<string, unknown>, request: IdentityRequest): Promise<Checked> {
    const tooLarge = this.oversized(claimed, 'the claimed identity');
    if (tooLarge) return tooLarge;
    let identity = claimed;
    if (this.identityLookup) {
      try {
        const result = await this.identityLookup(claimed, request);
        if (typeof result !== 'object' || result === null) {
          throw new Error('identityLookup must return an object');
        }
        identity = result;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return { ok: false, code: 'identity_rejected', message };
      }
      const resolvedTooLarge = this.oversized(identity, 'the identity identityLookup returned');
      if (resolvedTooLarge) return resolvedTooLarge;
    }
    try {
      for (const field of this.fields()) {
        identityValues(identity, field, this.limits.maxReferenceValues);
      }
      // What criteria read must key exactly (a value that cannot is refused, never shared).
      this.key(identity);
    } catch (error) {
      return { ok: false, code: 'bad_identity', message: (error as Error).message };
    }
    // The session keeps this copy, frozen, for its life; the claimed identity is not kept.
    return { ok: true, identity: freezeCopy(identity) };
  }

  /** A `bad_identity` answer when `identity`'s JSON is over `maxIdentityBytes` (UTF-8). */
  private oversized(
    identity: Record<string, unknown>,
    what: string,
  ): Extract<Checked, { ok: false }> | undefined {
    let bytes: number;
    try {
      const json = JSON.stringify(identity, (_key, value: unknown) =>
        typeof value === 'bigint' ? value.toString() : value,
      );
      bytes = Buffer.byteLength(json ?? '', 'utf8');
    } catch {
      return { ok: false, code: 'bad_identity', message: `${what} cannot be written as JSON` };
    }
    if (bytes <= this.limits.maxIdentityBytes) return undefined;
    return {
      ok: false,
      code: 'bad_identity',
      message: `${what} is ${bytes} bytes of JSON; at most ${this.limits.maxIdentityBytes} are allowed`,
    };
  }

  /** What a resume must present again: the values of every identity field a reference reads. */
  key(identity: Record<string, unknown>): string {
    return canonicalKey(
      this.fields().map((f) => (Object.hasOwn(identity, f) ? [f, identity[f]] : [f])),
    );
  }
}

/** A deep copy of plain objects and arrays, frozen; other values (ObjectId, Date) are shared. */
export function freezeCopy<T>(value: T): T {
  if (Array.isArray(value)) return Object.freeze(value.map(freezeCopy)) as T;
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) {
      // defineProperty: an own `__proto__` key stays a plain key.
      Object.defineProperty(out, key, { value: freezeCopy(value[key]), enumerable: true });
    }
    return Object.freeze(out) as T;
  }
  return value;
}
