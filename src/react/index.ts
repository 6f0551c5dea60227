export { ParticleProvider } from './ParticleProvider.js';
export type {
  ParticleProviderProps,
  ParticleProviderCollectorProps,
  ParticleProviderOptionsProps,
} from './ParticleProvider.js';
export { useParticle } from './useParticle.js';
export { useSubscription } from './useSubscription.js';
export type { SubscriptionState } from './useSubscription.js';
export { useParticleStatus } from './useParticleStatus.js';
export { useMutation, usePending } from './useMutation.js';
export { createParticleReact } from './createParticleReact.js';
export { useLock } from './useLock.js';
export type { LockState } from './useLock.js';
export { usePublish } from './usePublish.js';
export type { PublishState } from './usePublish.js';
export type { ParticleReact, TypedUseParticle } from './createParticleReact.js';
export type { MutateFunction } from './useMutation.js';
export { useCollector } from './useCollector.js';
export type { ParticlePath } from './path.js';
export type { InitialData, ParticleStatus } from './store.js';
export type {
  Lease,
  LeaseState,
  MutateOptions,
  PendingMutation,
  SubscribeOptions,
  Subscription,
  SubscriptionStatus,
} from './client.js';
export { MutationError } from './client.js';
