import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { HEARTBEAT_FRAME } from '../protocol/encode.js';
import type { Duplex } from 'node:stream';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { CLOSE_CODES } from '../protocol/errors.js';
import { checkKeys, checkPositiveInteger } from '../protocol/config.js';
import { ClientConnection } from './connection.js';
import type { Stream } from './stream.js';

/** Options of {@link particleMiddleware}. */
export interface ParticleMiddlewareOptions {
  /** The URL path of the WebSocket endpoint; `<path>/health` answers JSON. */
  path: string;
  /** Frames larger than this are refused by the WebSocket layer (close 1009). @default 1 MiB */
  maxFrameBytes?: number;
  /** A socket that has not registered after this long is closed (4408). @default 10000 */
  registerTimeoutMs?: number;
  /** A heartbeat message follows this much silence; pings find dead peers. @default 15000 */
  heartbeatMs?: number;
  /** A socket whose unsent data passes this is closed as a slow consumer (4429, resumable). @default 1 MiB */
  maxBufferedBytes?: number;
  /**
   * Browser origins allowed to open a socket: full origins (`'https://app.example'`) or a
   * predicate. Replaces the default, which admits only the request's own host. A request without
   * an `Origin` header (a non-browser client) always passes. @default the request's own host
   */
  allowedOrigins?: readonly string[] | ((origin: string, request: IncomingMessage) => boolean);
  /** Read `X-Forwarded-Host` instead of `Host` for the same-host Origin check. @default false */
  trustProxy?: boolean;
  /**
   * Client frames per socket per second after `register`, with bursts of twice that plus
   * `maxSubscriptions`; more: `rate_limited`, close 4430. @default 50
   */
  maxMessagesPerSecond?: number;
}

/** An Express-compatible middleware that also serves Particle's WebSocket endpoint. */
export interface ParticleMiddleware {
  (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void): void;
  /** Handles `upgrade` events of `server` for this path only; other upgrades are left alone. */
  attach(server: Server): void;
  /** Takes the socket and returns `true` when the request is for this path; else `false`, touching nothing. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Closes every socket of this endpoint (code 1001). `stream.disconnect()` calls it. */
  close(): void;
}

const MIDDLEWARE_OPTION_KEYS = [
  'path',
  'maxFrameBytes',
  'registerTimeoutMs',
  'heartbeatMs',
  'maxBufferedBytes',
  'allowedOrigins',
  'trustProxy',
  'maxMessagesPerSecond',
] as const satisfies readonly (keyof ParticleMiddlewareOptions)[];

const defaults = {
  maxFrameBytes: 1024 * 1024,
  registerTimeoutMs: 10_000,
  heartbeatMs: 15_000,
  maxBufferedBytes: 1024 * 1024,
  trustProxy: false,
  maxMessagesPerSecond: 50,
};

interface Link {
  ws: WebSocket;
  alive: boolean;
  lastSent: number;
}

