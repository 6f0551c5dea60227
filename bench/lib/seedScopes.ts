/**
 * The P12 baseline: Metaparticle/storage's `scoped` and its file, Redis and MySQL drivers,
 * re-expressed in TypeScript step for step, flaws included (they are what P12 measures):
 *
 * - `scoped` loads the whole scope, runs `fn` on it behind a Proxy whose `set` trap marks it
 *   dirty (top level only: a nested write or a `delete` is not seen), stores it, and on a
 *   refused store waits a fixed 100 ms and runs again, forever. An error while loading or
 *   storing is only logged there, so that call's promise never settles: here it ends as
 *   `hung`. A deadline ends the retrying, so the benchmark ends.
 * - file: the version is the file's mtime, read by a `stat` before the read; a store whose
 *   version no longer matches answers "conflict" and still writes (the missing `return`), with
 *   a plain `writeFile` (truncate, then write), so a reader can see a torn file.
 * - Redis: every scope lives in ONE key (the scope name is not used) as `{ data, version }`;
 *   a store runs WATCH, GET, compares the version, then MULTI/SET/EXEC, all on one connection
 *   shared by the process, so one call's EXEC clears the WATCH of another in flight. The seed
 *   sends MULTI, SET and EXEC one callback after another; here they go as one node-redis
 *   `multi()` batch, so only the WATCH and GET of different calls interleave (kinder to it).
 * - MySQL: one connection per process; the seed's store does check the version (`UPDATE ...
 *   WHERE name = ? AND version = ?`, a duplicate key on the first INSERT), so it loses nothing
 *   and only its fixed retry and single connection cost it.
 */
import { statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Connection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { sleep, wallMs } from './stats.js';

/** What the seed's drivers load and store: the scope's data and an opaque version. */
export interface SeedPackage {
  data: Record<string, unknown>;
  version: unknown;
}

/** One of the seed's storage drivers. */
export interface SeedDriver {
  load(scope: string): Promise<SeedPackage>;
  /** True if stored; false on a (detected) conflict. */
  store(scope: string, pkg: SeedPackage): Promise<boolean>;
}

/** How one `seedScoped` call ended. */
export type SeedOutcome = 'committed' | 'timeout' | 'hung';

/** The seed's fixed wait before running a refused function again. */
export const SEED_RETRY_MS = 100;

/** The seed's `scoped(name, fn)`, ended by `deadline` (wall-clock ms) instead of never. */
export async function seedScoped(
  driver: SeedDriver,
  name: string,
  fn: (scope: Record<string, unknown>) => unknown,
  deadline: number,
): Promise<SeedOutcome> {
  for (;;) {
    let pkg: SeedPackage;
    try {
      pkg = await driver.load(name);
    } catch {
      return 'hung';
    }
    let dirty = false;
    const scope = new Proxy(pkg.data, {
      set(_target, property, value) {
        pkg.data[property as string] = value;
        dirty = true;
        return true;
      },
    });
    fn(scope);
    // Nothing seen as changed: the seed neither stores nor settles its promise.
    if (!dirty) return 'hung';
    let stored: boolean;
    try {
      stored = await driver.store(name, pkg);
    } catch {
      return 'hung';
    }
    if (stored) return 'committed';
    if (wallMs() + SEED_RETRY_MS > deadline) return 'timeout';
    await sleep(SEED_RETRY_MS);
  }
}

function hasCode(error: unknown, code: string): boolean {
  return (error as { code?: unknown } | null)?.code === code;
}

/** The seed's file driver: `<dir>/<scope>.json` holding the data, versioned by its mtime. */
export function seedFileDriver(dir: string): SeedDriver {
  const statOrNull = (path: string) => {
    try {
      return statSync(path);
    } catch (error) {
      if (hasCode(error, 'ENOENT')) return null;
      throw error;
    }
  };
  return {
    async load(scope) {
      const path = join(dir, `${scope}.json`);
      const stats = statOrNull(path);
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (error) {
        if (hasCode(error, 'ENOENT')) return { data: {}, version: 'empty' };
        throw error;
      }
      // A torn file (a writer between truncate and write) throws here.
      return { data: JSON.parse(text) as Record<string, unknown>, version: stats?.mtime };
    },
    async store(scope, pkg) {
      const path = join(dir, `${scope}.json`);
      const stats = statOrNull(path);
      let answer: boolean | undefined;
      if (stats === null) {
        if (pkg.version !== 'empty') answer = false;
      } else if (JSON.stringify(pkg.version) !== JSON.stringify(stats.mtime)) {
        answer = false;
      }
      // The seed resolves false above but falls through: the stale data is written anyway.
      await writeFile(path, JSON.stringify(pkg.data));
      return answer ?? true;
    },
  };
}

/** The part of a node-redis client the seed's driver uses. */
export interface SeedRedisClient {
  get(key: string): Promise<string | null>;
  watch(key: string): Promise<unknown>;
  multi(): { set(key: string, value: string): { exec(): Promise<unknown> } };
}

/** The seed's Redis driver: one key for every scope, WATCH/MULTI/EXEC on `client` (shared). */
export function seedRedisDriver(client: SeedRedisClient, key: string): SeedDriver {
  return {
    async load() {
      const text = await client.get(key);
      return text === null ? { data: {}, version: 0 } : (JSON.parse(text) as SeedPackage);
    },
    async store(_scope, pkg) {
      await client.watch(key);
      const text = await client.get(key);
      // The seed compares loosely (`!=`), so the first load's 0 matches "0".
      if (text === null && String(pkg.version) !== '0') return false;
      if (text !== null && (JSON.parse(text) as SeedPackage).version !== pkg.version) return false;
      pkg.version = Number(pkg.version) + 1;
      try {
        await client.multi().set(key, JSON.stringify(pkg)).exec();
        return true;
      } catch {
        // EXEC aborted (a watched key changed) or failed: the seed answers false either way.
        return false;
      }
    },
  };
}

interface RecordRow extends RowDataPacket {
  version: number;
  data: string;
}

/** The seed's table, as its `configure` creates it. */
export function seedMySqlTable(connection: Connection, table: string): Promise<unknown> {
  return connection.query(
    `create table if not exists ${table} (name varchar(256) primary key, version int, data text)`,
  );
}

/** The seed's MySQL driver: one connection, a versioned UPDATE (the first write an INSERT). */
export function seedMySqlDriver(connection: Connection, table: string): SeedDriver {
  return {
    async load(scope) {
      const [rows] = await connection.query<RecordRow[]>(
        `select version, data from ${table} where name='${scope}'`,
      );
      const row = rows[0];
      if (row === undefined) return { data: {}, version: 'empty' };
      const pkg = JSON.parse(row.data) as SeedPackage;
      pkg.version = row.version;
      return pkg;
    },
    async store(scope, pkg) {
      if (pkg.version === 'empty') {
        try {
          await connection.query(`insert into ${table} (name, version, data) values (?, ?, ?)`, [
            scope,
            1,
            JSON.stringify(pkg),
          ]);
          return true;
        } catch (error) {
          if (hasCode(error, 'ER_DUP_ENTRY')) return false;
          throw error;
        }
      }
      const oldVersion = pkg.version as number;
      pkg.version = oldVersion + 1;
      const [result] = await connection.query<ResultSetHeader>(
        `update ${table} set data=?, version=? where (name=? and version=?)`,
        [JSON.stringify(pkg), pkg.version, scope, oldVersion],
      );
      return result.affectedRows === 1;
    },
  };
}
