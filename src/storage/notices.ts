import type { ScopeCommit, ScopeCommitListener } from './types.js';

interface Watched {
  readonly listeners: Set<ScopeCommitListener>;
  lastVersion: number;
}

/**
 * Listener bookkeeping shared by the stores: listeners per scope name, and the versions
 * already delivered, so a notice seen twice (local commit and pub/sub or polling) or an
 * older one arriving late is dropped.
 */
export class CommitNotices {
  readonly #watched = new Map<string, Watched>();
  readonly #onChange: (names: readonly string[]) => void;

  /** `onChange` runs whenever the set of watched names changes. */
  constructor(onChange: (names: readonly string[]) => void = () => {}) {
    this.#onChange = onChange;
  }

  /** The names with at least one listener. */
  names(): string[] {
    return [...this.#watched.keys()];
  }

  /** Adds a listener; returns its unsubscribe function (safe to call twice). */
  add(name: string, listener: ScopeCommitListener): () => void {
    let watched = this.#watched.get(name);
    const added = watched === undefined;
    if (watched === undefined) {
      watched = { listeners: new Set(), lastVersion: 0 };
      this.#watched.set(name, watched);
    }
    // Each subscription is its own entry, even when the same function is added twice.
    const entry: ScopeCommitListener = (commit) => listener(commit);
    watched.listeners.add(entry);
    if (added) this.#onChange(this.names());
    return () => {
      const current = this.#watched.get(name);
      if (current === undefined || !current.listeners.delete(entry)) return;
      if (current.listeners.size === 0) {
        this.#watched.delete(name);
        this.#onChange(this.names());
      }
    };
  }

  /** Delivers a commit to the listeners of its scope, if it is newer than the last one. */
  deliver(commit: ScopeCommit): void {
    const watched = this.#watched.get(commit.name);
    if (watched === undefined || commit.version <= watched.lastVersion) return;
    watched.lastVersion = commit.version;
    for (const listener of [...watched.listeners]) {
      try {
        listener(commit);
      } catch {
        // A listener must not throw; one that does cannot stop the others.
      }
    }
  }

  /** Drops every listener. */
  clear(): void {
    if (this.#watched.size === 0) return;
    this.#watched.clear();
    this.#onChange([]);
  }
}
