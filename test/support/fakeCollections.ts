/**
 * The collection state of the MongoDB wire fake (mongoWireFake.ts): the documents `find` reads,
 * the write commands and transactions that change them, and the events each write appends to
 * the oplog. Retryable writes are answered once; transactions work on a snapshot and commit at
 * one cluster time (write conflicts between them are not detected).
 */
import { BSON } from 'mongodb';
import { Query } from 'mingo';
import { fakeFind } from './fakeQuery.js';
import {
  copy,
  copyStore,
  docsOf,
  idKey,
  sameId,
  setPath,
  unsetPath,
  type Doc,
  type Store,
} from './fakeDocs.js';
import { noSuchTransaction, transactionFieldsMissing } from './fakeErrors.js';
import { clusterTime, type FakeChangeStreams, type Written } from './fakeChangeStreams.js';
import {
  deleteChange,
  deleteDocs,
  insertChange,
  insertDocs,
  replaceChange,
  updateChange,
  updateDocs,
  type EventContext,
} from './fakeWrites.js';

/** An update as the helper `MongoWireFake.updateOne` applies it: `$set` and `$unset`. */
export interface FakeUpdate {
  $set?: Doc;
  $unset?: Record<string, unknown>;
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

/** The fake's documents, per collection, and the commands that read and write them. */
export class FakeCollections {
  private readonly store: Store = new Map();
  /** Default collations set with `setCollation`. */
  private readonly collationOf = new Map<string, Doc>();
  private readonly transactions = new Map<string, Transaction>();
  /** Answers of retryable writes, by session and txnNumber. */
  private readonly retryable = new Map<string, Doc>();
  private readonly postImages = new Set<string>();
  private readonly events: EventContext;
  /** The state a lagging secondary answers from, while {@link lagReads} is in effect. */
  private secondary: Store | undefined;

  constructor(
    private readonly dbName: string,
    private readonly oplog: FakeChangeStreams,
  ) {
    this.events = { db: dbName, postImages: this.postImages };
  }

  /** Sets the documents `find` answers from. */
  seed(collection: string, docs: Doc[]): void {
    this.store.set(collection, docs);
  }

  /** Gives `collection` a default collation. */
  setCollation(collection: string, collation: Doc): void {
    this.collationOf.set(collection, collation);
    if (!this.store.has(collection)) this.store.set(collection, []);
  }

  /** The current state of a collection. */
  docs(collection: string): Doc[] {
    return docsOf(this.store, collection);
  }

  /** The current document of `collection` with this `_id`. */
  current(collection: string, id: unknown): Doc | undefined {
    return this.docs(collection).find((d) => sameId(d._id, id));
  }

  /** Keeps a post-image of every later update of `collection`. */
  enablePostImages(collection: string): void {
    this.postImages.add(collection);
  }

  /** Reads a secondary may answer see the state as it is now, until {@link catchUp}. */
  lagReads(): void {
    this.secondary = copyStore(this.store);
  }

  /** Ends {@link lagReads}. */
  catchUp(): void {
    this.secondary = undefined;
  }

  insertOne(collection: string, doc: Doc): void {
    const stored = copy(doc);
    this.docs(collection).push(stored);
    this.oplog.append([insertChange(this.events, collection, stored)]);
  }

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
    this.oplog.append([
      updateChange(this.events, collection, { doc, updatedFields, removedFields }),
    ]);
  }

  replaceOne(collection: string, id: unknown, replacement: Doc): void {
    const docs = this.docs(collection);
    const at = docs.findIndex((d) => sameId(d._id, id));
    if (at < 0) throw new Error(`replaceOne: no document ${String(id)} in ${collection}`);
    const next = { _id: docs[at]?._id, ...copy(replacement) };
    docs[at] = next;
    this.oplog.append([replaceChange(this.events, collection, next)]);
  }

