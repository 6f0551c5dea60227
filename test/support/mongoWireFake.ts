/**
 * A small MongoDB wire-protocol fake for tests: a TCP server on 127.0.0.1 that the unmodified
 * `mongodb` driver talks to. It answers the handshake (legacy OP_QUERY `hello`/`isMaster` with an
 * OP_REPLY, and OP_MSG), `ping`, `buildInfo`, `endSessions`, `find` on seeded collections,
 * `aggregate` with a `$changeStream` stage, `getMore` (awaitData: held until an event is pushed or
 * `maxTimeMS` passes) and `killCursors`. Tests push change events and inject faults.
 *
 * It exists to exercise the driver and the change-stream plumbing (resume tokens, resumes,
 * errors, socket drops). Beside scripted events it keeps collection state: the write methods
 * (`insertOne`, `updateOne`, `replaceOne`, `deleteOne`) apply a write to the state `find` reads
 * and append the event a server would write, with a `clusterTime`. An update event's
 * `fullDocument` is filled the way `updateLookup` is documented to be: read from the *current*
 * state when a batch is answered, so it can be newer than the event (or `null` once the
 * document is gone). `hold()` keeps batches back so that several writes are read in one.
 * It is not a database: `find` and the stream's `$match` use mingo, so query semantics (BSON
 * type comparison, collation) are not tested here. Never shipped.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { BSON } from 'mongodb';
import { Query } from 'mingo';
import { OP_MSG, OP_QUERY, opMsg, opReply, parseOpMsg, parseOpQuery } from './mongoWire.js';

type Doc = Record<string, unknown>;

/** A fault the next `getMore` (or `aggregate`) answers with. */
export interface InjectedError {
  code: number;
  codeName?: string;
  errmsg?: string;
  errorLabels?: string[];
}

/** Options of {@link MongoWireFake}. */
export interface MongoWireFakeOptions {
  /** Answer as a standalone server: no `setName`, and `$changeStream` fails with 40573. */
  standalone?: boolean;
  /** The database name events are reported in. @default 'test' */
  db?: string;
  /** The server version `buildInfo` reports; below 6, `showExpandedEvents` is refused. @default [7, 0, 0] */
  version?: [number, number, number];
}

/** An update as the fake applies it: `$set` and `$unset` of dotted paths. */
export interface FakeUpdate {
  $set?: Doc;
  $unset?: Record<string, unknown>;
}

interface OplogEntry {
  seq: number;
  event: Doc;
  /** An update event whose `fullDocument` is looked up when it is read. */
  lookup?: { coll: string; id: unknown };
  /** The document right after the update (served for `fullDocument: 'whenAvailable'`). */
  postImage?: Doc;
}

interface ChangeCursor {
  id: number;
  /** The stream's `fullDocument` option. */
  fullDocument: unknown;
  /** The stream's `showExpandedEvents` option. */
  expanded: boolean;
  /** Sequence number of the last oplog entry this cursor has passed. */
  position: number;
  match: Query | undefined;
  ns: string;
  killed: boolean;
}

interface Pending {
  cursor: ChangeCursor;
  finish: (answer: Doc) => void;
  timer?: NodeJS.Timeout;
}

/** The fake server. Create with {@link MongoWireFake.start}; always `stop()` it. */
export class MongoWireFake {
  /** Every command body received, in order (handshakes included). */
  readonly commands: Doc[] = [];
  private readonly collections = new Map<string, Doc[]>();
  private readonly oplog: OplogEntry[] = [];
  private readonly cursors = new Map<number, ChangeCursor>();
  private readonly pending = new Set<Pending>();
  private readonly sockets = new Set<Socket>();
  private readonly getMoreErrors: InjectedError[] = [];
  private readonly aggregateErrors: InjectedError[] = [];
  private clock = 0;
  private held = false;
  private readonly postImages = new Set<string>();
  private lastingAggregateError: InjectedError | undefined;
  /** The state a lagging secondary answers from, while {@link lagReads} is in effect. */
  private secondary: Map<string, Doc[]> | undefined;
  private nextCursorId = 1000;
  private connectionId = 0;

  private constructor(
    private readonly server: Server,
    private readonly options: MongoWireFakeOptions,
  ) {}

