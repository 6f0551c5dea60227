import { useCallback, useMemo, useRef } from 'react';
import { useSyncExternalStore } from 'use-sync-external-store/shim';
import { MutationError, type Id, type Lease, type LeaseState } from './client.js';
import { useCollector } from './useCollector.js';

/** What {@link useLock} returns: who holds the document's lease, and the means to take it. */
export interface LockState extends LeaseState {
  /** Waits for the lease (`collector.lock`). */
  lock(): Promise<Lease>;
  /** Takes the lease if free, else rejects with `locked` (`collector.request`). */
  request(): Promise<Lease>;
  /** Releases the lease this component took; nothing when it holds none. */
  release(): void;
}

const NOBODY: LeaseState = Object.freeze({ held: false, mine: false, owner: undefined });
const nobody = (): LeaseState => NOBODY;

/**
 * The lease of document `id` of writable source `root` (`params` for a subscribed one), kept
 * live: `held`, `mine` and `owner` (the source's `lockOwner` value for another client's lease)
 * change as leases are taken and released anywhere. Use it to show who is editing and to stop
 * others typing meanwhile.
 *
 * @throws Error when called outside `<ParticleProvider>`.
 */
export function useLock(root: string, id: Id, params?: unknown): LockState {
  const collector = useCollector();
  const paramsKey = params === undefined ? '' : JSON.stringify(params);
  const last = useRef<LeaseState>(NOBODY);
  const lease = useRef<Lease | null>(null);
  const subscribe = useMemo(
    () => (onChange: () => void) =>
      collector?.onNotice((notice) => {
        if (notice.type === 'lease' || notice.type === 'status') onChange();
      }) ?? (() => undefined),
    [collector],
  );
  const read = useCallback((): LeaseState => {
    if (!collector) return NOBODY;
    const now = collector.leaseOf(root, id, params);
    const prev = last.current;
    if (now.held === prev.held && now.mine === prev.mine && now.owner === prev.owner) return prev;
    return (last.current = now);
    // `params` is read through `paramsKey`: a new object with the same content is the same lock.
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `params` is read through `paramsKey`
  }, [collector, root, id, paramsKey]);
  const state = useSyncExternalStore(subscribe, read, nobody);
  const take = useCallback(
    async (wait: boolean): Promise<Lease> => {
      if (!collector) {
        throw new MutationError('disconnected', 'the Particle provider is not connected yet');
      }
      const granted = await (wait
        ? collector.lock(root, id, params)
        : collector.request(root, id, params));
      lease.current = granted;
      return granted;
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps -- `params` is read through `paramsKey`
    [collector, root, id, paramsKey],
  );
  const lock = useCallback(() => take(true), [take]);
  const request = useCallback(() => take(false), [take]);
  const release = useCallback(() => {
    lease.current?.release();
    lease.current = null;
  }, []);
  return useMemo(() => ({ ...state, lock, request, release }), [state, lock, request, release]);
}
