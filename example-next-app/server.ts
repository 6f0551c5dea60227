/**
 * One port for everything: Express serves the REST writes (`/api`), Particle's health route and
 * WebSocket (`/particle`), and hands every other request to Next.js.
 *
 *   node --import tsx server.ts          production (after `next build`)
 *   node --import tsx server.ts --dev    development, with hot reload
 *
 * `MONGO_URL` set: MongoDB (a replica set, for change streams), seeded when empty.
 * Otherwise: the embedded in-memory store, seeded fresh on every start.
 */
import { createServer } from 'node:http';
import express from 'express';
import next from 'next';
import { MemoryAdapter, particleMiddleware } from 'particle-sync/server';
import type { Adapter } from 'particle-sync/server';
import { apiRouter } from './lib/api';
import { seed } from './lib/model';
import { memoryStore, mongoStore, seedMongo } from './lib/store';
import type { Store } from './lib/store';
import { createStream } from './lib/stream';
import { publishStream } from './lib/streamHandle';

const dev = process.argv.includes('--dev');
const port = Number(process.env.PORT ?? 3000);
const hostname = process.env.HOST ?? 'localhost';

interface Database {
  adapter: Adapter;
  store: Store;
  label: string;
  close(): Promise<void>;
}

async function openDatabase(): Promise<Database> {
  const url = process.env.MONGO_URL;
  if (!url) {
    const adapter = new MemoryAdapter({ collections: seed() });
    return { adapter, store: memoryStore(adapter), label: 'embedded store', close: async () => {} };
  }
  // Loaded only when asked for, so the embedded store needs no MongoDB driver.
  const { MongoClient } = await import('mongodb');
  const { MongoAdapter } = await import('particle-sync/server/mongo');
  const client = await new MongoClient(url).connect();
  const db = client.db();
  if (await seedMongo(db, seed())) console.log(`seeded demo data into ${db.databaseName}`);
  return {
    adapter: new MongoAdapter({ db }),
    store: mongoStore(db),
    label: `MongoDB ${db.databaseName}`,
    close: () => client.close(),
  };
}

async function main() {
  const database = await openDatabase();
  const stream = createStream(database.adapter);
  publishStream(stream);

  // Next attaches its own upgrade listener (dev hot reload) to `httpServer` on its first request.
  // Given the real server it would also see Particle's upgrades, so it gets a server that never
  // listens, and only the upgrades that aren't Particle's are passed on to it below.
  const nextUpgrades = createServer();
  const nextApp = next({ dev, dir: import.meta.dirname, hostname, port, httpServer: nextUpgrades });
  await nextApp.prepare();
  const handleNext = nextApp.getRequestHandler();

  const app = express();
  const server = createServer(app);
  const particle = particleMiddleware(stream, { path: '/particle' });
  app.use(particle);
  app.use('/api', apiRouter(database.store, stream));
  app.use((req, res) => handleNext(req, res));

  server.on('upgrade', (req, socket, head) => {
    if (particle.handleUpgrade(req, socket, head)) return;
    if (!nextUpgrades.emit('upgrade', req, socket, head)) socket.destroy();
  });

  const shutdown = async () => {
    await stream.disconnect();
    server.close();
    await nextApp.close();
    await database.close();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);

  server.listen(port, () => {
    const mode = dev ? 'development' : 'production';
    console.log(
      `Particle example ready on http://${hostname}:${port} (${mode}, ${database.label})`,
    );
  });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
