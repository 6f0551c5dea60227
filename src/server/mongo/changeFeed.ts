import {
  ReadPreference,
  type ChangeStream,
  type ChangeStreamOptions,
  type Db,
  type Document,
  type Filter,
  type ResumeToken,
  type Timestamp,
} from 'mongodb';
import type { Change, Doc } from '../adapter.js';
import { DeliveredTime, eventTime, tokenData, tokenTime } from './clusterTime.js';
import { mapChangeEvent, type ChangeEvent } from './mapEvent.js';
import type { MongoAdapterOptions } from './options.js';
import { explain } from './streamErrors.js';
import { QUIET, txnKey, watchFilter } from './feedEvents.js';

/** A feed's options: the adapter's, with their defaults, and where debug messages go. */
export interface FeedSettings extends Required<Omit<MongoAdapterOptions, 'db' | 'onDebug'>> {
  debug: (message: string, detail?: unknown) => void;
}

/** The watchers a feed serves, as the adapter keeps them. */
export interface FeedWatchers {
  /** Every watched collection, sorted: what the stream must cover. */
  collections(): string[];
  /** Whether anyone watches still (a failed stream is opened again only then). */
  listening(): boolean;
  /** A change read outside a transaction (or a reset), for the watchers of its collection. */
  deliver(change: Change): void;
  /** A transaction's changes, to go out together: to each watcher, its part, as one batch. */
  deliverTransaction(changes: Change[]): void;
  /** A failure of the stream, for every watcher. */
  report(error: Error): void;
}

/** One opened change stream and what reading it keeps. */
interface OpenStream {
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
 * The MongoAdapter's feed: the one change stream on the database, read in a loop, its resume
 * token, how far in cluster time it has delivered, and its replacement after a failure or an
 * invalidate. Every change to which stream is open runs one at a time.
 */
export class ChangeFeed {
  private open: OpenStream | undefined;
  private token: ResumeToken;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  private wake: (() => void) | undefined;
  private expanded: boolean | undefined;
  private readonly delivered = new DeliveredTime();

  constructor(
    private readonly db: Db,
    private readonly settings: FeedSettings,
    private readonly watchers: FeedWatchers,
  ) {}

  /** The stream's latest resume token. */
  get resumeToken(): ResumeToken {
    return this.token;
  }

  /** Now minus the cluster time delivered up to; `undefined` without a stream or a time. */
  lagMs(): number | undefined {
    const latest = this.delivered.latest;
    if (!this.open || latest === undefined) return undefined;
    return Math.max(0, Date.now() - latest.t * 1000);
  }

  /** Resolves once every change at or before `at` has been delivered (or waiters are released). */
  waitDelivered(at: Timestamp): Promise<void> {
    return this.delivered.wait(at);
  }

  /** Resolves every {@link waitDelivered} waiting now. */
  releaseWaiters(): void {
    this.delivered.releaseAll();
  }

  /**
   * Makes sure the open stream covers every watched collection: reused when it does, otherwise
   * opened again from the last token. Rejects when the stream cannot be opened.
   */
  cover(): Promise<void> {
    return this.serial(() => this.coverNow());
  }

  /** Closes the stream (a later {@link cover} opens one again). */
  stop(): Promise<void> {
    return this.serial(() => this.stopStream());
  }

  /** Closes the stream for good, releasing every waiter and ending a wait to re-open. */
  close(): Promise<void> {
    this.closed = true;
    this.delivered.releaseAll();
    this.wake?.();
    return this.serial(() => this.stopStream());
  }

