// @vitest-environment happy-dom
import { act, cleanup, render, screen } from '@testing-library/react';
import { StrictMode, useState } from 'react';
import { hydrateRoot, type Root } from 'react-dom/client';
import { renderToString } from 'react-dom/server';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { subscriptionKey } from '../../src/protocol/index.js';
import {
  ParticleProvider,
  useParticle,
  useSubscription,
  type SubscriptionState,
} from '../../src/react/index.js';
import { scriptedServer } from './scriptedServer.js';

afterEach(() => {
  cleanup();
  vi.restoreAllMocks();
});

const renders = new Map<string, number>();
const count = (name: string) => renders.set(name, (renders.get(name) ?? 0) + 1);

let latest: SubscriptionState | undefined;

function Messages({ channelId, limit }: { channelId: string; limit?: number }) {
  count('messages');
  const state = useSubscription('messages', { channelId }, limit === undefined ? {} : { limit });
  latest = state;
  const text = state.data?.map((d) => d.text).join(',') ?? 'none';
  return (
    <span data-testid="messages">
      {state.status} {state.error?.code ?? ''} {text} {String(state.more)}
    </span>
  );
}

function Users() {
  count('users');
  const users = useParticle<{ name: string }[]>('users');
  return <span data-testid="users">{users?.map((u) => u.name).join(',') ?? 'none'}</span>;
}

function OneMessage({ id }: { id: string }) {
  count(`message-${id}`);
  const message = useParticle<{ text: string }>(['messages', id], { channelId: 'c1' });
  return <span data-testid={`message-${id}`}>{message?.text ?? 'none'}</span>;
}

function setup(children: React.ReactNode, unsubscribeDelayMs?: number) {
  const server = scriptedServer();
  renders.clear();
  const view = render(
    <ParticleProvider
      register={server.register}
      identity={{ userId: 1 }}
      {...(unsubscribeDelayMs === undefined ? {} : { unsubscribeDelayMs })}
    >
      {children}
    </ParticleProvider>,
  );
  return { server, view };
}

const subscribes = (server: ReturnType<typeof scriptedServer>) =>
  server.last.sent.filter((m) => m.type === 'subscribe');
const unsubscribes = (server: ReturnType<typeof scriptedServer>) =>
  server.last.sent.filter((m) => m.type === 'unsubscribe');

describe('useSubscription', () => {
  it('goes waiting -> ready, follows deltas and more', () => {
    const { server } = setup(<Messages channelId="c1" />);
    expect(screen.getByTestId('messages').textContent).toBe('waiting  none undefined');
    act(() => server.last.accept({ users: [] }));
    expect(subscribes(server)).toEqual([
      {
        type: 'subscribe',
        sub: server.last.subOf('messages'),
        source: 'messages',
        params: { channelId: 'c1' },
      },
    ]);
    const sub = server.last.subOf('messages');
    act(() => server.last.subscribed(sub, [{ _id: 'a', text: 'hi' }]));
    expect(screen.getByTestId('messages').textContent).toBe('ready  hi undefined');
    act(() =>
      server.last.send({
        type: 'delta',
        root: sub,
        epoch: 'e2',
        version: 1,
        timestamp: 0,
        ops: [['set', 'a', 'text', 'hello']],
        more: true,
      }),
    );
    expect(screen.getByTestId('messages').textContent).toBe('ready  hello true');
  });

  it('a name that is no source ends in error with unknown_source', () => {
    const { server } = setup(<Messages channelId="c1" />);
    act(() => server.last.accept({ users: [] }));
    act(() =>
      server.last.send({
        type: 'subscription_error',
        sub: server.last.subOf('messages'),
        code: 'unknown_source',
        message: 'no data source named messages',
      }),
    );
    expect(screen.getByTestId('messages').textContent).toBe('error unknown_source none undefined');
    expect(latest?.error?.code).toBe('unknown_source');
  });

  it('setLimit changes the limit of the same wire subscription', () => {
    const { server } = setup(<Messages channelId="c1" limit={1} />);
    act(() => server.last.accept({ users: [] }));
    const sub = server.last.subOf('messages');
    act(() => server.last.subscribed(sub, [{ _id: 'a', text: 'hi' }]));
    act(() => latest?.setLimit(5));
    expect(subscribes(server).at(-1)).toEqual({
      type: 'subscribe',
      sub,
      source: 'messages',
      params: { channelId: 'c1' },
      limit: 5,
    });
    expect(screen.getByTestId('messages').textContent).toBe('ready  hi undefined');
  });

  it('keeps the subscription for unsubscribeDelayMs: StrictMode and a quick remount send one subscribe', async () => {
    function Toggle() {
      const [shown, setShown] = useState(true);
      toggle = () => setShown((s) => !s);
      return shown ? <Messages channelId="c1" /> : <span>elsewhere</span>;
    }
    let toggle = () => {};
    const server = scriptedServer();
    render(
      <StrictMode>
        <ParticleProvider
          register={server.register}
          identity={{ userId: 1 }}
          unsubscribeDelayMs={100}
        >
          <Toggle />
        </ParticleProvider>
      </StrictMode>,
    );
    await act(async () => {});
    act(() => server.last.accept({ users: [] }));
    const sub = server.last.subOf('messages');
    act(() => server.last.subscribed(sub, [{ _id: 'a', text: 'hi' }]));
    expect(subscribes(server)).toHaveLength(1);
    act(() => toggle());
    expect(screen.queryByTestId('messages')).toBeNull();
    act(() => toggle());
    // Shown at once from the subscription kept alive, and nothing more was sent.
    expect(screen.getByTestId('messages').textContent).toBe('ready  hi undefined');
    expect(subscribes(server)).toHaveLength(1);
    expect(unsubscribes(server)).toEqual([]);
    act(() => toggle());
    await vi.waitFor(() => expect(unsubscribes(server)).toEqual([{ type: 'unsubscribe', sub }]));
    expect(subscribes(server)).toHaveLength(1);
  });

  it('two components with the same source and params share one wire subscription', () => {
    const { server } = setup(
      <>
        <Messages channelId="c1" />
        <OneMessage id="a" />
      </>,
    );
    act(() => server.last.accept({ users: [] }));
    expect(subscribes(server)).toHaveLength(1);
    act(() => server.last.subscribed(server.last.subOf('messages'), [{ _id: 'a', text: 'hi' }]));
    expect(screen.getByTestId('message-a').textContent).toBe('hi');
  });
});

