// @vitest-environment happy-dom
import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';
import { ParticleProvider, useLock, useParticle, type LockState } from '../../src/react/index.js';
import { MemoryAdapter, Stream } from '../../src/server/index.js';

let stream: Stream | undefined;
afterEach(async () => {
  cleanup();
  await stream?.disconnect();
  stream = undefined;
});

const locks: Record<string, LockState> = {};

function Editor({ who }: { who: string }) {
  const tasks = useParticle<{ _id: string; title: string }[]>('tasks');
  const lock = useLock('tasks', 't1');
  locks[who] = lock;
  const holder = lock.mine ? 'me' : lock.held ? String(lock.owner) : 'nobody';
  return (
    <span data-testid={who}>
      {tasks?.[0]?.title ?? 'none'} | held by {holder}
    </span>
  );
}

describe('useLock', () => {
  it('shows live who holds a lease, to the holder and to every other viewer', async () => {
    stream = new Stream({
      adapter: new MemoryAdapter({ collections: { tasks: [{ _id: 't1', title: 'Write docs' }] } }),
      dataSources: {
        tasks: {
          collection: 'tasks',
          manifest: { title: true },
          writable: { fields: { title: true }, lockOwner: (identity) => identity.name },
        },
      },
    });
    const s = stream;
    render(
      <>
        <ParticleProvider register={s.register} identity={{ name: 'Ann' }}>
          <Editor who="ann" />
        </ParticleProvider>
        <ParticleProvider register={s.register} identity={{ name: 'Bob' }}>
          <Editor who="bob" />
        </ParticleProvider>
      </>,
    );
    await waitFor(() =>
      expect(screen.getByTestId('bob').textContent).toBe('Write docs | held by nobody'),
    );
    await act(async () => {
      await locks.ann?.lock();
    });
    await waitFor(() => {
      expect(screen.getByTestId('ann').textContent).toBe('Write docs | held by me');
      expect(screen.getByTestId('bob').textContent).toBe('Write docs | held by Ann');
    });
    await act(async () => {
      await expect(locks.bob?.request()).rejects.toMatchObject({ code: 'locked', owner: 'Ann' });
    });
    act(() => locks.ann?.release());
    await waitFor(() => {
      expect(screen.getByTestId('ann').textContent).toBe('Write docs | held by nobody');
      expect(screen.getByTestId('bob').textContent).toBe('Write docs | held by nobody');
    });
  });
});
