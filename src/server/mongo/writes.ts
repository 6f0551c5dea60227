import {
  ReadPreference,
  type ClientSession,
  type Db as MongoDb,
  type Document,
  type Filter,
  type Timestamp,
} from 'mongodb';
import type { Db, Doc, FindOptions, WritesDone } from '../adapter.js';

/** A payload query: which collection, what it matches, and its projection, sort and limit. */
export interface DocsQuery {
  readonly collection: string;
  readonly query: Doc;
  readonly options: FindOptions;
}

/**
 * Runs a payload query on the primary, whatever the Db's read preference: a secondary can lag
 * the change stream, and a payload that misses a change the stream already passed misses it
 * for good.
 */
export function findDocs(
  db: MongoDb,
  { collection, query, options }: DocsQuery,
  session?: ClientSession,
): Promise<Doc[]> {
  const findOptions: {
    projection?: Document;
    sort?: Record<string, 1 | -1>;
    limit?: number;
    readPreference: ReadPreference;
    session?: ClientSession;
  } = { readPreference: ReadPreference.primary };
  if (options.projection) findOptions.projection = options.projection;
  if (options.sort) findOptions.sort = options.sort;
  if (options.limit !== undefined) findOptions.limit = options.limit;
  if (session) findOptions.session = session;
  return db
    .collection<Doc>(collection)
    .find(query as Filter<Doc>, findOptions)
    .toArray();
}

/** How {@link runWrites} runs: in a transaction or not, and where it reports a failed cleanup. */
export interface WritesOptions {
  readonly transaction: boolean;
  readonly onDebug: (message: string, detail?: unknown) => void;
}

/**
 * Runs `fn` with a write API bound to one session of `db`'s client, in a transaction with
 * `transaction` (`withTransaction`, which runs `fn` again after a transient error), and ends the
 * session. `written` is the session's operation time once `fn` (or the commit) is done: at or
 * after the last write, so a change stream that has passed it has seen every change made.
 * It is `undefined` when nothing was written.
 */
export async function runWrites<T>(
  db: MongoDb,
  fn: (db: Db) => Promise<T>,
  { transaction, onDebug }: WritesOptions,
): Promise<WritesDone<T>> {
  const session = db.client.startSession();
  try {
    let wrote = false;
    const api = writeApi(db, session, () => {
      wrote = true;
    });
    const value = transaction
      ? await session.withTransaction(() => {
          // Only the attempt that commits counts.
          wrote = false;
          return fn(api);
        })
      : await fn(api);
    const written: Timestamp | undefined = wrote ? session.operationTime : undefined;
    return { value, written };
  } finally {
    await session.endSession().catch((error: unknown) => onDebug('ending a session failed', error));
  }
}

function writeApi(db: MongoDb, session: ClientSession, writing: () => void): Db {
  const coll = (name: string) => db.collection<Doc>(name);
  return {
    async insert(collection, docs) {
      // Copies: the driver adds a missing `_id` to the object it is given.
      const list = (Array.isArray(docs) ? docs : [docs]).map((doc) => ({ ...doc }));
      if (list.length === 0) return 0;
      writing();
      const result = await coll(collection).insertMany(list, { session });
      return result.insertedCount;
    },
    async update(collection, filter, update) {
      writing();
      const result = await coll(collection).updateMany(filter, update, { session });
      return result.modifiedCount;
    },
    async replace(collection, filter, doc) {
      // Every match is replaced and keeps its own `_id`, as on the other adapters.
      const { _id: _ignored, ...replacement } = doc;
      writing();
      if (byId(filter)) {
        const result = await coll(collection).replaceOne(filter, replacement, {
          session,
        });
        return result.modifiedCount;
      }
      const matches = await coll(collection)
        .find(filter as Filter<Doc>, { projection: { _id: 1 }, session })
        .toArray();
      let replaced = 0;
      for (const { _id } of matches) {
        // Still matching the filter: a document changed since it was found is left alone.
        const result = await coll(collection).replaceOne({ $and: [filter, { _id }] }, replacement, {
          session,
        });
        replaced += result.modifiedCount;
      }
      return replaced;
    },
    async remove(collection, filter) {
      writing();
      const result = await coll(collection).deleteMany(filter, { session });
      return result.deletedCount;
    },
    find(collection, query, options = {}) {
      return findDocs(db, { collection, query, options }, session);
    },
  };
}

/** Whether `filter` names one document by its `_id` (an operator expression does not). */
function byId(filter: Doc): boolean {
  const keys = Object.keys(filter);
  if (keys.length !== 1 || keys[0] !== '_id') return false;
  const id = filter._id;
  if (typeof id !== 'object' || id === null) return true;
  return !Object.keys(id).some((key) => key.startsWith('$'));
}
