import { useCallback, useMemo, useRef } from 'react';
import { useSyncExternalStore } from 'use-sync-external-store/shim';
import { useParticleStore } from './context.js';
import { parsePath, pathKey, type ParticlePath } from './path.js';

const UNSEEN: unique symbol = Symbol('unseen');

/**
 * Reads the live value at `path` and re-renders only when that value changes.
 *
 * `useParticle<User[]>('users')` returns the root's array, `useParticle<User>(['users', 7])` one
 * document by id, `useParticle<string>('users.7.name')` a field. The value is the collector's
 * frozen snapshot (never copied, so it is the same object until it changes). It is `undefined`
 * while the root's payload has not arrived and `initialData` has no such root, or when the id or
 * field is absent. A change to another document of the root does not wake this component.
 *
 * @typeParam TData - The type of the value at `path` (not checked at run time).
 * @throws Error when called outside `<ParticleProvider>`.
 */
export function useParticle<TData = unknown>(path: ParticlePath): TData | undefined {
  const store = useParticleStore('useParticle');
  const key = pathKey(path);
  // `key` identifies `path`: a new array literal with the same segments keeps the subscription.
  const parsed = useMemo(() => parsePath(path), [key]);
  const seen = useRef<unknown>(UNSEEN);

  const subscribe = useCallback(
    (onChange: () => void) => {
      const off = store.subscribePath(parsed, onChange);
      // A message may have landed between the render's read and this subscription.
      if (seen.current !== UNSEEN && store.read(parsed) !== seen.current) onChange();
      return off;
    },
    [store, parsed],
  );
  const getSnapshot = useCallback(() => (seen.current = store.read(parsed)), [store, parsed]);
  const getServerSnapshot = useCallback(() => store.readInitial(parsed), [store, parsed]);

  return useSyncExternalStore(subscribe, getSnapshot, getServerSnapshot) as TData | undefined;
}
