// @vitest-environment happy-dom
import { act } from '@testing-library/react';
import { hydrateRoot, type Root } from 'react-dom/client';
import { renderToString } from 'react-dom/server';
import { afterEach, expect, it, vi } from 'vitest';
import { ParticleProvider, useParticle, useParticleStatus } from '../../src/react/index.js';
import { scriptedServer } from './scriptedServer.js';

type User = { _id: number; name: string };

const shown: string[] = [];

function Users() {
  const users = useParticle<User[]>('users');
  const ann = useParticle<string>('users.7.name');
  const status = useParticleStatus();
  const text = users === undefined ? 'loading' : `${users.length} users, ${ann ?? '?'}`;
  shown.push(text);
  return (
    <p>
      <span id="text">{text}</span> <span id="status">{status}</span>
    </p>
  );
}

const initialData = {
  users: [
    { _id: 7, name: 'Ann' },
    { _id: 8, name: 'Bob' },
  ],
};

let root: Root | undefined;
afterEach(() => {
  act(() => root?.unmount());
  root = undefined;
  document.body.innerHTML = '';
  shown.length = 0;
  vi.restoreAllMocks();
});

it('server render, hydration and the live payload agree, with no loading state', async () => {
  const server = scriptedServer();
  const app = (
    <ParticleProvider register={server.register} identity={{ userId: 1 }} initialData={initialData}>
      <Users />
    </ParticleProvider>
  );

  const html = renderToString(app);
  expect(html).toContain('2 users, Ann');
  expect(server.sessions).toHaveLength(0); // server rendering opens no connection

  const container = document.createElement('div');
  container.innerHTML = html;
  document.body.appendChild(container);
  const consoleError = vi.spyOn(console, 'error');
  const recoverable = vi.fn();
  shown.length = 0;

  await act(async () => {
    root = hydrateRoot(container, app, { onRecoverableError: recoverable });
  });
  expect(consoleError).not.toHaveBeenCalled();
  expect(recoverable).not.toHaveBeenCalled();
  expect(container.querySelector('#text')?.textContent).toBe('2 users, Ann');
  expect(server.sessions).toHaveLength(1);

  // The live payload takes over from initialData.
  act(() => server.last.accept({ users: [{ _id: 7, name: 'Ann Live' }] }));
  expect(container.querySelector('#text')?.textContent).toBe('1 users, Ann Live');
  expect(container.querySelector('#status')?.textContent).toBe('ready');
  expect(shown).not.toContain('loading');
  expect(consoleError).not.toHaveBeenCalled();
});

it('a root without initialData is undefined on the server and until its payload', async () => {
  const server = scriptedServer();
  const app = (
    <ParticleProvider register={server.register} identity={{ userId: 1 }} initialData={{}}>
      <Users />
    </ParticleProvider>
  );
  const html = renderToString(app);
  expect(html).toContain('loading');
  const container = document.createElement('div');
  container.innerHTML = html;
  document.body.appendChild(container);
  const consoleError = vi.spyOn(console, 'error');

  await act(async () => {
    root = hydrateRoot(container, app);
  });
  expect(consoleError).not.toHaveBeenCalled();
  expect(container.querySelector('#text')?.textContent).toBe('loading');
  act(() => server.last.accept({ users: initialData.users }));
  expect(container.querySelector('#text')?.textContent).toBe('2 users, Ann');
});
