import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import React, { act, useState } from 'react';
import { createRoot, type Root } from 'react-dom/client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import {
  ParticleProvider,
  useLock,
  useMutation,
  usePending,
  usePublish,
  useSubscription,
} from '../../src/react/index.js';
import { MemoryAdapter, MutationError, Stream, mutator } from '../../src/server/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const installed = existsSync(join(here, 'node_modules', 'react', 'package.json'));

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

let root: Root | undefined;
let stream: Stream | undefined;
afterEach(async () => {
  act(() => root?.unmount());
  root = undefined;
  await stream?.disconnect();
});

let rename: (title: string) => Promise<unknown> = async () => undefined;
let lock: () => Promise<unknown> = async () => undefined;

function Board() {
  const [name] = useState('Ann');
  usePublish('presence', { roomId: 'r1' }, { name });
  const here = useSubscription<{ _id: string; name: string }>('presence', { roomId: 'r1' });
  const tasks = useSubscription<{ _id: string; title: string }>('tasks', { projectId: 'p1' });
  const mutate = useMutation('rename');
  const pending = usePending();
  const lease = useLock('leased', 't1');
  rename = (title) =>
    mutate(
      { id: 't1', title },
      {
        optimistic: (local) =>
          local.update('tasks', { projectId: 'p1' }, (docs) => {
            const doc = docs.find((d) => d._id === 't1');
            if (doc) doc.title = title;
          }),
      },
    );
  lock = () => lease.lock();
  return (
    <p>
      {(here.data ?? []).map((d) => d.name).join(',')} | {tasks.data?.[0]?.title} | pending{' '}
      {pending.length} | {lease.mine ? 'mine' : 'free'}
    </p>
  );
}

describe.skipIf(!installed && process.env.CI !== 'true')('milestone 2 hooks on React 18', () => {
  it('useSubscription, usePublish, useMutation with an optimistic update, usePending, useLock', async () => {
    expect(React.version).toMatch(/^18\./);
    let release: (() => void) | undefined;
    const letGo = async () => {
      await vi.waitFor(() => expect(release).toBeTypeOf('function'));
      const go = release as () => void;
      release = undefined;
      go();
    };
    const adapter = new MemoryAdapter({
      collections: { tasks: [{ _id: 't1', projectId: 'p1', title: 'Write docs' }] },
    });
    stream = new Stream({
      adapter,
      dataSources: {
        tasks: {
          collection: 'tasks',
          params: z.object({ projectId: z.string() }),
          criteria: { projectId: '$projectId' },
          manifest: { title: true },
        },
        leased: { collection: 'tasks', manifest: { title: true }, writable: { fields: {} } },
        presence: { published: 'many', params: z.object({ roomId: z.string() }), manifest: true },
      },
      mutators: {
        rename: mutator({
          args: z.object({ id: z.string(), title: z.string() }),
          run: async ({ args, db }) => {
            await new Promise<void>((r) => (release = r));
            if (args.title === 'no') throw new MutationError('refused', 'no');
            await db.update('tasks', { _id: args.id }, { $set: { title: args.title } });
          },
        }),
      },
    });
    const s = stream;
    const container = document.createElement('div');
    await act(async () => {
      root = createRoot(container);
      root.render(
        <ParticleProvider register={s.register} identity={{}}>
          <Board />
        </ParticleProvider>,
      );
    });
    await vi.waitFor(() =>
      expect(container.textContent).toBe('Ann | Write docs | pending 0 | free'),
    );
    let done!: Promise<unknown>;
    await act(async () => {
      done = rename('Write the docs');
    });
    expect(container.textContent).toBe('Ann | Write the docs | pending 1 | free');
    await act(async () => {
      await letGo();
      await done;
    });
    expect(container.textContent).toBe('Ann | Write the docs | pending 0 | free');
    await act(async () => {
      done = rename('no').catch((e: unknown) => e);
    });
    expect(container.textContent).toBe('Ann | no | pending 1 | free');
    await act(async () => {
      await letGo();
      expect(await done).toMatchObject({ code: 'refused' });
    });
    expect(container.textContent).toBe('Ann | Write the docs | pending 0 | free');
    await act(async () => {
      await lock();
    });
    await vi.waitFor(() => expect(container.textContent).toContain('| mine'));
  });
});
