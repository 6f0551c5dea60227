import type { Db } from 'mongodb';
import type { MemoryAdapter } from 'particle-sync/server';
import type { Collections } from './model';

type Doc = Record<string, unknown>;
type Name = keyof Collections;

/**
 * Where the REST endpoints write. Particle only reads: every write below lands in the database
 * and comes back to the pages through the adapter's change feed.
 */
export interface Store {
  find(collection: Name, query: Doc): Promise<Doc[]>;
  insert(collection: Name, doc: Doc): Promise<void>;
  /** `$set`s `fields` on the document with that id; resolves to whether it existed. */
  set(collection: Name, id: string, fields: Doc): Promise<boolean>;
  /** Resolves to whether the document existed. */
  remove(collection: Name, id: string): Promise<boolean>;
}

export function memoryStore(adapter: MemoryAdapter): Store {
  return {
    find: (collection, query) => adapter.find(collection, query),
    insert: async (collection, doc) => {
      adapter.insert(collection, doc);
    },
    set: async (collection, id, fields) =>
      adapter.update(collection, { _id: id }, { $set: fields }) > 0 ||
      adapter.findNow(collection, { _id: id }).length > 0,
    remove: async (collection, id) => adapter.remove(collection, { _id: id }) > 0,
  };
}

export function mongoStore(db: Db): Store {
  // The example uses string ids in MongoDB too, so one model serves both stores.
  const coll = (name: Name) => db.collection<Doc & { _id: string }>(name);
  return {
    find: (collection, query) => coll(collection).find(query).toArray(),
    insert: async (collection, doc) => {
      await coll(collection).insertOne(doc as Doc & { _id: string });
    },
    set: async (collection, id, fields) =>
      (await coll(collection).updateOne({ _id: id }, { $set: fields })).matchedCount > 0,
    remove: async (collection, id) =>
      (await coll(collection).deleteOne({ _id: id })).deletedCount > 0,
  };
}

/** Inserts the demo data into an empty MongoDB database (a database with accounts is left alone). */
export async function seedMongo(db: Db, data: Collections): Promise<boolean> {
  if (await db.collection('accounts').findOne({})) return false;
  for (const [name, docs] of Object.entries(data) as [Name, Doc[]][]) {
    await db.collection<Doc & { _id: string }>(name).insertMany(docs as (Doc & { _id: string })[]);
  }
  return true;
}
