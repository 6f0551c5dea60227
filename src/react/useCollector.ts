import { useSyncExternalStore } from 'use-sync-external-store/shim';
import type { Collector } from './client.js';
import { useParticleStore } from './context.js';

/**
 * The provider's Collector, for `collector.error`, `collector.on(...)` or `collector.ready()`.
 *
 * A provider given `collector` returns it from the first render. A provider that creates its own
 * returns `undefined` during server rendering and the first client render: it connects in an
 * effect, so that server rendering opens no socket. The component re-renders once it exists.
 *
 * @throws Error when called outside `<ParticleProvider>`.
 */
export function useCollector(): Collector | undefined {
  const store = useParticleStore('useCollector');
  return useSyncExternalStore(
    store.subscribeCollector,
    store.getCollector,
    store.getServerCollector,
  );
}
