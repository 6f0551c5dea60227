import { createHash } from 'node:crypto';
import { assertScopeName } from '../names.js';
import { CommitNotices } from '../notices.js';
import type { ScopeCommitListener, ScopeData, ScopeRecord, ScopeStore } from '../types.js';

/** The key (and pub/sub channel) prefix of {@link RedisScopeStore}. */
export const DEFAULT_REDIS_SCOPE_PREFIX = 'particle:scope:';

/** Arguments of a node-redis `eval` / `evalSha` call. */
export interface RedisScriptOptions {
  keys: string[];
  arguments: string[];
}

/** The part of a node-redis client used for pub/sub (a duplicate of the given client). */
export interface RedisScopeSubscriber {
  connect(): Promise<unknown>;
  subscribe(
    channel: string,
    listener: (message: string, channel: string) => unknown,
  ): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  close(): Promise<unknown>;
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/** The part of a connected node-redis (`redis` package) client the store uses. */
export interface RedisScopeClient {
  eval(script: string, options: RedisScriptOptions): Promise<unknown>;
  evalSha(sha1: string, options: RedisScriptOptions): Promise<unknown>;
  hmGet(key: string, fields: string[]): Promise<unknown>;
  duplicate(): RedisScopeSubscriber;
}

/** Options of {@link RedisScopeStore}. */
export interface RedisScopeStoreOptions {
  /** A connected node-redis client; the store duplicates it once for pub/sub. */
  readonly client: RedisScopeClient;
  /** Prefix of every key and channel (default `'particle:scope:'`). */
  readonly prefix?: string;
}

// KEYS[1] scope hash; ARGV expected version, data JSON, channel. Compare-and-set plus the
// change notice, in one atomic script.
const COMMIT_SCRIPT = `
local current = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if current ~= tonumber(ARGV[1]) then return 0 end
local version = current + 1
redis.call('HSET', KEYS[1], 'version', version, 'data', ARGV[2])
redis.call('PUBLISH', ARGV[3], '{"version":' .. version .. ',"data":' .. ARGV[2] .. '}')
return 1
`;
const COMMIT_SHA = createHash('sha1').update(COMMIT_SCRIPT).digest('hex');

/**
 * Scopes in Redis: one hash per scope (`version`, `data`) under `prefix + name`. A commit is
 * one Lua compare-and-set (no WATCH), which also publishes the new record on the channel
 * `prefix + name`; watching subscribes there on a duplicated connection, so commits from
 * every process arrive, in order. Once a subscription is in place the store loads the scope
 * once, so a commit made while subscribing is not missed.
 */
export class RedisScopeStore implements ScopeStore {
  readonly #client: RedisScopeClient;
  readonly #prefix: string;
  readonly #notices: CommitNotices;
  #subscriber: Promise<RedisScopeSubscriber> | undefined;
  readonly #subscribed = new Set<string>();
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: RedisScopeStoreOptions) {
    this.#client = options.client;
    this.#prefix = options.prefix ?? DEFAULT_REDIS_SCOPE_PREFIX;
    this.#notices = new CommitNotices((names) => this.#sync(names));
  }

  async load(name: string): Promise<ScopeRecord | null> {
    assertScopeName(name);
    const reply = (await this.#client.hmGet(this.#prefix + name, ['version', 'data'])) as [
      string | null,
      string | null,
    ];
    const [version, data] = reply;
    if (version === null || data === null) return null;
    return { version: Number(version), data: JSON.parse(data) as ScopeData };
  }

  async commit(name: string, data: ScopeData, expectedVersion: number): Promise<boolean> {
    assertScopeName(name);
    const key = this.#prefix + name;
    const options = {
      keys: [key],
      arguments: [String(expectedVersion), JSON.stringify(data), key],
    };
    let reply: unknown;
    try {
      reply = await this.#client.evalSha(COMMIT_SHA, options);
    } catch (error) {
      if (!String((error as Error | null)?.message).includes('NOSCRIPT')) throw error;
      reply = await this.#client.eval(COMMIT_SCRIPT, options);
    }
    return Number(reply) === 1;
  }

  watch(name: string, listener: ScopeCommitListener): () => void {
    assertScopeName(name);
    return this.#notices.add(name, listener);
  }

  #connect(): Promise<RedisScopeSubscriber> {
    this.#subscriber ??= (async () => {
      const subscriber = this.#client.duplicate();
      subscriber.on('error', () => {
        // The client reconnects and resubscribes by itself.
      });
      await subscriber.connect();
      return subscriber;
    })();
    this.#subscriber.catch(() => {
      this.#subscriber = undefined;
    });
    return this.#subscriber;
  }

  /** Subscribes and unsubscribes, one step at a time, until the channels match `names`. */
  #sync(names: readonly string[]): void {
    this.#queue = this.#queue
      .then(async () => {
        if (this.#closed) return;
        const wanted = new Set(names);
        const added = [...wanted].filter((name) => !this.#subscribed.has(name));
        const removed = [...this.#subscribed].filter((name) => !wanted.has(name));
        if (added.length === 0 && removed.length === 0) return;
        const subscriber = await this.#connect();
        for (const name of removed) {
          this.#subscribed.delete(name);
          await subscriber.unsubscribe(this.#prefix + name);
        }
        for (const name of added) {
          await subscriber.subscribe(this.#prefix + name, (message) =>
            this.#onMessage(name, message),
          );
          this.#subscribed.add(name);
          // A commit made before the subscription took effect would be missed: catch up once.
          void this.load(name).then(
            (record) => record !== null && this.#notices.deliver({ name, ...record }),
            () => {},
          );
        }
      })
      .catch(() => {
        // A failed (un)subscribe is retried by the next change of the watched names.
      });
  }

  #onMessage(name: string, message: string): void {
    try {
      const { version, data } = JSON.parse(message) as { version: number; data: ScopeData };
      this.#notices.deliver({ name, version, data });
    } catch {
      // Not a notice of ours: ignore it.
    }
  }

  /** Unsubscribes and closes the duplicated connection; the given client stays open. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#notices.clear();
    await this.#queue;
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    this.#subscribed.clear();
    if (subscriber !== undefined) await (await subscriber.catch(() => undefined))?.close();
  }
}
