import { assertScopeName } from './names.js';
import { CommitNotices } from './notices.js';
import type { ScopeCommitListener, ScopeData, ScopeRecord, ScopeStore } from './types.js';

/**
 * Scopes in this process's memory (tests, single-process apps). Data is kept as JSON, so
 * what a scope holds is exactly what a persistent store would hold.
 */
export class MemoryScopeStore implements ScopeStore {
  readonly #scopes = new Map<string, { version: number; json: string }>();
  readonly #notices = new CommitNotices();

  // eslint-disable-next-line @typescript-eslint/require-await -- a bad name rejects, as a persistent store's would
  async load(name: string): Promise<ScopeRecord | null> {
    assertScopeName(name);
    const stored = this.#scopes.get(name);
    if (stored === undefined) return null;
    return { data: JSON.parse(stored.json) as ScopeData, version: stored.version };
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- a bad name or data rejects, as a persistent store's would
  async commit(name: string, data: ScopeData, expectedVersion: number): Promise<boolean> {
    assertScopeName(name);
    const version = this.#scopes.get(name)?.version ?? 0;
    if (version !== expectedVersion) return false;
    const json = JSON.stringify(data);
    this.#scopes.set(name, { version: version + 1, json });
    const commit = { name, version: version + 1, data: JSON.parse(json) as ScopeData };
    queueMicrotask(() => this.#notices.deliver(commit));
    return true;
  }

  watch(name: string, listener: ScopeCommitListener): () => void {
    assertScopeName(name);
    return this.#notices.add(name, listener);
  }

  close(): Promise<void> {
    this.#notices.clear();
    return Promise.resolve();
  }
}
