/**
 * The adapter contract against a real MongoDB replica set, when `MONGO_URL` names one
 * (for example `MONGO_URL=mongodb://127.0.0.1:27017/?replicaSet=rs0 npm test`). Without it the
 * suite is skipped and says so: the driver plumbing is still covered by test/mongo/driver.test.ts
 * against a wire fake, but server semantics (which events the server emits, real queries) are not.
 */
import { MongoClient } from 'mongodb';
import { MongoAdapter } from '../../src/server/mongo/index.js';
import { adapterContract } from './contract.js';

const url = process.env.MONGO_URL;
const skip = url
  ? undefined
  : 'MONGO_URL is not set: the MongoAdapter contract suite was skipped, and MongoDB server semantics were not exercised';
if (skip) console.log(skip);

adapterContract(
  'MongoAdapter (real replica set)',
  async () => {
    const client = new MongoClient(url as string);
    await client.connect();
    const db = client.db(process.env.MONGO_DB ?? 'particle_contract');
    const adapter = new MongoAdapter({ db, maxAwaitTimeMS: 200 });
    const used = new Set<string>();
    return {
      adapter,
      seed: async (collection, docs) => {
        used.add(collection);
        await db.collection(collection).deleteMany({});
        if (docs.length > 0)
          await db.collection(collection).insertMany(docs.map((d) => ({ ...d })));
      },
      insert: async (collection, doc) =>
        void (await db.collection(collection).insertOne({ ...doc })),
      update: async (collection, filter, update) =>
        void (await db.collection(collection).updateMany(filter, update)),
      replace: async (collection, filter, doc) =>
        void (await db.collection(collection).replaceOne(filter, doc)),
      remove: async (collection, filter) =>
        void (await db.collection(collection).deleteMany(filter)),
      dispose: async () => {
        await adapter.close();
        for (const collection of used)
          await db
            .collection(collection)
            .drop()
            .catch(() => undefined);
        await client.close();
      },
    };
  },
  { skip },
);
