import type { Db, ObjectId } from 'mongodb';
import { describe, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { Collector, type Subscription } from '../../src/client/index.js';
import { createParticleReact, type SubscriptionState } from '../../src/react/index.js';
import { MemoryAdapter, Stream } from '../../src/server/index.js';
import { MongoAdapter } from '../../src/server/mongo/index.js';

// Models may be interfaces; the adapter carries them, type-level only.
interface Task {
  _id: string;
  projectId: string;
  title: string;
  done?: boolean;
  internalNote: string;
  createdAt: Date;
  owner: ObjectId;
  checklist: { text: string; done: boolean; by: string }[];
}
interface Project {
  _id: number;
  name: string;
}

const stream = new Stream({
  adapter: new MemoryAdapter<{ tasks: Task; projects: Project }>(),
  dataSources: {
    tasks: {
      collection: 'tasks',
      manifest: {
        title: true,
        done: true,
        createdAt: true,
        owner: true,
        checklist: { text: true },
      },
    },
    projects: { collection: 'projects', manifest: { name: true } },
    byProject: {
      collection: 'tasks',
      params: z.object({ projectId: z.string() }),
      criteria: { projectId: '$projectId' },
      manifest: { title: true },
    },
    stats: {
      params: z.object({ projectId: z.string() }),
      produce: async ({ params }) => ({ _id: String(params.projectId), total: 3, done: 1 }),
      manifest: true,
    },
    viewers: {
      published: 'many',
      accept: ({ identity }) => ({ name: String(identity.name), userId: String(identity.userId) }),
      manifest: { name: true },
    },
  },
});
type AppStream = typeof stream;

type TaskDoc = {
  _id: string;
  title: string;
  done?: boolean;
  createdAt: string;
  owner: string;
  checklist: { text: string }[];
};

describe('new Stream checks sources against the models', () => {
  it('refuses a manifest field the model lacks, at any depth, and an unknown collection', () => {
    void new Stream({
      adapter: new MemoryAdapter<{ tasks: Task }>(),
      // @ts-expect-error secret is not a field of Task
      dataSources: { tasks: { collection: 'tasks', manifest: { title: true, secret: true } } },
    });
    void new Stream({
      adapter: new MemoryAdapter<{ tasks: Task }>(),
      // @ts-expect-error checklist items have no field named colour
      dataSources: { tasks: { collection: 'tasks', manifest: { checklist: { colour: true } } } },
    });
    void new Stream({
      adapter: new MemoryAdapter<{ tasks: Task }>(),
      // @ts-expect-error no collection named taks
      dataSources: { tasks: { collection: 'taks', manifest: true } },
    });
    // Seeds are checked against the model too.
    // @ts-expect-error title is a string
    void new MemoryAdapter<{ tasks: Task }>({ collections: { tasks: [{ _id: 't', title: 1 }] } });
  });

  it('checks nothing without models', () => {
    void new Stream({
      adapter: new MemoryAdapter(),
      dataSources: { anything: { collection: 'x', manifest: { whatever: true } } },
    });
  });
});

describe('a typed Collector', () => {
  const collector = new Collector<AppStream>({ register: stream.register, identity: {} });

  it('types data by root: the manifest over the model, in wire types', () => {
    expectTypeOf(collector.data.tasks).toEqualTypeOf<readonly TaskDoc[] | undefined>();
    expectTypeOf(collector.data.projects).toEqualTypeOf<
      readonly { _id: number; name: string }[] | undefined
    >();
    // @ts-expect-error byProject takes params: it is not an eager root
    void collector.data.byProject;
  });

  it('types subscriptions by source and params', () => {
    expectTypeOf(collector.subscribe('byProject', { projectId: 'p1' })).toEqualTypeOf<
      Subscription<{ _id: string; title: string }>
    >();
    expectTypeOf(collector.subscribe('stats', { projectId: 'p1' })).toEqualTypeOf<
      Subscription<{ _id: string; total: number; done: number }>
    >();
    expectTypeOf(collector.subscribe('viewers')).toEqualTypeOf<
      Subscription<{ name: string; _id: string }>
    >();
    // @ts-expect-error no source named byProjet
    void collector.subscribe('byProjet', { projectId: 'p1' });
    // @ts-expect-error projectId is a string
    void collector.subscribe('byProject', { projectId: 1 });
    // @ts-expect-error byProject needs its params
    void collector.subscribe('byProject');
  });
});

describe('createParticleReact<AppStream>()', () => {
  const { useParticle, useSubscription, usePublish } = createParticleReact<AppStream>();

  it('types useParticle by root and by document', () => {
    expectTypeOf(useParticle('tasks')).toEqualTypeOf<readonly TaskDoc[] | undefined>();
    expectTypeOf(useParticle(['tasks', 't1'])).toEqualTypeOf<TaskDoc | undefined>();
    expectTypeOf(useParticle('byProject', { projectId: 'p1' })).toEqualTypeOf<
      readonly { _id: string; title: string }[] | undefined
    >();
    expectTypeOf(useParticle<string>('tasks.t1.title')).toEqualTypeOf<string | undefined>();
    // @ts-expect-error no root named taks
    useParticle('taks');
    // @ts-expect-error no root named taks, at any depth
    useParticle('taks.t1.title');
    // @ts-expect-error projectId is a string
    useParticle('byProject', { projectId: 7 });
  });

  it('types useSubscription and usePublish', () => {
    expectTypeOf(useSubscription('stats', { projectId: 'p1' })).toEqualTypeOf<
      SubscriptionState<{ _id: string; total: number; done: number }>
    >();
    usePublish('viewers', undefined, { here: true });
    // @ts-expect-error tasks is not a published source
    usePublish('tasks', undefined, { here: true });
  });
});

describe('MongoAdapter carries models too', () => {
  it('checks manifests and types documents in wire types (ObjectId and Date as strings)', () => {
    interface User {
      _id: ObjectId;
      name: string;
      joinedAt: Date;
      passwordHash: string;
    }
    const db = {} as Db;
    const mongoStream = new Stream({
      adapter: new MongoAdapter<{ users: User }>({ db }),
      dataSources: { users: { collection: 'users', manifest: { name: true, joinedAt: true } } },
    });
    const c = new Collector<typeof mongoStream>({ register: mongoStream.register, identity: {} });
    expectTypeOf(c.data.users).toEqualTypeOf<
      readonly { _id: string; name: string; joinedAt: string }[] | undefined
    >();
    void new Stream({
      adapter: new MongoAdapter<{ users: User }>({ db }),
      // @ts-expect-error password is not a field of User
      dataSources: { users: { collection: 'users', manifest: { password: true } } },
    });
  });
});
