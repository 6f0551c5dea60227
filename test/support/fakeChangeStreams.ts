/**
 * The oplog and change-stream cursors of the MongoDB wire fake (mongoWireFake.ts): cluster time,
 * resume tokens, `aggregate` with `$changeStream`, `getMore` held open until an event arrives
 * (or `maxTimeMS` passes), `killCursors`, and the faults injected into them.
 */
import { BSON } from 'mongodb';
import { Query } from 'mingo';
import { copy, sameValue, type Doc } from './fakeDocs.js';
import {
  changeStreamOnStandalone,
  cursorKilled,
  cursorNotFound,
  errorReply,
  expandedEventsUnknown,
  notAChangeStream,
  resumeTokenNotFound,
  type InjectedError,
} from './fakeErrors.js';

/** The seconds of every cluster time (`MongoWireFake.seconds` reads and sets it). */
export const clusterSeconds = { value: 1 };

/** The cluster time with increment `ts`. */
export function clusterTime(ts: number): BSON.Timestamp {
  return new BSON.Timestamp({ t: clusterSeconds.value, i: ts });
}

/** The resume token at cluster time `ts` and oplog position `seq`, as the fake writes it. */
export function resumeToken(ts: number, seq: number): { _data: string } {
  const hex = (n: number) => n.toString(16).padStart(8, '0').toUpperCase();
  return { _data: `82${hex(clusterSeconds.value)}${hex(ts)}${hex(seq)}` };
}

/** A change a write made, before it gets its place in the oplog. */
export interface Written {
  event: Doc;
  /** An update: its `fullDocument` is looked up when the event is read. */
  lookup?: { coll: string; id: unknown };
  /** The document right after the update (served for `fullDocument: 'whenAvailable'`). */
  postImage?: Doc;
}

interface OplogEntry extends Written {
  /** Position in the oplog, one per event. */
  seq: number;
  /** Cluster time increment (the seconds are always 1); a transaction's events share it. */
  ts: number;
}

interface ChangeCursor {
  id: number;
  /** The stream's `fullDocument` option. */
  fullDocument: unknown;
  /** The stream's `showExpandedEvents` option. */
  expanded: boolean;
  /** Sequence number of the last oplog entry this cursor has passed. */
  position: number;
  /** The latest cluster time this cursor's scan has covered. */
  scanned: number;
  match: Query | undefined;
  ns: string;
  killed: boolean;
}

interface Pending {
  cursor: ChangeCursor;
  finish: (answer: Doc) => void;
  timer?: NodeJS.Timeout;
}

interface Taken {
  batch: Doc[];
  invalidated: boolean;
  /** Whether the last oplog entry scanned is the batch's last event (not one filtered out). */
  endedOnEvent: boolean;
}

/** What the streams need to know of the server they run on. */
export interface StreamServer {
  dbName: string;
  standalone: boolean;
  /** The server version; below 6, `showExpandedEvents` is refused. */
  version: [number, number, number];
  /** The current document with this `_id` (what `updateLookup` reads). */
  current(coll: string, id: unknown): Doc | undefined;
}

/** The fake's oplog, its clock, and the change-stream cursors reading it. */
export class FakeChangeStreams {
  private readonly oplog: OplogEntry[] = [];
  private readonly cursors = new Map<number, ChangeCursor>();
  private readonly pending = new Set<Pending>();
  private readonly getMoreErrors: InjectedError[] = [];
  private readonly aggregateErrors: InjectedError[] = [];
  private lastingAggregateError: InjectedError | undefined;
  /** The cluster time increment of the latest write or no-op. */
  private ts = 0;
  /** The position of the latest oplog entry. */
  private seq = 0;
  private held = false;
  private nextCursorId = 1000;

  constructor(private readonly server: StreamServer) {}

  /** The cluster time increment of the latest write, commit or idle tick. */
  get clock(): number {
    return this.ts;
  }

  /** Number of `getMore`s currently held open. */
  get waiting(): number {
    return this.pending.size;
  }

  /**
   * Appends a change event at the next cluster time and wakes waiting `getMore`s. Its `_id`
   * (resume token) and `clusterTime` are assigned here unless `keepId`. Returns it as stored.
   */
  push(event: Doc, keepId = false): Doc {
    const ts = ++this.ts;
    const seq = ++this.seq;
    const stored = keepId
      ? event
      : { ...event, _id: resumeToken(ts, seq), clusterTime: clusterTime(ts) };
    this.oplog.push({ seq, ts, event: stored });
    this.wake();
    return stored;
  }

