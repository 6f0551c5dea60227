export { Scopes, DEFAULT_SCOPE_RETRY } from './scopes.js';
export type { ScopesOptions, ScopedOptions, ScopeRetryOptions } from './scopes.js';
export { MemoryScopeStore } from './memory.js';
export { FileScopeStore, DEFAULT_FILE_POLL_MS, DEFAULT_FILE_STALE_LOCK_MS } from './file.js';
export type { FileScopeStoreOptions } from './file.js';
export { assertScopeName, MAX_SCOPE_NAME_BYTES } from './names.js';
export type {
  ScopeStore,
  ScopeRecord,
  ScopeCommit,
  ScopeCommitListener,
  ScopeData,
  ScopeJson,
} from './types.js';
export { ParticleError } from '../protocol/errors.js';
