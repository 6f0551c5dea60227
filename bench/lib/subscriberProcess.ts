/**
 * A subscriber process (P13): holds sockets that register once and then subscribe on command,
 * as a client opening live windows does, and times subscribe-to-payload on its first socket.
 * Driven over IPC by bench/scenarios/windows.ts. It speaks Particle's frames; the raw baseline
 * server answers with the same frame types (`registered`, `payload`, `unsubscribed`).
 */
import WebSocket from 'ws';

/** The fields of one `subscribe` frame. */
export interface SubscribeFrame {
  sub: string;
  source: string;
  params: unknown;
  limit?: number;
}

export type SubscriberCommand =
  /** Opens one socket per identity, each registered (answered `registered`) before it counts. */
  | { cmd: 'open'; url: string; identities: Record<string, unknown>[]; concurrency: number }
  /** This process's socket `index` subscribes with `frame`; resolves once every payload came. */
  | { cmd: 'subscribe'; subscriptions: { index: number; frame: SubscribeFrame }[] }
  /**
   * On the first socket, one after the other: each subscription's time from sending its
   * `subscribe` to parsing its `payload`; with `unsubscribe`, each is ended (and answered) before
   * the next, so its group is dropped and the next one on the same params loads again.
   */
  | { cmd: 'time'; subscriptions: SubscribeFrame[]; unsubscribe: boolean }
  | { cmd: 'close' };

export type SubscriberReply =
  | { ev: 'opened'; ready: number }
  /** `docs`: documents of every payload together. */
  | { ev: 'subscribed'; ready: number; docs: number }
  | { ev: 'timed'; samples: number[]; docs: number }
  | { ev: 'closed' }
  | { ev: 'error'; message: string };

interface Frame {
  type?: string;
  root?: string;
  sub?: string;
  data?: unknown[];
  code?: string;
  message?: string;
}

/** One socket and the frames it waits for, by `<type>:<root or sub>`. */
interface Link {
  ws: WebSocket;
  waiting: Map<string, { resolve: (frame: Frame, at: number) => void; reject: (e: Error) => void }>;
}

let links: Link[] = [];

function expect(
  link: Link,
  key: string,
  timeoutMs = 120_000,
): Promise<{ frame: Frame; at: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(link, key, `no ${key} within ${timeoutMs} ms`), timeoutMs);
    link.waiting.set(key, {
      resolve: (frame, at) => {
        clearTimeout(timer);
        if (frame.type === 'subscription_error') {
          reject(new Error(`subscription_error ${frame.code}: ${frame.message}`));
        } else resolve({ frame, at });
      },
      reject: (error) => {
        clearTimeout(timer);
        reject(error);
      },
    });
  });
}

/** Fails one waiter (or, without `key`, every waiter of the link). */
function fail(link: Link, key: string | undefined, message: string): void {
  for (const [k, waiter] of [...link.waiting]) {
    if (key !== undefined && k !== key) continue;
    link.waiting.delete(k);
    waiter.reject(new Error(message));
  }
}

/** What a frame answers: the key its waiter is filed under. */
function keyOf(frame: Frame): string | undefined {
  switch (frame.type) {
    case 'registered':
      return 'registered';
    case 'payload':
      return `payload:${frame.root}`;
    // A refusal answers the subscribe in place of its payload.
    case 'subscription_error':
      return `payload:${frame.sub}`;
    case 'unsubscribed':
      return `unsubscribed:${frame.sub}`;
    default:
      return undefined;
  }
}

function onFrame(link: Link, text: string): void {
  const frame = JSON.parse(text) as Frame;
  const at = performance.now();
  if (frame.type === 'error') return fail(link, undefined, `error ${frame.code}: ${frame.message}`);
  const key = keyOf(frame);
  const waiter = key === undefined ? undefined : link.waiting.get(key);
  if (!waiter) return;
  link.waiting.delete(key as string);
  waiter.resolve(frame, at);
}

async function openOne(url: string, identity: Record<string, unknown>): Promise<boolean> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  const link: Link = { ws, waiting: new Map() };
  ws.on('message', (data) => onFrame(link, String(data)));
  ws.on('error', () => undefined);
  ws.on('close', (code) => fail(link, undefined, `socket closed (${code})`));
  const opened = await new Promise<boolean>((resolve) => {
    ws.once('open', () => resolve(true));
    ws.once('close', () => resolve(false));
  });
  if (!opened) return false;
  const registered = expect(link, 'registered');
  ws.send(JSON.stringify({ type: 'register', protocol: 2, identity }));
  await registered;
  links.push(link);
  return true;
}

async function open(
  command: Extract<SubscriberCommand, { cmd: 'open' }>,
): Promise<SubscriberReply> {
  let next = 0;
  let ready = 0;
  const lane = async (): Promise<void> => {
    while (next < command.identities.length) {
      const identity = command.identities[next++] as Record<string, unknown>;
      if (await openOne(command.url, identity).catch(() => false)) ready++;
    }
  };
  await Promise.all(Array.from({ length: command.concurrency }, lane));
  return { ev: 'opened', ready };
}

function send(link: Link, subscription: SubscribeFrame): Promise<{ frame: Frame; at: number }> {
  const payload = expect(link, `payload:${subscription.sub}`);
  link.ws.send(JSON.stringify({ type: 'subscribe', ...subscription }));
  return payload;
}

async function subscribe(
  subscriptions: { index: number; frame: SubscribeFrame }[],
): Promise<SubscriberReply> {
  const answers = await Promise.all(
    subscriptions.map(({ index, frame }) => {
      const link = links[index];
      if (!link) throw new Error(`no socket ${index}`);
      return send(link, frame);
    }),
  );
  let ready = 0;
  let docs = 0;
  for (const answer of answers) {
    ready++;
    docs += answer.frame.data?.length ?? 0;
  }
  return { ev: 'subscribed', ready, docs };
}

async function time(
  command: Extract<SubscriberCommand, { cmd: 'time' }>,
): Promise<SubscriberReply> {
  const link = links[0];
  if (!link) throw new Error('no socket to subscribe from');
  const samples: number[] = [];
  let docs = 0;
  for (const subscription of command.subscriptions) {
    const t0 = performance.now();
    const { frame, at } = await send(link, subscription);
    samples.push(at - t0);
    docs = frame.data?.length ?? 0;
    if (command.unsubscribe) {
      const gone = expect(link, `unsubscribed:${subscription.sub}`);
      link.ws.send(JSON.stringify({ type: 'unsubscribe', sub: subscription.sub }));
      await gone;
    }
  }
  return { ev: 'timed', samples, docs };
}

function close(): Promise<SubscriberReply> {
  const open = links.filter((l) => l.ws.readyState !== WebSocket.CLOSED);
  const done = Promise.all(
    open.map(({ ws }) => new Promise<void>((resolve) => ws.once('close', () => resolve()))),
  );
  for (const { ws } of open) ws.terminate();
  links = [];
  return done.then(() => ({ ev: 'closed' }));
}

function handle(command: SubscriberCommand): Promise<SubscriberReply> {
  switch (command.cmd) {
    case 'open':
      return open(command);
    case 'subscribe':
      return subscribe(command.subscriptions);
    case 'time':
      return time(command);
    case 'close':
      return close();
  }
}

process.on('message', (message: SubscriberCommand & { id: number }) => {
  handle(message).then(
    (result) => process.send?.({ ...result, id: message.id }),
    (error: unknown) =>
      process.send?.({
        ev: 'error',
        message: error instanceof Error ? error.message : String(error),
        id: message.id,
      }),
  );
});
process.on('disconnect', () => process.exit(0));
