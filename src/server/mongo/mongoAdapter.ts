import {
  ReadPreference,
  type ChangeStream,
  type ChangeStreamOptions,
  type Db,
  type Document,
  type Filter,
  type ResumeToken,
} from 'mongodb';
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
import {
  DeliveredTime,
  eventTime,
  isTimestamp,
  timeValue,
  tokenData,
  tokenTime,
} from './clusterTime.js';
import { mapChangeEvent, type ChangeEvent } from './mapEvent.js';
import { findDocs, runWrites } from './writes.js';
import { DEFAULTS, stripUndefined, type MongoAdapterOptions } from './options.js';
import { explain } from './streamErrors.js';
import { QUIET, txnKey, watchFilter } from './feedEvents.js';

export type { MongoAdapterOptions } from './options.js';
export { REPLICA_SET_REQUIRED } from './streamErrors.js';
export { watchFilter } from './feedEvents.js';

interface Watcher {
  collections: ReadonlySet<string>;
  onChange: (change: Change | ChangeBatch) => void;
  onError: ((error: Error) => void) | undefined;
}

interface Feed {
  stream: ChangeStream<Document>;
  collections: string[];
  stopped: boolean;
  /**
   * The `_data` of the stream's first token: where it starts, which the server gives as a
   * high-water mark that events at its very cluster time may still follow.
   */
  start: string | undefined;
  /** The changes of the transaction being read (its events come one after another). */
  txn: { key: string; changes: Change[] } | null;
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
  private readonly options: Required<Omit<MongoAdapterOptions, 'db' | 'onDebug'>>;
  private readonly debug: (message: string, detail?: unknown) => void;
  private readonly watchers = new Set<Watcher>();
  private feed: Feed | undefined;
  private token: ResumeToken;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private wake: (() => void) | undefined;
  private expanded: boolean | undefined;
  private readonly delivered = new DeliveredTime();

  constructor(options: MongoAdapterOptions) {
    const { db, onDebug, ...rest } = options;
    if (!db || typeof db.watch !== 'function') {
      throw new TypeError('MongoAdapter needs `db`, a mongodb Db (client.db(name))');
    }
    this.db = db;
    this.options = { ...DEFAULTS, ...stripUndefined(rest) };
    this.debug = onDebug ?? (() => undefined);
  }

  /**
   * The change stream's latest resume token (opaque; compare by value only). It moves with
   * every event and also on idle batches (the server's `postBatchResumeToken`).
   */
  get resumeToken(): unknown {
    return this.token;
  }

  /** Returns the matching documents, always read on the primary. */
  /** Collections known to have no default collation. */
  private readonly collationChecked = new Set<string>();

  find(collection: string, query: Doc, options: FindOptions = {}): Promise<Doc[]> {
    return findDocs(this.db, { collection, query, options });
  }

