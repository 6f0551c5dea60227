/**
 * A client process: holds many WebSockets to one server, parses every frame as a real client
 * would, counts delta frames and their bytes, samples write-to-client latency from the `t` field
 * the writer set, and follows the `ticks` field of each socket's subscription. Driven over IPC
 * by the benchmark process (see ./clients.ts).
 */
import WebSocket from 'ws';
import { Collector } from '../../src/client/index.js';
import type { ClientCommand, ClientReply, Envelope, Subscription } from './protocol.js';
import { sleep, wallMs } from './stats.js';

const SAMPLE_CAP = 50_000;
let sockets: WebSocket[] = [];
let received = 0;
let bytes = 0;
let seen = 0;
let samples: number[] = [];
let closes: Record<string, number> = {};
let progressTimer: ReturnType<typeof setInterval> | undefined;
/** The last `ticks` each subscribed socket learned (`null`: none yet). */
const ticks = new Map<WebSocket, number | null>();

function reply(id: number, message: ClientReply): void {
  process.send?.({ ...message, id });
}

function sample(latency: number): void {
  seen++;
  if (samples.length < SAMPLE_CAP) samples.push(latency);
  else {
    const j = Math.floor(Math.random() * seen);
    if (j < SAMPLE_CAP) samples[j] = latency;
  }
}

interface Frame {
  type?: string;
  /** A delta's ops in their wire form: `[operation, id, path?, data?]`. */
  ops?: unknown[][];
  id?: string;
  error?: { code?: string; message?: string };
  messages?: Frame[];
  /** A `payload`'s documents. */
  data?: { ticks?: unknown }[];
  /** Seapig's frames (the P11 baseline): `object-update` with a JSON Patch. */
  action?: string;
  patch?: { path?: string; value?: unknown }[];
}

/**
 * The `ticks` a frame tells its socket, if any: a payload's document, a delta's `set`, or a
 * Seapig `object-update`'s JSON Patch (the first one, from `{}`, adds `/ticks`).
 */
function ticksIn(frame: Frame): number | undefined {
  let found: unknown;
  if (frame.type === 'payload') found = frame.data?.[0]?.ticks;
  else if (frame.type === 'delta') {
    for (const op of frame.ops ?? []) if (op[0] === 'set' && op[2] === 'ticks') found = op[3];
  } else if (frame.type === 'batch') {
    for (const one of frame.messages ?? []) found = ticksIn(one) ?? found;
  } else if (frame.action === 'object-update') {
    for (const op of frame.patch ?? []) if (op.path === '/ticks') found = op.value;
  }
  return typeof found === 'number' ? found : undefined;
}

/** Mutations sent and not answered yet, by id: when each was sent, and whether it is sampled. */
const inFlight = new Map<string, { at: number; measured: boolean }>();
let mutations = {
  sent: 0,
  answered: 0,
  inBatch: 0,
  errors: 0,
  firstError: null as string | null,
};
let roundTrips: number[] = [];
let mutationSeq = 0;

function onMutated(frame: Frame, now: number, inBatch: boolean): void {
  const sent = frame.id === undefined ? undefined : inFlight.get(frame.id);
  if (sent === undefined) return;
  inFlight.delete(frame.id as string);
  if (frame.error) {
    mutations.errors++;
    mutations.firstError ??= `${frame.error.code}: ${frame.error.message}`;
  }
  if (!sent.measured) return;
  mutations.answered++;
  if (inBatch) mutations.inBatch++;
  roundTrips.push(now - sent.at);
}

function onFrame(text: string): Frame {
  const frame = JSON.parse(text) as Frame;
  if (frame.type === 'mutated') onMutated(frame, performance.now(), false);
  else if (frame.type === 'batch') {
    const now = performance.now();
    for (const one of frame.messages ?? []) if (one.type === 'mutated') onMutated(one, now, true);
  } else if (frame.type === 'delta') {
    // One delta may carry several writes (those of one tick): each write sets `t` once.
    let writes = 0;
    const now = wallMs();
    for (const op of frame.ops ?? []) {
      const data = op[3];
      if (op[0] === 'set' && op[2] === 't' && typeof data === 'number') {
        writes++;
        sample(now - data);
      }
    }
    received += Math.max(1, writes);
  } else if (frame.action === 'object-update') received++;
  return frame;
}

function openOne(
  url: string,
  identity: Record<string, unknown> | null,
  subscription: Subscription | null,
  readyPayloads: number,
  readyTicks: boolean,
  pause: boolean,
): Promise<boolean> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    sockets.push(ws);
    if (subscription) ticks.set(ws, null);
    let payloads = 0;
    let settled = false;
    const settle = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      if (ok && pause) ws.pause();
      resolve(ok);
    };
    ws.on('open', () => {
      if (identity) ws.send(JSON.stringify({ type: 'register', protocol: 2, identity }));
      // The server holds frames that arrive while it answers the register, in order.
      if (subscription) ws.send(JSON.stringify({ type: 'subscribe', ...subscription }));
      if (readyPayloads === 0 && !readyTicks) settle(true);
    });
    ws.on('message', (data) => {
      const text = String(data);
      bytes += Buffer.isBuffer(data) ? data.length : Buffer.byteLength(text);
      const frame = onFrame(text);
      if (subscription) {
        const value = ticksIn(frame);
        if (value !== undefined) ticks.set(ws, value);
        if (readyTicks && value !== undefined) settle(true);
      }
      if (frame.type === 'payload' && ++payloads === readyPayloads) settle(true);
    });
    ws.on('close', (code) => {
      closes[code] = (closes[code] ?? 0) + 1;
      settle(false);
    });
    ws.on('error', () => settle(false));
  });
}

