import { useCallback, useMemo, useRef } from 'react';
import { useSyncExternalStore } from 'use-sync-external-store/shim';
import type { Subscription } from './client.js';
import { useParticleStore } from './context.js';
import { createDocLookup } from './docIndex.js';
import { useLiveSubscription, useSpec } from './liveSubscription.js';
import { parsePath, pathKey, walk, type ParticlePath } from './path.js';

const UNSEEN: unique symbol = Symbol('unseen');
const noop = (): void => {};

/**
 * Reads the live value at `path` and re-renders only when that value changes.
 *
 * `useParticle<User[]>('users')` returns the root's array, `useParticle<User>(['users', 7])` one
 * document by id, `useParticle<string>('users.7.name')` a field. The value is the collector's
 * frozen snapshot (never copied, so it is the same object until it changes). It is `undefined`
 * while the root's payload has not arrived and `initialData` has no such root, or when the id or
 * field is absent. A change to another document of the root does not wake this component.
 *
 * With `params`, the path's root names a data source subscribed on demand while the component
 * is mounted, as {@link useSubscription} does: `useParticle<Message[]>('messages', { channelId })`,
 * `useParticle<Message>(['messages', id], { channelId })`. A name the server does not know
 * gives `undefined` (and, in development, one warning).
 *
 * @typeParam TData - The type of the value at `path` (not checked at run time).
 * @throws Error when called outside `<ParticleProvider>`.
 */
export function useParticle<TData = unknown>(
  path: ParticlePath,
  params?: unknown,
): TData | undefined {
  const store = useParticleStore('useParticle');
  const key = pathKey(path);
  // `key` identifies `path`: a new array literal with the same segments keeps the subscription.
  // eslint-disable-next-line react-hooks/exhaustive-deps -- `key` is the content of `path`
  const parsed = useMemo(() => parsePath(path), [key]);
  const spec = useSpec(params === undefined ? null : parsed.root, params, undefined);
  const eager = spec === null;

  // ---- on demand --------------------------------------------------------------------------
  // eslint-disable-next-line react-hooks/exhaustive-deps -- a fresh lookup cache per path and subscription
  const lookup = useMemo(() => createDocLookup(), [parsed, spec]);
  const select = (handle: Subscription | undefined): unknown => {
    if (spec === null) return undefined;
    const docs = handle?.data ?? store.readInitialSubscription(spec.key);
    if (!parsed.hasId || docs === undefined) return docs;
    const doc = lookup(docs, handle?.idField ?? '_id', parsed);
    return doc === undefined ? undefined : walk(doc, parsed.rest);
  };
  const warnIfFailed = (handle: Subscription): void => {
    if (handle.status !== 'error' || handle.error === undefined) return;
    store.warnOnce(
      `sub:${spec?.key}`,
      `useParticle(${JSON.stringify(parsed.root)}, params) gives undefined: ${handle.error.message}`,
    );
  };
  const live = useLiveSubscription(store, spec, { select, onNotice: warnIfFailed }).value;

  // ---- eager ------------------------------------------------------------------------------
  const seen = useRef<unknown>(UNSEEN);
  const subscribe = useCallback(
    (onChange: () => void) => {
      if (!eager) return noop;
      const off = store.subscribePath(parsed, onChange);
      // A message may have landed between the render's read and this subscription.
      if (seen.current !== UNSEEN && store.read(parsed) !== seen.current) onChange();
      return off;
    },
    [store, parsed, eager],
  );
  const getSnapshot = useCallback(
    () => (eager ? (seen.current = store.read(parsed)) : undefined),
    [store, parsed, eager],
  );
  const getServerSnapshot = useCallback(
    () => (eager ? store.readInitial(parsed) : undefined),
    [store, parsed, eager],
  );
  const value = useSyncExternalStore(subscribe, getSnapshot, getServerSnapshot);

  return (eager ? value : live) as TData | undefined;
}
