import type { Db } from 'mongodb';
import type {
  Adapter,
  Change,
  ChangeBatch,
  Db as WriteApi,
  Doc,
  FindOptions,
  StopWatching,
  WritesDone,
} from '../adapter.js';
import { ParticleError } from '../../protocol/errors.js';
import { isTimestamp, timeValue } from './clusterTime.js';
import { findDocs, runWrites } from './writes.js';
import { DEFAULTS, stripUndefined, type MongoAdapterOptions } from './options.js';
import { explain } from './streamErrors.js';
import { ChangeFeed } from './changeFeed.js';

export type { MongoAdapterOptions } from './options.js';
export { REPLICA_SET_REQUIRED } from './streamErrors.js';
export { watchFilter } from './feedEvents.js';

interface Watcher {
  collections: ReadonlySet<string>;
  onChange: (change: Change | ChangeBatch) => void;
  onError: ((error: Error) => void) | undefined;
}

/**
 * Particle's MongoDB adapter: payload queries with the real `find`, and one change stream on the
 * database (`db.watch`, filtered to the watched collections, `fullDocument: 'updateLookup'`, or
 * `'whenAvailable'` with `postImages`) shared by every feed, so changes of all collections
 * arrive in one commit order. Every read goes to the primary, whatever the Db's read preference.
 *
 * The driver resumes the stream by itself after resumable errors (network errors, a lost
 * cursor, errors labelled `ResumableChangeStreamError`) from the resume token it caches. When the
 * stream fails for good (history lost, an unlabelled server error, a failed resume) or is
 * invalidated, the adapter reports the error to `onError`, opens the stream again (after an
 * `invalidate` with `startAfter` its token, otherwise fresh) and then emits `reset` for every
 * watched collection, so the Stream re-queries and sends clients the difference.
 *
 * For mutators, `runWrites` runs the writes on one session of the Db's client (in a transaction
 * when asked), and `settled` waits until the change stream has passed their operation time.
 */
export class MongoAdapter<TCollections extends object = Record<string, Doc>> implements Adapter {
  /**
   * Type-level only (never set): the collection models (`new MongoAdapter<{ users: User }>()`)
   * that `new Stream` checks manifests against and typed clients read documents from.
   */
  declare readonly '~collections'?: TCollections;
  private readonly db: Db;
  private readonly debug: (message: string, detail?: unknown) => void;
  private readonly watchers = new Set<Watcher>();
  private readonly feed: ChangeFeed;
  private closed = false;
  /** Collections known to have no default collation. */
  private readonly collationChecked = new Set<string>();

  constructor(options: MongoAdapterOptions) {
    const { db, onDebug, ...rest } = options;
    if (!db || typeof db.watch !== 'function') {
      throw new TypeError('MongoAdapter needs `db`, a mongodb Db (client.db(name))');
    }
    this.db = db;
    this.debug = onDebug ?? (() => undefined);
    const settings = { ...DEFAULTS, ...stripUndefined(rest), debug: this.debug };
    this.feed = new ChangeFeed(db, settings, {
      collections: () => this.watched(),
      listening: () => this.watchers.size > 0,
      deliver: (change) => this.dispatch(change),
      deliverTransaction: (changes) => this.dispatchTransaction(changes),
      report: (error) => this.report(error),
    });
  }

  /**
   * The change stream's latest resume token (opaque; compare by value only). It moves with
   * every event and also on idle batches (the server's `postBatchResumeToken`).
   */
  get resumeToken(): unknown {
    return this.feed.resumeToken;
  }

  /** Returns the matching documents, always read on the primary. */
  find(collection: string, query: Doc, options: FindOptions = {}): Promise<Doc[]> {
    return findDocs(this.db, { collection, query, options });
  }

  /**
   * Now minus the cluster time the feed has delivered up to (an idle stream's batches move it on
   * too). It includes any clock difference between this machine and the server's.
   */
  feedLagMs(): number | undefined {
    return this.feed.lagMs();
  }

  /**
   * Particle matches changed documents itself, by MongoDB's default comparison: a collection
   * with a default collation (case-insensitive, locale rules) would have the server's find and
   * Particle's matcher disagree, so watching one is a configuration error.
   */
  private async refuseCollations(collections: readonly string[]): Promise<void> {
    const unchecked = collections.filter((c) => !this.collationChecked.has(c));
    if (unchecked.length === 0) return;
    let infos: { name: string; options?: unknown }[];
    try {
      infos = await this.db
        .listCollections({ name: { $in: unchecked } }, { nameOnly: false })
        .toArray();
    } catch (error) {
      // A user without the listCollections privilege: the check is skipped, not the feed.
      this.debug('could not check watched collections for a default collation', error);
      return;
    }
    for (const info of infos) {
      const collation = (info.options as { collation?: { locale?: unknown } } | undefined)
        ?.collation;
      if (collation && collation.locale !== 'simple') {
        throw new ParticleError(
          'config',
          `MongoAdapter: collection ${info.name} has a default collation (${String(collation.locale)}); Particle matches changes by MongoDB's simple comparison, so its views would disagree with the server's finds. Watch a collection without a default collation.`,
        );
      }
    }
    for (const c of unchecked) this.collationChecked.add(c);
  }

