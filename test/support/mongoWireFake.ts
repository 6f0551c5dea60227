/**
 * A small MongoDB wire-protocol fake for tests: a TCP server on 127.0.0.1 that the unmodified
 * `mongodb` driver talks to, answering as the primary of a one-node replica set. It answers the
 * handshake (legacy OP_QUERY `hello`/`isMaster` with an OP_REPLY, and OP_MSG), `ping`,
 * `buildInfo`, `endSessions`, `find`, the write commands `insert`, `update` and `delete`,
 * `commitTransaction` and `abortTransaction`, `aggregate` with a `$changeStream` stage, `getMore`
 * (awaitData: held until an event is pushed or `maxTimeMS` passes) and `killCursors`. Tests push
 * change events and inject faults.
 *
 * It exists to exercise the driver and the change-stream plumbing (resume tokens, resumes,
 * errors, socket drops, sessions and transactions). Beside scripted events it keeps collection
 * state: writes (the write commands, and the helpers `insertOne`, `updateOne`, `replaceOne`,
 * `deleteOne`) apply to the state `find` reads and append the events a server would write.
 *
 * Cluster time: every write outside a transaction gets the next cluster time, and so does every
 * committed transaction, whose events all share it (and carry its `lsid` and `txnNumber`); an idle `getMore` also moves the clock on,
 * as a real server's no-op oplog entries do. Every reply carries `operationTime` (a write's: the
 * time of its last change) and `$clusterTime`; events carry `clusterTime`. A resume token's
 * `_data` is written the way a server's starts, a KeyString timestamp (`82`, then the seconds
 * and the increment as big-endian 32-bit hex), followed here by the oplog position. A batch's
 * `postBatchResumeToken` is its last event's token when the scan ended on that event, and
 * otherwise a high-water mark at the latest cluster time the scan covered.
 *
 * Sessions and transactions: writes outside a transaction that carry `lsid` and `txnNumber`
 * (retryable writes) are answered once; a retry gets the first answer. A command with
 * `startTransaction` opens a transaction on a snapshot of every collection; the transaction's
 * reads see its own writes, and `commitTransaction` makes its writes visible and appends their
 * events at one cluster time, while `abortTransaction` (or a write error) discards them. Write
 * conflicts between concurrent transactions are not detected.
 *
 * An update event's `fullDocument` is filled the way `updateLookup` is documented to be: read
 * from the *current* state when a batch is answered, so it can be newer than the event (or
 * `null` once the document is gone). `hold()` keeps batches back so that several writes are read
 * in one. It is not a database: queries and update operators use mingo, except that `find` and
 * the write commands' filters compare numbers by value across BSON types and BinData exactly
 * (fakeQuery.ts); collations are not applied, upserts and pipeline updates are refused. Never
 * shipped.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { BSON } from 'mongodb';
import { Query, update as applyOperators } from 'mingo';
import { compileFakeQuery, fakeFind } from './fakeQuery.js';
import { OP_MSG, OP_QUERY, opMsg, opReply, parseOpMsg, parseOpQuery } from './mongoWire.js';

type Doc = Record<string, unknown>;
/** Documents per collection. */
type Store = Map<string, Doc[]>;

/** A fault a command answers with. */
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

/** An update as the helper {@link MongoWireFake.updateOne} applies it: `$set` and `$unset`. */
export interface FakeUpdate {
  $set?: Doc;
  $unset?: Record<string, unknown>;
}

