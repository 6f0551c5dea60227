/** A JSON value as a scope stores it. */
export type ScopeJson =
  string | number | boolean | null | ScopeJson[] | { [key: string]: ScopeJson };

/** The data held by a scope: a plain JSON object. */
export type ScopeData = { [key: string]: unknown };

/** One stored version of a scope. `version` starts at 1 and grows by 1 per commit. */
export interface ScopeRecord<T extends object = ScopeData> {
  readonly data: T;
  readonly version: number;
}

/** A commit notice: the scope's name and the record it now holds. */
export interface ScopeCommit<T extends object = ScopeData> extends ScopeRecord<T> {
  readonly name: string;
}

/** Receives commit notices of a watched scope. It must not throw. */
export type ScopeCommitListener = (commit: ScopeCommit) => void;

/**
 * The storage seam under {@link Scopes}: a versioned compare-and-set per scope name, plus
 * commit notices. Every store (memory, file, Redis, MySQL) implements it the same way and
 * passes the same contract suite.
 */
export interface ScopeStore {
  /** The current record, or `null` when the scope was never written. */
  load(name: string): Promise<ScopeRecord | null>;
  /**
   * Writes `data` as version `expectedVersion + 1` if the stored version is still
   * `expectedVersion` (0: never written). Resolves `false` on a conflict, writing nothing.
   */
  commit(name: string, data: ScopeData, expectedVersion: number): Promise<boolean>;
  /**
   * Calls `listener` after commits to `name`, made through any store instance on the same
   * backend (other processes included). Versions delivered to one listener only grow; a
   * polling store may skip intermediate versions, and the first notice may repeat a version
   * the caller already loaded (compare `version`). To follow a scope without gaps, watch
   * first, then `load`. Returns the unsubscribe function.
   */
  watch(name: string, listener: ScopeCommitListener): () => void;
  /** Stops watchers and timers this store started. It never closes a client or pool it was given. */
  close(): Promise<void>;
}