  /** `find` on a session of its own, whose operation time is the time the read saw. */
  async findAt(
    collection: string,
    query: Doc,
    options: FindOptions = {},
  ): Promise<{ docs: Doc[]; at: bigint | undefined }> {
    const session = this.db.client.startSession();
    try {
      const docs = await findDocs(this.db, { collection, query, options }, session);
      return { docs, at: timeValue(session.operationTime) };
    } finally {
      await session.endSession().catch(() => undefined);
    }
  }

  /**
   * Runs a mutator's writes on one session of the Db's client; with `transaction`, inside
   * `withTransaction` (which runs `fn` again after a transient error). `written` is the session's
   * operation time after the last write (or the commit), `undefined` when nothing was written.
   */
  async runWrites<T>(
    fn: (db: WriteApi) => Promise<T>,
    options: { transaction: boolean },
  ): Promise<WritesDone<T>> {
    if (this.closed) throw new ParticleError('config', 'MongoAdapter.runWrites after close()');
    return runWrites(this.db, fn, { transaction: options.transaction, onDebug: this.debug });
  }

  /**
   * Resolves once the change stream has passed `written` (from {@link runWrites}) and every
   * change up to it has gone to `onChange`. A stream that saw no change of its own passes it on
   * an idle batch, within `maxAwaitTimeMS`. Resolves at once without `written` or without feeds,
   * and when a feed is reset (re-opened after a failure) or the adapter closes.
   */
  settled(written: unknown): Promise<void> {
    if (written === undefined || written === null) return Promise.resolve();
    if (!isTimestamp(written)) {
      return Promise.reject(
        new TypeError('MongoAdapter.settled needs the `written` of its runWrites (a Timestamp)'),
      );
    }
    if (this.closed || this.watchers.size === 0) return Promise.resolve();
    return this.feed.waitDelivered(written);
  }

  /**
   * Resolves once the change stream has passed the server's operation time of now, so every
   * change committed before the call has gone to `onChange`: `stream.snapshot()` waits for it
   * before answering from views that are already live. At once without feeds.
   */
  async caughtUp(): Promise<void> {
    if (this.closed || this.watchers.size === 0) return;
    const session = this.db.client.startSession();
    try {
      await this.db.command({ ping: 1 }, { session, readPreference: 'primary' });
    } finally {
      await session.endSession().catch(() => undefined);
    }
    await this.settled(session.operationTime);
  }

  /**
   * Adds a feed for `collections`. Resolves once the shared change stream is open on the server
   * (its first `aggregate` answered), so every change committed afterwards is delivered. A stream
   * already open is reused, or re-opened from its resume token when it must cover more
   * collections. Rejects when the stream cannot be opened (a standalone server, for one).
   */
  async watch(
    collections: string[],
    onChange: (change: Change | ChangeBatch) => void,
    onError?: (error: Error) => void,
  ): Promise<StopWatching> {
    if (this.closed) throw new ParticleError('config', 'MongoAdapter.watch after close()');
    await this.refuseCollations(collections);
    const watcher: Watcher = { collections: new Set(collections), onChange, onError };
    this.watchers.add(watcher);
    try {
      await this.feed.cover();
    } catch (error) {
      this.watchers.delete(watcher);
      if (this.watchers.size === 0) this.feed.releaseWaiters();
      throw error;
    }
    let stopped = false;
    return async () => {
      if (stopped) return;
      stopped = true;
      this.watchers.delete(watcher);
      if (this.watchers.size === 0) {
        this.feed.releaseWaiters();
        await this.feed.stop();
      }
    };
  }

  /** Closes the change stream. The user's `MongoClient` stays open. */
  async close(): Promise<void> {
    this.closed = true;
    this.watchers.clear();
    await this.feed.close();
  }

  /** Every watched collection, sorted: what the change stream must cover. */
  private watched(): string[] {
    const all = new Set<string>();
    for (const w of this.watchers) for (const c of w.collections) all.add(c);
    return [...all].sort();
  }

  /** Sends a transaction's changes: to each watcher, its part of them, as one batch. */
  private dispatchTransaction(changes: Change[]): void {
    for (const w of this.watchers) {
      const mine = changes.filter((c) => w.collections.has(c.collection));
      if (mine.length === 0) continue;
      try {
        w.onChange(
          mine.length === 1 ? (mine[0] as Change) : { type: 'transaction', changes: mine },
        );
      } catch (error) {
        w.onError?.(explain(error));
      }
    }
  }

  private dispatch(change: Change): void {
    for (const w of this.watchers) {
      if (!w.collections.has(change.collection)) continue;
      try {
        w.onChange(change);
      } catch (error) {
        w.onError?.(explain(error));
      }
    }
  }

  private report(error: Error): void {
    for (const w of this.watchers) w.onError?.(error);
  }
}