/** A change a write made, before it gets its place in the oplog. */
interface Written {
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

interface Transaction {
  txnNumber: number;
  state: 'open' | 'committed' | 'aborted';
  /** A snapshot of every collection at the start, with the transaction's own writes. */
  store: Store;
  /** The documents written, per collection, by id key. */
  touched: Map<string, Map<string, unknown>>;
  changes: Written[];
  commitTime?: number;
}

/** What a write command did. */
interface WriteOutcome {
  reply: Doc;
  changes: Written[];
  touched: { coll: string; id: unknown }[];
  failed: boolean;
}

type WriteError = { code: number; errmsg: string };

/** The fake server. Create with {@link MongoWireFake.start}; always `stop()` it. */
export class MongoWireFake {
  /** Every command body received, in order (handshakes included). */
  readonly commands: Doc[] = [];
  private readonly collections: Store = new Map();
  private readonly oplog: OplogEntry[] = [];
  private readonly cursors = new Map<number, ChangeCursor>();
  private readonly pending = new Set<Pending>();
  private readonly sockets = new Set<Socket>();
  private readonly getMoreErrors: InjectedError[] = [];
  private readonly aggregateErrors: InjectedError[] = [];
  private readonly commandErrors = new Map<string, InjectedError[]>();
  private readonly transactions = new Map<string, Transaction>();
  /** Default collations set with `setCollation`. */
  private readonly collationOf = new Map<string, Doc>();
  /** Answers of retryable writes, by session and txnNumber. */
  private readonly retryable = new Map<string, Doc>();
  /** The cluster time increment of the latest write or no-op. */
  private clock = 0;
  /** The position of the latest oplog entry. */
  private seq = 0;
  private held = false;
  private readonly postImages = new Set<string>();
  private lastingAggregateError: InjectedError | undefined;
  /** The state a lagging secondary answers from, while {@link lagReads} is in effect. */
  private secondary: Store | undefined;
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

  /** The latest cluster time (of a write, a commit or an idle tick). */
  get clusterTime(): BSON.Timestamp {
    return MongoWireFake.time(this.clock);
  }

  /** Sets the documents `find` answers from. */
  seed(collection: string, docs: Doc[]): void {
    this.collections.set(collection, docs);
  }

  /** Gives `collection` a default collation, as `createCollection(name, { collation })` does. */
  setCollation(collection: string, collation: Doc): void {
    this.collationOf.set(collection, collation);
    if (!this.collections.has(collection)) this.collections.set(collection, []);
  }

  /**
   * The seconds of every cluster time (the increment orders them). 1 unless a test sets it, for
   * instance to the wall clock's, to see a feed's lag as a server would show it.
   */
  static seconds = 1;

  /** The cluster time with increment `ts`. */
  static time(ts: number): BSON.Timestamp {
    return new BSON.Timestamp({ t: MongoWireFake.seconds, i: ts });
  }

  /** The resume token at cluster time `ts` and oplog position `seq`, as this fake writes it. */
  static token(ts: number, seq: number): { _data: string } {
    const hex = (n: number) => n.toString(16).padStart(8, '0').toUpperCase();
    return { _data: `82${hex(MongoWireFake.seconds)}${hex(ts)}${hex(seq)}` };
  }

  /**
   * Appends a change event to the fake oplog, at the next cluster time, and wakes waiting
   * `getMore`s. Its `_id` (resume token) and `clusterTime` are assigned here unless `keepId`.
   * Returns the event as stored.
   */
  push(event: Doc, keepId = false): Doc {
    const ts = ++this.clock;
    const seq = ++this.seq;
    const stored = keepId
      ? event
      : { ...event, _id: MongoWireFake.token(ts, seq), clusterTime: MongoWireFake.time(ts) };
    this.oplog.push({ seq, ts, event: stored });
    this.wake();
    return stored;
  }

  /** The current state of a collection (the documents `find` answers from). */
  docs(collection: string): Doc[] {
    return docsOf(this.collections, collection);
  }

  /** Inserts a document and appends its `insert` event. */
  insertOne(collection: string, doc: Doc): void {
    const stored = copy(doc);
    this.docs(collection).push(stored);
    this.append([this.insertChange(collection, stored)]);
  }

