import { createHash } from 'node:crypto';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** The longest scope name, in UTF-8 bytes. */
export const MAX_SCOPE_NAME_BYTES = 255;

/** Throws a TypeError unless `name` is a well-formed string of 1 to 255 UTF-8 bytes. */
export function assertScopeName(name: unknown): asserts name is string {
  if (typeof name !== 'string') {
    throw new TypeError(`A scope name must be a string, got ${typeof name}`);
  }
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes < 1 || bytes > MAX_SCOPE_NAME_BYTES) {
    throw new TypeError(
      `A scope name must be 1 to ${MAX_SCOPE_NAME_BYTES} UTF-8 bytes, got ${bytes}`,
    );
  }
  if (LONE_SURROGATE.test(name)) {
    throw new TypeError('A scope name must be well-formed Unicode (no lone surrogates)');
  }
}

/**
 * A file name stem for a scope: a readable prefix (safe characters only, at most 40) and
 * the SHA-256 of the name, so any two names map to distinct, portable file names.
 */
export function scopeFileStem(name: string): string {
  const readable = name.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
  const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 40);
  return `${readable}.${hash}`;
}
