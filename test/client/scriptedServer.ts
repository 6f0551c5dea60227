import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { vi } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';

/** One accepted socket: what the client sent on it, and when it connected (performance.now()). */
export type ServerSide = { socket: WebSocket; frames: Record<string, unknown>[]; at: number };

/** A tiny ws server on 127.0.0.1 whose every frame the test scripts. */
export async function scriptedServer() {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const connections: ServerSide[] = [];
  wss.on('connection', (socket) => {
    const side: ServerSide = { socket, frames: [], at: performance.now() };
    socket.on('message', (data) => side.frames.push(JSON.parse(String(data))));
    connections.push(side);
  });
  const { port } = wss.address() as AddressInfo;
  return {
    url: `ws://127.0.0.1:${port}/particle`,
    connections,
    /** The n-th connection, once its register frame arrived. */
    async registered(n: number): Promise<ServerSide> {
      return vi.waitFor(() => {
        const side = connections[n];
        if (side === undefined || side.frames.length === 0) throw new Error(`no register #${n}`);
        return side;
      });
    },
    send(side: ServerSide, message: unknown): void {
      side.socket.send(JSON.stringify(message));
    },
    async close(): Promise<void> {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
