import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { Stream } from '../../src/server/index.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = `${root}test/.quickstart`;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The README's quick-start server block, as a reader pastes it (on port 0, from src). */
function quickStartServer(): string {
  const readme = readFileSync(`${root}README.md`, 'utf8');
  const section = readme.slice(readme.indexOf('## Quick start'));
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('no ts block in the quick start');
  return block
    .replace("'particle-sync/server'", "'../../src/server/index.js'")
    .replace('server.listen(3000)', 'server.listen(0, "127.0.0.1")')
    .replace('onDebug: console.log', 'onDebug: () => undefined');
}

describe('the README quick start', () => {
  it('runs when pasted as one program, and keeps serving until it is told to stop', async () => {
    mkdirSync(dir, { recursive: true });
    const file = `${dir}/server.ts`;
    writeFileSync(file, `${quickStartServer()}\nexport { stream, server };\n`);
    const { stream, server } = (await import(/* @vite-ignore */ file)) as {
      stream: Stream;
      server: Server;
    };
    if (!server.listening) await new Promise((resolve) => server.once('listening', resolve));
    const health = `http://127.0.0.1:${(server.address() as AddressInfo).port}/particle/health`;
    const live = await fetch(health);
    expect(live.status).toBe(200);
    expect(await live.json()).toMatchObject({ status: 'ok' });
    await stream.disconnect();
    const closed = await fetch(health);
    expect(closed.status).toBe(503);
    expect(await closed.json()).toMatchObject({ status: 'closed' });
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
});
