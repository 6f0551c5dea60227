import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  MemoryAdapter,
  mutator,
  type DataSource,
  type StreamOptions,
} from '../../src/server/index.js';
import { handledByServer } from '../support/handled.js';
import { quietFor } from '../support/quiet.js';
import { RawClient, startServer, type TestServer, type WireMessage } from '../support/server.js';

function store(): MemoryAdapter {
  return new MemoryAdapter({
    collections: {
      tasks: [
        { _id: 't1', projectId: 'p1', title: 'Write docs', done: false, notes: 'n' },
        { _id: 't2', projectId: 'p2', title: 'Secret plan', done: false, notes: 'n' },
      ],
    },
  });
}

const tasks: DataSource = {
  collection: 'tasks',
  criteria: { projectId: '@projectIds' },
  manifest: { title: true, done: true, notes: true, projectId: true },
  writable: {
    fields: { title: true, done: true },
    insert: true,
    allow: ({ identity }) => identity.readOnly !== true,
    lockOwner: (identity) => identity.name,
  },
};
const strict: DataSource = {
  collection: 'tasks',
  criteria: { projectId: '@projectIds' },
  manifest: { title: true },
  writable: { fields: { title: true }, requireLock: true },
};

const people = {
  ann: { userId: 'ann', name: 'Ann', projectIds: ['p1'] },
  bob: { userId: 'bob', name: 'Bob', projectIds: ['p1'] },
  cat: { userId: 'cat', name: 'Cat', projectIds: ['p1'] },
  eve: { userId: 'eve', name: 'Eve', projectIds: ['p1'], readOnly: true },
};

let server: TestServer | undefined;
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = undefined;
});

async function start(options: Partial<StreamOptions> = {}): Promise<TestServer> {
  server = await startServer({
    adapter: store(),
    dataSources: { tasks, strict },
    cacheConfig: {},
    lockTtlMs: 100,
    mutators: {
      purge: mutator({
        run: ({ args, db }) => db.remove('tasks', { _id: (args as { id: string }).id }),
      }),
    },
    ...options,
  });
  return server;
}

async function client(who: keyof typeof people): Promise<RawClient> {
  const c = await RawClient.register((server as TestServer).url, people[who]);
  clients.push(c);
  await c.ready();
  return c;
}

const flat = (c: RawClient): WireMessage[] =>
  c.messages.flatMap((m) => (m.type === 'batch' ? (m.messages as WireMessage[]) : [m]));
const answer = async (c: RawClient, id: string): Promise<WireMessage> => {
  await c.until(() => flat(c).some((m) => m.type === 'mutated' && m.id === id));
  return flat(c).find((m) => m.type === 'mutated' && m.id === id) as WireMessage;
};
const lockAnswer = async (c: RawClient, id: string): Promise<WireMessage> => {
  await c.until(() =>
    c.messages.some((m) => (m.type === 'locked' || m.type === 'lock_error') && m.id === id),
  );
  return c.messages.find(
    (m) => (m.type === 'locked' || m.type === 'lock_error') && m.id === id,
  ) as WireMessage;
};
let seq = 0;
const write = (c: RawClient, args: object): Promise<WireMessage> => {
  const id = `w:${++seq}`;
  c.send({ type: 'mutate', id, name: '$write', args });
  return answer(c, id);
};
const set = (root: string, id: string, path: string, data: unknown) => ({
  root,
  id,
  ops: [{ operation: 'set', path, data }],
});

