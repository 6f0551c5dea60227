import { useCallback, useMemo } from 'react';
import { useSyncExternalStore } from 'use-sync-external-store/shim';
import { MutationError, type MutateOptions, type PendingMutation } from './client.js';
import { useCollector } from './useCollector.js';
import { useParticleStore } from './context.js';

/** What {@link useMutation} returns: call it like `collector.mutate(name, args, options)`. */
export type MutateFunction<TArgs = unknown, TResult = unknown> = (
  args: TArgs,
  options?: MutateOptions,
) => Promise<TResult>;

/**
 * A stable function that runs mutator `name` on the server through the provider's Collector
 * (`collector.mutate(name, args, options)`): pass `{ optimistic }` to show the change at once.
 * It rejects with a `MutationError` (`forbidden`, `bad_args`, `mutation_timeout`, the app's
 * own code, or `disconnected` when the provider has no Collector yet).
 *
 * @throws Error when called outside `<ParticleProvider>`.
 */
export function useMutation<TArgs = unknown, TResult = unknown>(
  name: string,
): MutateFunction<TArgs, TResult> {
  const store = useParticleStore('useMutation');
  return useCallback(
    (args: TArgs, options?: MutateOptions) => {
      const collector = store.getCollector();
      if (collector === undefined) {
        return Promise.reject(
          new MutationError('disconnected', `${name}: the Particle provider is not connected yet`),
        );
      }
      return collector.mutate(name, args, options) as Promise<TResult>;
    },
    [store, name],
  );
}

const NONE: readonly PendingMutation[] = Object.freeze([]);
const none = (): readonly PendingMutation[] => NONE;

/**
 * The mutations sent and not answered yet, oldest first (`collector.pending`): `[]` during
 * server rendering and once everything is answered. Re-renders only when the list changes.
 *
 * @throws Error when called outside `<ParticleProvider>`.
 */
export function usePending(): readonly PendingMutation[] {
  const collector = useCollector();
  const subscribe = useMemo(
    () => (onChange: () => void) =>
      collector?.onNotice((notice) => {
        if (notice.type === 'pending') onChange();
      }) ?? (() => undefined),
    [collector],
  );
  const read = useCallback(() => collector?.pending ?? NONE, [collector]);
  return useSyncExternalStore(subscribe, read, none);
}
