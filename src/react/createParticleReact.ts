import type {
  Collector,
  DocOf,
  EagerRoot,
  Id,
  MutateRest,
  MutatorName,
  MutatorResult,
  ParamsOf,
  PublishedName,
  SourceName,
  SubscribeRest,
} from './client.js';
import type { PublishState } from './usePublish.js';
import type { SubscriptionState } from './useSubscription.js';
import { ParticleProvider } from './ParticleProvider.js';
import { useCollector } from './useCollector.js';
import { useLock } from './useLock.js';
import { useMutation, usePending } from './useMutation.js';
import { useParticle } from './useParticle.js';
import { useParticleStatus } from './useParticleStatus.js';
import { usePublish } from './usePublish.js';
import { useSubscription } from './useSubscription.js';

/** A path under a known root: `'tasks.t1.title'` or `['tasks', 't1', 'title']`. */
type DeepPath<TStream> =
  | `${SourceName<TStream>}.${string}`
  | readonly [SourceName<TStream>, string | number, ...(string | number)[]];

/** `useParticle` typed by the Stream: a root's documents, one document by id, or a deeper value. */
export interface TypedUseParticle<TStream> {
  /** An eager root's documents. */
  <K extends EagerRoot<TStream>>(root: K): readonly DocOf<TStream, K>[] | undefined;
  /** One document of an eager root, by id. */
  <K extends EagerRoot<TStream>>(path: readonly [K, Id]): DocOf<TStream, K> | undefined;
  /** An on-demand source's documents, subscribed while mounted. */
  <K extends SourceName<TStream>>(
    root: K,
    params: ParamsOf<TStream, K>,
  ): readonly DocOf<TStream, K>[] | undefined;
  /** One document of an on-demand source, by id. */
  <K extends SourceName<TStream>>(
    path: readonly [K, Id],
    params: ParamsOf<TStream, K>,
  ): DocOf<TStream, K> | undefined;
  /** A deeper value (its type is yours to say; the root is checked). */
  <TData = unknown>(path: DeepPath<TStream>, params?: unknown): TData | undefined;
}

/** The hooks of {@link createParticleReact}, typed by the server's `typeof stream`. */
export interface ParticleReact<TStream> {
  ParticleProvider: typeof ParticleProvider;
  /** Typed by the Stream: a misspelled root, or wrong params, is a compile error. */
  useParticle: unknown extends TStream ? typeof useParticle : TypedUseParticle<TStream>;
  /** Typed by the Stream: the documents are the source's manifest over its model. */
  useSubscription: unknown extends TStream
    ? typeof useSubscription
    : <K extends SourceName<TStream>>(
        source: K,
        ...rest: SubscribeRest<TStream, K>
      ) => SubscriptionState<DocOf<TStream, K>>;
  useParticleStatus: typeof useParticleStatus;
  usePending: typeof usePending;
  useLock: typeof useLock;
  /** Typed by the Stream: only a published source, with its params. */
  usePublish: unknown extends TStream
    ? typeof usePublish
    : <K extends PublishedName<TStream>>(
        source: K,
        params: ParamsOf<TStream, K>,
        value: Record<string, unknown> | null | undefined,
      ) => PublishState;
  /** The provider's Collector, typed (`collector.mutate` knows the mutators). */
  useCollector(): Collector<TStream> | undefined;
  /**
   * `useMutation(name)`: a stable function taking the mutator's args (its schema's input) and
   * options, resolving with what its `run` returns. A misspelled name is a compile error.
   */
  useMutation<K extends MutatorName<TStream>>(
    name: K,
  ): (...rest: MutateRest<TStream, K>) => Promise<MutatorResult<TStream, K>>;
}

/**
 * The React bindings typed by the server's Stream: `createParticleReact<typeof stream>()`, with
 * `import type` on the client so no server code reaches the bundle. The hooks are the same
 * functions as the untyped exports; only their types differ.
 * `export const { ParticleProvider, useParticle, useMutation } = createParticleReact<AppStream>();`
 */
export function createParticleReact<TStream>(): ParticleReact<TStream> {
  return {
    ParticleProvider,
    useParticle,
    useSubscription,
    useParticleStatus,
    usePending,
    useLock,
    usePublish,
    useCollector: useCollector as () => Collector<TStream> | undefined,
    useMutation: useMutation as ParticleReact<TStream>['useMutation'],
  };
}