  /**
   * Appends `changes` to the oplog at the next cluster time (all of them at the same one, as a
   * transaction's), and wakes waiting `getMore`s. Returns that cluster time's increment.
   */
  append(changes: Written[], txn?: { lsid: unknown; txnNumber: unknown }): number {
    const ts = ++this.ts;
    for (const change of changes) {
      const seq = ++this.seq;
      const entry: OplogEntry = {
        ...change,
        seq,
        ts,
        event: {
          _id: resumeToken(ts, seq),
          ...change.event,
          ...(txn ? { lsid: txn.lsid, txnNumber: txn.txnNumber } : {}),
          clusterTime: clusterTime(ts),
        },
      };
      this.oplog.push(entry);
    }
    this.wake();
    return ts;
  }

  /** Holds every batch back until {@link release}. */
  hold(): void {
    this.held = true;
  }

  /** Ends {@link hold}: waiting `getMore`s get every held event in one batch. */
  release(): void {
    this.held = false;
    this.wake();
  }

  /** The next `getMore` (a waiting one at once) fails with `error`. */
  failNextGetMore(error: InjectedError): void {
    this.getMoreErrors.push(error);
    const waiting = [...this.pending][0];
    if (waiting) this.answerPending(waiting);
  }

  /** Every `aggregate` with `$changeStream` fails with `error` until called with `undefined`. */
  failAggregates(error: InjectedError | undefined): void {
    this.lastingAggregateError = error;
  }

  /** The next `aggregate` with `$changeStream` fails with `error`. */
  failNextAggregate(error: InjectedError): void {
    this.aggregateErrors.push(error);
  }

  /** Forgets every waiting `getMore` unanswered (their connections are being dropped). */
  dropWaiting(): void {
    for (const p of this.pending) clearTimeout(p.timer);
    this.pending.clear();
  }

  aggregate(body: Doc): Doc {
    const pipeline = (body.pipeline as Doc[] | undefined) ?? [];
    const stage = pipeline[0]?.$changeStream as Doc | undefined;
    if (!stage) return notAChangeStream();
    if (this.server.standalone) return changeStreamOnStandalone();
    const injected = this.aggregateErrors.shift() ?? this.lastingAggregateError;
    if (injected) return errorReply(injected);
    if (stage.showExpandedEvents !== undefined && this.server.version[0] < 6) {
      return expandedEventsUnknown();
    }
    const from = stage.resumeAfter ?? stage.startAfter;
    let start = { seq: this.seq, ts: this.ts };
    if (from !== undefined) {
      const at = this.positionOf(from);
      if (!at) return resumeTokenNotFound();
      start = at;
    } else if (stage.startAtOperationTime instanceof BSON.Timestamp) {
      const ts = Number(stage.startAtOperationTime.i);
      const before = this.oplog.filter((e) => e.ts < ts);
      start = { seq: before[before.length - 1]?.seq ?? 0, ts: ts - 1 };
    }
    const matches = pipeline.slice(1).map((s) => s.$match as Doc | undefined);
    const cursor: ChangeCursor = {
      id: this.nextCursorId++,
      fullDocument: stage.fullDocument,
      expanded: stage.showExpandedEvents === true,
      position: start.seq,
      scanned: start.ts,
      match: matches[0] ? new Query(matches[0]) : undefined,
      ns: `${this.server.dbName}.$cmd.aggregate`,
      killed: false,
    };
    this.cursors.set(cursor.id, cursor);
    const taken = this.take(cursor);
    return {
      cursor: {
        id: taken.invalidated ? BSON.Long.ZERO : BSON.Long.fromNumber(cursor.id),
        ns: cursor.ns,
        firstBatch: taken.batch,
        postBatchResumeToken: this.batchToken(cursor, taken),
      },
      operationTime: clusterTime(this.ts + 1),
      ok: 1,
    };
  }

  getMore(body: Doc, reply: (doc: Doc) => void): void {
    const id = Number(body.getMore);
    const cursor = this.cursors.get(id);
    if (!cursor || cursor.killed) {
      reply(cursorNotFound(id));
      return;
    }
    const waitMs = typeof body.maxTimeMS === 'number' ? body.maxTimeMS : 1000;
    const p: Pending = {
      cursor,
      finish: (answer) => {
        clearTimeout(p.timer);
        this.pending.delete(p);
        reply(answer);
      },
    };
    // An idle wait ends with an empty batch; the oplog has moved on (no-op entries), so the
    // postBatchResumeToken advances as it does on a real server.
    p.timer = setTimeout(() => {
      this.ts++;
      this.answerPending(p, true);
    }, waitMs);
    this.pending.add(p);
    if (this.getMoreErrors.length > 0 || (!this.held && this.hasEventsFor(cursor))) {
      this.answerPending(p);
    }
  }

