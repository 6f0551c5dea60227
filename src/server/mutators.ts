import type { Static, TSchema } from 'typebox';
import { MUTATION_CODE_PATTERN } from '../protocol/messages.js';
import { MutationError, ParticleError } from '../protocol/errors.js';

export { MutationError };
import { checkKeys } from '../protocol/config.js';
import type { Db } from './adapter.js';
import type { Session } from './session.js';
import { isSchema, type Schema, type StandardSchema } from './params.js';

const CODE = new RegExp(MUTATION_CODE_PATTERN);

/** The part of `Scopes` (from `particle-sync/storage`) a mutator's context carries. */
export interface ScopesLike {
  scoped(name: string, fn: (scope: never) => unknown): Promise<unknown>;
}

/** What a mutator's `run` gets. */
export interface MutatorContext<Args> {
  /** The resolved identity (after `identityLookup`), frozen. */
  readonly identity: Readonly<Record<string, unknown>>;
  /** The args, validated by the mutator's `args` schema. */
  readonly args: Args;
  /** The adapter's write API; every write it makes is acknowledged by inclusion. */
  readonly db: Db;
  /** The Stream's `scopes`, when it was given some. */
  readonly scopes: ScopesLike | undefined;
}

/** The args type a schema validates to (`unknown` without a schema). */
export type ArgsOf<S> =
  S extends StandardSchema<unknown, infer O> ? O : S extends TSchema ? Static<S> : unknown;

/** A server function a client calls with `collector.mutate(name, args)`. */
export interface Mutator<S extends Schema | undefined = Schema | undefined, R = unknown> {
  /** Validates the args (Standard Schema or TypeBox); refused args are `bad_args`. */
  args?: S;
  /** Does the work through `db`; its JSON-serializable return value is the client's result. */
  run(context: MutatorContext<ArgsOf<S>>): R | Promise<R>;
  /**
   * Runs `run` in a database transaction (MongoDB: retried on transient errors, so `run` may
   * run more than once: keep it free of side effects outside `db`).
   */
  transaction?: boolean;
}

/** A checked mutator. */
export interface MutatorState {
  readonly name: string;
  readonly args: Schema | undefined;
  /** `session` is for Particle's own mutators (`$write`); an app's `run` takes the context only. */
  readonly run: (context: MutatorContext<unknown>, session: Session) => unknown;
  readonly transaction: boolean;
}

const MUTATOR_KEYS = ['args', 'run', 'transaction'] as const;

/** Checks `mutators` as `new Stream` does: unknown keys, a `run` function, a usable schema. */
export function checkMutators(mutators: Record<string, unknown>): Map<string, MutatorState> {
  if (typeof mutators !== 'object' || mutators === null || Array.isArray(mutators)) {
    throw new ParticleError('config', 'new Stream: mutators must be an object of mutators');
  }
  const out = new Map<string, MutatorState>();
  for (const [name, value] of Object.entries(mutators)) {
    const where = `mutators.${name}`;
    if (name.startsWith('$')) {
      throw new ParticleError('config', `${where}: names starting with $ are Particle's own`);
    }
    if (typeof value !== 'object' || value === null) {
      throw new ParticleError('config', `${where}: must be an object with a run function`);
    }
    checkKeys(where, value, MUTATOR_KEYS);
    const m = value as Partial<Mutator>;
    if (typeof m.run !== 'function') {
      throw new ParticleError(
        'config',
        `${where}: run must be a function ({ identity, args, db }) => result`,
      );
    }
    if (m.args !== undefined && !isSchema(m.args)) {
      throw new ParticleError(
        'config',
        `${where}: args must be a Standard Schema (zod, valibot, ArkType) or a TypeBox schema`,
      );
    }
    if (m.transaction !== undefined && typeof m.transaction !== 'boolean') {
      throw new ParticleError('config', `${where}: transaction must be a boolean`);
    }
    out.set(name, {
      name,
      args: m.args,
      run: (context) => (m.run as MutatorState['run'])(context, undefined as never),
      transaction: m.transaction ?? false,
    });
  }
  return out;
}

/** The error a client sees for what `run` threw: a MutationError as is, anything else `internal`. */
export function publicError(error: unknown): { code: string; message: string } | null {
  if (error instanceof MutationError && CODE.test(error.code) && error.code.length <= 100) {
    return { code: error.code, message: String(error.message) };
  }
  return null;
}

/**
 * Declares one mutator with its types inferred: `args` in `run` is what the schema validates
 * to, and the result type is what `run` returns.
 * `postMessage: mutator({ args: z.object({ text: z.string() }), run: ({ args, db }) => ... })`
 */
export function mutator<S extends Schema | undefined = undefined, R = unknown>(
  definition: Mutator<S, R>,
): Mutator<S, R> {
  return definition;
}
