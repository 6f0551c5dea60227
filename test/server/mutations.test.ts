import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import {
  MemoryAdapter,
  MutationError,
  Stream,
  mutator,
  type Adapter,
  type DataSource,
  type StreamOptions,
} from '../../src/server/index.js';
import type { ServerMessage } from '../../src/protocol/messages.js';
import { RawClient, startServer, type TestServer, type WireMessage } from '../support/server.js';

function chat(): MemoryAdapter {
  return new MemoryAdapter({
    collections: {
      memberships: [
        { _id: 'm1', userId: 'ann', channelId: 'c1' },
        { _id: 'm2', userId: 'bob', channelId: 'c1' },
        { _id: 'm3', userId: 'cat', channelId: 'c2' },
      ],
      messages: [{ _id: 'x1', channelId: 'c1', text: 'hello', authorId: 'bob' }],
    },
  });
}

const messages: DataSource = {
  collection: 'messages',
  criteria: { channelId: '@userId|memberships.userId>memberships.channelId' },
  manifest: { text: true, channelId: true, authorId: true },
};

let runs: { name: string; args: unknown }[] = [];
let gate: Promise<void> = Promise.resolve();

const mutators = {
  postMessage: mutator({
    args: z.object({ _id: z.string(), channelId: z.string(), text: z.string().min(1) }),
    run: async ({ identity, args, db }) => {
      runs.push({ name: 'postMessage', args });
      await gate;
      const member = await db.find('memberships', {
        userId: identity.userId,
        channelId: args.channelId,
      });
      if (member.length === 0) throw new MutationError('forbidden', 'not a member of this channel');
      await db.insert('messages', { ...args, authorId: identity.userId });
      return { _id: args._id };
    },
  }),
  touchNothing: mutator({ run: () => 'done' }),
  explode: mutator({
    run: () => {
      throw new Error('secret database password in here');
    },
  }),
  badCode: mutator({
    run: () => {
      throw new MutationError('Not A Code', 'x');
    },
  }),
  hang: mutator({ run: () => new Promise(() => undefined) }),
};

let server: TestServer | undefined;
const clients: RawClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = undefined;
  runs = [];
  gate = Promise.resolve();
});

async function start(options: Partial<StreamOptions> = {}): Promise<TestServer> {
  server = await startServer({
    adapter: chat(),
    dataSources: { messages },
    cacheConfig: {},
    mutators,
    ...options,
  });
  return server;
}

async function client(userId = 'ann'): Promise<RawClient> {
  const c = await RawClient.register((server as TestServer).url, { userId });
  clients.push(c);
  await c.ready();
  return c;
}

/** Every message received, batches unpacked, with the frame each came in. */
function flat(c: RawClient): (WireMessage & { frame: number })[] {
  return c.messages.flatMap((m, frame) =>
    m.type === 'batch'
      ? (m.messages as WireMessage[]).map((inner) => ({ ...inner, frame }))
      : [{ ...m, frame }],
  );
}
const mutated = (c: RawClient, id: string): WireMessage | undefined =>
  flat(c).find((m) => m.type === 'mutated' && m.id === id);
const answer = async (c: RawClient, id: string): Promise<WireMessage> => {
  await c.until(() => mutated(c, id) !== undefined);
  const { frame: _frame, ...m } = mutated(c, id) as WireMessage & { frame: number };
  return m;
};
const post = (id: string, text = 'hi', channelId = 'c1') => ({
  type: 'mutate',
  id,
  name: 'postMessage',
  args: { _id: `msg-${id}`, channelId, text },
});

