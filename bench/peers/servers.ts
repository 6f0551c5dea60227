/**
 * The servers of the peer scenarios, one per system, each holding the same documents
 * (`{ id, ownerId, n }`) and each used the way its own documentation sets it up. S1: every
 * client follows all documents; S2: each client only the documents whose `ownerId` is its user.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { feathers } from '@feathersjs/feathers';
import { MemoryService } from '@feathersjs/memory';
import feathersSocketio from '@feathersjs/socketio';
import type {} from '@feathersjs/transport-commons';
import ShareDB from 'sharedb';
import ShareDBMingo from 'sharedb-mingo-memory';
import { Server as SocketIoServer } from 'socket.io';
import { WebSocketServer, type WebSocket } from 'ws';
import { startParticle, startRaw } from '../lib/servers.js';
import { sleep } from '../lib/stats.js';
import type { PeerSystem } from './protocol.js';

export interface PeerDoc {
  id: number;
  ownerId: number;
  n: number;
}

export interface PeerServer {
  url: string;
  /** Resolves once `clients` clients are known to the server (a raw server learns late). */
  settled(clients: number): Promise<void>;
  /** Sets `n` of document `id`; resolves when the system has taken the write. */
  write(id: number, n: number): void | Promise<void>;
  close(): Promise<void>;
}

