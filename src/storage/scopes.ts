import { Immer, type Draft, type Immutable } from 'immer';
import { ParticleError } from '../protocol/errors.js';
import { deepFreeze, finalizeResult } from './freeze.js';
import { assertScopeName } from './names.js';
import type { ScopeData, ScopeRecord, ScopeStore } from './types.js';

/** How `scoped` retries after a conflicting commit. */
export interface ScopeRetryOptions {
  /** First backoff, in ms (default 5). */
  readonly minDelayMs?: number;
  /** Largest backoff, in ms (default 500). */
  readonly maxDelayMs?: number;
  /** Runs of `fn` before giving up with `scope_contended` (default 50). */
  readonly maxAttempts?: number;
}

/** Options of {@link Scopes}. */
export interface ScopesOptions {
  /** Where scopes live. */
  readonly store: ScopeStore;
  /** Retry defaults for every `scoped` call. */
  readonly retry?: ScopeRetryOptions;
}

/** Options of one {@link Scopes.scoped} call. */
export interface ScopedOptions {
  /** Overrides the retry defaults of the {@link Scopes} for this call. */
  readonly retry?: ScopeRetryOptions;
}

/** The default retry: `{ minDelayMs: 5, maxDelayMs: 500, maxAttempts: 50 }`. */
export const DEFAULT_SCOPE_RETRY: Required<ScopeRetryOptions> = Object.freeze({
  minDelayMs: 5,
  maxDelayMs: 500,
  maxAttempts: 50,
});

const immer = new Immer({ autoFreeze: true });

function resolveRetry(...layers: (ScopeRetryOptions | undefined)[]): Required<ScopeRetryOptions> {
  let retry = { ...DEFAULT_SCOPE_RETRY };
  for (const layer of layers) {
    if (layer === undefined) continue;
    retry = {
      minDelayMs: layer.minDelayMs ?? retry.minDelayMs,
      maxDelayMs: layer.maxDelayMs ?? retry.maxDelayMs,
      maxAttempts: layer.maxAttempts ?? retry.maxAttempts,
    };
  }
  const { minDelayMs, maxDelayMs, maxAttempts } = retry;
  if (!(minDelayMs >= 0) || !(maxDelayMs >= minDelayMs)) {
    throw new TypeError('retry needs 0 <= minDelayMs <= maxDelayMs');
  }
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) {
    throw new TypeError('retry.maxAttempts must be a positive integer');
  }
  return retry;
}

/** The wait before attempt `attempt + 1`: exponential, capped, with half of it jittered. */
function backoffMs(attempt: number, retry: Required<ScopeRetryOptions>): number {
  const ceiling = Math.min(retry.maxDelayMs, retry.minDelayMs * 2 ** (attempt - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function isAsyncFunction(fn: unknown): boolean {
  const tag = Object.prototype.toString.call(fn);
  return tag === '[object AsyncFunction]' || tag === '[object AsyncGeneratorFunction]';
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { then?: unknown }).then === 'function'
  );
}

const EMPTY: ScopeRecord = Object.freeze({ data: Object.freeze({}), version: 0 });

/**
 * Named, persisted scopes with atomic read-modify-write:
 * `await scopes.scoped('global', (scope) => { scope.count = (scope.count ?? 0) + 1 })`.
 */
export class Scopes {
  /** The store these scopes live in. */
  readonly store: ScopeStore;
  readonly #retry: ScopeRetryOptions | undefined;
  /** The last call on each scope name in this process: calls on one name run one at a time. */
  readonly #queues = new Map<string, Promise<unknown>>();

  constructor(options: ScopesOptions) {
    this.store = options.store;
    this.#retry = options.retry;
    resolveRetry(this.#retry);
  }

  /**
   * Runs `fn` on an Immer draft of the scope and commits the changes with a compare-and-set
   * on the version; on a conflict, reloads and runs `fn` again (jittered exponential
   * backoff) up to `retry.maxAttempts`, then rejects with `ParticleError('scope_contended')`.
   * No change writes nothing. `fn` may run several times: it must be synchronous and free
   * of side effects. A throw writes nothing and rejects with that error; an async `fn` (or
   * one returning a thenable) rejects with a TypeError. Resolves with `fn`'s return value,
   * finalized (drafts become plain frozen values).
   */
  async scoped<T extends object = ScopeData, R = void>(
    name: string,
    fn: (scope: Draft<T>) => R,
    options?: ScopedOptions,
  ): Promise<Immutable<R>> {
    assertScopeName(name);
    if (typeof fn !== 'function') throw new TypeError('scoped needs a function');
    if (isAsyncFunction(fn)) {
      throw new TypeError('A scope function must be synchronous: it may run several times');
    }
    const retry = resolveRetry(this.#retry, options?.retry);
    // Calls on one name in this process take turns: each then reads the version the one before
    // wrote, so they never conflict with each other (only with other processes), instead of all
    // reading one version and all but one retrying, again and again, under a busy store.
    const before = this.#queues.get(name);
    const run = (before ?? Promise.resolve()).then(
      () => this.#attempts(name, fn, retry),
      () => this.#attempts(name, fn, retry),
    );
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#queues.set(name, settled);
    void settled.then(() => {
      if (this.#queues.get(name) === settled) this.#queues.delete(name);
    });
    return run;
  }

  async #attempts<T extends object, R>(
    name: string,
    fn: (scope: Draft<T>) => R,
    retry: Required<ScopeRetryOptions>,
  ): Promise<Immutable<R>> {
    for (let attempt = 1; ; attempt++) {
      const record = (await this.store.load(name)) ?? EMPTY;
      const base = deepFreeze(record.data) as T;
      const draft = immer.createDraft(base);
      const returned = fn(draft);
      if (isThenable(returned)) {
        // Keep a rejected thenable from surfacing as an unhandled rejection.
        Promise.resolve(returned).catch(() => {});
        throw new TypeError('A scope function must be synchronous: it returned a thenable');
      }
      const result = finalizeResult(returned) as Immutable<R>;
      const next = immer.finishDraft(draft) as T;
      if (next === base) return result;
      if (await this.store.commit(name, next as ScopeData, record.version)) return result;
      if (attempt >= retry.maxAttempts) {
        throw new ParticleError(
          'scope_contended',
          `Scope "${name}" stayed contended for ${retry.maxAttempts} attempts`,
        );
      }
      await sleep(backoffMs(attempt, retry));
    }
  }

  /** The scope's current data and version (`{ data: {}, version: 0 }` if never written), frozen. */
  async read<T extends object = ScopeData>(name: string): Promise<ScopeRecord<Immutable<T>>> {
    assertScopeName(name);
    const record = await this.store.load(name);
    if (record === null) return EMPTY as ScopeRecord<Immutable<T>>;
    return Object.freeze({
      data: deepFreeze(record.data) as Immutable<T>,
      version: record.version,
    });
  }
}
