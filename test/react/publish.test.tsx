// @vitest-environment happy-dom
import { act, cleanup, render, screen, waitFor } from '@testing-library/react';
import { StrictMode, useState } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ParticleProvider, usePublish, useSubscription } from '../../src/react/index.js';
import { MemoryAdapter, Stream } from '../../src/server/index.js';

let stream: Stream | undefined;
afterEach(async () => {
  cleanup();
  await stream?.disconnect();
  stream = undefined;
});

let rename: (name: string) => void = () => undefined;
let leave: () => void = () => undefined;

function Viewer({ roomId }: { roomId: string }) {
  const [name, setName] = useState('Ann');
  const [here, setHere] = useState(true);
  rename = setName;
  leave = () => setHere(false);
  const { error } = usePublish('presence', { roomId }, here ? { name } : null);
  const { data } = useSubscription<{ _id: string; name: string; userId: string }>('presence', {
    roomId,
  });
  return (
    <span data-testid="who">
      {error
        ? `error: ${error.code}`
        : (data ?? []).map((d) => `${d.name}(${d.userId})`).join(', ')}
    </span>
  );
}

describe('usePublish', () => {
  it('publishes while mounted, updates when the value changes, and stops when it is null', async () => {
    stream = new Stream({
      adapter: new MemoryAdapter({ collections: {} }),
      dataSources: {
        presence: {
          published: 'many',
          params: z.object({ roomId: z.string() }),
          authorize: ({ params }) => params.roomId !== 'secret',
          accept: ({ identity, data }) => ({
            name: String((data as { name: unknown }).name),
            userId: identity.userId,
          }),
          manifest: { name: true, userId: true },
        },
      },
    });
    const s = stream;
    render(
      <StrictMode>
        <ParticleProvider register={s.register} identity={{ userId: 'ann' }}>
          <Viewer roomId="r1" />
        </ParticleProvider>
      </StrictMode>,
    );
    await waitFor(() => expect(screen.getByTestId('who').textContent).toBe('Ann(ann)'));
    act(() => rename('Ann (away)'));
    await waitFor(() => expect(screen.getByTestId('who').textContent).toBe('Ann (away)(ann)'));
    act(() => leave());
    await waitFor(() => expect(screen.getByTestId('who').textContent).toBe(''));
  });

  it('shows the refusal as error', async () => {
    stream = new Stream({
      adapter: new MemoryAdapter({ collections: {} }),
      dataSources: {
        presence: {
          published: 'many',
          params: z.object({ roomId: z.string() }),
          authorize: ({ params }) => params.roomId !== 'secret',
          manifest: true,
        },
      },
    });
    const s = stream;
    render(
      <ParticleProvider register={s.register} identity={{ userId: 'ann' }}>
        <Viewer roomId="secret" />
      </ParticleProvider>,
    );
    await waitFor(() => expect(screen.getByTestId('who').textContent).toBe('error: forbidden'));
  });
});
