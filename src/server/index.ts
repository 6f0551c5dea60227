export { Stream } from './stream.js';
export type {
  DataSource,
  IdentityLookup,
  IdentityRequest,
  StreamOptions,
  StreamStats,
  AttachResult,
} from './stream.js';
export { MemoryAdapter } from './memoryAdapter.js';
export type { MemoryAdapterOptions, UpdateDocument } from './memoryAdapter.js';
export { particleMiddleware } from './transport.js';
export type { ParticleMiddleware, ParticleMiddlewareOptions } from './transport.js';
export type { Adapter, Change, Doc, FindOptions, StopWatching } from './adapter.js';
export type { CacheConfig } from './criteria.js';
export type { Sink } from './session.js';
export { compileMatcher } from './matcher.js';
export type { Matcher } from './matcher.js';
export { ParticleError } from '../protocol/errors.js';
