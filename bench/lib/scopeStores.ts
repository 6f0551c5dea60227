/**
 * The stores of P12, opened the same way by its job (setup, the final count) and by each writer
 * process: Particle's `Scopes` over a file, Redis or MySQL store, or the seed's algorithm over
 * its own driver for the same backend.
 */
import { mkdir, rm } from 'node:fs/promises';
import { createConnection, createPool } from 'mysql2/promise';
import { createClient } from 'redis';
import { FileScopeStore, Scopes, type ScopeStore } from '../../src/storage/index.js';
import { MySqlScopeStore } from '../../src/storage/mysql/index.js';
import { RedisScopeStore } from '../../src/storage/redis/index.js';
import {
  seedFileDriver,
  seedMySqlDriver,
  seedMySqlTable,
  seedRedisDriver,
  seedScoped,
  type SeedDriver,
  type SeedOutcome,
} from './seedScopes.js';
import { MYSQL_CONFIG, REDIS_URL, SERVICE_NAMES } from './services.js';

export type StoreKind = 'file' | 'redis' | 'mysql';
export type ScopeSystem = 'particle' | 'seed';

/** Where one measurement keeps its scope: a directory, a key prefix or a table name. */
export interface ScopeTarget {
  kind: StoreKind;
  system: ScopeSystem;
  /** File: the directory; Redis: the key prefix; MySQL: the table. */
  place: string;
  scope: string;
}

/** How one increment ended: committed, given up (Particle's `scope_contended`), or the seed's. */
export type IncrementOutcome = SeedOutcome | 'contended';

/** One process's handle on the scope, for either system. */
export interface Counter {
  increment(deadline: number): Promise<IncrementOutcome>;
  /** The scope's `count` as stored now. */
  count(): Promise<number>;
  /** Commit (Particle) or store (seed) attempts so far in this process. */
  attempts(): number;
  close(): Promise<void>;
}

/** Why `kind`'s service cannot be used here, or null when it can. */
export async function unavailable(kind: StoreKind): Promise<string | null> {
  try {
    if (kind === 'redis') {
      const client = createClient({
        url: REDIS_URL,
        socket: { connectTimeout: 2000, reconnectStrategy: false },
      });
      client.on('error', () => {});
      await client.connect();
      await client.ping();
      await client.close();
    } else if (kind === 'mysql') {
      const connection = await createConnection({ ...MYSQL_CONFIG, connectTimeout: 2000 });
      await connection.end();
    }
    return null;
  } catch (error) {
    return `${SERVICE_NAMES[kind as 'redis' | 'mysql']} is unreachable (${String(error)})`;
  }
}

/** Counts commit attempts of the store under a `Scopes`, so retries show in the figures. */
function counting(store: ScopeStore, tally: { attempts: number }): ScopeStore {
  return {
    load: (name) => store.load(name),
    commit: (name, data, expectedVersion) => {
      tally.attempts++;
      return store.commit(name, data, expectedVersion);
    },
    watch: (name, listener) => store.watch(name, listener),
    close: () => store.close(),
  };
}

async function openParticle(target: ScopeTarget): Promise<Counter> {
  let store: ScopeStore;
  let done = async () => {};
  if (target.kind === 'file') {
    store = new FileScopeStore({ dir: target.place });
  } else if (target.kind === 'redis') {
    const client = await createClient({ url: REDIS_URL }).connect();
    store = new RedisScopeStore({ client, prefix: target.place });
    done = async () => void (await client.close());
  } else {
    const pool = createPool({ ...MYSQL_CONFIG, connectionLimit: 4 });
    store = new MySqlScopeStore({ pool, table: target.place });
    done = () => pool.end();
  }
  const tally = { attempts: 0 };
  const scopes = new Scopes({ store: counting(store, tally) });
  return {
    async increment() {
      try {
        await scopes.scoped<{ count?: number }>(
          target.scope,
          (s) => void (s.count = (s.count ?? 0) + 1),
        );
        return 'committed';
      } catch (error) {
        if ((error as { code?: unknown }).code === 'scope_contended') return 'contended';
        throw error;
      }
    },
    async count() {
      return ((await scopes.read<{ count?: number }>(target.scope)).data.count ?? 0) as number;
    },
    attempts: () => tally.attempts,
    async close() {
      await store.close();
      await done();
    },
  };
}

async function openSeed(target: ScopeTarget): Promise<Counter> {
  let driver: SeedDriver;
  let done = async () => {};
  if (target.kind === 'file') {
    await mkdir(target.place, { recursive: true });
    driver = seedFileDriver(target.place);
  } else if (target.kind === 'redis') {
    // One connection for every call of the process, as the seed's injected client.
    const client = createClient({ url: REDIS_URL });
    await client.connect();
    driver = seedRedisDriver(client, `${target.place}value`);
    done = async () => void (await client.close());
  } else {
    const connection = await createConnection(MYSQL_CONFIG);
    await seedMySqlTable(connection, target.place);
    driver = seedMySqlDriver(connection, target.place);
    done = () => connection.end();
  }
  let attempts = 0;
  const counted: SeedDriver = {
    load: (scope) => driver.load(scope),
    store: (scope, pkg) => {
      attempts++;
      return driver.store(scope, pkg);
    },
  };
  return {
    increment: (deadline) =>
      // The seed README's counter, word for word.
      seedScoped(
        counted,
        target.scope,
        (scope) => {
          if (!scope.count) scope.count = 0;
          (scope.count as number)++;
          return scope.count;
        },
        deadline,
      ),
    async count() {
      return Number((await driver.load(target.scope)).data.count ?? 0);
    },
    attempts: () => attempts,
    close: () => done(),
  };
}

/** Opens `target` for `target.system`. */
export function openCounter(target: ScopeTarget): Promise<Counter> {
  return target.system === 'particle' ? openParticle(target) : openSeed(target);
}

/** Removes what a measurement left in its directory, keys or table. */
export async function removeTarget(target: ScopeTarget): Promise<void> {
  if (target.kind === 'file') {
    await rm(target.place, { recursive: true, force: true });
  } else if (target.kind === 'redis') {
    const client = await createClient({ url: REDIS_URL }).connect();
    const keys = await client.keys(`${target.place}*`);
    if (keys.length > 0) await client.del(keys);
    await client.close();
  } else {
    const connection = await createConnection(MYSQL_CONFIG);
    await connection.query(`DROP TABLE IF EXISTS \`${target.place}\``);
    await connection.end();
  }
}