describe('direct writes', () => {
  it('a set on a writable field reaches the database and every client that sees the document', async () => {
    const { adapter } = await start();
    const ann = await client('ann');
    const bob = await client('bob');
    expect(await write(ann, set('tasks', 't1', 'title', 'Docs!'))).toMatchObject({
      type: 'mutated',
    });
    expect(adapter.findNow('tasks', { _id: 't1' })[0]).toMatchObject({ title: 'Docs!' });
    const batch = ann.messages.find((m) => m.type === 'batch') as WireMessage;
    expect((batch.messages as WireMessage[]).map((m) => m.type)).toEqual([
      'delta',
      'delta',
      'mutated',
    ]);
    await bob.until(() => bob.ops('tasks').length === 1);
    expect(bob.ops('tasks')).toEqual([
      { operation: 'set', id: 't1', path: 'title', data: 'Docs!' },
    ]);
  });

  it('refuses, whole and with nothing written: a field outside writable.fields, a document outside the view, one that does not exist, an identity allow refuses, a remove the source does not take, an insert outside the view', async () => {
    const { adapter } = await start();
    const ann = await client('ann');
    const eve = await client('eve');
    const before = JSON.stringify(adapter.findNow('tasks'));
    const refusals = [
      await write(ann, {
        root: 'tasks',
        id: 't1',
        ops: [
          { operation: 'set', path: 'title', data: 'ok' },
          { operation: 'set', path: 'notes', data: 'x' },
        ],
      }),
      await write(ann, set('tasks', 't2', 'title', 'hijacked')),
      await write(ann, set('tasks', 'nope', 'title', 'x')),
      await write(eve, set('tasks', 't1', 'title', 'x')),
      await write(ann, { root: 'tasks', remove: 't1' }),
      await write(ann, { root: 'tasks', insert: { _id: 't9', projectId: 'p2', title: 'x' } }),
      await write(ann, set('tasks', 't1', '_id', 'x')),
    ];
    for (const r of refusals) expect(r).toMatchObject({ error: { code: 'forbidden' } });
    // Existence does not leak: outside the view and missing read the same.
    expect((refusals[1]?.error as { message: string }).message).toBe(
      'no document t2 in your view of tasks',
    );
    expect((refusals[2]?.error as { message: string }).message).toBe(
      'no document nope in your view of tasks',
    );
    expect(await write(ann, { root: 'nothing', id: 't1', ops: [] })).toMatchObject({
      error: { code: 'bad_args' },
    });
    expect(JSON.stringify(adapter.findNow('tasks'))).toBe(before);
  });

  it('an insert within the view and the writable fields is made; its id comes back', async () => {
    const { adapter } = await start();
    const ann = await client('ann');
    expect(
      await write(ann, { root: 'tasks', insert: { _id: 't3', projectId: 'p1', title: 'New' } }),
    ).toMatchObject({
      result: { id: 't3' },
    });
    expect(adapter.findNow('tasks', { _id: 't3' })).toEqual([
      { _id: 't3', projectId: 'p1', title: 'New' },
    ]);
  });

  it('two clients writing different fields of one document keep both; the same field converges to the last write', async () => {
    const { adapter } = await start();
    const ann = await client('ann');
    const bob = await client('bob');
    await Promise.all([
      write(ann, set('tasks', 't1', 'title', 'A')),
      write(bob, set('tasks', 't1', 'done', true)),
    ]);
    expect(adapter.findNow('tasks', { _id: 't1' })[0]).toMatchObject({ title: 'A', done: true });
    await Promise.all([
      write(ann, set('tasks', 't1', 'title', 'ann')),
      write(bob, set('tasks', 't1', 'title', 'bob')),
    ]);
    const final = adapter.findNow('tasks', { _id: 't1' })[0]?.title;
    const lastTitle = (c: RawClient) =>
      flat(c)
        .filter((m) => m.type === 'delta' && m.root === 'tasks')
        .flatMap((m) => m.ops as { path?: string; data?: unknown }[])
        .filter((op) => op.path === 'title')
        .at(-1)?.data;
    for (const c of [ann, bob]) await c.until(() => lastTitle(c) === final);
  });
});

