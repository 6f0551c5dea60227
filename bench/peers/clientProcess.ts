/**
 * A client process of the peer scenarios: many clients of one system, each built with that
 * system's own client library, each keeping the documents it follows (`_id` or `id` -> `n`).
 * Every update is checked against the last value seen, so a duplicate or a gap is counted.
 */
import { io, type Socket } from 'socket.io-client';
import { feathers } from '@feathersjs/feathers';
import feathersSocketioClient from '@feathersjs/socketio-client';
import ShareDBClient from 'sharedb/lib/client/index.js';
import WebSocket from 'ws';
import { Collector } from '../../src/client/index.js';
import type { Expected, PeerCommand, PeerEnvelope, PeerReply } from './protocol.js';

interface Client {
  user: number;
  /** The client's data as the application sees it: document id -> `n`. */
  data(): Map<string, number>;
  close(): void;
}

let clients: Client[] = [];
let total = 0;
let received = 0;
let bytes = 0;
let duplicated = 0;
let dropped = 0;
let cpuFrom = process.cpuUsage();
let timer: ReturnType<typeof setInterval> | undefined;

/** One update of document `id` to `n` as a client saw it, against the last value it had. */
function seen(last: Map<string, number>, id: string, n: number): void {
  total++;
  received++;
  const before = last.get(id) ?? 0;
  if (n <= before) duplicated++;
  else if (n > before + 1) dropped += n - before - 1;
  last.set(id, n);
}

/** A `ws` socket that counts the bytes of every frame it receives. */
class CountingSocket extends WebSocket {
  constructor(url: string, options?: WebSocket.ClientOptions) {
    super(url, options);
    this.on('message', (data: Buffer) => (bytes += data.length));
  }
}

function opened(ws: WebSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
}

async function rawClient(url: string, user: number): Promise<Client> {
  const last = new Map<string, number>();
  const ws = new CountingSocket(url, { perMessageDeflate: false });
  ws.on('message', (data: Buffer) => {
    const update = JSON.parse(String(data)) as { id: number; n: number };
    seen(last, String(update.id), update.n);
  });
  await opened(ws);
  ws.send(JSON.stringify({ userId: user }));
  return { user, data: () => last, close: () => ws.terminate() };
}

async function particleClient(url: string, user: number, root: string): Promise<Client> {
  const last = new Map<string, number>();
  const collector = new Collector({
    url,
    identity: { userId: user },
    WebSocket: CountingSocket as never,
  });
  collector.on(`${root}.n`, (_data, event) => {
    if (event.operation === 'set') seen(last, String(event.id), event.data as number);
  });
  await collector.ready();
  for (const doc of collector.data[root] ?? []) last.set(String(doc._id), doc.n as number);
  return {
    user,
    data: () =>
      new Map((collector.data[root] ?? []).map((doc) => [String(doc._id), doc.n as number])),
    close: () => collector.disconnect(),
  };
}

async function sharedbClient(url: string, user: number, query: object): Promise<Client> {
  const last = new Map<string, number>();
  const ws = new CountingSocket(`${url}?userId=${user}`, { perMessageDeflate: false });
  const connection = new ShareDBClient.Connection(ws as never);
  const subscribed = connection.createSubscribeQuery('items', query);
  const follow = (doc: ShareDBClient.Doc): void => {
    last.set(doc.id, (doc.data as { n: number }).n);
    doc.on('op', () => seen(last, doc.id, (doc.data as { n: number }).n));
  };
  await new Promise<void>((resolve, reject) => {
    subscribed.on('ready', () => resolve());
    subscribed.on('error', reject);
  });
  for (const doc of subscribed.results) follow(doc);
  subscribed.on('insert', (docs) => docs.forEach(follow));
  return {
    user,
    data: () => new Map(subscribed.results.map((doc) => [doc.id, (doc.data as { n: number }).n])),
    close: () => connection.close(),
  };
}

