// @vitest-environment happy-dom
import { act, cleanup, render } from '@testing-library/react';
import { useContext } from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ParsedPath } from '../../src/react/path.js';
import { ParticleContext } from '../../src/react/context.js';
import {
  ParticleProvider,
  useCollector,
  useParticle,
  useParticleStatus,
  type ParticlePath,
} from '../../src/react/index.js';
import { scriptedServer } from './scriptedServer.js';

const renders = new Map<string, number>();
const snapshotReads = new Map<string, number>();

function Reader({ name, path }: { name: string; path: ParticlePath }) {
  renders.set(name, (renders.get(name) ?? 0) + 1);
  const value = useParticle(path);
  return <span data-testid={name}>{JSON.stringify(value) ?? 'none'}</span>;
}

function Status() {
  renders.set('status', (renders.get('status') ?? 0) + 1);
  return <span data-testid="status">{useParticleStatus()}</span>;
}

let disconnect: (() => void) | undefined;
function Disconnect() {
  const collector = useCollector();
  disconnect = collector ? () => collector.disconnect() : undefined;
  return null;
}

/** Counts the store's reads per document key, i.e. the getSnapshot calls of each path. */
function CountReads() {
  const store = useContext(ParticleContext);
  if (store !== null && !vi.isMockFunction(store.read)) {
    const read = store.read.bind(store);
    vi.spyOn(store, 'read').mockImplementation((path: ParsedPath) => {
      const key = path.hasId ? `${path.root}/${path.idKey}` : path.root;
      snapshotReads.set(key, (snapshotReads.get(key) ?? 0) + 1);
      return read(path);
    });
  }
  return null;
}

const paths: Record<string, ParticlePath> = {
  users: 'users',
  u7: 'users.7',
  u7name: 'users.7.name',
  u7age: ['users', 7, 'age'],
  u8: 'users.8',
  u8name: ['users', 8, 'name'],
  things: 'things',
};

function setup() {
  const server = scriptedServer();
  const view = render(
    <ParticleProvider register={server.register} identity={{ userId: 1 }}>
      <CountReads />
      <Disconnect />
      {Object.entries(paths).map(([name, path]) => (
        <Reader key={name} name={name} path={path} />
      ))}
      <Status />
    </ParticleProvider>,
  );
  return { server, view };
}

function counts(): Record<string, number> {
  return Object.fromEntries([...Object.keys(paths), 'status'].map((n) => [n, renders.get(n) ?? 0]));
}

function resetCounts() {
  renders.clear();
  snapshotReads.clear();
}

const none = { users: 0, u7: 0, u7name: 0, u7age: 0, u8: 0, u8name: 0, things: 0, status: 0 };

beforeEach(resetCounts);
afterEach(cleanup);

describe('render counts with a real Collector', () => {
  const users = [
    { _id: 7, name: 'Ann', age: 30 },
    { _id: 8, name: 'Bob', age: 40 },
  ];

  it('a set on users/7 re-renders only readers of users and users/7', () => {
    const { server, view } = setup();
    act(() => server.last.accept({ users, things: [{ _id: 1 }] }));
    expect(view.getByTestId('u7name').textContent).toBe('"Ann"');
    resetCounts();

    act(() => server.last.set('users', 7, 'name', 'Anna'));
    expect(view.getByTestId('u7name').textContent).toBe('"Anna"');
    expect(counts()).toEqual({ ...none, users: 1, u7: 1, u7name: 1 });
    // Readers of users/8 were not woken: their getSnapshot was not even called.
    expect(snapshotReads.get('users/8') ?? 0).toBe(0);
    expect(snapshotReads.get('things') ?? 0).toBe(0);
  });

  it('a change to a field outside the path does not re-render', () => {
    const { server } = setup();
    act(() => server.last.accept({ users, things: [] }));
    resetCounts();

    act(() => server.last.set('users', 7, 'age', 31));
    // users/7/name was woken (same document) but its value is the same string: no render.
    expect(counts()).toEqual({ ...none, users: 1, u7: 1, u7age: 1 });
  });

  it('one message with ops on two documents renders each reader once', () => {
    const { server } = setup();
    act(() => server.last.accept({ users, things: [] }));
    resetCounts();

    act(() =>
      server.last.delta('users', [
        { operation: 'set', id: 7, path: 'name', data: 'A' },
        { operation: 'set', id: 8, path: 'name', data: 'B' },
        { operation: 'set', id: 7, path: 'name', data: 'C' },
      ]),
    );
    expect(counts()).toEqual({ ...none, users: 1, u7: 1, u7name: 1, u8: 1, u8name: 1 });
  });

  it('status changes re-render only status readers', () => {
    const { server, view } = setup();
    act(() => server.last.accept({ users }));
    // `things` is not in the manifest, so the collector is ready with `users` alone.
    expect(view.getByTestId('status').textContent).toBe('ready');
    resetCounts();

    act(() => disconnect?.());
    expect(view.getByTestId('status').textContent).toBe('closed');
    expect(counts()).toEqual({ ...none, status: 1 });
  });

  it('a payload replaces the root and wakes all its readers, not other roots', () => {
    const { server, view } = setup();
    act(() => server.last.accept({ users, things: [{ _id: 1 }] }));
    resetCounts();

    act(() => server.last.payload('users', [{ _id: 8, name: 'Bob', age: 40 }]));
    expect(view.getByTestId('u7').textContent).toBe('none');
    // users/8 is woken: its document is a new (equal) object, its name the same string.
    expect(counts()).toEqual({ ...none, users: 1, u7: 1, u7name: 1, u7age: 1, u8: 1 });
  });
});

describe('custom id fields', () => {
  it('the second path segment addresses documents by the manifest idField', () => {
    const server = scriptedServer();
    function Sku() {
      const name = useParticle<string>('items.A-1.name');
      return <span data-testid="sku">{name ?? 'none'}</span>;
    }
    const view = render(
      <ParticleProvider register={server.register} identity={{}}>
        <Sku />
      </ParticleProvider>,
    );
    act(() =>
      server.last.accept(
        {
          items: [
            { _id: 1, sku: 'A-1', name: 'Anvil' },
            { _id: 2, sku: 'B-2', name: 'Bell' },
          ],
        },
        { items: { idField: 'sku' } },
      ),
    );
    expect(view.getByTestId('sku').textContent).toBe('Anvil');
    act(() => server.last.set('items', 'A-1', 'name', 'Anvil II'));
    expect(view.getByTestId('sku').textContent).toBe('Anvil II');
  });
});
