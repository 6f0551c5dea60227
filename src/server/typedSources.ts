import type { Doc } from './adapter.js';

// Type-level only: what `new Stream` checks of `dataSources` against the adapter's collection
// models (`new MemoryAdapter<{ tasks: Task }>()`). An adapter without models checks nothing.

/** The collection models an adapter carries (`unknown` when it carries none). */
export type CollectionsOfAdapter<TAdapter> = TAdapter extends {
  readonly '~collections'?: infer C;
}
  ? C
  : unknown;

/** `true` when the models say nothing (no models, or any collection of any documents). */
export type Untyped<TCollections> = unknown extends TCollections
  ? true
  : string extends keyof TCollections
    ? true
    : false;

type Element<T> = T extends readonly (infer E)[] ? E : T;

/** A manifest whose every key is a field of `T` (at any depth); another key is `never`. */
type ManifestCheck<T, M> = M extends true
  ? M
  : { [P in keyof M]: P extends keyof T ? ManifestCheck<Element<NonNullable<T[P]>>, M[P]> : never };

type SourceCheck<S, TCollections> =
  Untyped<TCollections> extends true
    ? S
    : S extends { readonly collection: infer C; readonly manifest: infer M }
      ? C extends keyof TCollections
        ? Omit<S, 'manifest'> & { readonly manifest: ManifestCheck<TCollections[C], M> }
        : Omit<S, 'collection'> & { readonly collection: Extract<keyof TCollections, string> }
      : S;

/** Each collection source names a modelled collection and only fields its model has. */
export type SourcesCheck<TSources, TCollections> = {
  [K in keyof TSources]: SourceCheck<TSources[K], TCollections>;
};

/** The default models: any collection of any documents. */
export type AnyCollections = Record<string, Doc>;
