import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  MemoryAdapter,
  Stream,
  particleMiddleware,
  type DataSource,
  type Doc,
  type ParticleMiddlewareOptions,
  type StreamOptions,
} from '../../src/server/index.js';

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

function closeHttp(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

export interface ParticleServer {
  adapter: MemoryAdapter;
  stream: Stream;
  url: string;
  close(): Promise<void>;
}

/** A Stream over a MemoryAdapter on a plain HTTP server, as an application mounts it. */
export async function startParticle(options: {
  collections: Record<string, Doc[]>;
  dataSources: Record<string, DataSource>;
  stream?: Partial<StreamOptions>;
  transport?: Partial<ParticleMiddlewareOptions>;
}): Promise<ParticleServer> {
  const adapter = new MemoryAdapter({ collections: options.collections });
  const stream = new Stream({ adapter, dataSources: options.dataSources, ...options.stream });
  const server = createServer();
  const mw = particleMiddleware(stream, { path: '/particle', ...options.transport });
  server.on('request', (req, res) => mw(req, res, () => res.writeHead(404).end()));
  mw.attach(server);
  const port = await listen(server);
  return {
    adapter,
    stream,
    url: `ws://127.0.0.1:${port}/particle`,
    async close() {
      await stream.disconnect();
      await closeHttp(server);
    },
  };
}

export interface RawServer {
  sockets: Set<WebSocket>;
  url: string;
  close(): Promise<void>;
}

/**
 * The baseline: a bare `ws` server with no protocol. `onMessage` sees what clients send (for
 * answering a register with a payload); sockets are kept in `sockets` for broadcasting.
 */
export async function startRaw(
  onMessage?: (ws: WebSocket, text: string, index: number) => void,
  onConnection?: (ws: WebSocket, req: IncomingMessage) => void,
): Promise<RawServer> {
  const server = createServer((_req, res) => res.writeHead(404).end());
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const sockets = new Set<WebSocket>();
  let count = 0;
  wss.on('connection', (ws, req) => {
    const index = count++;
    sockets.add(ws);
    ws.on('close', () => sockets.delete(ws));
    ws.on('error', () => undefined);
    if (onMessage) ws.on('message', (data) => onMessage(ws, String(data), index));
    onConnection?.(ws, req);
  });
  const port = await listen(server);
  return {
    sockets,
    url: `ws://127.0.0.1:${port}/`,
    async close() {
      for (const ws of sockets) ws.terminate();
      wss.close();
      await closeHttp(server);
    },
  };
}
