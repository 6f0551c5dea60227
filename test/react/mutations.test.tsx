// @vitest-environment happy-dom
import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import { useLayoutEffect } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  MutationError,
  ParticleProvider,
  useMutation,
  useParticle,
  usePending,
} from '../../src/react/index.js';
import {
  MemoryAdapter,
  MutationError as Refusal,
  Stream,
  mutator,
} from '../../src/server/index.js';

type Task = { _id: string; title: string; projectId: string };

let gate: Promise<void> = Promise.resolve();
let stream: Stream | undefined;
afterEach(async () => {
  cleanup();
  await stream?.disconnect();
  stream = undefined;
  gate = Promise.resolve();
});

let adapter: MemoryAdapter | undefined;

function start(): Stream {
  adapter = new MemoryAdapter({
    collections: {
      tasks: [{ _id: 't1', title: 'Write docs', projectId: 'p1' }],
    },
  });
  stream = new Stream({
    adapter,
    dataSources: {
      tasks: {
        collection: 'tasks',
        criteria: { projectId: 'p1' },
        manifest: { title: true, projectId: true },
      },
    },
    mutators: {
      renameTask: mutator({
        args: z.object({ id: z.string(), title: z.string() }),
        run: async ({ args, db }) => {
          await gate;
          await db.update('tasks', { _id: args.id }, { $set: { title: args.title } });
        },
      }),
      addTask: mutator({
        args: z.object({ _id: z.string(), title: z.string(), projectId: z.string() }),
        run: async ({ args, db }) => {
          await gate;
          if (args.projectId !== 'p1') throw new Refusal('forbidden', 'not your project');
          await db.insert('tasks', args);
          return args._id;
        },
      }),
    },
  });
  return stream;
}

/** Every committed render's text, in order. */
const commits: string[] = [];
let add: ((task: Task) => Promise<unknown>) | undefined;
let rename: ((id: string, title: string) => Promise<unknown>) | undefined;

function Tasks() {
  const tasks = useParticle<Task[]>('tasks');
  const pending = usePending();
  const mutate = useMutation<Task, string>('addTask');
  add = (task) => mutate(task, { optimistic: (local) => local.insert('tasks', undefined, task) });
  const renameTask = useMutation<{ id: string; title: string }>('renameTask');
  rename = (id, title) =>
    renameTask(
      { id, title },
      {
        optimistic: (local) =>
          local.update('tasks', undefined, (docs) => {
            const task = docs.find((d) => d._id === id);
            if (task) task.title = `${String(task.title).split(' (')[0]} (${title})`;
          }),
      },
    );
  const text = `${tasks?.map((t) => t.title).join(',') ?? 'none'} | pending ${pending.length}`;
  useLayoutEffect(() => {
    commits.push(text);
  });
  return <span data-testid="tasks">{text}</span>;
}

async function mount(): Promise<void> {
  commits.length = 0;
  const s = start();
  render(
    <ParticleProvider register={s.register} identity={{ userId: 'ann' }}>
      <Tasks />
    </ParticleProvider>,
  );
  await waitFor(() =>
    expect(screen.getByTestId('tasks').textContent).toBe('Write docs | pending 0'),
  );
  commits.length = 0;
}

const hold = (): (() => void) => {
  let open!: () => void;
  gate = new Promise<void>((r) => (open = r));
  return open;
};

describe('useMutation and usePending', () => {
  it('show the optimistic task before the server answers, then the confirmed one, with no render in between', async () => {
    await mount();
    const open = hold();
    let done: Promise<unknown> | undefined;
    act(() => {
      done = add?.({ _id: 't2', title: 'Ship', projectId: 'p1' });
    });
    expect(screen.getByTestId('tasks').textContent).toBe('Write docs,Ship | pending 1');
    await act(async () => {
      open();
      await done;
    });
    expect(await done).toBe('t2');
    expect(commits).toEqual(['Write docs,Ship | pending 1', 'Write docs,Ship | pending 0']);
  });

  it('a server change on the path a pending mutation also changed shows rebased, then confirmed, never the old value', async () => {
    await mount();
    const open = hold();
    let done: Promise<unknown> | undefined;
    act(() => {
      done = rename?.('t1', 'mine');
    });
    // Someone else renames the same task meanwhile: the recipe runs again on top of it.
    act(() => {
      adapter?.update('tasks', { _id: 't1' }, { $set: { title: 'Docs' } });
    });
    await waitFor(() =>
      expect(screen.getByTestId('tasks').textContent).toBe('Docs (mine) | pending 1'),
    );
    await act(async () => {
      open();
      await done;
    });
    expect(commits).toEqual([
      'Write docs (mine) | pending 1',
      'Docs (mine) | pending 1',
      'mine | pending 0',
    ]);
  });

  it('a refused write disappears in exactly one render and rejects with the server code', async () => {
    await mount();
    let done: Promise<unknown> | undefined;
    await act(async () => {
      done = add?.({ _id: 'tx', title: 'Sneak', projectId: 'p2' }).catch((e: unknown) => e);
      await done;
    });
    const error = await done;
    expect(error).toBeInstanceOf(MutationError);
    expect(error).toMatchObject({ code: 'forbidden', message: 'not your project' });
    expect(commits).toEqual(['Write docs,Sneak | pending 1', 'Write docs | pending 0']);
  });
});
