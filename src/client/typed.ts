import type { Static, TSchema } from 'typebox';
import type { MutateOptions } from './mutations.js';
import type { SubscribeOptions } from './types.js';

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

// ---- sources ------------------------------------------------------------------------------

type Doc = Record<string, unknown>;

/** The data sources of a Stream type. */
export type SourcesOf<TStream> = TStream extends {
  readonly '~particle'?: { readonly sources: infer S };
}
  ? S
  : Record<string, unknown>;

type CollectionsOf<TStream> = TStream extends {
  readonly '~particle'?: { readonly collections: infer C };
}
  ? C
  : unknown;

type Untyped<TCollections> = unknown extends TCollections
  ? true
  : string extends keyof TCollections
    ? true
    : false;

type Element<T> = T extends readonly (infer E)[] ? E : T;
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** A value as it travels: ObjectIds and Dates as strings, the rest as JSON carries it. */
export type Wire<T> = T extends Date
  ? string
  : T extends { toHexString(): string }
    ? string
    : T extends readonly (infer E)[]
      ? Wire<E>[]
      : T extends object
        ? { [K in keyof T]: Wire<T[K]> }
        : T;

/** `T` through manifest `M`: only the listed fields, at any depth, in their wire types. */
type Project<T, M> = M extends true
  ? Wire<T>
  : T extends readonly (infer E)[]
    ? Project<E, M>[]
    : T extends object
      ? { [K in keyof T as K extends keyof M ? K : never]: Project<T[K], M[K & keyof M]> }
      : Wire<T>;

type IdFieldOf<S> = S extends { readonly idField: infer F extends string } ? F : '_id';

type SourceDoc<S, TCollections> = S extends {
  readonly collection: infer C;
  readonly manifest: infer M;
}
  ? Untyped<TCollections> extends true
    ? Doc
    : C extends keyof TCollections
      ? Simplify<
          Project<TCollections[C], M> &
            Wire<Pick<TCollections[C], IdFieldOf<S> & keyof TCollections[C]>>
        >
      : Doc
  : S extends { readonly produce: (context: never) => infer R; readonly manifest: infer M }
    ? Awaited<R> extends infer O
      ? O extends object
        ? Simplify<Project<Element<O>, M>>
        : Doc
      : Doc
    : S extends { readonly published: unknown; readonly manifest: infer M }
      ? S extends { readonly accept: (context: never) => infer R }
        ? Simplify<Project<Awaited<R>, M> & { _id: string }>
        : Doc & { _id: string }
      : Doc;

/** The documents of source `K` as a client holds them (`Doc` while untyped). */
export type DocOf<TStream, K> = unknown extends TStream
  ? Doc
  : K extends keyof SourcesOf<TStream>
    ? SourceDoc<SourcesOf<TStream>[K], CollectionsOf<TStream>>
    : Doc;

/** Every source name (`string` while untyped). */
export type SourceName<TStream> = unknown extends TStream
  ? string
  : Extract<keyof SourcesOf<TStream>, string>;

type IsEager<S> = S extends { readonly params: object }
  ? false
  : S extends { readonly eager: false }
    ? false
    : S extends { readonly collection: string }
      ? true
      : false;

/** The roots every client holds from the start (sources without params, not `eager: false`). */
export type EagerRoot<TStream> = unknown extends TStream
  ? string
  : {
      [K in keyof SourcesOf<TStream>]: IsEager<SourcesOf<TStream>[K]> extends true ? K : never;
    }[keyof SourcesOf<TStream>] &
      string;

/** The params source `K` takes (its schema's input; `undefined` without a schema). */
export type ParamsOf<TStream, K> = unknown extends TStream
  ? unknown
  : K extends keyof SourcesOf<TStream>
    ? SourcesOf<TStream>[K] extends { readonly params: infer S }
      ? InputOf<S>
      : undefined
    : never;

/** `collector.data` of a typed collector: each eager root's documents. */
export type DataOf<TStream> = unknown extends TStream
  ? { readonly [root: string]: readonly Doc[] }
  : { readonly [K in EagerRoot<TStream>]?: readonly DocOf<TStream, K>[] };

/** The rest of `subscribe(source, ...)`: params may be left out when they accept `undefined`. */
export type SubscribeRest<TStream, K> =
  undefined extends ParamsOf<TStream, K>
    ? [params?: ParamsOf<TStream, K>, options?: SubscribeOptions]
    : [params: ParamsOf<TStream, K>, options?: SubscribeOptions];

/** The published sources' names (`string` while untyped). */
export type PublishedName<TStream> = unknown extends TStream
  ? string
  : {
      [K in keyof SourcesOf<TStream>]: SourcesOf<TStream>[K] extends { readonly published: unknown }
        ? K
        : never;
    }[keyof SourcesOf<TStream>] &
      string;