/** A Socket.IO socket (websocket transport) that counts the bytes of the frames it receives. */
function socketFor(url: string, user: number): Promise<Socket> {
  const socket = io(url, { transports: ['websocket'], auth: { userId: user }, forceNew: true });
  socket.io.engine.on('data', (data: unknown) => {
    bytes += typeof data === 'string' ? Buffer.byteLength(data) : (data as Buffer).length;
  });
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', reject);
  });
}

async function socketioClientOf(url: string, user: number): Promise<Client> {
  const last = new Map<string, number>();
  const socket = await socketFor(url, user);
  socket.on('update', (update: { id: number; n: number }) =>
    seen(last, String(update.id), update.n),
  );
  return { user, data: () => last, close: () => socket.disconnect() };
}

async function feathersClient(url: string, user: number): Promise<Client> {
  const last = new Map<string, number>();
  const socket = await socketFor(url, user);
  const app = feathers().configure(feathersSocketioClient.default(socket as never));
  app
    .service('items')
    .on('patched', (doc: { id: number; n: number }) => seen(last, String(doc.id), doc.n));
  return { user, data: () => last, close: () => socket.disconnect() };
}

function open(command: Extract<PeerCommand, { cmd: 'connect' }>, user: number): Promise<Client> {
  const shared = command.scenario === 'S1';
  switch (command.system) {
    case 'raw':
      return rawClient(command.url, user);
    case 'particle':
      return particleClient(command.url, user, shared ? 'feed' : 'mine');
    case 'sharedb':
      return sharedbClient(command.url, user, shared ? { kind: 'shared' } : { ownerId: user });
    case 'feathers':
      return feathersClient(command.url, user);
    case 'socketio':
      return socketioClientOf(command.url, user);
  }
}

async function connect(command: Extract<PeerCommand, { cmd: 'connect' }>): Promise<PeerReply> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < command.users.length) {
      const user = command.users[next++] as number;
      clients.push(await open(command, user));
    }
  };
  await Promise.all(Array.from({ length: 25 }, lane));
  return { ev: 'connected', ready: clients.length };
}

function check(expected: Expected): PeerReply {
  let wrong = 0;
  for (const client of clients) {
    const want = expected[client.user] ?? {};
    const have = client.data();
    const same =
      have.size === Object.keys(want).length && [...have].every(([id, n]) => want[id] === n);
    if (!same) wrong++;
  }
  return { ev: 'checked', duplicated, dropped, wrong, total };
}

async function handle(command: PeerCommand): Promise<PeerReply> {
  switch (command.cmd) {
    case 'connect':
      return connect(command);
    case 'progress':
      clearInterval(timer);
      timer = undefined;
      if (command.everyMs > 0)
        timer = setInterval(
          () => process.send?.({ ev: 'progress', total, id: -1 }),
          command.everyMs,
        );
      return { ev: 'progress', total };
    case 'reset':
      received = 0;
      bytes = 0;
      cpuFrom = process.cpuUsage();
      return { ev: 'ok' };
    case 'report': {
      const cpu = process.cpuUsage(cpuFrom);
      return { ev: 'report', received, bytes, cpuUs: cpu.user + cpu.system };
    }
    case 'check':
      return check(command.expected);
    case 'close':
      for (const client of clients) client.close();
      clients = [];
      return { ev: 'ok' };
  }
}

process.on('message', (message: PeerEnvelope<PeerCommand>) => {
  handle(message).then(
    (result) => process.send?.({ ...result, id: message.id }),
    (error: unknown) =>
      process.send?.({
        ev: 'error',
        id: message.id,
        message: error instanceof Error ? error.message : String(error),
      }),
  );
});
process.on('disconnect', () => process.exit(0));
// Ended by the pool: exit normally, so a CPU profile (PEER_CPU_PROF) is written.
process.on('SIGTERM', () => process.exit(0));