  /**
   * Now minus the cluster time the feed has delivered up to (an idle stream's batches move it on
   * too). It includes any clock difference between this machine and the server's.
   */
  feedLagMs(): number | undefined {
    const latest = this.delivered.latest;
    if (!this.feed || latest === undefined) return undefined;
    return Math.max(0, Date.now() - latest.t * 1000);
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
    return this.delivered.wait(written);
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
      await this.serial(() => this.cover());
    } catch (error) {
      this.watchers.delete(watcher);
      if (this.watchers.size === 0) this.delivered.releaseAll();
      throw error;
    }
    let stopped = false;
    return async () => {
      if (stopped) return;
      stopped = true;
      this.watchers.delete(watcher);
      if (this.watchers.size === 0) {
        this.delivered.releaseAll();
        await this.serial(() => this.stopFeed());
      }
    };
  }

  /** Closes the change stream. The user's `MongoClient` stays open. */
  async close(): Promise<void> {
    this.closed = true;
    this.watchers.clear();
    this.delivered.releaseAll();
    this.wake?.();
    await this.serial(() => this.stopFeed());
  }

  private watched(): string[] {
    const all = new Set<string>();
    for (const w of this.watchers) for (const c of w.collections) all.add(c);
    return [...all].sort();
  }

  /** Makes sure the open stream covers every watched collection. Runs inside `serial`. */
  private async cover(): Promise<void> {
    const wanted = this.watched();
    const feed = this.feed;
    if (feed && wanted.every((c) => feed.collections.includes(c))) return;
    // Re-opening from the last token means nothing committed in between is lost.
    const from = feed ? this.token : undefined;
    await this.stopFeed();
    try {
      await this.openFeed(wanted, from);
    } catch (error) {
      // The earlier watchers lost their stream with this attempt: tell them, and open theirs
      // again (after the failed watcher has been dropped) from the same token.
      if (feed) {
        void this.serial(async () => {
          if (this.closed || this.feed) return;
          this.report(explain(error));
          await this.reopen(from, false);
        });
      }
      throw error;
    }
  }

  /**
   * Whether the server takes `showExpandedEvents` (MongoDB 6.0+). Servers 6.1 to 8.1 report
   * `disambiguatedPaths` (field names holding dots) only with it. Asked once.
   */
  private async expandedEvents(): Promise<boolean> {
    if (this.expanded === undefined) {
      const info = await this.db.command({ buildInfo: 1 });
      const major = Array.isArray(info.versionArray) ? Number(info.versionArray[0]) : NaN;
      this.expanded = major >= 6;
    }
    return this.expanded;
  }

  private async openFeed(collections: string[], startAfter: ResumeToken): Promise<void> {
    const options: ChangeStreamOptions = {
      fullDocument: this.options.postImages ? 'whenAvailable' : 'updateLookup',
      maxAwaitTimeMS: this.options.maxAwaitTimeMS,
      readPreference: ReadPreference.primary,
    };
    try {
      if (await this.expandedEvents()) options.showExpandedEvents = true;
    } catch (error) {
      throw explain(error);
    }
    if (startAfter !== undefined && startAfter !== null) options.startAfter = startAfter;
    const pipeline = [{ $match: watchFilter(collections) }];
    const stream = this.db.watch<Document>(pipeline, options);
    const feed: Feed = { stream, collections, stopped: false, start: undefined, txn: null };
    this.feed = feed;
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const opened = (): void => {
        if (settled) return;
        settled = true;
        resolve();
      };
      // The driver opens the cursor lazily, inside the first tryNext(); its aggregate reply
      // carries a postBatchResumeToken, cached at once (this event). That is the moment the
      // server-side cursor exists. A first tryNext() that returns covers servers without one.
      stream.on('resumeTokenChanged', (token: ResumeToken) => {
        if (feed.stopped) return;
        this.token = token;
        feed.start ??= tokenData(token);
        opened();
      });
      const failOpen = (error: Error): boolean => {
        if (settled) return false;
        settled = true;
        reject(error);
        return true;
      };
      void this.run(feed, opened, failOpen);
    });
  }

  private async run(
    feed: Feed,
    opened: () => void,
    failOpen: (e: Error) => boolean,
  ): Promise<void> {
    try {
      while (!feed.stopped) {
        const next = await feed.stream.tryNext();
        if (feed.stopped) return;
        opened();
        if (!next) {
          this.flushTxn(feed);
          this.passIdle(feed);
          continue;
        }
        const lastOfBatch = feed.stream.bufferedCount() === 0;
        const event = await this.lookUp(next);
        if (feed.stopped) return;
        this.handle(feed, event);
        // A transaction's changes go out together, before anything is claimed delivered past it.
        if (lastOfBatch) this.flushTxn(feed);
        if (!feed.stopped) this.passEvent(feed, event, lastOfBatch);
      }
    } catch (caught) {
      if (feed.stopped) return;
      const error = explain(caught);
      if (failOpen(error)) {
        if (this.feed === feed) this.feed = undefined;
        feed.stopped = true;
        await feed.stream
          .close()
          .catch((e: unknown) => this.debug('closing a failed change stream', e));
        return;
      }
      this.debug('change stream failed; opening a fresh one and resetting', error);
      this.report(error);
      void this.restart(feed, undefined);
    }
  }

  /**
   * An update whose lookup found nothing is not proof of a delete (on a sharded cluster a
   * shard-key update that keeps the document on its shard looks up `null`; a post-image may be
   * missing or expired): read the document again by its key, on the primary. Still nothing
   * means it is gone.
   */
  private async lookUp(event: ChangeEvent): Promise<ChangeEvent> {
    const coll = event.ns?.coll;
    const key = event.documentKey;
    if (event.operationType !== 'update' || event.fullDocument || !coll || !key) {
      return event;
    }
    try {
      const doc = await this.db
        .collection<Doc>(coll)
        .findOne(key as Filter<Doc>, { readPreference: ReadPreference.primary });
      return { ...event, fullDocument: doc as Doc | null };
    } catch (error) {
      this.debug('re-reading a document whose lookup was null failed', error);
      return event;
    }
  }

  /**
   * An empty batch: the server's scan reached the end of the oplog, and its token (the
   * postBatchResumeToken) is at the latest cluster time it read, everything at it included.
   * Except the token the stream started from, which nothing has been read past yet.
   */
  private passIdle(feed: Feed): void {
    const token = feed.stream.resumeToken;
    const time = tokenTime(token);
    if (time) this.delivered.advance(time, tokenData(token) !== feed.start);
  }

  /**
   * After `onChange` got `event`: everything before its cluster time is delivered. A batch
   * ends where the server's scan ran out of oplog (or at the 16 MB reply limit, which this takes
   * the same way), so after its last event everything up to the batch's token is delivered too,
   * even events that share the last one's cluster time.
   */
  private passEvent(feed: Feed, event: ChangeEvent, lastOfBatch: boolean): void {
    const time = eventTime(event);
    if (time) this.delivered.advance(time, false);
    if (!lastOfBatch) return;
    const end = tokenTime(feed.stream.resumeToken) ?? time;
    if (end) this.delivered.advance(end, true);
  }

  private handle(feed: Feed, event: ChangeEvent): void {
    const txn = txnKey(event);
    if (feed.txn && feed.txn.key !== txn) this.flushTxn(feed);
    if (event.operationType === 'invalidate') {
      feed.stopped = true;
      void this.restart(feed, event._id);
      return;
    }
    const changes = mapChangeEvent(event, feed.collections);
    if (changes.length === 0 && !QUIET.has(event.operationType)) {
      this.debug(`ignored change event of type ${event.operationType}`, event);
    }
    if (txn !== undefined) {
      feed.txn ??= { key: txn, changes: [] };
      feed.txn.changes.push(...changes);
      return;
    }
    for (const change of changes) this.dispatch(change);
  }

  /** Sends the buffered transaction: to each watcher, its part of it, as one batch. */
  private flushTxn(feed: Feed): void {
    const txn = feed.txn;
    feed.txn = null;
    if (!txn || txn.changes.length === 0) return;
    for (const w of this.watchers) {
      const mine = txn.changes.filter((c) => w.collections.has(c.collection));
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

  /**
   * Replaces a failed or invalidated stream and resets every watched collection once the new
   * one is open. Retries with a growing delay until it succeeds or the adapter closes.
   */
  private restart(feed: Feed, startAfter: ResumeToken): Promise<void> {
    return this.serial(async () => {
      if (this.closed || this.feed !== feed) return;
      await this.stopFeed();
      await this.reopen(startAfter, true);
    });
  }

  /**
   * Opens the stream for every watched collection, retrying with a growing delay until it
   * succeeds or the adapter closes; then resets every watched collection when `reset`, or when
   * the stream could not continue from `startAfter`. Runs inside `serial`.
   */
  private async reopen(startAfter: ResumeToken, reset: boolean): Promise<void> {
    let from = startAfter;
    let resync = reset;
    let delay = this.options.reopenDelayMs;
    while (!this.closed && this.watchers.size > 0) {
      try {
        await this.openFeed(this.watched(), from);
        if (resync) {
          for (const collection of this.watched()) this.dispatch({ type: 'reset', collection });
          // The re-query the reset starts covers whatever the waiters wrote.
          this.delivered.releaseAll();
        }
        return;
      } catch (error) {
        from = undefined;
        resync = true;
        this.report(explain(error));
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.options.maxReopenDelayMs);
      }
    }
    this.delivered.releaseAll();
  }

  private async stopFeed(): Promise<void> {
    const feed = this.feed;
    if (!feed) return;
    this.feed = undefined;
    feed.stopped = true;
    try {
      await feed.stream.close();
    } catch (error) {
      this.debug('closing the change stream failed', error);
    }
  }

  private serial(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
