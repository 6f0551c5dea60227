import type { Static, TSchema } from 'typebox';
import type { MutateOptions } from './mutations.js';

// A client reads its server's types from `typeof stream`, imported with `import type` so no
// server code reaches the bundle; `unknown` (the default) leaves everything untyped.

/** A mutator as the client sees it: the schema of its args and what `run` returns. */
interface MutatorShape {
  readonly args?: unknown;
  run(context: never): unknown;
}

/** The mutators of a Stream type (`Stream<TMutators>` carries them type-level only). */
export type MutatorsOf<TStream> = TStream extends {
  readonly '~particle'?: { readonly mutators: infer M };
}
  ? M
  : Record<string, MutatorShape>;

/** What a schema accepts as input: a Standard Schema's input type, a TypeBox schema's static. */
type InputOf<S> = S extends { readonly '~standard': { readonly types?: infer T } }
  ? NonNullable<T> extends { readonly input: infer I }
    ? I
    : unknown
  : S extends TSchema
    ? Static<S>
    : unknown;

/** The mutator names `collector.mutate` accepts: any string while untyped. */
export type MutatorName<TStream> = unknown extends TStream
  ? string
  : Extract<keyof MutatorsOf<TStream>, string>;

/** The args of mutator `K` (its schema's input; `unknown` without a schema or while untyped). */
export type MutatorArgs<TStream, K> = unknown extends TStream
  ? unknown
  : K extends keyof MutatorsOf<TStream>
    ? MutatorsOf<TStream>[K] extends { readonly args?: infer S }
      ? InputOf<S>
      : unknown
    : never;

/** What mutator `K` resolves with (what its `run` returns; `unknown` while untyped). */
export type MutatorResult<TStream, K> = unknown extends TStream
  ? unknown
  : K extends keyof MutatorsOf<TStream>
    ? MutatorsOf<TStream>[K] extends { run(context: never): infer R }
      ? Awaited<R>
      : unknown
    : never;

/** The rest of `mutate(name, ...)`: args may be left out when they accept `undefined`. */
export type MutateRest<TStream, K> =
  undefined extends MutatorArgs<TStream, K>
    ? [args?: MutatorArgs<TStream, K>, options?: MutateOptions]
    : [args: MutatorArgs<TStream, K>, options?: MutateOptions];