describe('leases', () => {
  it('lock, request and release: one holder, the others told at once who holds it', async () => {
    await start();
    const ann = await client('ann');
    const bob = await client('bob');
    const cat = await client('cat');
    ann.send({ type: 'lock', id: 'l1', root: 'tasks', doc: 't1', wait: true });
    expect(await lockAnswer(ann, 'l1')).toMatchObject({ type: 'locked', token: 1 });
    bob.send({ type: 'lock', id: 'l1', root: 'tasks', doc: 't1', wait: false });
    expect(await lockAnswer(bob, 'l1')).toMatchObject({
      type: 'lock_error',
      code: 'locked',
      owner: 'Ann',
    });
    // Cat's two roots that show t1 (both writable) are each told.
    await cat.until(() => cat.of('lease').length === 2);
    expect(cat.of('lease')).toEqual([
      { type: 'lease', root: 'tasks', doc: 't1', held: true, owner: 'Ann' },
      { type: 'lease', root: 'strict', doc: 't1', held: true, owner: 'Ann' },
    ]);
    // Bob cannot release Ann's lease by naming its id; Bob's writes fail while Ann holds it.
    bob.send({ type: 'unlock', id: 'l1' });
    expect(await write(bob, set('tasks', 't1', 'title', 'x'))).toMatchObject({
      error: { code: 'locked' },
    });
    expect(await write(ann, set('tasks', 't1', 'title', 'mine'))).toMatchObject({
      type: 'mutated',
    });
    ann.send({ type: 'unlock', id: 'l1' });
    await cat.until(() => cat.of('lease').length === 4);
    expect(cat.of('lease')[2]).toEqual({ type: 'lease', root: 'tasks', doc: 't1', held: false });
    expect(await write(bob, set('tasks', 't1', 'title', 'now mine'))).not.toHaveProperty('error');
  });

  it('a write and the end of its lease in one tick: the others get the write before the lease ends', async () => {
    const srv = await start();
    const cat = await client('cat');
    const got: string[] = [];
    const ann = srv.stream.register(people.ann, (type) => got.push(type));
    await vi.waitFor(() => expect(got).toContain('payload'));
    ann.send({ type: 'lock', id: 'l1', root: 'tasks', doc: 't1', wait: true });
    await vi.waitFor(() => expect(got).toContain('locked'));
    await cat.until(() => cat.of('lease').length === 2);
    const from = flat(cat).length;
    srv.adapter.update('tasks', { _id: 't1' }, { $set: { title: 'last words' } });
    ann.send({ type: 'unlock', id: 'l1' }); // in the same tick: the lease ends now
    await cat.until(() => cat.of('lease').length === 4);
    const after = flat(cat)
      .slice(from)
      .filter((m) => m.root === 'tasks')
      .map((m) => (m.type === 'lease' ? `lease ${String(m.held)}` : m.type));
    expect(after).toEqual(['delta', 'lease false']);
  });

  it('a holder that crashes: the lease expires after lockTtlMs, the next waiter gets a larger token, a late write of the old holder is refused', async () => {
    const { adapter } = await start();
    const ann = await client('ann');
    const bob = await client('bob');
    ann.send({ type: 'lock', id: 'a', root: 'tasks', doc: 't1', wait: true });
    expect(await lockAnswer(ann, 'a')).toMatchObject({ token: 1 });
    bob.send({ type: 'lock', id: 'b', root: 'tasks', doc: 't1', wait: true });
    // Bob's lock now waits: an answer to it would have come before this.
    await handledByServer(bob);
    expect(bob.messages.some((m) => m.id === 'b')).toBe(false);
    ann.ws.terminate();
    const granted = await lockAnswer(bob, 'b');
    expect(granted).toMatchObject({ type: 'locked', token: 2 });
    // Ann comes back as a new session: her write is fenced off.
    const again = await client('ann');
    expect(await write(again, set('tasks', 't1', 'title', 'late'))).toMatchObject({
      error: { code: 'locked' },
    });
    expect(adapter.findNow('tasks', { _id: 't1' })[0]?.title).toBe('Write docs');
  });

  it('a holder that resumes keeps its lease and is told it again: same token, a later expiresAt', async () => {
    const { url, stream } = await start({ lockTtlMs: 300 });
    const ann = await client('ann');
    ann.send({ type: 'lock', id: 'a', root: 'tasks', doc: 't1', wait: true });
    const first = await lockAnswer(ann, 'a');
    const session = ann.session();
    // The clock moves on from the grant, so that the resume's expiresAt can be later.
    const grantedAt = Date.parse(String(first.expiresAt)) - 300;
    await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(grantedAt));
    ann.ws.terminate();
    await vi.waitFor(() => expect(stream.stats().clients).toBe(0));
    const back = new RawClient(url);
    clients.push(back);
    await back.opened;
    back.send({
      type: 'register',
      protocol: 2,
      identity: people.ann,
      resume: { session, roots: {} },
    });
    await back.until(() => back.of('locked').length === 1);
    const again = back.of('locked')[0] as WireMessage;
    expect(again).toMatchObject({ id: 'a', token: first.token });
    expect(Date.parse(String(again.expiresAt))).toBeGreaterThan(
      Date.parse(String(first.expiresAt)),
    );
    // Still held past the old expiry: the resume kept it alive.
    await quietFor(350);
    const bob = await client('bob');
    bob.send({ type: 'lock', id: 'b', root: 'tasks', doc: 't1', wait: false });
    expect(await lockAnswer(bob, 'b')).toMatchObject({ type: 'lock_error', code: 'locked' });
  });

  it('three and more contenders are served in arrival order, each with a larger token', async () => {
    await start();
    const [ann, bob, cat] = [await client('ann'), await client('bob'), await client('cat')];
    ann.send({ type: 'lock', id: 'x', root: 'tasks', doc: 't1', wait: true });
    await lockAnswer(ann, 'x');
    bob.send({ type: 'lock', id: 'x', root: 'tasks', doc: 't1', wait: true });
    await handledByServer(bob);
    cat.send({ type: 'lock', id: 'x', root: 'tasks', doc: 't1', wait: true });
    await handledByServer(cat);
    ann.send({ type: 'unlock', id: 'x' });
    expect(await lockAnswer(bob, 'x')).toMatchObject({ token: 2 });
    expect(cat.messages.some((m) => m.type === 'locked')).toBe(false);
    bob.send({ type: 'unlock', id: 'x' });
    expect(await lockAnswer(cat, 'x')).toMatchObject({ token: 3 });
  });

  it('a waiting lock is cancelled when its socket closes', async () => {
    const { stream } = await start();
    const [ann, bob, cat] = [await client('ann'), await client('bob'), await client('cat')];
    ann.send({ type: 'lock', id: 'x', root: 'tasks', doc: 't1', wait: true });
    await lockAnswer(ann, 'x');
    bob.send({ type: 'lock', id: 'x', root: 'tasks', doc: 't1', wait: true });
    await handledByServer(bob);
    bob.close();
    await bob.closedWith();
    // The server has seen Bob's link close (not only Bob's end of it).
    await vi.waitFor(() => expect(stream.stats().clients).toBe(2));
    ann.send({ type: 'unlock', id: 'x' });
    cat.send({ type: 'lock', id: 'y', root: 'tasks', doc: 't1', wait: false });
    expect(await lockAnswer(cat, 'y')).toMatchObject({ type: 'locked', token: 2 });
  });

  it("another session's mutator cannot remove or update a leased document (locked), the holder's can", async () => {
    const { adapter } = await start();
    const ann = await client('ann');
    const bob = await client('bob');
    ann.send({ type: 'lock', id: 'x', root: 'tasks', doc: 't1', wait: true });
    await lockAnswer(ann, 'x');
    bob.send({ type: 'mutate', id: 'm:1', name: 'purge', args: { id: 't1' } });
    expect(await answer(bob, 'm:1')).toMatchObject({ error: { code: 'locked' } });
    expect(adapter.findNow('tasks', { _id: 't1' })).toHaveLength(1);
    ann.send({ type: 'mutate', id: 'm:1', name: 'purge', args: { id: 't1' } });
    const mine = await answer(ann, 'm:1');
    expect(mine).toMatchObject({ result: 1 });
  });

  it('a changed identity that no longer sees the document ends its lease (cancelled)', async () => {
    const projects: Record<string, string[]> = { ann: ['p1'], bob: ['p1'] };
    const { stream } = await start({
      identityLookup: (claimed) => ({ ...claimed, projectIds: projects[String(claimed.userId)] }),
    });
    const ann = await client('ann');
    const bob = await client('bob');
    ann.send({ type: 'lock', id: 'x', root: 'tasks', doc: 't1', wait: true });
    await lockAnswer(ann, 'x');
    projects.ann = [];
    await stream.reauthorize((identity) => identity.userId === 'ann');
    await ann.until(() => ann.of('lock_error').length === 1);
    expect(ann.of('lock_error')[0]).toMatchObject({ id: 'x', code: 'cancelled' });
    bob.send({ type: 'lock', id: 'y', root: 'tasks', doc: 't1', wait: false });
    expect(await lockAnswer(bob, 'y')).toMatchObject({ type: 'locked', token: 2 });
  });

  it('requireLock: a direct write needs the lease', async () => {
    await start();
    const ann = await client('ann');
    expect(await write(ann, set('strict', 't1', 'title', 'x'))).toMatchObject({
      error: { code: 'locked' },
    });
    ann.send({ type: 'lock', id: 'x', root: 'strict', doc: 't1', wait: false });
    await lockAnswer(ann, 'x');
    expect(await write(ann, set('strict', 't1', 'title', 'x'))).not.toHaveProperty('error');
  });

  it('refuses leases outside the view, on unknown or read-only sources, for identities allow refuses, and past maxLeases', async () => {
    await start({
      maxLeases: 1,
      dataSources: { tasks, strict, plain: { collection: 'tasks', manifest: true } },
    });
    const ann = await client('ann');
    const eve = await client('eve');
    const ask = async (c: RawClient, id: string, root: string, doc: string) => {
      c.send({ type: 'lock', id, root, doc, wait: false });
      return lockAnswer(c, id);
    };
    expect(await ask(ann, 'a', 'tasks', 't2')).toMatchObject({ code: 'forbidden' });
    expect(await ask(ann, 'b', 'nothing', 't1')).toMatchObject({ code: 'unknown_source' });
    expect(await ask(ann, 'c', 'plain', 't1')).toMatchObject({ code: 'forbidden' });
    expect(await ask(eve, 'd', 'tasks', 't1')).toMatchObject({ code: 'forbidden' });
    expect(await ask(ann, 'e', 'tasks', 't1')).toMatchObject({ type: 'locked' });
    expect(await ask(ann, 'f', 'strict', 't1')).toMatchObject({ code: 'too_many_leases' });
  });
});

describe('writable is checked when new Stream runs', () => {
  it('names a misspelled key', async () => {
    await expect(
      start({
        dataSources: { tasks: { ...tasks, writable: { feilds: { title: true } } as never } },
      }),
    ).rejects.toThrow("dataSources.tasks.writable: unknown key 'feilds' (did you mean 'fields'?)");
  });
});