  /** Starts a fake on 127.0.0.1 with a free port. */
  static async start(options: MongoWireFakeOptions = {}): Promise<MongoWireFake> {
    const server = createServer();
    const fake = new MongoWireFake(server, options);
    server.on('connection', (socket) => fake.accept(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  /** `mongodb://` URL for the driver (direct connection, short timeouts). */
  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `mongodb://127.0.0.1:${port}/?directConnection=true&serverSelectionTimeoutMS=3000&heartbeatFrequencyMS=500`;
  }

  private get version(): [number, number, number] {
    return this.options.version ?? [7, 0, 0];
  }

  /** The database name events are reported in. */
  get dbName(): string {
    return this.options.db ?? 'test';
  }

  /** Sets the documents `find` answers from. */
  seed(collection: string, docs: Doc[]): void {
    this.collections.set(collection, docs);
  }

  /** The resume token of oplog position `seq`, as this fake writes it. */
  static token(seq: number): { _data: string } {
    return { _data: `82${seq.toString(16).padStart(16, '0').toUpperCase()}` };
  }

  /**
   * Appends a change event to the fake oplog and wakes waiting `getMore`s. Its `_id` (resume
   * token) is assigned here unless `keepId`. Returns the event as stored.
   */
  push(event: Doc, keepId = false): Doc {
    const seq = ++this.clock;
    const stored = keepId ? event : { ...event, _id: MongoWireFake.token(seq) };
    this.oplog.push({ seq, event: stored });
    for (const p of [...this.pending]) this.answerPending(p);
    return stored;
  }

  /** The current state of a collection (the documents `find` answers from). */
  docs(collection: string): Doc[] {
    return this.state(collection);
  }

  /** Inserts a document and appends its `insert` event. */
  insertOne(collection: string, doc: Doc): void {
    const stored = copy(doc);
    this.state(collection).push(stored);
    this.write({
      operationType: 'insert',
      ns: { db: this.dbName, coll: collection },
      documentKey: { _id: stored._id },
      fullDocument: copy(stored),
    });
  }

  /** Applies `$set`/`$unset` to the document with this `_id` and appends its `update` event. */
  updateOne(collection: string, id: unknown, update: FakeUpdate): void {
    const doc = this.state(collection).find((d) => sameId(d._id, id));
    if (!doc) throw new Error(`updateOne: no document ${String(id)} in ${collection}`);
    const updatedFields: Doc = {};
    const removedFields: string[] = [];
    for (const [path, value] of Object.entries(update.$set ?? {})) {
      setPath(doc, path, copy(value));
      updatedFields[path] = copy(value);
    }
    for (const path of Object.keys(update.$unset ?? {})) {
      if (unsetPath(doc, path)) removedFields.push(path);
    }
    this.write(
      {
        operationType: 'update',
        ns: { db: this.dbName, coll: collection },
        documentKey: { _id: doc._id },
        updateDescription: { updatedFields, removedFields, truncatedArrays: [] },
      },
      { coll: collection, id: doc._id },
      this.postImages.has(collection) ? copy(doc) : undefined,
    );
  }

  /** Replaces the document with this `_id` (keeping it) and appends its `replace` event. */
  replaceOne(collection: string, id: unknown, replacement: Doc): void {
    const docs = this.state(collection);
    const at = docs.findIndex((d) => sameId(d._id, id));
    if (at < 0) throw new Error(`replaceOne: no document ${String(id)} in ${collection}`);
    const next = { _id: docs[at]?._id, ...copy(replacement) };
    docs[at] = next;
    this.write({
      operationType: 'replace',
      ns: { db: this.dbName, coll: collection },
      documentKey: { _id: next._id },
      fullDocument: copy(next),
    });
  }

  /** Deletes the document with this `_id` and appends its `delete` event. */
  deleteOne(collection: string, id: unknown): void {
    const docs = this.state(collection);
    const at = docs.findIndex((d) => sameId(d._id, id));
    if (at < 0) throw new Error(`deleteOne: no document ${String(id)} in ${collection}`);
    const [gone] = docs.splice(at, 1);
    this.write({
      operationType: 'delete',
      ns: { db: this.dbName, coll: collection },
      documentKey: { _id: gone?._id },
    });
  }

  /**
   * Keeps a post-image of every later update of `collection`, as
   * `changeStreamPreAndPostImages: { enabled: true }` does (streams opened with
   * `fullDocument: 'whenAvailable'` get it; without it they get `null`).
   */
  enablePostImages(collection: string): void {
    this.postImages.add(collection);
  }

  /**
   * Holds every batch back (waiting `getMore`s see nothing new) until {@link release}: the
   * writes made meanwhile are all committed before the stream reads the first of them, as when
   * the stream lags a burst or resumes.
   */
  hold(): void {
    this.held = true;
  }

  /** Ends {@link hold}: waiting `getMore`s get every held event in one batch. */
  release(): void {
    this.held = false;
    for (const p of [...this.pending]) this.answerPending(p);
  }

  /**
   * From now on, reads that a secondary may answer (`$readPreference` `secondary`,
   * `secondaryPreferred` or `nearest`) see the state as it is now, as a lagging secondary
   * would, until {@link catchUp}. The change stream still reports every write.
   */
  lagReads(): void {
    this.secondary = new Map([...this.collections].map(([name, docs]) => [name, copy(docs)]));
  }

  /** Ends {@link lagReads}. */
  catchUp(): void {
    this.secondary = undefined;
  }

  /** The next `getMore` (a waiting one at once) fails with `error`. */
  failNextGetMore(error: InjectedError): void {
    this.getMoreErrors.push(error);
    const waiting = [...this.pending][0];
    if (waiting) this.answerPending(waiting);
  }

  /**
   * Every `aggregate` with `$changeStream` fails with `error` until this is called again with
   * `undefined`: a lasting condition such as missing rights.
   */
  failAggregates(error: InjectedError | undefined): void {
    this.lastingAggregateError = error;
  }

  /** The next `aggregate` with `$changeStream` fails with `error`. */
  failNextAggregate(error: InjectedError): void {
    this.aggregateErrors.push(error);
  }

  /** Destroys every open client socket (as a network failure would). */
  dropConnections(): void {
    for (const p of this.pending) clearTimeout(p.timer);
    this.pending.clear();
    for (const socket of this.sockets) socket.destroy();
  }

  /** The `$changeStream` stages of every aggregate received, in order. */
  get changeStreamOpens(): Doc[] {
    return this.commands
      .filter((c) => c.aggregate !== undefined)
      .map((c) => ((c.pipeline as Doc[])[0]?.$changeStream ?? {}) as Doc);
  }

  /** Number of `getMore`s currently held open. */
  get waitingGetMores(): number {
    return this.pending.size;
  }

  /** Closes every socket and the listening server. */
  async stop(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 4) {
        const length = buffered.readInt32LE(0);
        if (buffered.length < length) break;
        const message = buffered.subarray(0, length);
        buffered = buffered.subarray(length);
        this.receive(socket, message);
      }
    });
  }

  private receive(socket: Socket, message: Buffer): void {
    const requestId = message.readInt32LE(4);
    const opCode = message.readInt32LE(12);
    const reply = (doc: Doc): void => {
      if (socket.destroyed) return;
      socket.write(opCode === OP_QUERY ? opReply(requestId, doc) : opMsg(requestId, doc));
    };
    const body =
      opCode === OP_QUERY
        ? parseOpQuery(message)
        : opCode === OP_MSG
          ? parseOpMsg(message)
          : undefined;
    if (!body) {
      socket.destroy();
      return;
    }
    this.commands.push(body);
    this.command(body, reply);
  }

  private command(body: Doc, reply: (doc: Doc) => void): void {
    const name = Object.keys(body)[0] ?? '';
    switch (name.toLowerCase()) {
      case 'hello':
      case 'ismaster':
        return reply(this.hello());
      case 'ping':
      case 'endsessions':
        return reply({ ok: 1 });
      case 'buildinfo':
        return reply({
          version: this.version.join('.'),
          versionArray: [...this.version, 0],
          ok: 1,
        });
      case 'find':
        return reply(this.find(body));
      case 'aggregate':
        return reply(this.aggregate(body));
      case 'getmore':
        return this.getMore(body, reply);
      case 'killcursors':
        return reply(this.killCursors(body));
      default:
        return reply({
          ok: 0,
          code: 59,
          codeName: 'CommandNotFound',
          errmsg: `no such command: '${name}'`,
        });
    }
  }

  private hello(): Doc {
    const { port } = this.server.address() as AddressInfo;
    const me = `127.0.0.1:${port}`;
    const base: Doc = {
      helloOk: true,
      isWritablePrimary: true,
      ismaster: true,
      maxBsonObjectSize: 16 * 1024 * 1024,
      maxMessageSizeBytes: 48_000_000,
      maxWriteBatchSize: 100_000,
      localTime: new Date(),
      logicalSessionTimeoutMinutes: 30,
      connectionId: ++this.connectionId,
      minWireVersion: 0,
      maxWireVersion: 21,
      readOnly: false,
      ok: 1,
    };
    if (this.options.standalone) return base;
    return { ...base, setName: 'rs0', setVersion: 1, hosts: [me], primary: me, me };
  }

  private find(body: Doc): Doc {
    const coll = String(body.find);
    const mode = (body.$readPreference as { mode?: string } | undefined)?.mode ?? 'primary';
    const fromSecondary =
      this.secondary !== undefined && ['secondary', 'secondaryPreferred', 'nearest'].includes(mode);
    const docs = (fromSecondary ? this.secondary : this.collections)?.get(coll) ?? [];
    let cursor = new Query((body.filter as Doc | undefined) ?? {}).find(
      docs,
      body.projection as Doc | undefined,
    );
    if (body.sort) cursor = cursor.sort(body.sort as Record<string, 1 | -1>);
    const firstBatch = cursor.all();
    return { cursor: { id: BSON.Long.ZERO, ns: `${this.dbName}.${coll}`, firstBatch }, ok: 1 };
  }

  private aggregate(body: Doc): Doc {
    const pipeline = (body.pipeline as Doc[] | undefined) ?? [];
    const stage = pipeline[0]?.$changeStream as Doc | undefined;
    if (!stage)
      return { ok: 0, code: 40324, codeName: 'Location40324', errmsg: 'only $changeStream here' };
    if (this.options.standalone) {
      return {
        ok: 0,
        code: 40573,
        codeName: 'Location40573',
        errmsg: 'The $changeStream stage is only supported on replica sets',
      };
    }
    const injected = this.aggregateErrors.shift() ?? this.lastingAggregateError;
    if (injected) return errorReply(injected);
    if (stage.showExpandedEvents !== undefined && this.version[0] < 6) {
      return {
        ok: 0,
        code: 40415,
        codeName: 'Location40415',
        errmsg: "BSON field '$changeStream.showExpandedEvents' is an unknown field.",
      };
    }
    const from = (stage.resumeAfter ?? stage.startAfter) as { _data?: string } | undefined;
    let position = this.clock;
    if (from?._data !== undefined) position = parseInt(from._data.slice(2), 16);
    else if (stage.startAtOperationTime instanceof BSON.Timestamp) {
      position = Number(stage.startAtOperationTime.i) - 1;
    }
    const matches = pipeline.slice(1).map((s) => s.$match as Doc | undefined);
    const cursor: ChangeCursor = {
      id: this.nextCursorId++,
      fullDocument: stage.fullDocument,
      expanded: stage.showExpandedEvents === true,
      position,
      match: matches[0] ? new Query(matches[0]) : undefined,
      ns: `${this.dbName}.$cmd.aggregate`,
      killed: false,
    };
    this.cursors.set(cursor.id, cursor);
    const { batch, invalidated } = this.take(cursor);
    return {
      cursor: {
        id: invalidated ? BSON.Long.ZERO : BSON.Long.fromNumber(cursor.id),
        ns: cursor.ns,
        firstBatch: batch,
        postBatchResumeToken: MongoWireFake.token(cursor.position),
      },
      operationTime: new BSON.Timestamp({ t: 1, i: this.clock + 1 }),
      ok: 1,
    };
  }

  private getMore(body: Doc, reply: (doc: Doc) => void): void {
    const id = Number(body.getMore);
    const cursor = this.cursors.get(id);
    if (!cursor || cursor.killed) {
      reply({ ok: 0, code: 43, codeName: 'CursorNotFound', errmsg: `cursor id ${id} not found` });
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
      this.clock++;
      this.answerPending(p, true);
    }, waitMs);
    this.pending.add(p);
    if (this.getMoreErrors.length > 0 || (!this.held && this.hasEventsFor(cursor))) {
      this.answerPending(p);
    }
  }

  private answerPending(p: Pending, timedOut = false): void {
    const injected = this.getMoreErrors.shift();
    if (injected) return p.finish(errorReply(injected));
    if (p.cursor.killed) {
      return p.finish({ ok: 0, code: 237, codeName: 'CursorKilled', errmsg: 'cursor killed' });
    }
    if (this.held) {
      if (!timedOut) return;
      const { cursor } = p;
      return p.finish({
        cursor: {
          id: BSON.Long.fromNumber(cursor.id),
          ns: cursor.ns,
          nextBatch: [],
          postBatchResumeToken: MongoWireFake.token(cursor.position),
        },
        ok: 1,
      });
    }
    const { batch, invalidated } = this.take(p.cursor);
    if (batch.length === 0 && !timedOut) return;
    p.finish({
      cursor: {
        id: invalidated ? BSON.Long.ZERO : BSON.Long.fromNumber(p.cursor.id),
        ns: p.cursor.ns,
        nextBatch: batch,
        postBatchResumeToken: MongoWireFake.token(
          Math.max(p.cursor.position, timedOut ? this.clock : 0),
        ),
      },
      ok: 1,
    });
    if (timedOut) p.cursor.position = Math.max(p.cursor.position, this.clock);
  }

  private hasEventsFor(cursor: ChangeCursor): boolean {
    return this.oplog.some(
      (e) => e.seq > cursor.position && (!cursor.match || cursor.match.test(e.event)),
    );
  }

  /** Takes the events after the cursor's position; an invalidate ends the batch and the cursor. */
  private take(cursor: ChangeCursor): { batch: Doc[]; invalidated: boolean } {
    const batch: Doc[] = [];
    for (const entry of this.oplog) {
      if (entry.seq <= cursor.position) continue;
      cursor.position = entry.seq;
      const invalidate = entry.event.operationType === 'invalidate';
      if (invalidate || !cursor.match || cursor.match.test(entry.event)) {
        batch.push(this.lookedUp(entry, cursor));
      }
      if (invalidate) {
        cursor.killed = true;
        return { batch, invalidated: true };
      }
    }
    return { batch, invalidated: false };
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
    const current = this.state(coll).find((d) => sameId(d._id, id));
    return { ...entry.event, fullDocument: current ? copy(current) : null };
  }

  private state(collection: string): Doc[] {
    let docs = this.collections.get(collection);
    if (!docs) {
      docs = [];
      this.collections.set(collection, docs);
    }
    return docs;
  }

  /** Appends a written event with its `clusterTime`, and wakes waiting `getMore`s. */
  private write(event: Doc, lookup?: { coll: string; id: unknown }, postImage?: Doc): void {
    const seq = ++this.clock;
    const stored = {
      _id: MongoWireFake.token(seq),
      ...event,
      clusterTime: new BSON.Timestamp({ t: 1, i: seq }),
    };
    const entry: OplogEntry = { seq, event: stored };
    if (lookup) entry.lookup = lookup;
    if (postImage) entry.postImage = postImage;
    this.oplog.push(entry);
    for (const p of [...this.pending]) this.answerPending(p);
  }

  private killCursors(body: Doc): Doc {
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
}

