export { ParticleProvider } from './ParticleProvider.js';
export type {
  ParticleProviderProps,
  ParticleProviderCollectorProps,
  ParticleProviderOptionsProps,
} from './ParticleProvider.js';
export { useParticle } from './useParticle.js';
export { useParticleStatus } from './useParticleStatus.js';
export { useCollector } from './useCollector.js';
export type { ParticlePath } from './path.js';
export type { InitialData, ParticleStatus } from './store.js';