  /** Applies `$set`/`$unset` to the document with this `_id` and appends its `update` event. */
  updateOne(collection: string, id: unknown, update: FakeUpdate): void {
    const docs = this.docs(collection);
    const at = docs.findIndex((d) => sameId(d._id, id));
    if (at < 0) throw new Error(`updateOne: no document ${String(id)} in ${collection}`);
    const doc = docs[at] as Doc;
    const updatedFields: Doc = {};
    const removedFields: string[] = [];
    for (const [path, value] of Object.entries(update.$set ?? {})) {
      setPath(doc, path, copy(value));
      updatedFields[path] = copy(value);
    }
    for (const path of Object.keys(update.$unset ?? {})) {
      if (unsetPath(doc, path)) removedFields.push(path);
    }
    this.append([this.updateChange(collection, doc, updatedFields, removedFields)]);
  }

  /** Replaces the document with this `_id` (keeping it) and appends its `replace` event. */
  replaceOne(collection: string, id: unknown, replacement: Doc): void {
    const docs = this.docs(collection);
    const at = docs.findIndex((d) => sameId(d._id, id));
    if (at < 0) throw new Error(`replaceOne: no document ${String(id)} in ${collection}`);
    const next = { _id: docs[at]?._id, ...copy(replacement) };
    docs[at] = next;
    this.append([this.replaceChange(collection, next)]);
  }

