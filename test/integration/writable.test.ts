import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { z } from 'zod';
import { Collector, MutationError, type CollectorData } from '../../src/client/index.js';
import { MemoryAdapter, type DataSource, type StreamOptions } from '../../src/server/index.js';
import { startServer, type TestServer } from '../support/server.js';

type Task = { _id: string; title: string; done: boolean; tags?: string[] };

const tasks: DataSource = {
  collection: 'tasks',
  criteria: { projectId: '@projectIds' },
  manifest: { title: true, done: true, tags: true, notes: true },
  sort: { title: 1 },
  writable: {
    fields: { title: true, done: true, tags: true },
    insert: true,
    remove: true,
    lockOwner: (identity) => identity.name,
  },
};

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function live(options: Partial<StreamOptions> = {}): Promise<TestServer> {
  const adapter = new MemoryAdapter({
    collections: {
      tasks: [
        { _id: 't1', projectId: 'p1', title: 'Write docs', done: false, tags: ['a'], notes: 'n' },
      ],
    },
  });
  const server = await startServer({
    adapter,
    dataSources: { tasks },
    cacheConfig: {},
    lockTtlMs: 150,
    ...options,
  });
  cleanups.push(() => server.close());
  return server;
}

function collector(server: TestServer, name: string): Collector {
  const c = new Collector({
    url: server.url,
    identity: { userId: name.toLowerCase(), name, projectIds: ['p1'] },
    WebSocket,
    reconnect: { minDelayMs: 5, maxDelayMs: 20 },
  });
  cleanups.push(() => c.disconnect());
  return c;
}

const task = (c: Collector) => (c.data.tasks?.[0] ?? {}) as Partial<Task>;
function record(c: Collector): CollectorData[] {
  const frames: CollectorData[] = [];
  c.onNotice(() => {
    if (frames.at(-1) !== c.data) frames.push(c.data);
  });
  return frames;
}

describe('collector.update, insert, remove', () => {
  it('shows the write at once, mirrors it to every client that sees the document, and drops the layer when confirmed', async () => {
    const server = await live();
    const ann = collector(server, 'Ann');
    const bob = collector(server, 'Bob');
    await Promise.all([ann.ready(), bob.ready()]);
    const done = ann.update<Task>('tasks', 't1', (d) => {
      d.done = true;
      d.tags?.push('b');
    });
    expect(task(ann)).toMatchObject({ done: true, tags: ['a', 'b'] });
    await done;
    expect(server.adapter.findNow('tasks')[0]).toMatchObject({ done: true, tags: ['a', 'b'] });
    await expect.poll(() => task(bob)).toMatchObject({ done: true, tags: ['a', 'b'] });
    expect(ann.pending).toEqual([]);
  });

  it('a refused write rolls back in one step and rejects with forbidden', async () => {
    const server = await live({
      dataSources: { tasks: { ...tasks, writable: { fields: { done: true } } } },
    });
    const ann = collector(server, 'Ann');
    await ann.ready();
    const frames = record(ann);
    const error = await ann
      .update<Task>('tasks', 't1', (d) => {
        d.title = 'Renamed';
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MutationError);
    expect(error).toMatchObject({ code: 'forbidden' });
    expect(frames.map((d) => (d.tasks?.[0] as Task).title)).toEqual(['Renamed', 'Write docs']);
    expect(server.adapter.findNow('tasks')[0]?.title).toBe('Write docs');
  });

  it('insert and remove where the source takes them', async () => {
    const server = await live();
    const ann = collector(server, 'Ann');
    await ann.ready();
    const inserting = ann.insert('tasks', {
      _id: 't2',
      projectId: 'p1',
      title: 'Also',
      done: false,
    });
    expect(ann.data.tasks?.map((t) => t._id)).toEqual(['t2', 't1']);
    await expect(inserting).resolves.toBe('t2');
    await ann.remove('tasks', 't1');
    expect(ann.data.tasks?.map((t) => t._id)).toEqual(['t2']);
    expect(server.adapter.findNow('tasks').map((t) => t._id)).toEqual(['t2']);
    await expect(ann.update('tasks', 'nope', () => undefined)).rejects.toMatchObject({
      code: 'forbidden',
    });
  });
});

describe('collector.lock, request, leaseOf', () => {
  it('one holder; the others see who holds it, their request fails fast and their writes roll back with locked', async () => {
    const server = await live();
    const ann = collector(server, 'Ann');
    const bob = collector(server, 'Bob');
    await Promise.all([ann.ready(), bob.ready()]);
    const lease = await ann.lock('tasks', 't1');
    expect(lease.token).toBe(1);
    expect(ann.leaseOf('tasks', 't1')).toEqual({ held: true, mine: true, owner: undefined });
    await expect
      .poll(() => bob.leaseOf('tasks', 't1'))
      .toEqual({ held: true, mine: false, owner: 'Ann' });
    await expect(bob.request('tasks', 't1')).rejects.toMatchObject({
      code: 'locked',
      owner: 'Ann',
    });
    await expect(
      bob.update<Task>('tasks', 't1', (d) => void (d.title = 'x')),
    ).rejects.toMatchObject({ code: 'locked' });
    expect(task(bob).title).toBe('Write docs');
    await ann.update<Task>('tasks', 't1', (d) => void (d.title = 'Mine'));
    lease.release();
    await expect
      .poll(() => bob.leaseOf('tasks', 't1'))
      .toEqual({ held: false, mine: false, owner: undefined });
    await expect.poll(() => task(bob).title).toBe('Mine');
  });

  it('on a subscribed source (params): the lease reaches every subscriber of that view, and the holder writes through it', async () => {
    const server = await live({
      dataSources: {
        tasks,
        byProject: {
          collection: 'tasks',
          params: z.object({ projectId: z.string() }),
          criteria: { projectId: '$projectId' },
          manifest: { title: true, done: true },
          writable: { fields: { title: true }, lockOwner: (identity) => identity.name },
        },
      },
    });
    const ann = collector(server, 'Ann');
    const bob = collector(server, 'Bob');
    const params = { projectId: 'p1' };
    const bobView = bob.subscribe<Task>('byProject', params);
    await Promise.all([ann.subscribe('byProject', params).ready(), bobView.ready()]);
    const lease = await ann.lock('byProject', 't1', params);
    expect(ann.leaseOf('byProject', 't1', params)).toMatchObject({ held: true, mine: true });
    await expect
      .poll(() => bob.leaseOf('byProject', 't1', params))
      .toEqual({ held: true, mine: false, owner: 'Ann' });
    await expect(
      bob.update<Task>('byProject', 't1', (d) => void (d.title = 'x'), params),
    ).rejects.toMatchObject({ code: 'locked' });
    await ann.update<Task>('byProject', 't1', (d) => void (d.title = 'Through the view'), params);
    await expect.poll(() => bobView.data?.[0]?.title).toBe('Through the view');
    lease.release();
    await expect
      .poll(() => bob.leaseOf('byProject', 't1', params))
      .toEqual({ held: false, mine: false, owner: undefined });
  });

  it('a holder that goes away: its lease expires after lockTtlMs and the waiter gets a larger token', async () => {
    const server = await live();
    const ann = collector(server, 'Ann');
    const bob = collector(server, 'Bob');
    await Promise.all([ann.ready(), bob.ready()]);
    await ann.lock('tasks', 't1');
    const waiting = bob.lock('tasks', 't1');
    ann.disconnect();
    const started = Date.now();
    const lease = await waiting;
    expect(lease.token).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(100);
  });
});
