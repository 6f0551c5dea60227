import { isDraft } from 'immer';
import { afterAll, describe, expect, it } from 'vitest';
import { ParticleError } from '../../src/protocol/errors.js';
import { Scopes } from '../../src/storage/index.js';
import type { ScopeCommit, ScopeData, ScopeStore } from '../../src/storage/index.js';
import { quietFor } from '../support/quiet.js';

/** A backend the suite can open several store instances on (each its own connection). */
export interface ContractBackend {
  /** A new store instance on the shared backend. */
  open(): Promise<ScopeStore>;
  /** Removes everything the run created and closes connections. */
  cleanup(): Promise<void>;
}

/** Either a backend or the reason it is unavailable. */
export type ContractSetup = ContractBackend | { readonly unavailable: string };

let counter = 0;
const unique = (label: string) => `${label}-${Date.now().toString(36)}-${counter++}`;

async function eventually(check: () => void, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** A store whose every commit loses the race: a competitor commits first on the same version. */
function interfering(store: ScopeStore): ScopeStore {
  return {
    load: (name) => store.load(name),
    commit: async (name, data, expectedVersion) => {
      await store.commit(name, { competitor: expectedVersion }, expectedVersion);
      return store.commit(name, data, expectedVersion);
    },
    watch: (name, listener) => store.watch(name, listener),
    close: () => store.close(),
  };
}

type Counter = { count?: number };

/**
 * The contract every {@link ScopeStore} passes, against the real backend. Outside CI an
 * unavailable backend skips with its reason; under `CI=true` it fails.
 */
export function scopeStoreContract(label: string, setup: ContractSetup): void {
  if ('unavailable' in setup) {
    if (process.env.CI === 'true') {
      describe(label, () => {
        it('has its service available (required under CI)', () => {
          throw new Error(`${label}: ${setup.unavailable}`);
        });
      });
    } else {
      console.warn(`Skipping the ${label} store contract: ${setup.unavailable}`);
      describe.skip(`${label} (skipped: ${setup.unavailable})`, () => {
        it('needs its service', () => {});
      });
    }
    return;
  }
  const backend = setup;
  describe(`${label} scope store contract`, () => {
    const opened: ScopeStore[] = [];
    const open = async () => {
      const store = await backend.open();
      opened.push(store);
      return store;
    };
    const scopesOn = async () => new Scopes({ store: await open() });

    afterAll(async () => {
      await Promise.all(opened.map((store) => store.close()));
      await backend.cleanup();
    });

    it('shows a never-written scope as absent, version 0', async () => {
      const scopes = await scopesOn();
      const name = unique('absent');
      expect(await scopes.store.load(name)).toBeNull();
      expect(await scopes.read(name)).toEqual({ data: {}, version: 0 });
    });

    it('commits a change, returns the result and bumps the version by one', async () => {
      const scopes = await scopesOn();
      const name = unique('count');
      const bump = (scope: Counter) => (scope.count = (scope.count ?? 0) + 1);
      expect(await scopes.scoped<Counter, number>(name, bump)).toBe(1);
      expect(await scopes.scoped<Counter, number>(name, bump)).toBe(2);
      const read = await scopes.read(name);
      expect(read).toEqual({ data: { count: 2 }, version: 2 });
      expect(Object.isFrozen(read.data)).toBe(true);
    });

    it('saves nested writes, pushes and deletes, seen by another instance', async () => {
      const [a, b] = [await scopesOn(), await scopesOn()];
      const name = unique('nested');
      type Shape = { a?: { b: number; c?: { d: string } }; list?: number[]; k?: number };
      await a.scoped<Shape>(name, (scope) => {
        scope.a = { b: 0 };
        scope.list = [1];
        scope.k = 1;
      });
      await a.scoped<Shape>(name, (scope) => {
        scope.list!.push(2);
        scope.a!.b = 1;
        scope.a!.c = { d: 'deep' };
        delete scope.k;
      });
      expect(await b.read(name)).toEqual({
        data: { a: { b: 1, c: { d: 'deep' } }, list: [1, 2] },
        version: 2,
      });
      await b.scoped<Shape>(name, (scope) => {
        scope.list!.splice(0, 1);
        scope.a!.c!.d = 'changed';
      });
      expect((await a.read(name)).data).toEqual({ a: { b: 1, c: { d: 'changed' } }, list: [2] });
    });

    it('writes nothing when fn changes nothing, and still returns its result', async () => {
      const scopes = await scopesOn();
      const name = unique('nochange');
      expect(await scopes.scoped<Counter, string>(name, () => 'untouched')).toBe('untouched');
      expect(await scopes.store.load(name)).toBeNull();
      await scopes.scoped<Counter>(name, (scope) => void (scope.count = 5));
      expect(await scopes.scoped<Counter, number | undefined>(name, (scope) => scope.count)).toBe(
        5,
      );
      expect(await scopes.scoped<Counter>(name, (scope) => void (scope.count = 5))).toBeUndefined();
      expect((await scopes.read(name)).version).toBe(1);
    });

    it('writes nothing when fn throws, and rejects with that error', async () => {
      const scopes = await scopesOn();
      const name = unique('throws');
      await scopes.scoped<Counter>(name, (scope) => void (scope.count = 1));
      const boom = new Error('boom');
      await expect(
        scopes.scoped<Counter>(name, (scope) => {
          scope.count = 99;
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await scopes.read(name)).toEqual({ data: { count: 1 }, version: 1 });
    });

    it('rejects an async fn or a thenable result with a TypeError, never a sync throw', async () => {
      const scopes = await scopesOn();
      const name = unique('async');
      const calls: Promise<unknown>[] = [];
      expect(() => {
        calls.push(
          scopes.scoped<Counter>(name, async (scope) => void (scope.count = 1)),
          scopes.scoped<Counter, Promise<void>>(name, (scope) => {
            scope.count = 2;
            return Promise.resolve();
          }),
          scopes.scoped<Counter>(name, (scope) => {
            scope.count = 3;
            return { then: () => {} } as unknown as void;
          }),
          scopes.scoped('', () => {}),
          scopes.scoped(name, 'nope' as unknown as () => void),
        );
      }).not.toThrow();
      // Settle them all at once, so none is left unhandled while another is awaited.
      const errors = await Promise.all(
        calls.map((call) =>
          call.then(
            () => null,
            (e: unknown) => e,
          ),
        ),
      );
      for (const error of errors) expect(error).toBeInstanceOf(TypeError);
      expect(await scopes.store.load(name)).toBeNull();
    });

    it('finalizes the returned value: drafts become plain frozen values', async () => {
      const scopes = await scopesOn();
      const name = unique('finalize');
      type Shape = { list: number[]; nested: { x: number } };
      const result = await scopes.scoped<Shape, { list: number[]; nested: { x: number } }>(
        name,
        (scope) => {
          scope.list = [1, 2];
          scope.nested = { x: 1 };
          scope.list.push(3);
          return { list: scope.list, nested: scope.nested };
        },
      );
      expect(result).toEqual({ list: [1, 2, 3], nested: { x: 1 } });
      expect(isDraft(result.list)).toBe(false);
      expect(Object.isFrozen(result)).toBe(true);
      expect(Object.isFrozen(result.list)).toBe(true);
      const whole = await scopes.scoped<Shape, Shape>(name, (scope) => {
        scope.nested.x = 2;
        return scope;
      });
      expect(isDraft(whole)).toBe(false);
      expect(whole).toEqual({ list: [1, 2, 3], nested: { x: 2 } });
      expect(Object.isFrozen(whole.nested)).toBe(true);
    });

    it('stores awkward names safely and keeps them apart; rejects names out of 1..255 bytes', async () => {
      const [a, b] = [await scopesOn(), await scopesOn()];
      const prefix = unique('n');
      const names = [
        `${prefix}/a/../b`,
        `${prefix}_a_.._b`,
        `${prefix} "quoted" 'single' \`tick\``,
        `${prefix}'; DROP TABLE particle_scopes; --`,
        `${prefix}%_*?[]\\\0`,
        `${prefix}…ünïcødé 🎉`,
      ];
      const long = `${prefix}${'x'.repeat(255 - prefix.length)}`;
      const longMultiByte = `${prefix}${'é'.repeat(Math.floor((255 - prefix.length) / 2))}`;
      names.push(long, longMultiByte);
      for (const [i, name] of names.entries()) {
        await a.scoped<{ i?: number; name?: string }>(name, (scope) => {
          scope.i = i;
          scope.name = name;
        });
      }
      for (const [i, name] of names.entries()) {
        expect(await b.read(name)).toEqual({ data: { i, name }, version: 1 });
      }
      for (const bad of ['', `${long}y`, 'é'.repeat(128), '\uD800']) {
        await expect(a.scoped(bad, () => {})).rejects.toBeInstanceOf(TypeError);
        await expect(a.read(bad)).rejects.toBeInstanceOf(TypeError);
      }
    });

    it('loses no increment: 2 instances x 50 concurrent increments give exactly 100', async () => {
      const [a, b] = [await scopesOn(), await scopesOn()];
      const name = unique('contended');
      const bump = (scope: Counter) => void (scope.count = (scope.count ?? 0) + 1);
      await Promise.all(
        Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? a : b).scoped<Counter>(name, bump)),
      );
      expect(await a.read(name)).toEqual({ data: { count: 100 }, version: 100 });
    });

    it('rejects with scope_contended after maxAttempts runs, its own change unwritten', async () => {
      const store = await open();
      const scopes = new Scopes({
        store: interfering(store),
        retry: { minDelayMs: 1, maxDelayMs: 2, maxAttempts: 4 },
      });
      const name = unique('exhausted');
      let runs = 0;
      const rejection = await scopes
        .scoped<ScopeData>(name, (scope) => {
          runs++;
          scope.mine = true;
        })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(rejection).toBeInstanceOf(ParticleError);
      expect((rejection as ParticleError).code).toBe('scope_contended');
      expect(runs).toBe(4);
      const stored = await store.load(name);
      expect(stored?.version).toBe(4);
      expect(stored?.data).toEqual({ competitor: 3 });
    });

    it('delivers commit notices across instances, versions growing, until unsubscribed', async () => {
      const [writer, watcherStore] = [await scopesOn(), await open()];
      const name = unique('notices');
      const other = unique('other');
      const seen: ScopeCommit[] = [];
      const unsubscribe = watcherStore.watch(name, (commit) => seen.push(commit));
      const otherSeen: ScopeCommit[] = [];
      const unsubscribeOther = watcherStore.watch(other, (commit) => otherSeen.push(commit));
      const increment = () =>
        writer.scoped<Counter>(name, (scope) => void (scope.count = (scope.count ?? 0) + 1));
      // The first commit's notice shows the watch has taken effect (pub/sub, polling) before
      // the others are made.
      await increment();
      await eventually(() => expect(seen.at(-1)?.version).toBe(1));
      await increment();
      await increment();
      await eventually(() => expect(seen.at(-1)).toEqual({ name, version: 3, data: { count: 3 } }));
      const versions = seen.map((commit) => commit.version);
      expect(versions).toEqual([...versions].sort((x, y) => x - y));
      expect(new Set(versions).size).toBe(versions.length);
      expect(otherSeen).toEqual([]);
      unsubscribe();
      unsubscribeOther();
      const count = seen.length;
      await writer.scoped<Counter>(name, (scope) => void (scope.count = 10));
      await quietFor(300);
      expect(seen.length).toBe(count);
    });
  });
}