  /** Deletes the document with this `_id` and appends its `delete` event. */
  deleteOne(collection: string, id: unknown): void {
    const docs = this.docs(collection);
    const at = docs.findIndex((d) => sameId(d._id, id));
    if (at < 0) throw new Error(`deleteOne: no document ${String(id)} in ${collection}`);
    const [gone] = docs.splice(at, 1);
    this.append([this.deleteChange(collection, gone?._id)]);
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
    this.wake();
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

  /**
   * The next command `name` (`insert`, `commitTransaction`, ...) fails with `error` without
   * running. In a transaction the failure aborts it, as the server does, unless the error is
   * labelled `UnknownTransactionCommitResult` (the commit may be retried).
   */
  failNextCommand(name: string, error: InjectedError): void {
    const key = name.toLowerCase();
    this.commandErrors.set(key, [...(this.commandErrors.get(key) ?? []), error]);
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
      const stamped = this.stamp(doc);
      socket.write(opCode === OP_QUERY ? opReply(requestId, stamped) : opMsg(requestId, stamped));
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

  /** Adds the cluster time a replica-set member reports in every reply. */
  private stamp(doc: Doc): Doc {
    if (this.options.standalone) return doc;
    const now = MongoWireFake.time(this.clock);
    return {
      ...doc,
      operationTime: doc.operationTime ?? now,
      $clusterTime: {
        clusterTime: now,
        signature: { hash: new BSON.Binary(Buffer.alloc(20)), keyId: BSON.Long.ZERO },
      },
    };
  }

  private command(body: Doc, reply: (doc: Doc) => void): void {
    const name = (Object.keys(body)[0] ?? '').toLowerCase();
    const injected = this.commandErrors.get(name)?.shift();
    if (injected) {
      if (!injected.errorLabels?.includes('UnknownTransactionCommitResult')) {
        this.abortOnFailure(body);
      }
      return reply(errorReply(injected));
    }
    switch (name) {
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
      case 'listcollections':
        return reply(this.listCollections(body));
      case 'insert':
      case 'update':
      case 'delete':
        return reply(this.writeCommand(name, body));
      case 'committransaction':
        return reply(this.commitTransaction(body));
      case 'aborttransaction':
        return reply(this.abortTransaction(body));
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

  /** The collections and their options (a `collation` where one was set); `filter` by name. */
  private listCollections(body: Doc): Doc {
    const filter = (body.filter as Doc | undefined) ?? {};
    const all = [...this.collections.keys()].map((name) => ({
      name,
      type: 'collection',
      options: this.collationOf.has(name) ? { collation: this.collationOf.get(name) } : {},
      info: { readOnly: false },
    }));
    const firstBatch = new Query(filter).find(all).all();
    return {
      cursor: { id: BSON.Long.ZERO, ns: `${this.dbName}.$cmd.listCollections`, firstBatch },
      ok: 1,
    };
  }

  private find(body: Doc): Doc {
    const coll = String(body.find);
    const inTxn = this.transactionOf(body);
    if (inTxn && 'error' in inTxn) return inTxn.error;
    const mode = (body.$readPreference as { mode?: string } | undefined)?.mode ?? 'primary';
    const fromSecondary =
      this.secondary !== undefined && ['secondary', 'secondaryPreferred', 'nearest'].includes(mode);
    const store = inTxn ? inTxn.txn.store : fromSecondary ? this.secondary : this.collections;
    const docs = store?.get(coll) ?? [];
    const options: Parameters<typeof fakeFind>[2] = {};
    if (body.projection) options.projection = body.projection as Doc;
    if (body.sort) options.sort = body.sort as Doc;
    if (typeof body.skip === 'number') options.skip = body.skip;
    if (typeof body.limit === 'number') options.limit = body.limit;
    const firstBatch = fakeFind(docs, (body.filter as Doc | undefined) ?? {}, options);
    return { cursor: { id: BSON.Long.ZERO, ns: `${this.dbName}.${coll}`, firstBatch }, ok: 1 };
  }

  /** The session a command runs in, as a key. */
  private sessionKey(body: Doc): string | undefined {
    return body.lsid === undefined ? undefined : BSON.EJSON.stringify(body.lsid as Doc);
  }

  /**
   * The transaction a command runs in (`autocommit: false`): opened by `startTransaction`, else
   * the session's open one with the same `txnNumber`. `undefined` outside a transaction.
   */
  private transactionOf(body: Doc): { txn: Transaction } | { error: Doc } | undefined {
    if (body.autocommit !== false) return undefined;
    const key = this.sessionKey(body);
    const txnNumber = Number(body.txnNumber);
    if (key === undefined || !Number.isFinite(txnNumber)) {
      return {
        error: {
          ok: 0,
          code: 50768,
          codeName: 'Location50768',
          errmsg: 'txnNumber and lsid are required in a transaction',
        },
      };
    }
    if (body.startTransaction === true) {
      const txn: Transaction = {
        txnNumber,
        state: 'open',
        store: new Map([...this.collections].map(([name, docs]) => [name, copy(docs)])),
        touched: new Map(),
        changes: [],
      };
      this.transactions.set(key, txn);
      return { txn };
    }
    const txn = this.transactions.get(key);
    if (!txn || txn.txnNumber !== txnNumber || txn.state !== 'open') {
      return { error: noSuchTransaction(txnNumber) };
    }
    return { txn };
  }

  /** A failed command in a transaction aborts it. */
  private abortOnFailure(body: Doc): void {
    if (body.autocommit !== false) return;
    const key = this.sessionKey(body);
    const txn = key === undefined ? undefined : this.transactions.get(key);
    if (txn && txn.txnNumber === Number(body.txnNumber) && txn.state === 'open') {
      txn.state = 'aborted';
    }
  }

  private writeCommand(name: 'insert' | 'update' | 'delete', body: Doc): Doc {
    const inTxn = this.transactionOf(body);
    if (inTxn && 'error' in inTxn) return inTxn.error;
    const txn = inTxn?.txn;
    const session = this.sessionKey(body);
    const retryKey =
      !txn && session !== undefined && body.txnNumber !== undefined
        ? `${session}:${Number(body.txnNumber)}`
        : undefined;
    const answered = retryKey === undefined ? undefined : this.retryable.get(retryKey);
    if (answered) return answered;

    const coll = String(body[name]);
    const store = txn ? txn.store : this.collections;
    const ordered = body.ordered !== false;
    const outcome =
      name === 'insert'
        ? this.insertDocs(store, coll, (body.documents as Doc[] | undefined) ?? [], ordered)
        : name === 'update'
          ? this.updateDocs(store, coll, (body.updates as Doc[] | undefined) ?? [], ordered)
          : this.deleteDocs(store, coll, (body.deletes as Doc[] | undefined) ?? [], ordered);

    if (txn) {
      txn.changes.push(...outcome.changes);
      for (const { coll: c, id } of outcome.touched) {
        let ids = txn.touched.get(c);
        if (!ids) txn.touched.set(c, (ids = new Map()));
        ids.set(idKey(id), id);
      }
      // A write error aborts the transaction.
      if (outcome.failed) txn.state = 'aborted';
      return outcome.reply;
    }
    let ts: number | undefined;
    for (const change of outcome.changes) ts = this.append([change]);
    const reply =
      ts === undefined
        ? outcome.reply
        : { ...outcome.reply, operationTime: MongoWireFake.time(ts) };
    if (retryKey !== undefined) this.retryable.set(retryKey, reply);
    return reply;
  }

  private insertDocs(store: Store, coll: string, docs: Doc[], ordered: boolean): WriteOutcome {
    const list = docsOf(store, coll);
    const outcome = newOutcome();
    let n = 0;
    for (const [index, raw] of docs.entries()) {
      const doc = raw._id === undefined ? { _id: new BSON.ObjectId(), ...copy(raw) } : copy(raw);
      if (list.some((d) => sameId(d._id, doc._id))) {
        writeError(outcome, index, {
          code: 11000,
          errmsg: `E11000 duplicate key error collection: ${this.dbName}.${coll} index: _id_ dup key: { _id: ${BSON.EJSON.stringify(doc._id as Doc)} }`,
        });
        if (ordered) break;
        continue;
      }
      list.push(doc);
      n++;
      outcome.changes.push(this.insertChange(coll, doc));
      outcome.touched.push({ coll, id: doc._id });
    }
    outcome.reply.n = n;
    return outcome;
  }

  private updateDocs(store: Store, coll: string, updates: Doc[], ordered: boolean): WriteOutcome {
    const list = docsOf(store, coll);
    const outcome = newOutcome();
    let matched = 0;
    let modified = 0;
    statements: for (const [index, statement] of updates.entries()) {
      const u = statement.u;
      const fail = (error: WriteError): boolean => {
        writeError(outcome, index, error);
        return ordered;
      };
      if (statement.upsert === true) {
        if (fail({ code: 2, errmsg: 'upserts are not modelled by the fake' })) break;
        continue;
      }
      if (typeof u !== 'object' || u === null || Array.isArray(u)) {
        if (fail({ code: 2, errmsg: 'pipeline updates are not modelled by the fake' })) break;
        continue;
      }
      const operators = Object.keys(u).some((key) => key.startsWith('$'));
      if (!operators && statement.multi === true) {
        const errmsg = 'multi update is not supported for replacement-style update';
        if (fail({ code: 9, errmsg })) break;
        continue;
      }
      const matches = list.filter(compileFakeQuery((statement.q as Doc | undefined) ?? {}));
      for (const doc of statement.multi === true ? matches : matches.slice(0, 1)) {
        matched++;
        const at = list.indexOf(doc);
        if (!operators) {
          const replacement = u as Doc;
          if (replacement._id !== undefined && !sameId(replacement._id, doc._id)) {
            const errmsg =
              "After applying the update, the (immutable) field '_id' was found to have been altered";
            if (fail({ code: 66, errmsg })) break statements;
            continue statements;
          }
          const { _id: _same, ...fields } = copy(replacement);
          const next = { _id: doc._id, ...fields };
          if (sameValue(next, doc)) continue;
          list[at] = next;
          modified++;
          outcome.changes.push(this.replaceChange(coll, next));
          outcome.touched.push({ coll, id: doc._id });
          continue;
        }
        const next = copy(doc);
        let paths: string[];
        try {
          const arrayFilters = statement.arrayFilters as Doc[] | undefined;
          paths = applyOperators(next, u as Parameters<typeof applyOperators>[1], arrayFilters);
        } catch (error) {
          const errmsg = error instanceof Error ? error.message : String(error);
          if (fail({ code: /immutable/i.test(errmsg) ? 66 : 9, errmsg })) break statements;
          continue statements;
        }
        if (paths.length === 0) continue;
        const updatedFields: Doc = {};
        const removedFields: string[] = [];
        for (const path of paths) {
          const found = readPath(next, path);
          if (found.exists) updatedFields[path] = copy(found.value);
          else removedFields.push(path);
        }
        list[at] = next;
        modified++;
        outcome.changes.push(this.updateChange(coll, next, updatedFields, removedFields));
        outcome.touched.push({ coll, id: doc._id });
      }
    }
    outcome.reply.n = matched;
    outcome.reply.nModified = modified;
    return outcome;
  }

  private deleteDocs(store: Store, coll: string, deletes: Doc[], ordered: boolean): WriteOutcome {
    const list = docsOf(store, coll);
    const outcome = newOutcome();
    let n = 0;
    for (const [index, statement] of deletes.entries()) {
      if (statement.limit !== 0 && statement.limit !== 1) {
        writeError(outcome, index, {
          code: 9,
          errmsg: 'The limit field in delete objects must be 0 or 1',
        });
        if (ordered) break;
        continue;
      }
      const matches = list.filter(compileFakeQuery((statement.q as Doc | undefined) ?? {}));
      for (const doc of statement.limit === 1 ? matches.slice(0, 1) : matches) {
        list.splice(list.indexOf(doc), 1);
        n++;
        outcome.changes.push(this.deleteChange(coll, doc._id));
        outcome.touched.push({ coll, id: doc._id });
      }
    }
    outcome.reply.n = n;
    return outcome;
  }

  private commitTransaction(body: Doc): Doc {
    const key = this.sessionKey(body);
    const txnNumber = Number(body.txnNumber);
    const txn = key === undefined ? undefined : this.transactions.get(key);
    if (!txn || txn.txnNumber !== txnNumber || txn.state === 'aborted') {
      return noSuchTransaction(txnNumber);
    }
    if (txn.state === 'open') {
      for (const [coll, ids] of txn.touched) {
        const live = this.docs(coll);
        for (const id of ids.values()) {
          const mine = txn.store.get(coll)?.find((d) => sameId(d._id, id));
          const at = live.findIndex((d) => sameId(d._id, id));
          if (mine && at >= 0) live[at] = copy(mine);
          else if (mine) live.push(copy(mine));
          else if (at >= 0) live.splice(at, 1);
        }
      }
      txn.state = 'committed';
      // A transaction's events carry its session and number, as a server's do.
      const tag = { lsid: body.lsid, txnNumber: body.txnNumber };
      txn.commitTime = txn.changes.length > 0 ? this.append(txn.changes, tag) : this.clock;
    }
    // A retried commit of a committed transaction succeeds again.
    return { ok: 1, operationTime: MongoWireFake.time(txn.commitTime ?? this.clock) };
  }

  private abortTransaction(body: Doc): Doc {
    const key = this.sessionKey(body);
    const txnNumber = Number(body.txnNumber);
    const txn = key === undefined ? undefined : this.transactions.get(key);
    if (!txn || txn.txnNumber !== txnNumber || txn.state === 'committed') {
      return noSuchTransaction(txnNumber);
    }
    txn.state = 'aborted';
    return { ok: 1 };
  }

  private insertChange(coll: string, doc: Doc): Written {
    return {
      event: {
        operationType: 'insert',
        ns: { db: this.dbName, coll },
        documentKey: { _id: doc._id },
        fullDocument: copy(doc),
      },
    };
  }

  private updateChange(
    coll: string,
    doc: Doc,
    updatedFields: Doc,
    removedFields: string[],
  ): Written {
    const change: Written = {
      event: {
        operationType: 'update',
        ns: { db: this.dbName, coll },
        documentKey: { _id: doc._id },
        updateDescription: { updatedFields, removedFields, truncatedArrays: [] },
      },
      lookup: { coll, id: doc._id },
    };
    if (this.postImages.has(coll)) change.postImage = copy(doc);
    return change;
  }

  private replaceChange(coll: string, doc: Doc): Written {
    return {
      event: {
        operationType: 'replace',
        ns: { db: this.dbName, coll },
        documentKey: { _id: doc._id },
        fullDocument: copy(doc),
      },
    };
  }

  private deleteChange(coll: string, id: unknown): Written {
    return {
      event: { operationType: 'delete', ns: { db: this.dbName, coll }, documentKey: { _id: id } },
    };
  }

  /**
   * Appends `changes` to the oplog at the next cluster time (all of them at the same one, as a
   * transaction's), and wakes waiting `getMore`s. Returns that cluster time's increment.
   */
  private append(changes: Written[], txn?: { lsid: unknown; txnNumber: unknown }): number {
    const ts = ++this.clock;
    for (const change of changes) {
      const seq = ++this.seq;
      const entry: OplogEntry = {
        ...change,
        seq,
        ts,
        event: {
          _id: MongoWireFake.token(ts, seq),
          ...change.event,
          ...(txn ? { lsid: txn.lsid, txnNumber: txn.txnNumber } : {}),
          clusterTime: MongoWireFake.time(ts),
        },
      };
      this.oplog.push(entry);
    }
    this.wake();
    return ts;
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
    const from = stage.resumeAfter ?? stage.startAfter;
    let start = { seq: this.seq, ts: this.clock };
    if (from !== undefined) {
      const at = this.positionOf(from);
      if (!at) {
        return {
          ok: 0,
          code: 280,
          codeName: 'ChangeStreamFatalError',
          errmsg: 'cannot resume stream; the resume token was not found',
        };
      }
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
      ns: `${this.dbName}.$cmd.aggregate`,
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
      operationTime: MongoWireFake.time(this.clock + 1),
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
    const { cursor } = p;
    if (cursor.killed) {
      return p.finish({ ok: 0, code: 237, codeName: 'CursorKilled', errmsg: 'cursor killed' });
    }
    if (this.held) {
      if (!timedOut) return;
      // The scan has not moved: the token stays where it was.
      return p.finish(
        this.nextBatch(cursor, { batch: [], invalidated: false, endedOnEvent: false }),
      );
    }
    const taken = this.take(cursor);
    if (taken.batch.length === 0 && !timedOut) return;
    if (timedOut && taken.batch.length === 0) cursor.scanned = Math.max(cursor.scanned, this.clock);
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
    return MongoWireFake.token(cursor.scanned, cursor.position);
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
    const current = this.docs(coll).find((d) => sameId(d._id, id));
    return { ...entry.event, fullDocument: current ? copy(current) : null };
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

interface Taken {
  batch: Doc[];
  invalidated: boolean;
  /** Whether the last oplog entry scanned is the batch's last event (not one filtered out). */
  endedOnEvent: boolean;
}

function docsOf(store: Store, collection: string): Doc[] {
  let docs = store.get(collection);
  if (!docs) {
    docs = [];
    store.set(collection, docs);
  }
  return docs;
}

function newOutcome(): WriteOutcome {
  return { reply: { ok: 1 }, changes: [], touched: [], failed: false };
}

function writeError(outcome: WriteOutcome, index: number, error: WriteError): void {
  outcome.failed = true;
  const errors = (outcome.reply.writeErrors as Doc[] | undefined) ?? [];
  errors.push({ index, ...error });
  outcome.reply.writeErrors = errors;
}

function noSuchTransaction(txnNumber: number): Doc {
  return {
    ok: 0,
    code: 251,
    codeName: 'NoSuchTransaction',
    errmsg: `Transaction with { txnNumber: ${txnNumber} } has been aborted.`,
    errorLabels: ['TransientTransactionError'],
  };
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

/** Equality of BSON values, field order included (as the server compares documents). */
function sameValue(a: unknown, b: unknown): boolean {
  return idKey(a) === idKey(b);
}

function idKey(value: unknown): string {
  return BSON.EJSON.stringify({ v: value }, { relaxed: false });
}

function sameId(a: unknown, b: unknown): boolean {
  return sameValue(a, b);
}

function readPath(doc: Doc, path: string): { exists: boolean; value?: unknown } {
  let node: unknown = doc;
  for (const segment of path.split('.')) {
    if (typeof node !== 'object' || node === null || !Object.hasOwn(node, segment)) {
      return { exists: false };
    }
    node = (node as Doc)[segment];
  }
  return { exists: true, value: node };
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