describe('re-renders', () => {
  it('a subscription wakes only its readers; an eager root only its own', () => {
    const { server } = setup(
      <>
        <Messages channelId="c1" />
        <OneMessage id="a" />
        <OneMessage id="b" />
        <Users />
      </>,
    );
    act(() => server.last.accept({ users: [{ _id: 1, name: 'Ann' }] }));
    const sub = server.last.subOf('messages');
    act(() =>
      server.last.subscribed(sub, [
        { _id: 'a', text: 'hi' },
        { _id: 'b', text: 'yo' },
      ]),
    );
    renders.clear();
    act(() => server.last.set('users', 1, 'name', 'Anna'));
    expect(Object.fromEntries(renders)).toEqual({ users: 1 });
    expect(screen.getByTestId('users').textContent).toBe('Anna');
    renders.clear();
    act(() => server.last.set(sub, 'b', 'text', 'yo!'));
    expect(Object.fromEntries(renders)).toEqual({ messages: 1, 'message-b': 1 });
    expect(screen.getByTestId('message-b').textContent).toBe('yo!');
    renders.clear();
    act(() => server.last.set(sub, 'b', 'text', 'yo!'));
    expect(Object.fromEntries(renders)).toEqual({});
  });
});

describe('useParticle with params', () => {
  it('reads a document by id from the subscription', () => {
    const { server } = setup(<OneMessage id="b" />);
    expect(screen.getByTestId('message-b').textContent).toBe('none');
    act(() => server.last.accept({}));
    act(() => server.last.subscribed(server.last.subOf('messages'), [{ _id: 'b', text: 'yo' }]));
    expect(screen.getByTestId('message-b').textContent).toBe('yo');
  });

  it('an unknown name gives undefined and one development warning', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const { server } = setup(
      <>
        <OneMessage id="a" />
        <OneMessage id="b" />
      </>,
    );
    act(() => server.last.accept({}));
    act(() =>
      server.last.send({
        type: 'subscription_error',
        sub: server.last.subOf('messages'),
        code: 'unknown_source',
        message: 'no data source named messages',
      }),
    );
    expect(screen.getByTestId('message-a').textContent).toBe('none');
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain('unknown_source');
  });

  it('an eager name the ready collector lacks warns once in development', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    function Things() {
      return <span>{useParticle<unknown[]>('things')?.length ?? 'none'}</span>;
    }
    const { server } = setup(
      <>
        <Things />
        <Things />
      </>,
    );
    act(() => server.last.accept({ users: [] }));
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain('no eager root');
  });
});

describe('server rendering', () => {
  it('renders initialData under the subscriptionKey, then hydrates to live data', async () => {
    const error = vi.spyOn(console, 'error');
    const server = scriptedServer();
    const initialData = {
      [subscriptionKey('messages', { channelId: 'c1' })]: [{ _id: 'a', text: 'ssr' }],
    };
    const app = (
      <ParticleProvider register={server.register} identity={{}} initialData={initialData}>
        <Messages channelId="c1" />
      </ParticleProvider>
    );
    const html = renderToString(app);
    expect(server.sessions).toHaveLength(0);
    const container = document.createElement('div');
    container.innerHTML = html;
    document.body.appendChild(container);
    expect(container.textContent).toBe('waiting  ssr undefined');
    let root: Root | undefined;
    await act(async () => {
      root = hydrateRoot(container, app);
    });
    expect(container.textContent).toBe('waiting  ssr undefined');
    act(() => server.last.accept({}));
    act(() => server.last.subscribed(server.last.subOf('messages'), [{ _id: 'a', text: 'live' }]));
    expect(container.textContent).toBe('ready  live undefined');
    expect(error).not.toHaveBeenCalled();
    act(() => root?.unmount());
    container.remove();
  });
});
