import { useMemo, useRef } from 'react';
import type { Doc } from '../protocol/index.js';
import type {
  ParticleError,
  SubscribeOptions,
  Subscription,
  SubscriptionStatus,
} from './client.js';
import { useParticleStore } from './context.js';
import { useLiveSubscription, useSpec } from './liveSubscription.js';

/** What {@link useSubscription} returns. */
export interface SubscriptionState<TDoc extends Doc = Doc> {
  /**
   * The documents (frozen, in the source's sort order), `initialData`'s until the live payload
   * arrives, or `undefined` before either.
   */
  readonly data: readonly TDoc[] | undefined;
  /** `'waiting'` until the payload arrives (also during server rendering), then `'ready'`. */
  readonly status: SubscriptionStatus;
  /** Why the server ended (or, with `produce_failed`, is retrying) the subscription. */
  readonly error: ParticleError | undefined;
  /** For a windowed source: whether documents exist beyond the window. */
  readonly more: boolean | undefined;
  /** Changes the window size, keeping the documents shown until the new ones arrive. */
  readonly setLimit: (limit: number) => void;
}

type Snapshot = Omit<SubscriptionState, 'setLimit'>;

/**
 * Subscribes to data source `source` with `params` while the component is mounted, and
 * re-renders when its documents, status, error or `more` change (nothing else wakes it).
 * Components asking for the same source, params and limit share one subscription; one that
 * unmounts keeps it for the provider's `unsubscribeDelayMs`. A name the server has no source
 * for ends in status `'error'` with `error.code === 'unknown_source'`.
 *
 * @typeParam TDoc - The documents' type (not checked at run time).
 * @throws Error when called outside `<ParticleProvider>`.
 */
export function useSubscription<TDoc extends Doc = Doc>(
  source: string,
  params?: unknown,
  options?: SubscribeOptions,
): SubscriptionState<TDoc> {
  const store = useParticleStore('useSubscription');
  const spec = useSpec(source, params, options?.limit);
  const last = useRef<Snapshot | undefined>(undefined);
  const select = (handle: Subscription | undefined): Snapshot => {
    const initial =
      spec === null
        ? undefined
        : (store.readInitialSubscription(spec.key) ??
          store.readInitialSubscription(spec.key.replace(/#[0-9]+$/, '')));
    const next: Snapshot = {
      data: handle?.data ?? initial,
      status: handle?.status ?? 'waiting',
      error: handle?.error,
      more: handle?.more,
    };
    const previous = last.current;
    if (
      previous !== undefined &&
      previous.data === next.data &&
      previous.status === next.status &&
      previous.error === next.error &&
      previous.more === next.more
    ) {
      return previous;
    }
    return (last.current = next);
  };
  const { value, setLimit } = useLiveSubscription(store, spec, { select });
  return useMemo(
    () => ({ ...value, data: value.data as readonly TDoc[] | undefined, setLimit }),
    [value, setLimit],
  );
}
