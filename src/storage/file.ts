import { randomBytes } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { withFileLock } from './fileLock.js';
import { assertScopeName, scopeFileStem } from './names.js';
import { CommitNotices } from './notices.js';
import type { ScopeCommitListener, ScopeData, ScopeRecord, ScopeStore } from './types.js';

/** The fallback polling interval of {@link FileScopeStore} watching, in ms. */
export const DEFAULT_FILE_POLL_MS = 1000;
/** How old a lock file must be before it counts as left by a crashed writer, in ms. */
export const DEFAULT_FILE_STALE_LOCK_MS = 10_000;

/** Options of {@link FileScopeStore}. */
export interface FileScopeStoreOptions {
  /** The directory holding one JSON file per scope (created if missing). */
  readonly dir: string;
  /** Fallback polling while watching, beside `fs.watch` (default 1000 ms). */
  readonly pollMs?: number;
  /** Age after which a lock file is taken over (default 10 000 ms). */
  readonly staleLockMs?: number;
}

interface StoredScope {
  readonly name: string;
  readonly version: number;
  readonly data: ScopeData;
}

function hasCode(error: unknown, code: string): boolean {
  return (error as { code?: unknown } | null)?.code === code;
}

/**
 * Scopes as files in one directory: `<readable prefix>.<sha256>.json` holding
 * `{ name, version, data }`. A commit takes an exclusive lock file, checks the version,
 * writes a temp file, fsyncs it and renames it over the old one, so a crash mid-write
 * leaves the previous version intact. Watching uses `fs.watch` plus slow polling, and sees
 * commits from other processes.
 */
export class FileScopeStore implements ScopeStore {
  readonly #dir: string;
  readonly #pollMs: number;
  readonly #staleLockMs: number;
  readonly #notices: CommitNotices;
  #ready: Promise<void> | undefined;
  #watcher: FSWatcher | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #stems = new Map<string, string>();

  constructor(options: FileScopeStoreOptions) {
    this.#dir = options.dir;
    this.#pollMs = options.pollMs ?? DEFAULT_FILE_POLL_MS;
    this.#staleLockMs = options.staleLockMs ?? DEFAULT_FILE_STALE_LOCK_MS;
    this.#notices = new CommitNotices((names) => this.#watchNames(names));
  }

  #path(name: string, suffix = '.json'): string {
    return join(this.#dir, `${scopeFileStem(name)}${suffix}`);
  }

  #ensureDir(): Promise<void> {
    this.#ready ??= mkdir(this.#dir, { recursive: true }).then(() => undefined);
    return this.#ready;
  }

  async #read(name: string): Promise<StoredScope | null> {
    let text: string;
    try {
      text = await readFile(this.#path(name), 'utf8');
    } catch (error) {
      if (hasCode(error, 'ENOENT')) return null;
      throw error;
    }
    const stored = JSON.parse(text) as StoredScope;
    if (stored.name !== name) throw new Error(`Scope file for "${name}" holds another name`);
    return stored;
  }

  async load(name: string): Promise<ScopeRecord | null> {
    assertScopeName(name);
    const stored = await this.#read(name);
    return stored === null ? null : { data: stored.data, version: stored.version };
  }

  async commit(name: string, data: ScopeData, expectedVersion: number): Promise<boolean> {
    assertScopeName(name);
    await this.#ensureDir();
    const json = JSON.stringify({ name, version: expectedVersion + 1, data });
    const written = await withFileLock(this.#path(name, '.lock'), this.#staleLockMs, async () => {
      const version = (await this.#read(name))?.version ?? 0;
      if (version !== expectedVersion) return false;
      await this.#replace(this.#path(name), json);
      return true;
    });
    if (!written) return false;
    const commit = {
      name,
      version: expectedVersion + 1,
      data: (JSON.parse(json) as { data: ScopeData }).data,
    };
    queueMicrotask(() => this.#notices.deliver(commit));
    return true;
  }

  /** Writes a temp file beside `target`, fsyncs it and renames it over `target`. */
  async #replace(target: string, json: string): Promise<void> {
    const temp = `${target}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const handle = await open(temp, 'wx');
      try {
        await handle.writeFile(json);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, target);
    } catch (error) {
      await unlink(temp).catch(() => {});
      throw error;
    }
    await this.#syncDir();
  }

  /** Makes the rename durable; some platforms cannot fsync a directory, which is tolerated. */
  async #syncDir(): Promise<void> {
    try {
      const handle = await open(this.#dir, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch {
      // Not supported here: the rename is still atomic, only its durability is weaker.
    }
  }

  watch(name: string, listener: ScopeCommitListener): () => void {
    assertScopeName(name);
    this.#stems.set(`${scopeFileStem(name)}.json`, name);
    return this.#notices.add(name, listener);
  }

  #refresh(name: string): void {
    this.#read(name).then(
      (stored) => {
        if (stored !== null) this.#notices.deliver(stored);
      },
      () => {
        // A half-visible directory or a transient error: the next event or poll retries.
      },
    );
  }

  #watchNames(names: readonly string[]): void {
    for (const file of [...this.#stems.keys()]) {
      if (!names.includes(this.#stems.get(file) ?? '')) this.#stems.delete(file);
    }
    if (names.length === 0) {
      this.#stop();
      return;
    }
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      for (const name of this.#notices.names()) this.#refresh(name);
    }, this.#pollMs);
    this.#timer.unref();
    void this.#ensureDir().then(
      () => {
        if (this.#timer === undefined || this.#watcher !== undefined) return;
        try {
          this.#watcher = watch(this.#dir, { persistent: false }, (_event, file) => {
            const name = file === null ? undefined : this.#stems.get(String(file));
            if (name !== undefined) this.#refresh(name);
          });
          this.#watcher.on('error', () => {});
          for (const name of this.#notices.names()) this.#refresh(name);
        } catch {
          // No fs.watch here: polling alone carries the notices.
        }
      },
      () => {},
    );
  }

  #stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
  }

  close(): Promise<void> {
    this.#notices.clear();
    this.#stop();
    return Promise.resolve();
  }
}
