import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FileScopeStore, MemoryScopeStore, Scopes } from '../../src/storage/index.js';
import { scopeFileStem } from '../../src/storage/names.js';
import type { ScopeStore } from '../../src/storage/index.js';

type Counter = { count?: number };

describe('Scopes options', () => {
  it('refuses a bad retry at construction, and a bad per-call retry as a rejection', async () => {
    const store = new MemoryScopeStore();
    expect(() => new Scopes({ store, retry: { maxAttempts: 0 } })).toThrow(TypeError);
    expect(() => new Scopes({ store, retry: { minDelayMs: 10, maxDelayMs: 1 } })).toThrow(
      TypeError,
    );
    const scopes = new Scopes({ store });
    let call: Promise<unknown> | undefined;
    expect(() => {
      call = scopes.scoped('x', () => {}, { retry: { maxAttempts: 1.5 } });
    }).not.toThrow();
    await expect(call).rejects.toBeInstanceOf(TypeError);
  });

  it('uses the per-call retry over the instance one', async () => {
    const inner = new MemoryScopeStore();
    let commits = 0;
    const losing: ScopeStore = {
      load: (name) => inner.load(name),
      commit: async () => (commits++, false),
      watch: (name, listener) => inner.watch(name, listener),
      close: () => inner.close(),
    };
    const scopes = new Scopes({
      store: losing,
      retry: { minDelayMs: 0, maxDelayMs: 0, maxAttempts: 9 },
    });
    await expect(
      scopes.scoped<Counter>('x', (s) => void (s.count = 1), { retry: { maxAttempts: 2 } }),
    ).rejects.toMatchObject({ code: 'scope_contended' });
    expect(commits).toBe(2);
  });

  it('hands fn a frozen base: the loaded data cannot leak mutations', async () => {
    const scopes = new Scopes({ store: new MemoryScopeStore() });
    await scopes.scoped<{ list?: number[] }>('x', (s) => void (s.list = [1]));
    const { data } = await scopes.read<{ list: number[] }>('x');
    expect(() => (data.list as number[]).push(2)).toThrow(TypeError);
  });
});

describe('file store lock', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('waits for a held lock and takes it over once it is stale', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'particle-scopes-lock-'));
    dirs.push(dir);
    const store = new FileScopeStore({ dir, staleLockMs: 300 });
    const scopes = new Scopes({ store });
    await writeFile(join(dir, `${scopeFileStem('held')}.lock`), 'someone else');
    const started = Date.now();
    await scopes.scoped<Counter>('held', (s) => void (s.count = 1));
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await scopes.read('held')).toEqual({ data: { count: 1 }, version: 1 });
    expect((await readdir(dir)).filter((file) => !file.endsWith('.json'))).toEqual([]);
  });
});
