/**
 * P15's server process: `capacityServer.ts <particle|raw> <users> <heartbeatMs>`. Particle: a
 * Stream over a MemoryAdapter with a `users` collection, each client's identity-enforced root
 * (its team's 20 users, `teamId: '@teamId'`) and one shared root. Raw: a bare `ws` server that
 * answers each register with the same documents and pings every socket each `heartbeatMs`. Requests:
 * `start` (the URL), `stats` (after GC), `cpu` (CPU over `ms` of idling), `stop`.
 */
import { openSync, readSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getHeapStatistics } from 'node:v8';
import { WebSocketServer, type WebSocket } from 'ws';
import { MemoryAdapter, Stream, particleMiddleware } from '../../src/server/index.js';
import { openFilesLimit, serveRequests } from './raisedProcess.js';
import { settleMemory, sleep } from './stats.js';

const [system, usersArg, heartbeatArg] = process.argv.slice(2);
const users = Number(usersArg);
const heartbeatMs = Number(heartbeatArg);
/** Users per team: each client's root is its team's users. */
const TEAM = 20;

function user(i: number): Record<string, unknown> {
  return {
    _id: i,
    userId: i,
    teamId: Math.floor(i / TEAM),
    name: `User number ${i}`,
    email: `user.${i}@example.com`,
    role: i % 10 === 0 ? 'admin' : 'member',
    lastSeen: 1_700_000_000_000 + i,
  };
}
const shared = { _id: 1, kind: 'announcement', title: 'Maintenance window on Sunday', t: 0 };

// Opened now: at the fd limit, process.memoryUsage() fails (it opens /proc/self/stat).
const statm = openSync('/proc/self/statm', 'r');
const statmBuffer = Buffer.alloc(256);
function rss(): number {
  const n = readSync(statm, statmBuffer, 0, statmBuffer.length, 0);
  return Number(statmBuffer.toString('latin1', 0, n).split(' ')[1]) * 4096;
}

const http: Server = createServer();
let acceptErrors = 0;
let firstAcceptError = '';
// Past the fd limit, accept() fails with EMFILE: counted here instead of ending the process.
http.on('error', (error: NodeJS.ErrnoException) => {
  acceptErrors++;
  firstAcceptError ||= error.code ?? error.message;
});
http.on('clientError', (_error, socket) => socket.destroy());

let held: () => number;
let stream: Stream | undefined;
if (system === 'particle') {
  const adapter = new MemoryAdapter({
    collections: { users: Array.from({ length: users }, (_, i) => user(i)), shared: [shared] },
  });
  stream = new Stream({
    adapter,
    dataSources: {
      team: { collection: 'users', criteria: { teamId: '@teamId' }, manifest: true },
      shared: { collection: 'shared', manifest: true },
    },
    maxSessions: users + 1000,
  });
  const mw = particleMiddleware(stream, { path: '/particle', heartbeatMs });
  http.on('request', (req, res) => mw(req, res, () => res.writeHead(404).end()));
  mw.attach(http);
  held = () => (stream as Stream).stats().clients;
} else {
  // The same answer a hand-written server gives: the user's document and the shared one.
  const wss = new WebSocketServer({ server: http, perMessageDeflate: false });
  const alive = new Map<WebSocket, boolean>();
  wss.on('connection', (ws) => {
    alive.set(ws, true);
    ws.on('pong', () => alive.set(ws, true));
    ws.on('close', () => alive.delete(ws));
    ws.on('error', () => undefined);
    ws.on('message', (data) => {
      const { identity } = JSON.parse(String(data)) as { identity: { teamId: number } };
      const team = Array.from({ length: TEAM }, (_, k) => user(identity.teamId * TEAM + k));
      ws.send(JSON.stringify({ team, shared: [shared] }));
    });
  });
  setInterval(() => {
    for (const [ws, ok] of alive) {
      if (!ok) ws.terminate();
      else {
        alive.set(ws, false);
        ws.ping();
      }
    }
  }, heartbeatMs).unref();
  held = () => alive.size;
}

serveRequests(async (command) => {
  switch (command.cmd) {
    case 'start': {
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', 16_384, resolve));
      const { port } = http.address() as AddressInfo;
      const path = system === 'particle' ? '/particle' : '/';
      return { url: `ws://127.0.0.1:${port}${path}`, fdLimit: openFilesLimit() };
    }
    case 'stats': {
      await settleMemory();
      const heapUsed = getHeapStatistics().used_heap_size;
      return { held: held(), rss: rss(), heapUsed, acceptErrors, firstAcceptError };
    }
    case 'cpu': {
      const before = process.cpuUsage();
      await sleep(Number(command.ms));
      const used = process.cpuUsage(before);
      return { cpuMs: (used.user + used.system) / 1000, held: held() };
    }
    case 'stop':
      await stream?.disconnect();
      http.closeAllConnections();
      return null;
    default:
      throw new Error(`unknown command ${String(command.cmd)}`);
  }
});
