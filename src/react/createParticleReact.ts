import type { Collector, MutateRest, MutatorName, MutatorResult } from './client.js';
import { ParticleProvider } from './ParticleProvider.js';
import { useCollector } from './useCollector.js';
import { useLock } from './useLock.js';
import { useMutation, usePending } from './useMutation.js';
import { useParticle } from './useParticle.js';
import { useParticleStatus } from './useParticleStatus.js';
import { usePublish } from './usePublish.js';
import { useSubscription } from './useSubscription.js';

/** The hooks of {@link createParticleReact}, typed by the server's `typeof stream`. */
export interface ParticleReact<TStream> {
  ParticleProvider: typeof ParticleProvider;
  useParticle: typeof useParticle;
  useSubscription: typeof useSubscription;
  useParticleStatus: typeof useParticleStatus;
  usePending: typeof usePending;
  useLock: typeof useLock;
  usePublish: typeof usePublish;
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
