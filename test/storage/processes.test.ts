import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FileScopeStore, Scopes } from '../../src/storage/index.js';
import { MySqlScopeStore } from '../../src/storage/mysql/index.js';
import { RedisScopeStore } from '../../src/storage/redis/index.js';
import { connectMySql, connectRedis, RUN_ID } from './services.js';

const worker = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));

function run(
  ...args: string[]
): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', worker, ...args], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

// Each writer fires all of its increments at once (calls on one scope then take turns inside
// each process, so writers contend only with the other processes).
const WRITERS = 8;
const EACH = { file: 500, redis: 500, mysql: 500 };

async function writersAgree(kind: keyof typeof EACH, target: string, read: () => Promise<unknown>) {
  const scope = `procs-${kind}`;
  const each = EACH[kind];
  const results = await Promise.all(
    Array.from({ length: WRITERS }, () => run('increment', kind, target, scope, String(each))),
  );
  for (const result of results) expect(result, result.stderr).toMatchObject({ code: 0 });
  expect(await read()).toEqual({ data: { count: WRITERS * each }, version: WRITERS * each });
}

describe('separate writer processes', { timeout: 90_000 }, () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups) await cleanup();
  });

  it(`file: ${WRITERS} processes x ${EACH.file} increments lose nothing`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'particle-scopes-procs-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const scopes = new Scopes({ store: new FileScopeStore({ dir }) });
    await writersAgree('file', dir, () => scopes.read('procs-file'));
  });

  it('file: a writer killed between temp write and rename leaves the previous version', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'particle-scopes-crash-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const store = new FileScopeStore({ dir, staleLockMs: 300 });
    const scopes = new Scopes({ store });
    await scopes.scoped<{ n?: number }>('crash', (s) => void (s.n = 1));
    const crashed = await run('crash-file', dir, 'crash');
    expect(crashed.signal).toBe('SIGKILL');
    expect((await readdir(dir)).some((file) => file.endsWith('.lock'))).toBe(true);
    expect(await scopes.read('crash')).toEqual({ data: { n: 1 }, version: 1 });
    // The dead writer's lock goes stale and is taken over; the next commit goes through.
    await scopes.scoped<{ n?: number }>('crash', (s) => void (s.n = 2));
    expect(await scopes.read('crash')).toEqual({ data: { n: 2 }, version: 2 });
    expect((await readdir(dir)).some((file) => file.endsWith('.lock'))).toBe(false);
  });

  it(`redis: ${WRITERS} processes x ${EACH.redis} increments lose nothing`, async (context) => {
    const client = await connectRedis();
    if (typeof client === 'string') {
      if (process.env.CI === 'true') throw new Error(client);
      console.warn(`Skipping: ${client}`);
      return context.skip();
    }
    const prefix = `particle:test:procs:${RUN_ID}:`;
    cleanups.push(async () => {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(keys);
      await client.close();
    });
    const scopes = new Scopes({ store: new RedisScopeStore({ client, prefix }) });
    await writersAgree('redis', prefix, () => scopes.read('procs-redis'));
  });

  it(`mysql: ${WRITERS} processes x ${EACH.mysql} increments lose nothing`, async (context) => {
    const pool = await connectMySql();
    if (typeof pool === 'string') {
      if (process.env.CI === 'true') throw new Error(pool);
      console.warn(`Skipping: ${pool}`);
      return context.skip();
    }
    const table = `particle_scopes_procs_${RUN_ID}`;
    cleanups.push(async () => {
      await pool.query(`DROP TABLE IF EXISTS \`${table}\``);
      await pool.end();
    });
    const scopes = new Scopes({ store: new MySqlScopeStore({ pool, table }) });
    // Create the table first, so the writers do not race on CREATE TABLE.
    await scopes.read('procs-mysql');
    await writersAgree('mysql', table, () => scopes.read('procs-mysql'));
  });
});
