import { useCallback, useMemo, useRef } from 'react';
import { useSyncExternalStore } from 'use-sync-external-store/shim';
import { subscriptionKey } from '../protocol/index.js';
import type { Collector, Subscription } from './client.js';
import type { ParticleStore } from './store.js';

/** What a hook subscribes to; `key` is its `subscriptionKey`. */
export interface SubscriptionSpec {
  readonly key: string;
  readonly source: string;
  readonly params: unknown;
  readonly limit: number | undefined;
}

/**
 * The spec for `source`, `params` and `limit`, the same object while they are equal by value
 * (params compared as canonical JSON), so a new params literal on each render changes nothing.
 */
export function useSpec(
  source: string | null,
  params: unknown,
  limit: number | undefined,
): SubscriptionSpec | null {
  const key = source === null ? null : subscriptionKey(source, params, limit);
  return useMemo(
    () => (source === null || key === null ? null : { key, source, params, limit }),
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `key` is the content of source, params and limit
    [key],
  );
}

/** A hook's handle, and the timer that releases it after its component let go. */
interface Holder {
  readonly collector: Collector;
  readonly key: string;
  readonly handle: Subscription;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** How a hook reads the handle it holds. */
export interface HandleReader<T> {
  /** The hook's value from the handle (`undefined` before there is one), stable while unchanged. */
  readonly select: (handle: Subscription | undefined) => T;
  /** Called with the handle after each of its notices. */
  readonly onNotice?: ((handle: Subscription) => void) | undefined;
}

const UNSEEN: unique symbol = Symbol('unseen');
const noop = (): void => {};

/**
 * Holds a subscription for `spec` on the provider's collector while the component is mounted
 * (none for `null`), and returns `reader.select(handle)` through `useSyncExternalStore`. `select` must
 * return the same value while the handle's state is unchanged; before there is a handle (server
 * rendering, the first client render, no collector yet) it gets `undefined`.
 *
 * The handle is made when the component subscribes (never during render) and released
 * `store.unsubscribeDelayMs` after it unsubscribes, unless it subscribes again first (StrictMode
 * runs mount, cleanup, mount): the same handle is taken back and no frame is sent. Another
 * component asking for the same subscription meanwhile shares its wire subscription.
 */
export function useLiveSubscription<T>(
  store: ParticleStore<Collector>,
  spec: SubscriptionSpec | null,
  reader: HandleReader<T>,
): { value: T; setLimit: (limit: number) => void } {
  const { select, onNotice } = reader;
  const holder = useRef<Holder | undefined>(undefined);
  /** A limit set before the handle existed, or since (used when a handle is made again). */
  const limitOverride = useRef<{ key: string; limit: number } | undefined>(undefined);
  const seen = useRef<unknown>(UNSEEN);
  const selectRef = useRef(select);
  selectRef.current = select;
  const noticeRef = useRef(onNotice);
  noticeRef.current = onNotice;

  const read = (): T => selectRef.current(spec === null ? undefined : holder.current?.handle);

  const subscribe = useCallback(
    (onChange: () => void) => {
      if (spec === null) return noop;
      let offNotice: (() => void) | undefined;
      const attach = (): void => {
        offNotice?.();
        offNotice = undefined;
        const collector = store.getCollector();
        let current = holder.current;
        if (
          current !== undefined &&
          (current.collector !== collector || current.key !== spec.key)
        ) {
          // Still held by this component: let go now. A parked one is left to its timer.
          if (current.timer === undefined) current.handle.unsubscribe();
          holder.current = current = undefined;
        }
        if (current === undefined && collector !== undefined) {
          const override = limitOverride.current;
          const limit = override?.key === spec.key ? override.limit : spec.limit;
          const handle = collector.subscribe(spec.source, spec.params, { limit });
          holder.current = current = { collector, key: spec.key, handle, timer: undefined };
        }
        if (current !== undefined) {
          if (current.timer !== undefined) clearTimeout(current.timer);
          current.timer = undefined;
          const { handle } = current;
          offNotice = handle.onNotice(() => {
            noticeRef.current?.(handle);
            onChange();
          });
          noticeRef.current?.(handle);
        }
        // The handle may hold data already (shared), or a notice landed since the render.
        if (seen.current !== UNSEEN && read() !== seen.current) onChange();
      };
      attach();
      const offCollector = store.subscribeCollector(attach);
      return () => {
        offCollector();
        offNotice?.();
        const current = holder.current;
        if (current === undefined || current.timer !== undefined) return;
        current.timer = setTimeout(() => {
          current.timer = undefined;
          if (holder.current === current) holder.current = undefined;
          current.handle.unsubscribe();
        }, store.unsubscribeDelayMs);
      };
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the subscription follows `spec`; `read` reads it through refs
    [store, spec],
  );
  // eslint-disable-next-line react-hooks/exhaustive-deps -- a new snapshot reader per store and spec
  const getSnapshot = useCallback(() => (seen.current = read()), [store, spec]);
  // eslint-disable-next-line react-hooks/exhaustive-deps -- a new snapshot reader per store and spec
  const getServerSnapshot = useCallback(() => selectRef.current(undefined), [store, spec]);
  const value = useSyncExternalStore(subscribe, getSnapshot, getServerSnapshot);

  const setLimit = useCallback(
    (limit: number) => {
      if (spec === null) return;
      const current = holder.current;
      if (current !== undefined && current.key === spec.key) current.handle.setLimit(limit);
      else if (!Number.isInteger(limit) || limit < 1) {
        throw new TypeError(`setLimit: limit must be an integer >= 1, got ${String(limit)}`);
      }
      limitOverride.current = { key: spec.key, limit };
    },
    [spec],
  );
  return { value, setLimit };
}