/** Mounts a {@link Stream} on an HTTP server: `app.use(mw)` for HTTP, `mw.attach(server)` for WebSockets. */
export function particleMiddleware(
  stream: Stream,
  options: ParticleMiddlewareOptions,
): ParticleMiddleware {
  if (!options || typeof options.path !== 'string' || !options.path.startsWith('/')) {
    throw new TypeError(
      'particleMiddleware: options.path is required and must start with "/", e.g. { path: "/particle" }',
    );
  }
  checkKeys('particleMiddleware', options, MIDDLEWARE_OPTION_KEYS);
  checkPositiveInteger('particleMiddleware: maxMessagesPerSecond', options.maxMessagesPerSecond);
  const path = options.path.replace(/\/+$/, '') || '/';
  const config: typeof defaults & Pick<ParticleMiddlewareOptions, 'allowedOrigins'> = {
    ...defaults,
    ...stripUndefined(options),
  };
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: config.maxFrameBytes,
    perMessageDeflate: false,
  });
  const links = new Set<Link>();
  let heartbeat: ReturnType<typeof setInterval> | undefined;

  const tick = (): void => {
    const now = Date.now();
    for (const link of links) {
      if (!link.alive) {
        link.ws.terminate();
        continue;
      }
      link.alive = false;
      link.ws.ping();
      if (now - link.lastSent >= config.heartbeatMs) send(link, HEARTBEAT_FRAME);
    }
  };

  const send = (link: Link, frame: string): void => {
    if (link.ws.readyState !== WebSocket.OPEN) return;
    link.ws.send(frame);
    link.lastSent = Date.now();
  };

  const onConnection = (ws: WebSocket, request: IncomingMessage): void => {
    const link: Link = { ws, alive: true, lastSent: Date.now() };
    links.add(link);
    if (!heartbeat) {
      heartbeat = setInterval(tick, config.heartbeatMs);
      heartbeat.unref?.();
    }
    const connection = new ClientConnection(
      stream,
      {
        send: (frame) => send(link, frame),
        bufferedAmount: () => ws.bufferedAmount,
        close: (code, reason) => {
          try {
            ws.close(code, reason);
          } catch {
            ws.terminate();
          }
          // A peer that never answers the close handshake does not keep the socket.
          setTimeout(() => ws.terminate(), 1000).unref?.();
        },
      },
      {
        limits: {
          registerTimeoutMs: config.registerTimeoutMs,
          maxBufferedBytes: config.maxBufferedBytes,
          maxMessagesPerSecond: config.maxMessagesPerSecond,
          resumable: true,
        },
        request,
      },
    );
    ws.on('pong', () => {
      link.alive = true;
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      link.alive = true;
      if (isBinary)
        connection.fail('bad_message', 'frames are JSON text; binary frames are refused');
      else connection.receive(rawText(data));
    });
    ws.on('close', () => {
      links.delete(link);
      connection.linkClosed();
    });
    ws.on('error', () => {
      // ws reports protocol violations (e.g. a frame over maxPayload: close 1009) here and
      // then closes the socket; 'close' does the cleanup.
    });
  };

  const originAllowed = originPolicy(config.allowedOrigins, config.trustProxy);
  const handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): boolean => {
    if (pathOf(req) !== path) return false;
    if (!originAllowed(req)) {
      refuseUpgrade(socket, 403, 'Forbidden');
      return true;
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws, req));
    return true;
  };

  const close = (): void => {
    clearInterval(heartbeat);
    heartbeat = undefined;
    for (const link of links) link.ws.close(CLOSE_CODES.goingAway, 'server shutting down');
    for (const link of links) setTimeout(() => link.ws.terminate(), 1000).unref?.();
    wss.close();
  };
  const removeTransport = stream.addTransport({ close });

  const middleware = ((
    req: IncomingMessage,
    res: ServerResponse,
    next: (error?: unknown) => void,
  ) => {
    if (req.method === 'GET' && pathOf(req) === `${path === '/' ? '' : path}/health`) {
      let bufferedBytes = 0;
      for (const link of links) bufferedBytes += link.ws.bufferedAmount;
      const { closed, ...stats } = stream.stats();
      const body = JSON.stringify({
        status: closed ? 'closed' : 'ok',
        ...stats,
        sockets: links.size,
        bufferedBytes,
      });
      res.writeHead(closed ? 503 : 200, {
        'content-type': 'application/json',
        'cache-control': 'no-store',
      });
      res.end(body);
      return;
    }
    next();
  }) as ParticleMiddleware;
  middleware.attach = (server) => {
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (handleUpgrade(req, socket, head)) return;
      // Alone on the server, nobody else will answer: say 404 instead of leaving it hanging.
      if (server.listenerCount('upgrade') === 1) refuseUpgrade(socket, 404, 'Not Found');
    });
  };
  middleware.handleUpgrade = handleUpgrade;
  middleware.close = () => {
    removeTransport();
    close();
  };
  return middleware;
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  }
  socket.destroy();
}

function originPolicy(
  allowed: ParticleMiddlewareOptions['allowedOrigins'],
  trustProxy: boolean,
): (req: IncomingMessage) => boolean {
  return (req) => {
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    if (typeof allowed === 'function') return allowed(origin, req);
    if (allowed) return allowed.some((o) => sameOrigin(o, origin));
    const forwarded = trustProxy ? firstHeader(req.headers['x-forwarded-host']) : undefined;
    const host = forwarded ?? req.headers.host;
    if (!host) return false;
    const own = hostPort(host, isSecure(req, trustProxy) ? 443 : 80);
    const theirs = originHostPort(origin);
    return theirs !== undefined && own === theirs;
  };
}

function firstHeader(value: string | string[] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return first?.split(',')[0]?.trim() || undefined;
}

function isSecure(req: IncomingMessage, trustProxy: boolean): boolean {
  if (trustProxy && firstHeader(req.headers['x-forwarded-proto']) === 'https') return true;
  return Boolean((req.socket as { encrypted?: boolean }).encrypted);
}

/** `host:port` in lower case, with the default port written out. */
function hostPort(host: string, defaultPort: number): string {
  const lower = host.toLowerCase();
  return /:\d+$/.test(lower) && !lower.endsWith(']') ? lower : `${lower}:${defaultPort}`;
}

function originHostPort(origin: string): string | undefined {
  if (origin === 'null') return undefined;
  try {
    const url = new URL(origin);
    const port = url.port || (url.protocol === 'https:' || url.protocol === 'wss:' ? '443' : '80');
    return `${url.hostname.toLowerCase()}:${port}`;
  } catch {
    return undefined;
  }
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

function pathOf(req: IncomingMessage): string {
  try {
    return new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/+$/, '') || '/';
  } catch {
    return '';
  }
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
