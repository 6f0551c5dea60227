import { describe, expectTypeOf, it } from 'vitest';
import type { Collector, Subscription } from '../../src/client/index.js';
import {
  ParticleProvider,
  useCollector,
  useParticle,
  useParticleStatus,
  useSubscription,
  type ParticlePath,
  type ParticleProviderProps,
  type ParticleStatus,
} from '../../src/react/index.js';

type User = { _id: number; name: string; address?: { state: string } };

describe('useParticle', () => {
  it('returns the declared type or undefined', () => {
    expectTypeOf(useParticle<User[]>('users')).toEqualTypeOf<User[] | undefined>();
    expectTypeOf(useParticle<User>(['users', 7])).toEqualTypeOf<User | undefined>();
    expectTypeOf(useParticle<string>('users.7.name')).toEqualTypeOf<string | undefined>();
    expectTypeOf(useParticle(['users', 'a.b', 'address'])).toEqualTypeOf<unknown>();
  });

  it('accepts string and tuple paths only', () => {
    expectTypeOf<'users.7'>().toExtend<ParticlePath>();
    expectTypeOf<readonly ['users', 7, 'address', 0]>().toExtend<ParticlePath>();
    // @ts-expect-error a path is a string or an array starting with the root name
    useParticle(7);
    // @ts-expect-error the array form needs at least the root
    useParticle([]);
    // @ts-expect-error the root is a string
    useParticle([1, 2]);
    // @ts-expect-error segments are strings or numbers
    useParticle(['users', { _id: 7 }]);
  });

  it('makes callers handle the missing value', () => {
    const user = useParticle<User>('users.7');
    // @ts-expect-error `user` may be undefined until the payload arrived
    void user.name;
    expectTypeOf(user?.name).toEqualTypeOf<string | undefined>();
  });
});

describe('other hooks', () => {
  it('types status and collector', () => {
    expectTypeOf(useParticleStatus()).toEqualTypeOf<ParticleStatus>();
    expectTypeOf(useParticleStatus()).toEqualTypeOf<
      'waiting' | 'ready' | 'reconnecting' | 'error' | 'closed'
    >();
    expectTypeOf(useCollector()).toEqualTypeOf<Collector | undefined>();
  });
});

describe('ParticleProvider props', () => {
  it('takes a collector or the options to create one', () => {
    expectTypeOf<{ collector: Collector }>().toExtend<ParticleProviderProps>();
    expectTypeOf<{
      url: string;
      identity: { sessionId: string };
    }>().toExtend<ParticleProviderProps>();
    expectTypeOf<{
      url: string;
      identity: Record<string, unknown>;
      initialData: { users: { _id: number }[] };
    }>().toExtend<ParticleProviderProps>();
    // @ts-expect-error options need an identity
    void (<ParticleProvider url="/particle" />);
    // @ts-expect-error a given collector excludes creation options
    void (<ParticleProvider collector={{} as Collector} identity={{}} />);
  });
});

describe('subscriptions', () => {
  type Message = { _id: string; text: string };

  it('useSubscription types its documents and status', () => {
    const state = useSubscription<Message>('messages', { channelId: 'c1' }, { limit: 50 });
    expectTypeOf(state.data).toEqualTypeOf<readonly Message[] | undefined>();
    expectTypeOf(state.status).toEqualTypeOf<'waiting' | 'ready' | 'error' | 'closed'>();
    expectTypeOf(state.more).toEqualTypeOf<boolean | undefined>();
    expectTypeOf(state.setLimit).toEqualTypeOf<(limit: number) => void>();
    expectTypeOf(state.error?.code).toExtend<string | undefined>();
    // @ts-expect-error limit is a number
    useSubscription('messages', {}, { limit: '50' });
  });

  it('useParticle takes params for an on-demand source', () => {
    expectTypeOf(useParticle<Message[]>('messages', { channelId: 'c1' })).toEqualTypeOf<
      Message[] | undefined
    >();
    expectTypeOf(useParticle<Message>(['messages', 'm1'], { channelId: 'c1' })).toEqualTypeOf<
      Message | undefined
    >();
  });

  it('the collector returns a typed handle, and the listener form still types', () => {
    const collector = {} as Collector;
    const sub = collector.subscribe<Message>('messages', { channelId: 'c1' });
    expectTypeOf(sub).toEqualTypeOf<Subscription<Message>>();
    expectTypeOf(sub.data).toEqualTypeOf<readonly Message[] | undefined>();
    expectTypeOf(sub.ready()).toEqualTypeOf<Promise<readonly Message[]>>();
    expectTypeOf(collector.subscribe(() => {})).toEqualTypeOf<() => void>();
  });
});
