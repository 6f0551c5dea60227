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
 *
 * This file is the server (sockets, command dispatch, the handshake) and the tests' handle on
 * it. The state behind it: fakeCollections.ts (documents, write commands, transactions),
 * fakeWrites.ts (write statements and their events), fakeChangeStreams.ts (the oplog, cursors
 * and resume tokens), fakeErrors.ts (error replies), fakeDocs.ts; framing in mongoWire.ts.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { BSON } from 'mongodb';
import { OP_MSG, OP_QUERY, opMsg, opReply, parseOpMsg, parseOpQuery } from './mongoWire.js';
import type { Doc } from './fakeDocs.js';
import { commandNotFound, errorReply, type InjectedError } from './fakeErrors.js';
import {
  clusterSeconds,
  clusterTime,
  FakeChangeStreams,
  resumeToken,
} from './fakeChangeStreams.js';
import { FakeCollections, type FakeUpdate } from './fakeCollections.js';

export type { InjectedError } from './fakeErrors.js';
export type { FakeUpdate } from './fakeCollections.js';

/** Options of {@link MongoWireFake}. */
export interface MongoWireFakeOptions {
  /** Answer as a standalone server: no `setName`, and `$changeStream` fails with 40573. */
  standalone?: boolean;
  /** The database name events are reported in. @default 'test' */
  db?: string;
  /** The server version `buildInfo` reports; below 6, `showExpandedEvents` is refused. @default [7, 0, 0] */
  version?: [number, number, number];
}

/** The fake server. Create with {@link MongoWireFake.start}; always `stop()` it. */
export class MongoWireFake {
  /** Every command body received, in order (handshakes included). */
  readonly commands: Doc[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly commandErrors = new Map<string, InjectedError[]>();
  private readonly streams: FakeChangeStreams;
  private readonly data: FakeCollections;
  private connectionId = 0;

  private constructor(
    private readonly server: Server,
    private readonly options: MongoWireFakeOptions,
  ) {
    this.streams = new FakeChangeStreams({
      dbName: this.dbName,
      standalone: options.standalone === true,
      version: this.version,
      current: (coll, id) => this.data.current(coll, id),
    });
    this.data = new FakeCollections(this.dbName, this.streams);
  }

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
    return clusterTime(this.streams.clock);
  }

  /** Sets the documents `find` answers from. */
  seed(collection: string, docs: Doc[]): void {
    this.data.seed(collection, docs);
  }

  /** Gives `collection` a default collation, as `createCollection(name, { collation })` does. */
  setCollation(collection: string, collation: Doc): void {
    this.data.setCollation(collection, collation);
  }

  /**
   * The seconds of every cluster time (the increment orders them). 1 unless a test sets it, for
   * instance to the wall clock's, to see a feed's lag as a server would show it.
   */
  static get seconds(): number {
    return clusterSeconds.value;
  }

  static set seconds(value: number) {
    clusterSeconds.value = value;
  }

  /** The cluster time with increment `ts`. */
  static time(ts: number): BSON.Timestamp {
    return clusterTime(ts);
  }

  /** The resume token at cluster time `ts` and oplog position `seq`, as this fake writes it. */
  static token(ts: number, seq: number): { _data: string } {
    return resumeToken(ts, seq);
  }

  /**
   * Appends a change event to the fake oplog, at the next cluster time, and wakes waiting
   * `getMore`s. Its `_id` (resume token) and `clusterTime` are assigned here unless `keepId`.
   * Returns the event as stored.
   */
  push(event: Doc, keepId = false): Doc {
    return this.streams.push(event, keepId);
  }

  /** The current state of a collection (the documents `find` answers from). */
  docs(collection: string): Doc[] {
    return this.data.docs(collection);
  }

  /** Inserts a document and appends its `insert` event. */
  insertOne(collection: string, doc: Doc): void {
    this.data.insertOne(collection, doc);
  }

  /** Applies `$set`/`$unset` to the document with this `_id` and appends its `update` event. */
  updateOne(collection: string, id: unknown, update: FakeUpdate): void {
    this.data.updateOne(collection, id, update);
  }

  /** Replaces the document with this `_id` (keeping it) and appends its `replace` event. */
  replaceOne(collection: string, id: unknown, replacement: Doc): void {
    this.data.replaceOne(collection, id, replacement);
  }

  /** Deletes the document with this `_id` and appends its `delete` event. */
  deleteOne(collection: string, id: unknown): void {
    this.data.deleteOne(collection, id);
  }

  /**
   * Keeps a post-image of every later update of `collection`, as
   * `changeStreamPreAndPostImages: { enabled: true }` does (streams opened with
   * `fullDocument: 'whenAvailable'` get it; without it they get `null`).
   */
  enablePostImages(collection: string): void {
    this.data.enablePostImages(collection);
  }

  /**
   * Holds every batch back (waiting `getMore`s see nothing new) until {@link release}: the
   * writes made meanwhile are all committed before the stream reads the first of them, as when
   * the stream lags a burst or resumes.
   */
  hold(): void {
    this.streams.hold();
  }

  /** Ends {@link hold}: waiting `getMore`s get every held event in one batch. */
  release(): void {
    this.streams.release();
  }

  /**
   * From now on, reads that a secondary may answer (`$readPreference` `secondary`,
   * `secondaryPreferred` or `nearest`) see the state as it is now, as a lagging secondary
   * would, until {@link catchUp}. The change stream still reports every write.
   */
  lagReads(): void {
    this.data.lagReads();
  }

  /** Ends {@link lagReads}. */
  catchUp(): void {
    this.data.catchUp();
  }

  /** The next `getMore` (a waiting one at once) fails with `error`. */
  failNextGetMore(error: InjectedError): void {
    this.streams.failNextGetMore(error);
  }

  /**
   * Every `aggregate` with `$changeStream` fails with `error` until this is called again with
   * `undefined`: a lasting condition such as missing rights.
   */
  failAggregates(error: InjectedError | undefined): void {
    this.streams.failAggregates(error);
  }

  /** The next `aggregate` with `$changeStream` fails with `error`. */
  failNextAggregate(error: InjectedError): void {
    this.streams.failNextAggregate(error);
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
    this.streams.dropWaiting();
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
    return this.streams.waiting;
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
    const now = clusterTime(this.streams.clock);
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
        this.data.abortOnFailure(body);
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
        return reply(this.data.find(body));
      case 'listcollections':
        return reply(this.data.listCollections(body));
      case 'insert':
      case 'update':
      case 'delete':
        return reply(this.data.writeCommand(name, body));
      case 'committransaction':
        return reply(this.data.commitTransaction(body));
      case 'aborttransaction':
        return reply(this.data.abortTransaction(body));
      case 'aggregate':
        return reply(this.streams.aggregate(body));
      case 'getmore':
        return this.streams.getMore(body, reply);
      case 'killcursors':
        return reply(this.streams.killCursors(body));
      default:
        return reply(commandNotFound(name));
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
}