async function connect(command: Extract<ClientCommand, { cmd: 'connect' }>): Promise<ClientReply> {
  let next = 0;
  let ready = 0;
  let failed = 0;
  const lane = async (): Promise<void> => {
    while (next < command.identities.length) {
      const i = next++;
      const ok = await openOne(
        command.url,
        command.identities[i] ?? null,
        command.subscriptions?.[i] ?? null,
        command.readyPayloads,
        command.readyTicks ?? false,
        command.pause,
      );
      if (ok) ready++;
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: command.concurrency }, lane));
  return { ev: 'connected', ready, failed };
}

function closeAll(): Promise<ClientReply> {
  const open = sockets.filter((ws) => ws.readyState !== WebSocket.CLOSED);
  const done = Promise.all(
    open.map((ws) => new Promise<void>((resolve) => ws.once('close', () => resolve()))),
  );
  for (const ws of open) ws.terminate();
  sockets = [];
  ticks.clear();
  return done.then(() => ({ ev: 'closed' }));
}

/** Time from creating a Collector to its `ready`, over a real socket. */
async function collectorReady(
  url: string,
  identity: Record<string, unknown>,
): Promise<ClientReply> {
  const t0 = performance.now();
  const collector = new Collector({ url, identity, WebSocket: WebSocket as never });
  await collector.ready();
  const ms = performance.now() - t0;
  const docs = Object.values(collector.data).reduce((n, root) => n + root.length, 0);
  collector.disconnect();
  return { ev: 'timed', ms, docs };
}

/** Time from opening a socket to parsing the one message a raw server answers with. */
function rawPayload(url: string): Promise<ClientReply> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'register', protocol: 2, identity: {} })));
    ws.on('message', (data) => {
      const docs = JSON.parse(String(data)) as unknown[];
      const ms = performance.now() - t0;
      ws.terminate();
      resolve({ ev: 'timed', ms, docs: docs.length });
    });
    ws.on('error', reject);
  });
}

/**
 * Sends `rate` mutations per second for `warmupMs + measureMs`, round-robin over the first
 * `senders` sockets, then waits (up to 10 s) for the answers; reports the measured round trips.
 */
async function mutateLoad(
  command: Extract<ClientCommand, { cmd: 'mutateLoad' }>,
): Promise<ClientReply> {
  const senders = sockets.slice(0, command.senders);
  if (senders.length === 0) throw new Error('no sockets to send mutations from');
  inFlight.clear();
  mutations = { sent: 0, answered: 0, inBatch: 0, errors: 0, firstError: null };
  roundTrips = [];
  const interval = 1000 / command.rate;
  const start = performance.now();
  const measureFrom = start + command.warmupMs;
  const end = measureFrom + command.measureMs;
  let next = start;
  let turn = 0;
  while (next < end) {
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
    const k = turn++ % senders.length;
    const ws = senders[k] as WebSocket;
    // Ids stay unique across calls: the server remembers each one's outcome for a while.
    const seq = ++mutationSeq;
    const id = `b${k}:${seq}`;
    const measured = next >= measureFrom;
    // A value no other process sends, so every write to a shared document changes it.
    const n = process.pid * 1_000_000 + seq;
    const frame = JSON.stringify({ type: 'mutate', id, name: command.name, args: { n } });
    inFlight.set(id, { at: performance.now(), measured });
    ws.send(frame);
    if (measured) mutations.sent++;
    next += interval;
  }
  const deadline = performance.now() + 10_000;
  while (inFlight.size > 0 && performance.now() < deadline) await sleep(20);
  inFlight.clear();
  return { ev: 'mutated', ...mutations, samples: roundTrips };
}

async function handle(command: ClientCommand): Promise<ClientReply> {
  switch (command.cmd) {
    case 'connect':
      return connect(command);
    case 'reset':
      received = 0;
      bytes = 0;
      seen = 0;
      samples = [];
      closes = {};
      return { ev: 'progress', received };
    case 'progress':
      clearInterval(progressTimer);
      progressTimer = undefined;
      if (command.everyMs > 0) {
        progressTimer = setInterval(
          () => process.send?.({ ev: 'progress', received, id: -1 }),
          command.everyMs,
        );
      }
      return { ev: 'progress', received };
    case 'report':
      return { ev: 'report', received, bytes, samples, closes };
    case 'ticks': {
      let right = 0;
      let missing = 0;
      for (const value of ticks.values()) {
        if (value === command.expected) right++;
        else if (value === null) missing++;
      }
      return { ev: 'ticks', right, wrong: ticks.size - right - missing, missing };
    }
    case 'closeAll':
      return closeAll();
    case 'collectorReady':
      return collectorReady(command.url, command.identity);
    case 'rawPayload':
      return rawPayload(command.url);
    case 'mutateLoad':
      return mutateLoad(command);
  }
}

process.on('message', (message: Envelope<ClientCommand>) => {
  handle(message).then(
    (result) => reply(message.id, result),
    (error: unknown) =>
      reply(message.id, {
        ev: 'error',
        message: error instanceof Error ? error.message : String(error),
      }),
  );
});
process.on('disconnect', () => process.exit(0));
