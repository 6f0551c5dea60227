import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryAdapter, Stream, particleMiddleware } from '../../src/server/index.js';
import { seedCacheConfig, seedCollections, seedDataSources } from '../support/seed.js';
import { RawClient, startServer, type TestServer } from '../support/server.js';

let server: TestServer | undefined;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = undefined;
});

async function open(url: string): Promise<RawClient> {
  const client = new RawClient(url);
  clients.push(client);
  await client.opened;
  return client;
}

/** Opens an upgrade with the given headers and resolves with the HTTP status it got. */
function upgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once('error', (error) => {
      if (!('statusCode' in error)) reject(error);
    });
  });
}

describe('close reasons never crash the server', () => {
  it('survives a bad_message whose echo is over 123 bytes of non-ASCII text', async () => {
    server = await startServer();
    const attacker = await open(server.url);
    attacker.send(JSON.stringify({ type: 'é'.repeat(100) }));
    const closed = await attacker.closedWith();
    expect(closed.code).toBe(4400);
    expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123);
    const other = await RawClient.register(server.url, { userId: 1, accountId: 1 });
    clients.push(other);
    await other.ready();
  });

  it('survives a refused login whose message is a long German or Japanese sentence', async () => {
    const german =
      'Der Zugang wurde verweigert, weil Ihre Sitzung abgelaufen ist; bitte melden Sie sich über die Startseite erneut an, danke schön.';
    const japanese =
      'このセッションは期限切れです。もう一度ログインしてください。アカウントの状態を確認してから再試行してください。';
    for (const text of [german, japanese]) {
      await server?.close();
      server = await startServer({
        identityLookup: () => {
          throw new Error(text);
        },
      });
      const refused = await RawClient.register(server.url, { userId: 1 });
      clients.push(refused);
      const closed = await refused.closedWith();
      expect(closed.code).toBe(4403);
      expect(text.startsWith(closed.reason)).toBe(true);
      expect(refused.of('error')[0]).toMatchObject({ code: 'identity_rejected', message: text });
      const health = await fetch(`${server.httpUrl}/particle/health`);
      expect(health.status).toBe(200);
    }
  });
});

describe('internal errors', () => {
  it('send a generic text to the client and the detail to onDebug only', async () => {
    const logged: unknown[] = [];
    const adapter = new MemoryAdapter({ collections: seedCollections() });
    adapter.find = () => Promise.reject(new Error('connect ECONNREFUSED 10.0.0.7:27017 (db prod)'));
    server = await startServer({ adapter, onDebug: (_m, d) => logged.push(d) });
    const client = await RawClient.register(server.url, { userId: 1, accountId: 1 });
    clients.push(client);
    const closed = await client.closedWith();
    expect(closed.code).toBe(1011);
    expect(JSON.stringify(client.messages)).not.toContain('10.0.0.7');
    expect(closed.reason).not.toContain('10.0.0.7');
    expect(JSON.stringify(logged.map(String))).toContain('10.0.0.7');
  });
});

describe('binary frames', () => {
  it('are refused with bad_message: the wire is JSON text', async () => {
    server = await startServer();
    const client = await open(server.url);
    client.ws.send(Buffer.from(JSON.stringify({ type: 'register', protocol: 2, identity: {} })));
    expect((await client.closedWith()).code).toBe(4400);
    expect(client.of('error')[0]).toMatchObject({ code: 'bad_message' });
  });
});

describe('Origin check (cross-site WebSocket hijacking)', () => {
  it('refuses another site with 403, admits the same host and requests without Origin', async () => {
    server = await startServer();
    const port = new URL(server.url).port;
    expect(await upgradeStatus(server.url, { Origin: 'https://evil.example' })).toBe(403);
    expect(await upgradeStatus(server.url, { Origin: 'null' })).toBe(403);
    expect(await upgradeStatus(server.url, { Origin: `http://127.0.0.1:${port}` })).toBe(101);
    expect(
      await upgradeStatus(server.url, { Origin: `http://127.0.0.1:${Number(port) + 1}` }),
    ).toBe(403);
    expect(await upgradeStatus(server.url, {})).toBe(101);
  });

  it('admits what allowedOrigins lists, as a list or a predicate', async () => {
    server = await startServer({}, { allowedOrigins: ['https://app.example'] });
    expect(await upgradeStatus(server.url, { Origin: 'https://app.example' })).toBe(101);
    expect(await upgradeStatus(server.url, { Origin: 'https://evil.example' })).toBe(403);
    await server.close();
    server = await startServer({}, { allowedOrigins: (origin) => origin.endsWith('.trusted') });
    expect(await upgradeStatus(server.url, { Origin: 'https://a.trusted' })).toBe(101);
    expect(await upgradeStatus(server.url, { Origin: 'https://a.untrusted' })).toBe(403);
  });

  it('reads X-Forwarded-Host only with trustProxy', async () => {
    const headers = { Origin: 'https://app.example', 'X-Forwarded-Host': 'app.example' };
    server = await startServer();
    expect(await upgradeStatus(server.url, headers)).toBe(403);
    await server.close();
    server = await startServer({}, { trustProxy: true });
    expect(await upgradeStatus(server.url, { ...headers, 'X-Forwarded-Proto': 'https' })).toBe(101);
  });
});

describe('an upgrade for another path', () => {
  it('is answered 404 when Particle is the only upgrade listener', async () => {
    server = await startServer();
    expect(await upgradeStatus(server.url.replace('/particle', '/wrong'), {})).toBe(404);
  });

  it('is left alone when another listener handles upgrades', async () => {
    const stream = new Stream({
      adapter: new MemoryAdapter({ collections: seedCollections() }),
      dataSources: seedDataSources,
      cacheConfig: seedCacheConfig,
    });
    const http = createServer();
    particleMiddleware(stream, { path: '/particle' }).attach(http);
    const other = new WebSocketServer({ noServer: true });
    http.on('upgrade', (req, socket, head) => {
      if (req.url === '/hmr') other.handleUpgrade(req, socket, head, (ws) => ws.close());
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const { port } = http.address() as AddressInfo;
    expect(await upgradeStatus(`ws://127.0.0.1:${port}/hmr`, {})).toBe(101);
    await stream.disconnect();
    other.close();
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
  });
});

describe('particleMiddleware options', () => {
  it('a misspelled option is a config error naming the closest valid one', () => {
    const stream = new Stream({
      adapter: new MemoryAdapter({ collections: seedCollections() }),
      dataSources: seedDataSources,
      cacheConfig: seedCacheConfig,
    });
    expect(() =>
      particleMiddleware(stream, {
        path: '/particle',
        allowedOrigin: ['https://a.example'],
      } as never),
    ).toThrow("particleMiddleware: unknown key 'allowedOrigin' (did you mean 'allowedOrigins'?)");
  });
});

describe('health', () => {
  it('says closed (503) after stream.disconnect()', async () => {
    server = await startServer();
    const before = await fetch(`${server.httpUrl}/particle/health`);
    expect(await before.json()).toMatchObject({ status: 'ok' });
    await server.stream.disconnect();
    const status = await new Promise<{ code: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${server?.httpUrl}/particle/health`, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += String(c)));
        res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(status.code).toBe(503);
    expect(JSON.parse(status.body)).toMatchObject({ status: 'closed' });
  });
});
