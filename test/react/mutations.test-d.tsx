import Type from 'typebox';
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { Collector, type MutationError, type PendingMutation } from '../../src/client/index.js';
import { createParticleReact, useMutation, usePending } from '../../src/react/index.js';
import { MemoryAdapter, Stream, mutator } from '../../src/server/index.js';

const stream = new Stream({
  adapter: new MemoryAdapter(),
  dataSources: { tasks: { collection: 'tasks', manifest: true } },
  mutators: {
    postMessage: mutator({
      args: z.object({
        channelId: z.string(),
        text: z.string(),
        pinned: z.boolean().default(false),
      }),
      run: ({ args }) => {
        expectTypeOf(args).toEqualTypeOf<{ channelId: string; text: string; pinned: boolean }>();
        return { _id: `${args.channelId}-1` };
      },
    }),
    rename: mutator({
      args: Type.Object({ id: Type.Number(), title: Type.String() }),
      run: async ({ args }) => args.id,
    }),
    ping: mutator({ run: () => 'pong' as const }),
  },
});
type AppStream = typeof stream;

describe('collector.mutate typed by the Stream', () => {
  const collector = new Collector<AppStream>({ register: stream.register, identity: {} });

  it('takes the args schema input and resolves with what run returns', () => {
    expectTypeOf(collector.mutate('postMessage', { channelId: 'c', text: 'hi' })).toEqualTypeOf<
      Promise<{ _id: string }>
    >();
    expectTypeOf(collector.mutate('rename', { id: 1, title: 't' })).toEqualTypeOf<
      Promise<number>
    >();
    expectTypeOf(collector.mutate('ping')).toEqualTypeOf<Promise<'pong'>>();
  });

  it('refuses a misspelled name and a wrong args shape', () => {
    // @ts-expect-error no mutator named postMesage
    void collector.mutate('postMesage', {});
    // @ts-expect-error text is a string
    void collector.mutate('postMessage', { channelId: 'c', text: 1 });
    // @ts-expect-error args are required when the schema needs them
    void collector.mutate('rename');
  });

  it('is untyped without a Stream type', () => {
    const untyped = new Collector({ register: stream.register, identity: {} });
    expectTypeOf(untyped.mutate('anything', { x: 1 })).toEqualTypeOf<Promise<unknown>>();
    expectTypeOf(untyped.pending).toEqualTypeOf<readonly PendingMutation[]>();
  });
});

describe('React', () => {
  const typed = createParticleReact<AppStream>();

  it('useMutation from createParticleReact is typed by name, args and result', () => {
    const post = typed.useMutation('postMessage');
    expectTypeOf(post({ channelId: 'c', text: 'x' })).toEqualTypeOf<Promise<{ _id: string }>>();
    // @ts-expect-error no such mutator
    typed.useMutation('nope');
    // @ts-expect-error channelId is missing
    void post({ text: 'x' });
    expectTypeOf(typed.useCollector()).toEqualTypeOf<Collector<AppStream> | undefined>();
  });

  it('the untyped hooks take their types as parameters', () => {
    const add = useMutation<{ title: string }, string>('addTask');
    expectTypeOf(add({ title: 't' })).toEqualTypeOf<Promise<string>>();
    expectTypeOf(usePending()).toEqualTypeOf<readonly PendingMutation[]>();
    expectTypeOf<MutationError['code']>().toEqualTypeOf<string>();
  });
});
