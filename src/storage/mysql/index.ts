import type { Pool, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { assertScopeName } from '../names.js';
import { CommitNotices } from '../notices.js';
import type { ScopeCommitListener, ScopeData, ScopeRecord, ScopeStore } from '../types.js';

/** The table of {@link MySqlScopeStore}. */
export const DEFAULT_MYSQL_SCOPE_TABLE = 'particle_scopes';
/** How often {@link MySqlScopeStore} polls watched scopes, in ms. */
export const DEFAULT_MYSQL_POLL_MS = 1000;

/** Options of {@link MySqlScopeStore}. */
export interface MySqlScopeStoreOptions {
  /** A `mysql2/promise` pool (MySQL or MariaDB). */
  readonly pool: Pool;
  /** Table name: letters, digits and `_` (default `'particle_scopes'`). */
  readonly table?: string;
  /** Polling interval for commit notices while something is watched (default 1000 ms). */
  readonly pollMs?: number;
}

interface ScopeRow extends RowDataPacket {
  name: Buffer | string;
  version: number | string;
  data: string | ScopeData;
}

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

function isDuplicateKey(error: unknown): boolean {
  const { code, errno } = (error ?? {}) as { code?: unknown; errno?: unknown };
  return code === 'ER_DUP_ENTRY' || errno === 1062;
}

function toRecord(row: ScopeRow): ScopeRecord {
  // MySQL returns a JSON column parsed; MariaDB's JSON is text.
  const data = typeof row.data === 'string' ? (JSON.parse(row.data) as ScopeData) : row.data;
  return { version: Number(row.version), data };
}

/**
 * Scopes in a MySQL or MariaDB table `(name VARBINARY(255) PRIMARY KEY, version BIGINT NOT
 * NULL, data JSON NOT NULL)`, created if missing on first use. A commit is a parameterized
 * `UPDATE … WHERE name = ? AND version = ?`; the first write is an `INSERT`, where a
 * duplicate key is the conflict. Watching polls the watched rows every `pollMs`.
 */
export class MySqlScopeStore implements ScopeStore {
  readonly #pool: Pool;
  readonly #table: string;
  readonly #pollMs: number;
  readonly #notices: CommitNotices;
  #ready: Promise<void> | undefined;
  #timer: ReturnType<typeof setInterval> | undefined;
  #polling = false;

  constructor(options: MySqlScopeStoreOptions) {
    const table = options.table ?? DEFAULT_MYSQL_SCOPE_TABLE;
    if (!TABLE_NAME.test(table)) {
      throw new TypeError(`MySqlScopeStore table must match ${TABLE_NAME}, got "${table}"`);
    }
    this.#pool = options.pool;
    this.#table = `\`${table}\``;
    this.#pollMs = options.pollMs ?? DEFAULT_MYSQL_POLL_MS;
    this.#notices = new CommitNotices((names) => this.#schedule(names.length > 0));
  }

  #ensureTable(): Promise<void> {
    this.#ready ??= this.#pool
      .query(
        `CREATE TABLE IF NOT EXISTS ${this.#table} (` +
          'name VARBINARY(255) NOT NULL PRIMARY KEY, ' +
          'version BIGINT NOT NULL, ' +
          'data JSON NOT NULL)',
      )
      .then(
        () => undefined,
        (error: unknown) => {
          this.#ready = undefined;
          throw error;
        },
      );
    return this.#ready;
  }

  async load(name: string): Promise<ScopeRecord | null> {
    assertScopeName(name);
    await this.#ensureTable();
    const [rows] = await this.#pool.execute<ScopeRow[]>(
      `SELECT name, version, data FROM ${this.#table} WHERE name = ?`,
      [Buffer.from(name, 'utf8')],
    );
    const row = rows[0];
    return row === undefined ? null : toRecord(row);
  }

  async commit(name: string, data: ScopeData, expectedVersion: number): Promise<boolean> {
    assertScopeName(name);
    await this.#ensureTable();
    const key = Buffer.from(name, 'utf8');
    const json = JSON.stringify(data);
    if (expectedVersion === 0) {
      try {
        await this.#pool.execute(
          `INSERT INTO ${this.#table} (name, version, data) VALUES (?, 1, ?)`,
          [key, json],
        );
      } catch (error) {
        if (isDuplicateKey(error)) return false;
        throw error;
      }
    } else {
      const [result] = await this.#pool.execute<ResultSetHeader>(
        `UPDATE ${this.#table} SET version = version + 1, data = ? WHERE name = ? AND version = ?`,
        [json, key, expectedVersion],
      );
      if (result.affectedRows !== 1) return false;
    }
    const commit = { name, version: expectedVersion + 1, data: JSON.parse(json) as ScopeData };
    queueMicrotask(() => this.#notices.deliver(commit));
    return true;
  }

  watch(name: string, listener: ScopeCommitListener): () => void {
    assertScopeName(name);
    return this.#notices.add(name, listener);
  }

  #schedule(active: boolean): void {
    if (!active) {
      if (this.#timer !== undefined) clearInterval(this.#timer);
      this.#timer = undefined;
      return;
    }
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.#poll(), this.#pollMs);
    this.#timer.unref();
  }

  async #poll(): Promise<void> {
    const names = this.#notices.names();
    if (this.#polling || names.length === 0) return;
    this.#polling = true;
    try {
      await this.#ensureTable();
      const [rows] = await this.#pool.execute<ScopeRow[]>(
        `SELECT name, version, data FROM ${this.#table} WHERE name IN (${names.map(() => '?').join(', ')})`,
        names.map((name) => Buffer.from(name, 'utf8')),
      );
      for (const row of rows) {
        const name = Buffer.isBuffer(row.name) ? row.name.toString('utf8') : row.name;
        this.#notices.deliver({ name, ...toRecord(row) });
      }
    } catch {
      // The database is unreachable for now: the next poll tries again.
    } finally {
      this.#polling = false;
    }
  }

  /** Stops polling; the pool stays open. */
  close(): Promise<void> {
    this.#notices.clear();
    this.#schedule(false);
    return Promise.resolve();
  }
}