describe('mutators', () => {
  it('acks by inclusion: the deltas a mutation caused and its mutated arrive in one batch frame', async () => {
    await start();
    const ann = await client('ann');
    const bob = await client('bob');
    ann.send(post('k1:1', 'first'));
    expect(await answer(ann, 'k1:1')).toEqual({
      type: 'mutated',
      id: 'k1:1',
      result: { _id: 'msg-k1:1' },
    });
    const batch = ann.messages.find((m) => m.type === 'batch') as WireMessage;
    const inner = batch.messages as WireMessage[];
    expect(inner.map((m) => m.type)).toEqual(['delta', 'mutated']);
    expect(inner[0]?.ops).toEqual([
      {
        operation: 'insert',
        id: 'msg-k1:1',
        data: { _id: 'msg-k1:1', text: 'first', channelId: 'c1', authorId: 'ann' },
      },
    ]);
    // Another member sees the message as a plain delta, and no answer.
    await bob.until(() => bob.of('delta', 'messages').length === 1);
    expect(bob.of('batch')).toEqual([]);
    expect(mutated(bob, 'k1:1')).toBeUndefined();
  });

  it('a mutator that writes nothing this client sees still gets mutated; the clients who see it get deltas', async () => {
    await start();
    const ann = await client('ann');
    const cat = await client('cat');
    ann.send({ type: 'mutate', id: 'k1:1', name: 'touchNothing' });
    expect(await answer(ann, 'k1:1')).toEqual({ type: 'mutated', id: 'k1:1', result: 'done' });
    // Cat writes into c2, which Ann cannot see: Ann gets nothing, Cat gets her delta and answer.
    cat.send(post('k2:1', 'in c2', 'c2'));
    expect(await answer(cat, 'k2:1')).toMatchObject({ result: { _id: 'msg-k2:1' } });
    const ops = flat(cat).filter((m) => m.type === 'delta');
    expect(ops).toHaveLength(1);
    expect(flat(ann).filter((m) => m.type === 'delta')).toEqual([]);
  });

  it('a MutationError reaches the client as is; any other throw is internal, and its text stays on the server', async () => {
    const debug: string[] = [];
    await start({
      onDebug: (m, d) => debug.push(`${m} ${String((d as Error | undefined)?.message)}`),
    });
    const cat = await client('cat');
    cat.send(post('k1:1', 'sneaky', 'c1'));
    expect(await answer(cat, 'k1:1')).toEqual({
      type: 'mutated',
      id: 'k1:1',
      error: { code: 'forbidden', message: 'not a member of this channel' },
    });
    cat.send({ type: 'mutate', id: 'k1:2', name: 'explode' });
    const exploded = await answer(cat, 'k1:2');
    expect(exploded).toMatchObject({ error: { code: 'internal' } });
    expect(JSON.stringify(cat.messages)).not.toContain('password');
    expect(debug.join('\n')).toContain('secret database password');
    cat.send({ type: 'mutate', id: 'k1:3', name: 'badCode' });
    expect(await answer(cat, 'k1:3')).toMatchObject({ error: { code: 'internal' } });
  });

  it('refuses bad args and unknown mutators with their codes, and writes nothing', async () => {
    const { adapter } = await start();
    const ann = await client('ann');
    ann.send({
      type: 'mutate',
      id: 'k1:1',
      name: 'postMessage',
      args: { channelId: 'c1', text: '' },
    });
    const bad = await answer(ann, 'k1:1');
    expect(bad).toMatchObject({ error: { code: 'bad_args' } });
    expect((bad.error as { message: string }).message).toContain('args.');
    ann.send({ type: 'mutate', id: 'k1:2', name: 'postMesage' });
    expect(await answer(ann, 'k1:2')).toMatchObject({
      error: { code: 'unknown_mutator', message: 'no mutator named postMesage' },
    });
    expect(adapter.findNow('messages')).toHaveLength(1);
    expect(runs).toEqual([]);
  });

  it('a malformed mutation id closes that socket with bad_message; the server serves the next client', async () => {
    await start();
    const ann = await client('ann');
    ann.send({ type: 'mutate', id: 'no colon here', name: 'touchNothing' });
    expect((await ann.closedWith()).code).toBe(4400);
    const bob = await client('bob');
    bob.send({ type: 'mutate', id: 'b:1', name: 'touchNothing' });
    expect(await answer(bob, 'b:1')).toMatchObject({ result: 'done' });
  });

  it('the same id sent twice runs once, and both get the first outcome', async () => {
    const { adapter } = await start();
    const ann = await client('ann');
    ann.send(post('k1:1', 'once'));
    ann.send(post('k1:1', 'once'));
    await ann.until(() => flat(ann).filter((m) => m.type === 'mutated').length === 2);
    const answers = flat(ann).filter((m) => m.type === 'mutated');
    expect(answers.map((m) => m.result)).toEqual([{ _id: 'msg-k1:1' }, { _id: 'msg-k1:1' }]);
    expect(runs).toHaveLength(1);
    expect(adapter.findNow('messages', { text: 'once' })).toHaveLength(1);
  });

  it('a resend with other args is bad_args and does not run; the same id from another identity is another mutation', async () => {
    await start();
    const ann = await client('ann');
    const bob = await client('bob');
    ann.send(post('k1:1', 'one'));
    await answer(ann, 'k1:1');
    ann.send({ ...post('k1:1', 'two'), id: 'k1:1' });
    await ann.until(() => flat(ann).filter((m) => m.type === 'mutated').length === 2);
    expect(flat(ann).filter((m) => m.type === 'mutated')[1]).toMatchObject({
      error: { code: 'bad_args' },
    });
    bob.send({ type: 'mutate', id: 'k1:1', name: 'touchNothing' });
    expect(await answer(bob, 'k1:1')).toMatchObject({ result: 'done' });
    expect(runs).toHaveLength(1);
  });

  it('two identities alike in everything criteria read still never share a mutation id', async () => {
    // Both read the same channel list: only `userId`, which no criteria reads, tells them apart.
    await start({
      dataSources: {
        messages: { collection: 'messages', criteria: { channelId: '@channels' }, manifest: true },
      },
    });
    const one = await RawClient.register((server as TestServer).url, {
      userId: 'ann',
      channels: ['c1'],
    });
    const two = await RawClient.register((server as TestServer).url, {
      userId: 'bob',
      channels: ['c1'],
    });
    clients.push(one, two);
    await Promise.all([one.ready(), two.ready()]);
    one.send(post('k:1', 'from ann'));
    await answer(one, 'k:1');
    two.send({ ...post('k:1'), args: { _id: 'msg-bob', channelId: 'c1', text: 'from bob' } });
    expect(await answer(two, 'k:1')).toEqual({
      type: 'mutated',
      id: 'k:1',
      result: { _id: 'msg-bob' },
    });
    expect(runs).toHaveLength(2);
  });

  it('a socket cut after the server ran the mutation but before mutated arrived: the resend on resume gets the first outcome, and it ran once', async () => {
    const { adapter, url } = await start();
    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    const first = await client('ann');
    const session = first.session();
    const position = {
      epoch: first.of('payload', 'messages')[0]?.epoch,
      version: 0,
    };
    first.send(post('k1:1', 'cut'));
    await new Promise<void>((r) => {
      const t = setInterval(() => {
        if (runs.length === 1) {
          clearInterval(t);
          r();
        }
      }, 2);
    });
    first.ws.terminate();
    await first.closedWith();
    open();
    // The run finishes while the client is away; the resumed link resends the same id.
    const second = new RawClient(url);
    clients.push(second);
    await second.opened;
    second.send({
      type: 'register',
      protocol: 2,
      identity: { userId: 'ann' },
      resume: { session, roots: { messages: position } },
    });
    second.send(post('k1:1', 'cut'));
    expect(await answer(second, 'k1:1')).toEqual({
      type: 'mutated',
      id: 'k1:1',
      result: { _id: 'msg-k1:1' },
    });
    expect(runs).toHaveLength(1);
    expect(adapter.findNow('messages', { text: 'cut' })).toHaveLength(1);
    // The resumed root replays the insert the mutation made.
    await second.until(() => flat(second).some((m) => m.type === 'delta'));
    expect(flat(second).find((m) => m.type === 'delta')?.ops).toMatchObject([
      { operation: 'insert', id: 'msg-k1:1' },
    ]);
  });

  it("a mutator that waits before its first write does not hold back the client's other live data", async () => {
    const { adapter } = await start();
    let open!: () => void;
    gate = new Promise<void>((r) => (open = r));
    const ann = await client('ann');
    ann.send(post('k1:1', 'later'));
    await ann.until(() => runs.length === 1);
    adapter.insert('messages', { _id: 'y1', channelId: 'c1', text: 'meanwhile', authorId: 'bob' });
    await ann.until(() => ann.of('delta', 'messages').length === 1);
    expect(mutated(ann, 'k1:1')).toBeUndefined();
    open();
    expect(await answer(ann, 'k1:1')).toMatchObject({ result: { _id: 'msg-k1:1' } });
    const batch = ann.messages.find((m) => m.type === 'batch') as WireMessage;
    expect((batch.messages as WireMessage[]).map((m) => m.type)).toEqual(['delta', 'mutated']);
  });

  it("a session's mutations run one at a time, in arrival order", async () => {
    let running = 0;
    let most = 0;
    const order: number[] = [];
    await start({
      mutators: {
        step: mutator({
          args: z.object({ n: z.number() }),
          run: async ({ args }) => {
            running++;
            most = Math.max(most, running);
            // Uneven run times: a mutation that overtook an earlier one would show in `order`.
            await new Promise((r) => setTimeout(r, args.n % 3));
            order.push(args.n);
            running--;
            return args.n;
          },
        }),
      },
    });
    const ann = await client('ann');
    for (let n = 1; n <= 20; n++)
      ann.send({ type: 'mutate', id: `k:${n}`, name: 'step', args: { n } });
    await ann.until(() => flat(ann).filter((m) => m.type === 'mutated').length === 20);
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(most).toBe(1);
    expect(
      flat(ann)
        .filter((m) => m.type === 'mutated')
        .map((m) => m.result),
    ).toEqual(order);
  });

  it('a mutation that does not settle in mutationTimeoutMs is answered mutation_timeout, and the next one runs', async () => {
    await start({ mutationTimeoutMs: 50 });
    const ann = await client('ann');
    ann.send({ type: 'mutate', id: 'k:1', name: 'hang' });
    ann.send({ type: 'mutate', id: 'k:2', name: 'touchNothing' });
    expect(await answer(ann, 'k:1')).toMatchObject({ error: { code: 'mutation_timeout' } });
    expect(await answer(ann, 'k:2')).toMatchObject({ result: 'done' });
  });

  it("a mutation that times out and writes afterwards does not hold back the client's later frames", async () => {
    let open!: () => void;
    const late = new Promise<void>((r) => (open = r));
    const { adapter } = await start({
      mutationTimeoutMs: 30,
      mutators: {
        ...mutators,
        slowWrite: mutator({
          run: async ({ db }) => {
            await late;
            await db.insert('messages', { _id: 'late', channelId: 'c1', text: 'late' });
          },
        }),
      },
    });
    const ann = await client('ann');
    ann.send({ type: 'mutate', id: 'k:1', name: 'slowWrite' });
    expect(await answer(ann, 'k:1')).toMatchObject({ error: { code: 'mutation_timeout' } });
    open();
    await ann.until(() => flat(ann).some((m) => m.type === 'delta'));
    adapter.insert('messages', { _id: 'after', channelId: 'c1', text: 'after' });
    await ann.until(() => flat(ann).filter((m) => m.type === 'delta').length === 2);
  });

  it('works in process: stream.register(...).send(mutate) gets the batch', async () => {
    const adapter = chat();
    const stream = new Stream({ adapter, dataSources: { messages }, cacheConfig: {}, mutators });
    const got: ServerMessage[] = [];
    const unregister = stream.register({ userId: 'ann' }, (_type, m) => got.push(m));
    await vi.waitFor(() => expect(got.some((m) => m.type === 'payload')).toBe(true));
    unregister.send({
      type: 'mutate',
      id: 'p:1',
      name: 'postMessage',
      args: { _id: 'm-p', channelId: 'c1', text: 'local' },
    });
    await vi.waitFor(() => expect(got.some((m) => m.type === 'batch')).toBe(true));
    const batch = got.find((m) => m.type === 'batch');
    expect(batch).toMatchObject({
      type: 'batch',
      messages: [{ type: 'delta' }, { type: 'mutated', id: 'p:1', result: { _id: 'm-p' } }],
    });
    unregister();
    await stream.disconnect();
  });
});

describe('mutators are checked when new Stream runs', () => {
  const base = { dataSources: { messages }, cacheConfig: {} };
  it('needs an adapter that can acknowledge by inclusion', () => {
    const memory = chat();
    const bare: Adapter = {
      find: (c, q, o) => memory.find(c, q, o),
      watch: (c, f, e) => memory.watch(c, f, e),
      close: () => memory.close(),
    };
    expect(() => new Stream({ ...base, adapter: bare, mutators })).toThrow(
      /mutators need an adapter with runWrites and settled/,
    );
  });
  it('names a misspelled key and a missing run', () => {
    expect(
      () =>
        new Stream({
          ...base,
          adapter: chat(),
          mutators: { a: { run: () => 1, transation: true } as never },
        }),
    ).toThrow("mutators.a: unknown key 'transation' (did you mean 'transaction'?)");
    expect(() => new Stream({ ...base, adapter: chat(), mutators: { a: {} as never } })).toThrow(
      /mutators.a: run must be a function/,
    );
  });
});
