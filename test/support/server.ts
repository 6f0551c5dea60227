import express from 'express';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import {
  MemoryAdapter,
  Stream,
  particleMiddleware,
  type ParticleMiddlewareOptions,
  type StreamOptions,
} from '../../src/server/index.js';
import { seedCacheConfig, seedCollections, seedDataSources } from './seed.js';
import { PROTOCOL_VERSION, opFromWire, type WireOp } from '../../src/protocol/index.js';

/** A real Express + ws server on 127.0.0.1 with the seed's configuration (overridable). */
export interface TestServer {
  adapter: MemoryAdapter;
  stream: Stream;
  server: Server;
  url: string;
  httpUrl: string;
  close(): Promise<void>;
}

export async function startServer(
  options: Partial<StreamOptions> = {},
  mwOptions: Partial<ParticleMiddlewareOptions> = {},
  port = 0,
): Promise<TestServer> {
  const adapter =
    (options.adapter as MemoryAdapter | undefined) ??
    new MemoryAdapter({ collections: seedCollections() });
  const stream = new Stream({
    adapter,
    dataSources: seedDataSources,
    cacheConfig: seedCacheConfig,
    ...options,
  });
  const app = express();
  const server = createServer(app);
  const mw = particleMiddleware(stream, { path: '/particle', ...mwOptions });
  app.use(mw);
  mw.attach(server);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const address = server.address() as AddressInfo;
  port = address.port;
  return {
    adapter,
    stream,
    server,
    url: `ws://127.0.0.1:${port}/particle`,
    httpUrl: `http://127.0.0.1:${port}`,
    async close() {
      await stream.disconnect();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export interface WireMessage {
  type: string;
  [key: string]: unknown;
}

/**
 * A received message with each delta's ops as op objects (`opFromWire`), inside batches too, so
 * tests state ops by name; the wire form itself is tested in test/protocol.
 */
function readable(message: WireMessage): WireMessage {
  if (message.type === 'batch') {
    return { ...message, messages: (message.messages as WireMessage[]).map(readable) };
  }
  if (message.type !== 'delta') return message;
  return { ...message, ops: (message.ops as WireOp[]).map(opFromWire) };
}

/** A raw WebSocket client that records what the server sends. */
export class RawClient {
  readonly messages: WireMessage[] = [];
  /** Every frame's text as it arrived. */
  readonly frames: string[] = [];
  closed: { code: number; reason: string } | undefined;
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  private waiters: (() => void)[] = [];

  constructor(url: string) {
    this.ws = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.ws.on('message', (data) => {
      const text = String(data);
      this.frames.push(text);
      this.messages.push(readable(JSON.parse(text) as WireMessage));
      this.wake();
    });
    this.ws.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
      this.wake();
    });
  }

  static async register(url: string, identity: Record<string, unknown>): Promise<RawClient> {
    const client = new RawClient(url);
    await client.opened;
    client.send({ type: 'register', protocol: PROTOCOL_VERSION, identity });
    return client;
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  of(type: string, root?: string): WireMessage[] {
    return this.messages.filter((m) => m.type === type && (root === undefined || m.root === root));
  }

  /** Waits until `predicate` holds over the recorded messages. */
  async until(predicate: (client: RawClient) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out; received ${JSON.stringify(this.messages).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for a payload (or a `resumed`) of every root in the manifest. */
  async ready(timeoutMs = 5000): Promise<void> {
    await this.until((c) => {
      const manifest = c.of('manifest')[0] as { sources: Record<string, unknown> } | undefined;
      return (
        !!manifest &&
        Object.keys(manifest.sources).every(
          (root) => c.of('payload', root).length > 0 || c.of('resumed', root).length > 0,
        )
      );
    }, timeoutMs);
  }

  /** The session named by `registered`. */
  session(): string {
    return String(this.of('registered')[0]?.session);
  }

  payload(root: string): unknown[] {
    const p = this.of('payload', root).at(-1);
    return (p?.data as unknown[]) ?? [];
  }

  ops(root: string): unknown[] {
    return this.of('delta', root).flatMap((d) => d.ops as unknown[]);
  }

  async closedWith(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    await this.until((c) => c.closed !== undefined, timeoutMs);
    return this.closed as { code: number; reason: string };
  }

  /** Stops reading from the socket, as a client that stalls does (the server's sends pile up). */
  stopReading(): void {
    this.ws.pause();
  }

  resumeReading(): void {
    this.ws.resume();
  }

  close(): void {
    this.ws.terminate();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
