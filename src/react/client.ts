// The one place src/react reaches the Collector: through the client's public entry, the module
// published as `particle-sync/client`. Deep imports into src/client are forbidden by lint.
export {
  Collector,
  type CollectorNotice,
  type CollectorOptions,
  type CollectorStatus,
  type Id,
  type Lease,
  type LeaseState,
  type MutateOptions,
  type MutateRest,
  type MutatorName,
  type MutatorResult,
  MutationError,
  type PendingMutation,
  type Publication,
  type ParticleError,
  type SubscribeOptions,
  type Subscription,
  type SubscriptionStatus,
} from '../client/index.js';
