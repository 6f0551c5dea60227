export { Stream } from './stream.js';
export type {
  DataSource,
  IdentityLookup,
  IdentityRequest,
  SnapshotOptions,
  StreamOptions,
  StreamStats,
  Unregister,
} from './stream.js';
export type { AuthorizeContext, WindowLimit } from './sources.js';
export type { AllowContext, Writable } from './directWrites.js';
export type { ProduceContext, ProducedDataSource } from './produced.js';
export type { AcceptContext, PublishedDataSource } from './published.js';
export type { LiveScopesLike, ScopeDataSource } from './scopeSources.js';
export type { CollectionDataSource } from './sources.js';
export type { Schema, StandardSchema, StandardResult } from './params.js';
export { MutationError, mutator } from './mutators.js';
export type { Mutator, MutatorContext, ArgsOf, ScopesLike } from './mutators.js';
export { MemoryAdapter } from './memoryAdapter.js';
export type { MemoryAdapterOptions, UpdateDocument } from './memoryAdapter.js';
export { particleMiddleware } from './transport.js';
export type { ParticleMiddleware, ParticleMiddlewareOptions } from './transport.js';
export type { Adapter, Change, Db, Doc, FindOptions, StopWatching, WritesDone } from './adapter.js';
export type { CacheConfig } from './criteria.js';
export { ParticleError } from '../protocol/errors.js';