  deleteOne(collection: string, id: unknown): void {
    const docs = this.docs(collection);
    const at = docs.findIndex((d) => sameId(d._id, id));
    if (at < 0) throw new Error(`deleteOne: no document ${String(id)} in ${collection}`);
    const [gone] = docs.splice(at, 1);
    this.oplog.append([deleteChange(this.events, collection, gone?._id)]);
  }

  /** The collections and their options (a `collation` where one was set); `filter` by name. */
  listCollections(body: Doc): Doc {
    const filter = (body.filter as Doc | undefined) ?? {};
    const all = [...this.store.keys()].map((name) => ({
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

  find(body: Doc): Doc {
    const coll = String(body.find);
    const inTxn = this.transactionOf(body);
    if (inTxn && 'error' in inTxn) return inTxn.error;
    const mode = (body.$readPreference as { mode?: string } | undefined)?.mode ?? 'primary';
    const fromSecondary =
      this.secondary !== undefined && ['secondary', 'secondaryPreferred', 'nearest'].includes(mode);
    const store = inTxn ? inTxn.txn.store : fromSecondary ? this.secondary : this.store;
    const docs = store?.get(coll) ?? [];
    const options: Parameters<typeof fakeFind>[2] = {};
    if (body.projection) options.projection = body.projection as Doc;
    if (body.sort) options.sort = body.sort as Doc;
    if (typeof body.skip === 'number') options.skip = body.skip;
    if (typeof body.limit === 'number') options.limit = body.limit;
    const firstBatch = fakeFind(docs, (body.filter as Doc | undefined) ?? {}, options);
    return { cursor: { id: BSON.Long.ZERO, ns: `${this.dbName}.${coll}`, firstBatch }, ok: 1 };
  }

  writeCommand(name: 'insert' | 'update' | 'delete', body: Doc): Doc {
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

    const target = {
      events: this.events,
      store: txn ? txn.store : this.store,
      coll: String(body[name]),
    };
    const ordered = body.ordered !== false;
    const outcome =
      name === 'insert'
        ? insertDocs(target, (body.documents as Doc[] | undefined) ?? [], ordered)
        : name === 'update'
          ? updateDocs(target, (body.updates as Doc[] | undefined) ?? [], ordered)
          : deleteDocs(target, (body.deletes as Doc[] | undefined) ?? [], ordered);

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
    for (const change of outcome.changes) ts = this.oplog.append([change]);
    const reply =
      ts === undefined ? outcome.reply : { ...outcome.reply, operationTime: clusterTime(ts) };
    if (retryKey !== undefined) this.retryable.set(retryKey, reply);
    return reply;
  }

  commitTransaction(body: Doc): Doc {
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
      txn.commitTime =
        txn.changes.length > 0 ? this.oplog.append(txn.changes, tag) : this.oplog.clock;
    }
    // A retried commit of a committed transaction succeeds again.
    return { ok: 1, operationTime: clusterTime(txn.commitTime ?? this.oplog.clock) };
  }

  abortTransaction(body: Doc): Doc {
    const key = this.sessionKey(body);
    const txnNumber = Number(body.txnNumber);
    const txn = key === undefined ? undefined : this.transactions.get(key);
    if (!txn || txn.txnNumber !== txnNumber || txn.state === 'committed') {
      return noSuchTransaction(txnNumber);
    }
    txn.state = 'aborted';
    return { ok: 1 };
  }

  /** A failed command in a transaction aborts it. */
  abortOnFailure(body: Doc): void {
    if (body.autocommit !== false) return;
    const key = this.sessionKey(body);
    const txn = key === undefined ? undefined : this.transactions.get(key);
    if (txn && txn.txnNumber === Number(body.txnNumber) && txn.state === 'open') {
      txn.state = 'aborted';
    }
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
      return { error: transactionFieldsMissing() };
    }
    if (body.startTransaction === true) {
      const txn: Transaction = {
        txnNumber,
        state: 'open',
        store: copyStore(this.store),
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
}
