import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import React, { act } from 'react';
import { hydrateRoot, type Root } from 'react-dom/client';
import { renderToString } from 'react-dom/server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ParticleProvider, useParticle, useParticleStatus } from '../../src/react/index.js';
import { MemoryAdapter, Stream } from '../../src/server/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const installed = existsSync(join(here, 'node_modules', 'react', 'package.json'));
if (!installed && process.env.CI !== 'true') {
  console.log('React 18 check skipped: run `npm ci --prefix test/react18` first (.ci/run does)');
}

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

let root: Root | undefined;
afterEach(() => {
  act(() => root?.unmount());
  root = undefined;
});

function Profile({ id }: { id: number }) {
  const name = useParticle<string>(['users', id, 'name']);
  const status = useParticleStatus();
  return (
    <p>
      {name ?? 'none'} ({status})
    </p>
  );
}

describe.skipIf(!installed && process.env.CI !== 'true')('particle-sync/react on React 18', () => {
  it('server render, hydration without warnings, then live updates', async () => {
    expect(React.version).toMatch(/^18\./);
    const adapter = new MemoryAdapter({ collections: { users: [{ _id: 1, name: 'Ann' }] } });
    const stream = new Stream({
      adapter,
      dataSources: { users: { collection: 'users', manifest: { name: true } } },
    });
    const initialData = await stream.snapshot({});
    const app = (
      <ParticleProvider register={stream.register} identity={{}} initialData={initialData}>
        <Profile id={1} />
      </ParticleProvider>
    );
    const html = renderToString(app);
    expect(html).toContain('Ann');
    const container = document.createElement('div');
    container.innerHTML = html;
    const errors = vi.spyOn(console, 'error');
    await act(async () => {
      root = hydrateRoot(container, app);
    });
    await vi.waitFor(() => expect(container.textContent).toBe('Ann (ready)'));
    await act(async () => {
      adapter.update('users', { _id: 1 }, { $set: { name: 'Anna' } });
    });
    await vi.waitFor(() => expect(container.textContent).toBe('Anna (ready)'));
    expect(errors).not.toHaveBeenCalled();
    errors.mockRestore();
    await stream.disconnect();
  });
});
