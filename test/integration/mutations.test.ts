import type { Socket } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { z } from 'zod';
import { Collector, MutationError, type CollectorData } from '../../src/client/index.js';
import {
  MemoryAdapter,
  MutationError as ServerMutationError,
  mutator,
  type DataSource,
  type StreamOptions,
} from '../../src/server/index.js';
import { startServer, type TestServer } from '../support/server.js';

function store(): MemoryAdapter {
  return new MemoryAdapter({
    collections: {
      projects: [
        { _id: 'p1', members: ['ann', 'bob'] },
        { _id: 'p2', members: ['cat'] },
      ],
      tasks: [
        { _id: 't1', projectId: 'p1', title: 'Write docs', done: false },
        { _id: 't2', projectId: 'p2', title: "Cat's task", done: false },
      ],
    },
  });
}

const dataSources: Record<string, DataSource> = {
  tasks: {
    collection: 'tasks',
    criteria: { projectId: '@userId|projects.members>projects._id' },
    manifest: { title: true, done: true, projectId: true },
  },
  notes: {
    collection: 'tasks',
    params: z.object({ projectId: z.string() }),
    criteria: {
      projectId: '$projectId',
      $and: [{ projectId: '@userId|projects.members>projects._id' }],
    },
    manifest: { title: true },
  },
};

type Task = { _id: string; projectId: string; title: string; done: boolean };
let gate: Promise<void> = Promise.resolve();
let runs = 0;

async function member(
  db: Parameters<Parameters<typeof mutator>[0]['run']>[0]['db'],
  userId: unknown,
  projectId: string,
) {
  const found = await db.find('projects', { _id: projectId, members: userId });
  if (found.length === 0)
    throw new ServerMutationError('forbidden', 'not a member of this project');
}

const mutators: NonNullable<StreamOptions['mutators']> = {
  addTask: mutator({
    args: z.object({ _id: z.string(), projectId: z.string(), title: z.string().min(1) }),
    run: async ({ identity, args, db }) => {
      runs++;
      await gate;
      await member(db, identity.userId, args.projectId);
      await db.insert('tasks', { ...args, done: false });
      return { _id: args._id };
    },
  }),
  rename: mutator({
    args: z.object({ id: z.string(), title: z.string() }),
    run: async ({ args, db }) => {
      runs++;
      await gate;
      return db.update('tasks', { _id: args.id }, { $set: { title: args.title } });
    },
  }),
  addStamped: mutator({
    args: z.object({ projectId: z.string() }),
    run: async ({ args, db }) => {
      await gate;
      await db.insert('tasks', {
        _id: 'server-id',
        projectId: args.projectId,
        title: 'stamped',
        done: false,
      });
    },
  }),
};

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  gate = Promise.resolve();
  runs = 0;
});

async function live(options: Partial<StreamOptions> = {}): Promise<TestServer> {
  const server = await startServer({
    adapter: store(),
    dataSources,
    cacheConfig: {},
    mutators,
    ...options,
  });
  cleanups.push(() => server.close());
  return server;
}

function collector(server: TestServer, userId = 'ann', extra = {}): Collector {
  const c = new Collector({
    url: server.url,
    identity: { userId },
    WebSocket,
    reconnect: { minDelayMs: 5, maxDelayMs: 20 },
    ...extra,
  });
  cleanups.push(() => c.disconnect());
  return c;
}

/** Every distinct `data` a collector showed, in order (what a renderer would have drawn). */
function record(c: Collector): CollectorData[] {
  const frames: CollectorData[] = [];
  c.onNotice(() => {
    if (frames.at(-1) !== c.data) frames.push(c.data);
  });
  return frames;
}

const titles = (data: CollectorData) => ((data.tasks ?? []) as Task[]).map((t) => t.title);
const hold = (): (() => void) => {
  let open!: () => void;
  gate = new Promise<void>((r) => (open = r));
  return open;
};

