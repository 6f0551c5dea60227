import { createContext, useContext } from 'react';
import type { Collector } from './client.js';
import type { ParticleStore } from './store.js';

/** The store of the nearest `<ParticleProvider>`; `null` outside one. */
export const ParticleContext = createContext<ParticleStore<Collector> | null>(null);
ParticleContext.displayName = 'ParticleContext';

/** The nearest provider's store; throws a message naming `hook` outside a provider. */
export function useParticleStore(hook: string): ParticleStore<Collector> {
  const store = useContext(ParticleContext);
  if (store === null) {
    throw new Error(
      `${hook} must be used inside <ParticleProvider>: wrap the component tree in ` +
        `<ParticleProvider url="/particle" identity={...}> (or pass collector={collector}).`,
    );
  }
  return store;
}
