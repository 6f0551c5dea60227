// @vitest-environment happy-dom
import { act } from '@testing-library/react';
import { createRoot, hydrateRoot, type Root } from 'react-dom/client';
import { renderToString } from 'react-dom/server';
import { afterEach, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import {
  ParticleProvider,
  useCollector,
  useParticle,
  useParticleStatus,
  type InitialData,
} from '../../src/react/index.js';
import { startServer, type TestServer } from '../support/server.js';

const renders = { profile: 0, ben: 0 };

function Profile() {
  renders.profile++;
  const name = useParticle<string>(['myProfile', 1, 'name']);
  return <span id="profile">{name ?? 'loading'}</span>;
}

function Ben() {
  renders.ben++;
  const name = useParticle<string>('visibleUsers.2.name');
  return <span id="ben">{name ?? 'loading'}</span>;
}

function Status() {
  const status = useParticleStatus();
  const error = useCollector()?.error;
  return <span id="status">{error ? `${status} ${error.code}: ${error.message}` : status}</span>;
}

function App(props: { url: string; initialData?: InitialData }) {
  return (
    <ParticleProvider
      url={props.url}
      WebSocket={WebSocket}
      identity={{ userId: 1, accountId: 1 }}
      initialData={props.initialData}
    >
      <Profile />
      <Ben />
      <Status />
    </ParticleProvider>
  );
}

let server: TestServer | undefined;
let root: Root | undefined;

afterEach(async () => {
  act(() => root?.unmount());
  root = undefined;
  await act(async () => {}); // the provider disconnects its collector in a microtask
  await server?.close();
  server = undefined;
  document.body.innerHTML = '';
  vi.restoreAllMocks();
});

function text(id: string): string | null | undefined {
  return document.getElementById(id)?.textContent;
}

it('renders stream.snapshot on the server, hydrates, then follows the live stream', async () => {
  server = await startServer();
  const initialData = await server.stream.snapshot({ userId: 1, accountId: 1 });
  const html = renderToString(<App url={server.url} initialData={initialData} />);
  expect(html).toContain('<span id="profile">Ann</span>');

  const container = document.createElement('div');
  container.innerHTML = html;
  document.body.appendChild(container);
  const consoleError = vi.spyOn(console, 'error');
  await act(async () => {
    root = hydrateRoot(container, <App url={server!.url} initialData={initialData} />);
  });
  expect(text('profile')).toBe('Ann');
  await vi.waitFor(() => expect(text('status')).toBe('ready'));
  expect(consoleError).not.toHaveBeenCalled();

  renders.profile = 0;
  renders.ben = 0;
  server.adapter.update('users', { _id: 1 }, { $set: { name: 'Anna' } });
  await vi.waitFor(() => expect(text('profile')).toBe('Anna'));
  expect(renders).toEqual({ profile: 1, ben: 0 });
  expect(text('ben')).toBe('Ben');
});

it('shows a refused identity as status error with the server message', async () => {
  server = await startServer({
    identityLookup: async () => {
      throw new Error('unknown session');
    },
  });
  const container = document.createElement('div');
  document.body.appendChild(container);
  act(() => {
    root = createRoot(container);
    root.render(<App url={server!.url} />);
  });
  await vi.waitFor(() => expect(text('status')).toMatch(/^error identity_rejected: /));
  expect(text('status')).toContain('unknown session');
  expect(text('profile')).toBe('loading');
});