  private async coverNow(): Promise<void> {
    const wanted = this.watchers.collections();
    const open = this.open;
    if (open && wanted.every((c) => open.collections.includes(c))) return;
    // Re-opening from the last token means nothing committed in between is lost.
    const from = open ? this.token : undefined;
    await this.stopStream();
    try {
      await this.openStream(wanted, from);
    } catch (error) {
      // The earlier watchers lost their stream with this attempt: tell them, and open theirs
      // again (after the failed watcher has been dropped) from the same token.
      if (open) {
        void this.serial(async () => {
          if (this.closed || this.open) return;
          this.watchers.report(explain(error));
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

  private async openStream(collections: string[], startAfter: ResumeToken): Promise<void> {
    const options: ChangeStreamOptions = {
      fullDocument: this.settings.postImages ? 'whenAvailable' : 'updateLookup',
      maxAwaitTimeMS: this.settings.maxAwaitTimeMS,
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
    const open: OpenStream = { stream, collections, stopped: false, start: undefined, txn: null };
    this.open = open;
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
        if (open.stopped) return;
        this.token = token;
        open.start ??= tokenData(token);
        opened();
      });
      const failOpen = (error: Error): boolean => {
        if (settled) return false;
        settled = true;
        reject(error);
        return true;
      };
      void this.run(open, opened, failOpen);
    });
  }

  /** Reads `open` until it stops; a failure either fails the opening or restarts the stream. */
  private async run(
    open: OpenStream,
    opened: () => void,
    failOpen: (e: Error) => boolean,
  ): Promise<void> {
    try {
      while (!open.stopped) {
        const next = await open.stream.tryNext();
        if (open.stopped) return;
        opened();
        if (!next) {
          this.flushTxn(open);
          this.passIdle(open);
          continue;
        }
        const lastOfBatch = open.stream.bufferedCount() === 0;
        const event = await this.lookUp(next);
        if (open.stopped) return;
        this.handle(open, event);
        // A transaction's changes go out together, before anything is claimed delivered past it.
        if (lastOfBatch) this.flushTxn(open);
        if (!open.stopped) this.passEvent(open, event, lastOfBatch);
      }
    } catch (caught) {
      if (open.stopped) return;
      const error = explain(caught);
      if (failOpen(error)) {
        if (this.open === open) this.open = undefined;
        open.stopped = true;
        await open.stream
          .close()
          .catch((e: unknown) => this.settings.debug('closing a failed change stream', e));
        return;
      }
      this.settings.debug('change stream failed; opening a fresh one and resetting', error);
      this.watchers.report(error);
      void this.restart(open, undefined);
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
      this.settings.debug('re-reading a document whose lookup was null failed', error);
      return event;
    }
  }

  /**
   * An empty batch: the server's scan reached the end of the oplog, and its token (the
   * postBatchResumeToken) is at the latest cluster time it read, everything at it included.
   * Except the token the stream started from, which nothing has been read past yet.
   */
  private passIdle(open: OpenStream): void {
    const token = open.stream.resumeToken;
    const time = tokenTime(token);
    if (time) this.delivered.advance(time, tokenData(token) !== open.start);
  }

  /**
   * After the watchers got `event`: everything before its cluster time is delivered. A batch
   * ends where the server's scan ran out of oplog (or at the 16 MB reply limit, which this takes
   * the same way), so after its last event everything up to the batch's token is delivered too,
   * even events that share the last one's cluster time.
   */
  private passEvent(open: OpenStream, event: ChangeEvent, lastOfBatch: boolean): void {
    const time = eventTime(event);
    if (time) this.delivered.advance(time, false);
    if (!lastOfBatch) return;
    const end = tokenTime(open.stream.resumeToken) ?? time;
    if (end) this.delivered.advance(end, true);
  }

  private handle(open: OpenStream, event: ChangeEvent): void {
    const txn = txnKey(event);
    if (open.txn && open.txn.key !== txn) this.flushTxn(open);
    if (event.operationType === 'invalidate') {
      open.stopped = true;
      void this.restart(open, event._id);
      return;
    }
    const changes = mapChangeEvent(event, open.collections);
    if (changes.length === 0 && !QUIET.has(event.operationType)) {
      this.settings.debug(`ignored change event of type ${event.operationType}`, event);
    }
    if (txn !== undefined) {
      open.txn ??= { key: txn, changes: [] };
      open.txn.changes.push(...changes);
      return;
    }
    for (const change of changes) this.watchers.deliver(change);
  }

  /** Sends the buffered transaction, if it holds changes. */
  private flushTxn(open: OpenStream): void {
    const txn = open.txn;
    open.txn = null;
    if (!txn || txn.changes.length === 0) return;
    this.watchers.deliverTransaction(txn.changes);
  }

  /**
   * Replaces a failed or invalidated stream and resets every watched collection once the new
   * one is open. Retries with a growing delay until it succeeds or the feed closes.
   */
  private restart(open: OpenStream, startAfter: ResumeToken): Promise<void> {
    return this.serial(async () => {
      if (this.closed || this.open !== open) return;
      await this.stopStream();
      await this.reopen(startAfter, true);
    });
  }

  /**
   * Opens the stream for every watched collection, retrying with a growing delay until it
   * succeeds or the feed closes; then resets every watched collection when `reset`, or when
   * the stream could not continue from `startAfter`. Runs inside `serial`.
   */
  private async reopen(startAfter: ResumeToken, reset: boolean): Promise<void> {
    let from = startAfter;
    let resync = reset;
    let delay = this.settings.reopenDelayMs;
    while (!this.closed && this.watchers.listening()) {
      try {
        await this.openStream(this.watchers.collections(), from);
        if (resync) {
          for (const collection of this.watchers.collections()) {
            this.watchers.deliver({ type: 'reset', collection });
          }
          // The re-query the reset starts covers whatever the waiters wrote.
          this.delivered.releaseAll();
        }
        return;
      } catch (error) {
        from = undefined;
        resync = true;
        this.watchers.report(explain(error));
        await this.sleep(delay);
        delay = Math.min(delay * 2, this.settings.maxReopenDelayMs);
      }
    }
    this.delivered.releaseAll();
  }

  private async stopStream(): Promise<void> {
    const open = this.open;
    if (!open) return;
    this.open = undefined;
    open.stopped = true;
    try {
      await open.stream.close();
    } catch (error) {
      this.settings.debug('closing the change stream failed', error);
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