  killCursors(body: Doc): Doc {
    const ids = ((body.cursors as unknown[] | undefined) ?? []).map(Number);
    for (const id of ids) {
      const cursor = this.cursors.get(id);
      if (cursor) cursor.killed = true;
      for (const p of [...this.pending]) if (p.cursor.id === id) this.answerPending(p);
    }
    return {
      cursorsKilled: ids.map((id) => BSON.Long.fromNumber(id)),
      cursorsNotFound: [],
      cursorsAlive: [],
      cursorsUnknown: [],
      ok: 1,
    };
  }

  private wake(): void {
    for (const p of [...this.pending]) this.answerPending(p);
  }

  /** Where a resume token points: after the event it belongs to, or at a high-water mark. */
  private positionOf(token: unknown): { seq: number; ts: number } | undefined {
    const data = (token as { _data?: unknown } | null | undefined)?._data;
    const match =
      typeof data === 'string' ? /^82([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/i.exec(data) : null;
    if (match) {
      return { ts: parseInt(match[2] as string, 16), seq: parseInt(match[3] as string, 16) };
    }
    const entry = this.oplog.find((e) => sameValue(e.event._id, token));
    return entry ? { seq: entry.seq, ts: entry.ts } : undefined;
  }

  private answerPending(p: Pending, timedOut = false): void {
    const injected = this.getMoreErrors.shift();
    if (injected) return p.finish(errorReply(injected));
    const { cursor } = p;
    if (cursor.killed) return p.finish(cursorKilled());
    if (this.held) {
      if (!timedOut) return;
      // The scan has not moved: the token stays where it was.
      return p.finish(
        this.nextBatch(cursor, { batch: [], invalidated: false, endedOnEvent: false }),
      );
    }
    const taken = this.take(cursor);
    if (taken.batch.length === 0 && !timedOut) return;
    if (timedOut && taken.batch.length === 0) cursor.scanned = Math.max(cursor.scanned, this.ts);
    p.finish(this.nextBatch(cursor, taken));
  }

  private nextBatch(cursor: ChangeCursor, taken: Taken): Doc {
    return {
      cursor: {
        id: taken.invalidated ? BSON.Long.ZERO : BSON.Long.fromNumber(cursor.id),
        ns: cursor.ns,
        nextBatch: taken.batch,
        postBatchResumeToken: this.batchToken(cursor, taken),
      },
      ok: 1,
    };
  }

  /**
   * A batch's postBatchResumeToken: its last event's token when the scan ended on that event,
   * otherwise a high-water mark at the latest cluster time the scan covered.
   */
  private batchToken(cursor: ChangeCursor, taken: Taken): unknown {
    const last = taken.batch[taken.batch.length - 1];
    if (last && taken.endedOnEvent) return last._id;
    return resumeToken(cursor.scanned, cursor.position);
  }

  private hasEventsFor(cursor: ChangeCursor): boolean {
    return this.oplog.some(
      (e) => e.seq > cursor.position && (!cursor.match || cursor.match.test(e.event)),
    );
  }

  /** Takes the events after the cursor's position; an invalidate ends the batch and the cursor. */
  private take(cursor: ChangeCursor): Taken {
    const batch: Doc[] = [];
    let endedOnEvent = false;
    for (const entry of this.oplog) {
      if (entry.seq <= cursor.position) continue;
      cursor.position = entry.seq;
      cursor.scanned = Math.max(cursor.scanned, entry.ts);
      const invalidate = entry.event.operationType === 'invalidate';
      endedOnEvent = invalidate || !cursor.match || cursor.match.test(entry.event);
      if (endedOnEvent) batch.push(this.lookedUp(entry, cursor));
      if (invalidate) {
        cursor.killed = true;
        return { batch, invalidated: true, endedOnEvent };
      }
    }
    return { batch, invalidated: false, endedOnEvent };
  }

  /** The event as a cursor reads it now: `updateLookup` reads the current document. */
  private lookedUp(entry: OplogEntry, cursor: ChangeCursor): Doc {
    const description = entry.event.updateDescription as Doc | undefined;
    if (description?.disambiguatedPaths !== undefined && !cursor.expanded) {
      // As servers 6.1 to 8.1 answer: disambiguatedPaths only with showExpandedEvents.
      const { disambiguatedPaths: _dropped, ...rest } = description;
      return this.lookedUp(
        { ...entry, event: { ...entry.event, updateDescription: rest } },
        cursor,
      );
    }
    if (!entry.lookup) return entry.event;
    if (cursor.fullDocument === 'whenAvailable') {
      return { ...entry.event, fullDocument: entry.postImage ? copy(entry.postImage) : null };
    }
    if (cursor.fullDocument !== 'updateLookup') return entry.event;
    const { coll, id } = entry.lookup;
    const current = this.server.current(coll, id);
    return { ...entry.event, fullDocument: current ? copy(current) : null };
  }
}
