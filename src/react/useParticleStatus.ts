import { useSyncExternalStore } from 'use-sync-external-store/shim';
import { useParticleStore } from './context.js';
import type { ParticleStatus } from './store.js';

const serverStatus = (): ParticleStatus => 'waiting';

/**
 * The collector's status: `'waiting'` until the manifest and every root's payload arrived (also
 * during server rendering), then `'ready'`; `'reconnecting'` while the link is down (data is
 * kept); `'error'` when the server refused the registration (read `useCollector()?.error`);
 * `'closed'` after `disconnect()`. Re-renders only when the status changes.
 *
 * @throws Error when called outside `<ParticleProvider>`.
 */
export function useParticleStatus(): ParticleStatus {
  const store = useParticleStore('useParticleStatus');
  return useSyncExternalStore(store.subscribeStatus, store.getStatus, serverStatus);
}