describe('collector.mutate', () => {
  it('shows the optimistic change at once, and after mutated the confirmed one, with nothing in between', async () => {
    const server = await live();
    const ann = collector(server);
    await ann.ready();
    const frames = record(ann);
    const open = hold();
    const done = ann.mutate(
      'addTask',
      { _id: 't9', projectId: 'p1', title: 'Ship it' },
      {
        optimistic: (local) =>
          local.insert('tasks', undefined, {
            _id: 't9',
            projectId: 'p1',
            title: 'Ship it',
            done: false,
          }),
      },
    );
    expect(titles(ann.data)).toEqual(['Write docs', 'Ship it']);
    expect(ann.pending.map((p) => p.name)).toEqual(['addTask']);
    open();
    await expect(done).resolves.toEqual({ _id: 't9' });
    expect(ann.pending).toEqual([]);
    expect(titles(ann.data)).toEqual(['Write docs', 'Ship it']);
    // Every frame has exactly one "Ship it": never both the optimistic and the real, never neither.
    expect(frames.map(titles)).toEqual([
      ['Write docs', 'Ship it'],
      ['Write docs', 'Ship it'],
    ]);
    // With nothing pending, data is the confirmed snapshot itself.
    expect(ann.data.tasks?.find((t) => t._id === 't9')).toEqual({
      _id: 't9',
      projectId: 'p1',
      title: 'Ship it',
      done: false,
    });
  });

  it('a refused mutation rolls back in exactly one step and rejects with the server code', async () => {
    const server = await live();
    const ann = collector(server);
    await ann.ready();
    const before = ann.data;
    const frames = record(ann);
    const done = ann.mutate(
      'addTask',
      { _id: 'tx', projectId: 'p2', title: 'Sneak' },
      { optimistic: (local) => local.insert('tasks', undefined, { _id: 'tx', title: 'Sneak' }) },
    );
    const error = await done.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MutationError);
    expect(error).toMatchObject({ code: 'forbidden', message: 'not a member of this project' });
    expect(frames.map(titles)).toEqual([['Write docs', 'Sneak'], ['Write docs']]);
    expect(ann.data).toBe(before);
    expect(server.adapter.findNow('tasks', { _id: 'tx' })).toEqual([]);
  });

  it('a server change under a pending mutation shows the rebased result, then the confirmed value, never the old one', async () => {
    const server = await live();
    const ann = collector(server);
    await ann.ready();
    const frames = record(ann);
    const open = hold();
    const done = ann.mutate(
      'rename',
      { id: 't1', title: 'Mine' },
      {
        optimistic: (local) =>
          local.update('tasks', undefined, (docs) => {
            const t = docs.find((d) => d._id === 't1');
            if (t) t.title = 'Mine';
          }),
      },
    );
    // Someone else ticks the task off meanwhile: the recipe is re-run on top of it.
    server.adapter.update('tasks', { _id: 't1' }, { $set: { done: true } });
    await vi.waitFor(() =>
      expect(ann.data.tasks?.[0]).toMatchObject({ title: 'Mine', done: true }),
    );
    open();
    await done;
    expect(ann.data.tasks?.[0]).toMatchObject({ title: 'Mine', done: true });
    const shown = frames.map((d) => (d.tasks?.[0] as Task).title);
    expect(shown.every((t) => t === 'Mine')).toBe(true);
    expect(frames.map((d) => (d.tasks?.[0] as Task).done)).toEqual([false, true, true]);
  });

  it('a non-deterministic recipe (a random id) gives way to the server value without a double flicker', async () => {
    const server = await live();
    const ann = collector(server);
    await ann.ready();
    const frames = record(ann);
    const open = hold();
    const done = ann.mutate(
      'addStamped',
      { projectId: 'p1' },
      {
        optimistic: (local) =>
          local.insert('tasks', undefined, {
            _id: `temp-${Math.random()}`,
            projectId: 'p1',
            title: 'stamped',
            done: false,
            at: Date.now(),
          }),
      },
    );
    open();
    await done;
    expect(frames.map((d) => titles(d))).toEqual([
      ['Write docs', 'stamped'],
      ['Write docs', 'stamped'],
    ]);
    expect(ann.data.tasks?.map((t) => t._id)).toEqual(['t1', 'server-id']);
  });

  it('20 pending mutations and a cut socket: all run once, in order', async () => {
    const server = await live();
    const sockets = new Set<Socket>();
    server.server.on('connection', (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    const ann = collector(server);
    await ann.ready();
    const open = hold();
    const all = Array.from({ length: 20 }, (_, i) =>
      ann.mutate('addTask', { _id: `n${i}`, projectId: 'p1', title: `#${i}` }),
    );
    // The first one runs on the server (held at the gate), the others wait behind it.
    await vi.waitFor(() => expect(runs).toBe(1));
    // Cut the socket under the collector; it resumes and sends the unanswered ones again.
    const statuses: string[] = [];
    ann.onNotice((n) => {
      if (n.type === 'status') statuses.push(n.status);
    });
    expect(sockets.size).toBe(1);
    for (const socket of sockets) socket.destroy();
    await expect.poll(() => statuses).toEqual(['reconnecting', 'ready']);
    open();
    const results = await Promise.all(all);
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => ({ _id: `n${i}` })));
    expect(runs).toBe(20);
    const stored = server.adapter.findNow('tasks', { projectId: 'p1' }).map((t) => t.title);
    expect(stored).toEqual(['Write docs', ...Array.from({ length: 20 }, (_, i) => `#${i}`)]);
    expect(ann.pending).toEqual([]);
  });

  it('a mutation whose writes this client cannot see still resolves; the client that sees them gets them', async () => {
    const server = await live();
    const ann = collector(server);
    const cat = collector(server, 'cat');
    await Promise.all([ann.ready(), cat.ready()]);
    // Ann renames Cat's task (a mutator without a permission check: the app's choice).
    await expect(ann.mutate('rename', { id: 't2', title: 'Renamed by Ann' })).resolves.toBe(1);
    expect(titles(ann.data)).toEqual(['Write docs']);
    await expect.poll(() => titles(cat.data)).toEqual(['Renamed by Ann']);
  });

  it('optimistic changes reach subscriptions with the same params, and only those', async () => {
    const server = await live();
    const ann = collector(server);
    await ann.ready();
    const p1 = ann.subscribe('notes', { projectId: 'p1' });
    await p1.ready();
    const open = hold();
    const done = ann.mutate(
      'rename',
      { id: 't1', title: 'Renamed' },
      {
        optimistic: (local) => {
          local.update('notes', { projectId: 'p1' }, (docs) => {
            const t = docs.find((d) => d._id === 't1');
            if (t) t.title = 'Renamed';
          });
          local.update('notes', { projectId: 'p2' }, () => {
            throw new Error('never runs: no such view');
          });
        },
      },
    );
    expect(p1.data?.map((d) => d.title)).toEqual(['Renamed']);
    expect(titles(ann.data)).toEqual(['Write docs']);
    open();
    await done;
    expect(p1.data?.map((d) => d.title)).toEqual(['Renamed']);
    await expect.poll(() => titles(ann.data)).toEqual(['Renamed']);
  });

  it('times out with mutation_timeout, drops the recipe and does not resend', async () => {
    const server = await live();
    const ann = collector(server, 'ann', { mutationTimeoutMs: 50 });
    await ann.ready();
    hold();
    const done = ann.mutate(
      'rename',
      { id: 't1', title: 'Late' },
      {
        optimistic: (local) => local.remove('tasks', undefined, 't1'),
      },
    );
    expect(titles(ann.data)).toEqual([]);
    await expect(done).rejects.toMatchObject({ code: 'mutation_timeout' });
    expect(titles(ann.data)).toEqual(['Write docs']);
    expect(ann.pending).toEqual([]);
  });

  it('disconnect rejects what is pending with disconnected', async () => {
    const server = await live();
    const ann = collector(server);
    await ann.ready();
    hold();
    const done = ann.mutate('rename', { id: 't1', title: 'x' });
    ann.disconnect();
    await expect(done).rejects.toMatchObject({ code: 'disconnected' });
    expect(() => ann.mutate('')).toThrow(TypeError);
    expect(() => ann.mutate('rename', { big: 10n })).toThrow(/JSON/);
  });

  it('a register transport that cannot send refuses mutations with config, at once', async () => {
    const server = await live();
    const ann = new Collector({
      register: (identity, receive, done) => {
        const unregister = server.stream.register(identity, receive, done);
        return () => unregister();
      },
      identity: { userId: 'ann' },
    });
    cleanups.push(() => ann.disconnect());
    await ann.ready();
    await expect(ann.mutate('rename', { id: 't1', title: 'x' })).rejects.toMatchObject({
      code: 'config',
      message: expect.stringContaining('no way to send mutations'),
    });
    expect(ann.pending).toEqual([]);
  });

  it('works over stream.register in process', async () => {
    const server = await live();
    const ann = new Collector({ register: server.stream.register, identity: { userId: 'ann' } });
    cleanups.push(() => ann.disconnect());
    await ann.ready();
    await expect(
      ann.mutate('addTask', { _id: 'ip', projectId: 'p1', title: 'In process' }),
    ).resolves.toEqual({ _id: 'ip' });
    expect(titles(ann.data)).toEqual(['Write docs', 'In process']);
  });
});
