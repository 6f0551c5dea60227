// @vitest-environment happy-dom
import { act, cleanup, render } from '@testing-library/react';
import { Component, StrictMode, type ReactNode } from 'react';
import { renderToString } from 'react-dom/server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Collector } from '../../src/client/index.js';
import {
  ParticleProvider,
  useCollector,
  useParticle,
  useParticleStatus,
} from '../../src/react/index.js';
import { scriptedServer } from './scriptedServer.js';

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

/** Lets queued microtasks run (the provider disconnects a released collector in one). */
const flushMicrotasks = () => act(async () => {});

function Name() {
  const name = useParticle<string>('users.7.name');
  return <span data-testid="name">{name ?? 'none'}</span>;
}

function StatusAndError() {
  const status = useParticleStatus();
  const collector = useCollector();
  return (
    <span data-testid="status">
      {status} {collector?.error?.code ?? ''}
    </span>
  );
}

describe('an owned collector', () => {
  it('is created once under StrictMode and disconnected on unmount', async () => {
    const server = scriptedServer();
    const view = render(
      <StrictMode>
        <ParticleProvider register={server.register} identity={{ userId: 1 }}>
          <Name />
        </ParticleProvider>
      </StrictMode>,
    );
    await flushMicrotasks();
    expect(server.sessions).toHaveLength(1);
    expect(server.last.closed).toBe(false);

    act(() => server.last.accept({ users: [{ _id: 7, name: 'Ann' }] }));
    expect(view.getByTestId('name').textContent).toBe('Ann');

    view.unmount();
    await flushMicrotasks();
    expect(server.last.closed).toBe(true);
    expect(server.sessions).toHaveLength(1);
  });

  it('keeps its collector when identity is a new object with the same value', async () => {
    const server = scriptedServer();
    const view = render(
      <ParticleProvider register={server.register} identity={{ userId: 1, roles: ['a'] }}>
        <Name />
      </ParticleProvider>,
    );
    act(() => server.last.accept({ users: [{ _id: 7, name: 'Ann' }] }));
    view.rerender(
      <ParticleProvider register={server.register} identity={{ roles: ['a'], userId: 1 }}>
        <Name />
      </ParticleProvider>,
    );
    await flushMicrotasks();
    expect(server.sessions).toHaveLength(1);
    expect(server.last.closed).toBe(false);
    expect(view.getByTestId('name').textContent).toBe('Ann');
  });

  it('re-registers on a new identity value, and the old data is gone', async () => {
    const server = scriptedServer();
    const initialData = { users: [{ _id: 7, name: 'Server Ann' }] };
    const view = render(
      <ParticleProvider
        register={server.register}
        identity={{ userId: 1 }}
        initialData={initialData}
      >
        <Name />
      </ParticleProvider>,
    );
    expect(view.getByTestId('name').textContent).toBe('Server Ann');
    act(() => server.last.accept({ users: [{ _id: 7, name: 'Ann' }] }));
    const first = server.last;

    view.rerender(
      <ParticleProvider
        register={server.register}
        identity={{ userId: 2 }}
        initialData={initialData}
      >
        <Name />
      </ParticleProvider>,
    );
    // Neither the live data nor the initialData of the previous identity is shown.
    expect(view.getByTestId('name').textContent).toBe('none');
    await flushMicrotasks();
    expect(first.closed).toBe(true);
    expect(server.sessions).toHaveLength(2);
    expect(server.last.identity).toEqual({ userId: 2 });

    act(() => server.last.accept({ users: [{ _id: 7, name: 'Zed' }] }));
    expect(view.getByTestId('name').textContent).toBe('Zed');
  });

  it('shows a refused identity as status error with collector.error', async () => {
    const server = scriptedServer();
    const view = render(
      <ParticleProvider register={server.register} identity={{ userId: 'nobody' }}>
        <StatusAndError />
      </ParticleProvider>,
    );
    expect(view.getByTestId('status').textContent).toBe('waiting ');
    act(() => server.last.refuse('unknown user'));
    expect(view.getByTestId('status').textContent).toBe('error identity_rejected');
  });

  it('resolves a relative url against the page', async () => {
    const urls: string[] = [];
    class RecordingSocket {
      readonly readyState = 0;
      onopen = null;
      onmessage = null;
      onclose = null;
      onerror = null;
      constructor(url: string) {
        urls.push(url);
      }
      send() {}
      close() {}
    }
    const view = render(
      <ParticleProvider url="/particle" WebSocket={RecordingSocket} identity={{ userId: 1 }}>
        <Name />
      </ParticleProvider>,
    );
    const expected = new URL('/particle', window.location.href);
    expected.protocol = expected.protocol === 'https:' ? 'wss:' : 'ws:';
    expect(urls).toEqual([expected.href]);
    view.unmount();
    await flushMicrotasks();
  });
});

describe('between render and subscribe', () => {
  it('a message that lands there is not missed', () => {
    const server = scriptedServer();
    const collector = new Collector({ register: server.register, identity: { userId: 1 } });
    act(() => server.last.accept({ users: [{ _id: 7, name: 'Ann' }] }));
    let sent = false;
    // Renders after <Name /> and before any effect subscribed it.
    function SendDuringRender() {
      if (!sent) {
        sent = true;
        server.last.set('users', 7, 'name', 'Anna');
      }
      return null;
    }
    const view = render(
      <ParticleProvider collector={collector}>
        <Name />
        <SendDuringRender />
      </ParticleProvider>,
    );
    expect(sent).toBe(true);
    expect(view.getByTestId('name').textContent).toBe('Anna');
    collector.disconnect();
  });
});

describe('a given collector', () => {
  it('is used from the first render and never disconnected by the provider', async () => {
    const server = scriptedServer();
    const collector = new Collector({ register: server.register, identity: { userId: 1 } });
    act(() => server.last.accept({ users: [{ _id: 7, name: 'Ann' }] }));
    let seen: Collector | undefined;
    function Probe() {
      seen = useCollector();
      return null;
    }
    const view = render(
      <ParticleProvider collector={collector}>
        <Probe />
        <Name />
      </ParticleProvider>,
    );
    expect(seen).toBe(collector);
    expect(view.getByTestId('name').textContent).toBe('Ann');
    view.unmount();
    await flushMicrotasks();
    expect(collector.status).toBe('ready');
    collector.disconnect();
  });
});

describe('outside a provider', () => {
  class Catch extends Component<{ children: ReactNode }, { error?: Error }> {
    override state: { error?: Error } = {};
    static getDerivedStateFromError(error: Error) {
      return { error };
    }
    override render() {
      return this.state.error ? <p>{this.state.error.message}</p> : this.props.children;
    }
  }

  it.each([
    ['useParticle', Name],
    ['useParticleStatus', StatusAndError],
  ])('%s throws a message that says to add <ParticleProvider>', (hook, Used) => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    const view = render(
      <Catch>
        <Used />
      </Catch>,
    );
    expect(view.container.textContent).toMatch(
      new RegExp(`^${hook} must be used inside <ParticleProvider>: wrap the component tree`),
    );
  });

  it('throws during server rendering too', () => {
    expect(() => renderToString(<Name />)).toThrow(/wrap the component tree in <ParticleProvider/);
  });
});