/** The smallest sensible frame of one change, as the raw server sends it. */
export function rawFrame(id: number, n: number): string {
  return JSON.stringify({ id, n });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

function closeHttp(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function raw(shared: boolean, docs: PeerDoc[]): Promise<PeerServer> {
  // A hand-written server: each socket says its user first; plain maps route the changes.
  const byUser = new Map<number, WebSocket>();
  const owner = new Map(docs.map((d) => [d.id, d.ownerId]));
  const server = await startRaw((ws, text) => {
    byUser.set((JSON.parse(text) as { userId: number }).userId, ws);
  });
  return {
    url: server.url,
    settled: (clients) => until(() => byUser.size === clients, 'raw registrations'),
    write(id, n) {
      const frame = rawFrame(id, n);
      if (shared) for (const ws of byUser.values()) ws.send(frame);
      else byUser.get(owner.get(id) as number)?.send(frame);
    },
    close: () => server.close(),
  };
}

async function particle(shared: boolean, docs: PeerDoc[]): Promise<PeerServer> {
  const collection = shared ? 'feed' : 'items';
  const server = await startParticle({
    collections: {
      [collection]: docs.map((d) => ({ _id: d.id, kind: 'shared', ownerId: d.ownerId, n: d.n })),
    },
    dataSources: shared
      ? { feed: { collection, criteria: { kind: 'shared' }, manifest: true } }
      : { mine: { collection, criteria: { ownerId: '@userId' }, manifest: true } },
  });
  return {
    url: server.url,
    settled: () => Promise.resolve(),
    write(id, n) {
      server.adapter.update(collection, { _id: id }, { $set: { n } });
    },
    close: () => server.close(),
  };
}

/** ShareDB speaks JSON objects over a stream; this one carries them over a `ws` socket. */
function streamOf(ws: WebSocket): Duplex {
  const stream = new Duplex({
    objectMode: true,
    read: () => undefined,
    write(chunk: unknown, _encoding, callback) {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(chunk));
      callback();
    },
  });
  ws.on('message', (data) => stream.push(JSON.parse(String(data))));
  ws.on('close', () => {
    stream.push(null);
    stream.destroy();
  });
  return stream;
}

async function sharedb(shared: boolean, docs: PeerDoc[]): Promise<PeerServer> {
  const backend = new ShareDB({ db: new ShareDBMingo() });
  // The user comes with the socket's request; queries are narrowed to it (S2's permission).
  backend.use('connect', (context, next) => {
    const req = context.req as { url?: string } | undefined;
    if (req?.url) {
      const user = new URL(req.url, 'http://localhost').searchParams.get('userId');
      context.agent.custom.userId = Number(user);
    }
    next();
  });
  if (!shared) {
    backend.use('query', (context, next) => {
      const user = context.agent.custom.userId;
      if (user !== undefined) context.query = { ...context.query, ownerId: user };
      next();
    });
  }
  const connection = backend.connect();
  const handles = new Map<number, ShareDB.Doc>();
  await Promise.all(
    docs.map(
      (d) =>
        new Promise<void>((resolve, reject) => {
          const doc = connection.get('items', String(d.id));
          handles.set(d.id, doc);
          doc.create({ kind: 'shared', ownerId: d.ownerId, n: d.n }, (e) =>
            e ? reject(e) : resolve(),
          );
        }),
    ),
  );
  const http = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  wss.on('connection', (ws, req) => backend.listen(streamOf(ws), req));
  const port = await listen(http);
  return {
    url: `ws://127.0.0.1:${port}/`,
    settled: () => Promise.resolve(),
    write(id, n) {
      const doc = handles.get(id) as ShareDB.Doc;
      const before = (doc.data as { n: number }).n;
      return new Promise((resolve, reject) =>
        doc.submitOp([{ p: ['n'], od: before, oi: n }], (e) => (e ? reject(e) : resolve())),
      );
    },
    async close() {
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await closeHttp(http);
      backend.close();
    },
  };
}

interface FeathersConnection {
  userId?: number;
}

async function feathersServer(shared: boolean, docs: PeerDoc[]): Promise<PeerServer> {
  const app = feathers();
  // The user a socket authenticates as goes into its connection; channels route by it.
  app.configure(
    feathersSocketio({ perMessageDeflate: false }, (io) =>
      io.use((socket, next) => {
        const auth = socket.handshake.auth as { userId?: number };
        const connection = (socket as unknown as { feathers: FeathersConnection }).feathers;
        if (auth.userId !== undefined) connection.userId = auth.userId;
        next();
      }),
    ),
  );
  const store = Object.fromEntries(docs.map((d) => [d.id, { ...d }]));
  app.use('items', new MemoryService<PeerDoc>({ store }));
  app.on('connection', (connection: FeathersConnection) => {
    app.channel(shared ? 'shared' : `user/${connection.userId}`).join(connection as never);
  });
  const items = app.service('items');
  items.publish('patched', (doc: PeerDoc) =>
    app.channel(shared ? 'shared' : `user/${doc.ownerId}`),
  );
  const http = createServer();
  await app.setup(http);
  const port = await listen(http);
  return {
    url: `http://127.0.0.1:${port}`,
    settled: () => Promise.resolve(),
    async write(id, n) {
      await items.patch(id, { n });
    },
    async close() {
      await closeHttp(http);
    },
  };
}

async function socketio(shared: boolean, docs: PeerDoc[]): Promise<PeerServer> {
  const http = createServer();
  const io = new SocketIoServer(http, { perMessageDeflate: false });
  const owner = new Map(docs.map((d) => [d.id, d.ownerId]));
  const values = new Map(docs.map((d) => [d.id, d.n]));
  io.on('connection', (socket) => {
    const auth = socket.handshake.auth as { userId?: number };
    void socket.join(shared ? 'shared' : `user:${auth.userId}`);
  });
  const port = await listen(http);
  return {
    url: `http://127.0.0.1:${port}`,
    settled: () => Promise.resolve(),
    write(id, n) {
      values.set(id, n);
      io.to(shared ? 'shared' : `user:${owner.get(id)}`).emit('update', { id, n });
    },
    async close() {
      io.close();
      await closeHttp(http).catch(() => undefined);
    },
  };
}

/** Starts `system`'s server over `docs`; `shared` is S1, otherwise S2. */
export function startPeer(
  system: PeerSystem,
  shared: boolean,
  docs: PeerDoc[],
): Promise<PeerServer> {
  switch (system) {
    case 'raw':
      return raw(shared, docs);
    case 'particle':
      return particle(shared, docs);
    case 'sharedb':
      return sharedb(shared, docs);
    case 'feathers':
      return feathersServer(shared, docs);
    case 'socketio':
      return socketio(shared, docs);
  }
}
