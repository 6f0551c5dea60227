import { isPlainObject } from './clone.js';
import type { TSchema } from 'typebox';
import { Compile } from 'typebox/compile';

/** The result of a Standard Schema validation. */
export type StandardResult<Output> =
  | { readonly value: Output; readonly issues?: undefined }
  | {
      readonly issues: readonly {
        readonly message: string;
        readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] | undefined;
      }[];
    };

/** A validator following the Standard Schema interface (zod, valibot, ArkType, ...). */
export interface StandardSchema<Input = unknown, Output = Input> {
  readonly '~standard': {
    readonly version: 1;
    readonly vendor: string;
    readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
    readonly types?: { readonly input: Input; readonly output: Output } | undefined;
  };
}

/** What `params` (and a mutator's `args`) may be: any Standard Schema, or a TypeBox schema. */
export type Schema = StandardSchema | TSchema;

/** The outcome of {@link validate}: the validated output, or `path: message` pairs. */
export type Validated = { ok: true; value: unknown } | { ok: false; message: string };

const compiled = new WeakMap<object, ReturnType<typeof Compile>>();

/** True for a value {@link validate} can use. */
export function isSchema(value: unknown): value is Schema {
  if (typeof value !== 'object' && typeof value !== 'function') return false;
  if (value === null) return false;
  const standard = (value as { '~standard'?: { validate?: unknown } })['~standard'];
  // TypeBox marks its schemas with a non-enumerable `~kind`.
  return typeof standard?.validate === 'function' || '~kind' in value;
}

/** Validates `value` against `schema` (async schemas allowed); `what` names it in messages. */
export async function validate(schema: Schema, value: unknown, what: string): Promise<Validated> {
  if ('~standard' in schema) {
    const result = await schema['~standard'].validate(value);
    if (!result.issues) return { ok: true, value: result.value };
    return { ok: false, message: result.issues.map((i) => describeIssue(what, i)).join('; ') };
  }
  let check = compiled.get(schema);
  if (!check) compiled.set(schema, (check = Compile(schema)));
  if (check.Check(value)) return { ok: true, value };
  const messages: string[] = [];
  for (const e of check.Errors(value)) {
    messages.push(`${what}${e.instancePath.replaceAll('/', '.')}: ${e.message}`);
    if (messages.length === 5) break;
  }
  return { ok: false, message: messages.join('; ') || `${what}: invalid` };
}

function describeIssue(
  what: string,
  issue: Extract<StandardResult<unknown>, { issues: unknown }>['issues'][number],
): string {
  const path = (issue.path ?? [])
    .map((p) => String(typeof p === 'object' ? p.key : p))
    .map((p) => `.${p}`)
    .join('');
  return `${what}${path}: ${issue.message}`;
}

/**
 * A source's params from what a client sent: validated by the source's schema (an object of
 * named values), or nothing at all for a source without one.
 */
export async function sourceParams(
  name: string,
  schema: Schema | undefined,
  raw: unknown,
): Promise<{ ok: true; value: Record<string, unknown> } | { ok: false; message: string }> {
  if (!schema) {
    if (raw === undefined || (isPlainObject(raw) && Object.keys(raw).length === 0)) {
      return { ok: true, value: {} };
    }
    return { ok: false, message: `${name} takes no params` };
  }
  const result = await validate(schema, raw ?? {}, 'params');
  if (!result.ok) return result;
  if (!isPlainObject(result.value)) {
    return { ok: false, message: 'params must be an object of named values' };
  }
  return { ok: true, value: result.value };
}