function errorReply(error: InjectedError): Doc {
  const doc: Doc = {
    ok: 0,
    code: error.code,
    codeName: error.codeName ?? `Code${error.code}`,
    errmsg: error.errmsg ?? `injected error ${error.code}`,
  };
  if (error.errorLabels) doc.errorLabels = error.errorLabels;
  return doc;
}

function sameId(a: unknown, b: unknown): boolean {
  return (
    BSON.EJSON.stringify({ v: a }, { relaxed: false }) ===
    BSON.EJSON.stringify({ v: b }, { relaxed: false })
  );
}

function setPath(doc: Doc, path: string, value: unknown): void {
  const segments = path.split('.');
  let node: Doc = doc;
  for (const segment of segments.slice(0, -1)) {
    const next = node[segment];
    if (typeof next !== 'object' || next === null) node[segment] = {};
    node = node[segment] as Doc;
  }
  node[segments[segments.length - 1] as string] = value;
}

function unsetPath(doc: Doc, path: string): boolean {
  const segments = path.split('.');
  let node: unknown = doc;
  for (const segment of segments.slice(0, -1)) {
    if (typeof node !== 'object' || node === null) return false;
    node = (node as Doc)[segment];
  }
  const last = segments[segments.length - 1] as string;
  if (typeof node !== 'object' || node === null || !Object.hasOwn(node, last)) return false;
  delete (node as Doc)[last];
  return true;
}

/** Deep-copies plain objects and arrays; BSON values (ObjectId, Binary, ...) are shared. */
function copy<T>(value: T): T {
  if (Array.isArray(value)) return value.map(copy) as T;
  if (
    typeof value === 'object' &&
    value !== null &&
    Object.getPrototypeOf(value) === Object.prototype
  ) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, copy(v)])) as T;
  }
  return value;
}
