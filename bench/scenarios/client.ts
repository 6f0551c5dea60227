/**
 * P4: one `set` into a 10k-document root through the Collector (validation, apply, snapshot,
 * notify), beside a bare Immer `produce` of the same change on the same frozen array; and
 * (with `batch` in its params) the Collector's CPU per delta frame, beside a bare parse.
 */
import { freeze, produce } from 'immer';
import { scriptedCollector } from '../lib/scriptedCollector.js';
import type { DeltaMessage, Doc } from '../../src/protocol/index.js';
import { median, percentile } from '../lib/stats.js';
import type { Figures } from './fanout.js';

export interface P4Params {
  docs: number;
  samples: number;
}

export async function p4(params: P4Params | P4DeltaParams): Promise<Figures> {
  return 'batch' in params ? p4delta(params) : p4apply(params);
}

async function p4apply(params: P4Params): Promise<Figures> {
  const docs: Doc[] = Array.from({ length: params.docs }, (_, i) => ({
    _id: i,
    name: `user ${i}`,
    email: `user${i}@example.com`,
    n: 0,
  }));
  const { collector, send } = scriptedCollector(docs);
  await collector.ready();

  let notified = 0;
  let events = 0;
  collector.subscribe(() => notified++);
  collector.on('users.n', () => events++);

  const particle: number[] = [];
  const immer: number[] = [];
  const warmup = Math.ceil(params.samples / 5);
  let base = freeze(
    docs.map((d) => ({ ...d })),
    true,
  );
  for (let run = 0; run < warmup + params.samples; run++) {
    const id = (run * 7919) % params.docs;
    const delta: DeltaMessage = {
      type: 'delta',
      root: 'users',
      epoch: 'e',
      version: run + 1,
      timestamp: Date.now(),
      ops: [['set', id, 'n', run + 1]],
    };
    const before = events;
    const t0 = performance.now();
    send(delta);
    const t1 = performance.now();
    if (events !== before + 1) throw new Error('the listener was not called synchronously');

    // The same change with the document's position already known: the strictest baseline.
    const t2 = performance.now();
    base = produce(base, (draft) => {
      (draft[id] as Doc).n = run + 1;
    });
    const t3 = performance.now();
    if (run >= warmup) {
      particle.push(t1 - t0);
      immer.push(t3 - t2);
    }
  }
  const check = collector.data.users?.[params.docs - 1];
  collector.disconnect();
  if (!check) throw new Error('the collector lost its data');
  return {
    collectorMedianUs: median(particle) * 1000,
    collectorP95Us: percentile(particle, 95) * 1000,
    immerMedianUs: median(immer) * 1000,
    immerP95Us: percentile(immer, 95) * 1000,
    notices: notified,
  };
}

/** The React path, measured by ../react-apply.ts when that module is present. */
export async function p4react(params: {
  docs: number;
  components: number;
  samples: number;
}): Promise<Figures> {
  const path = '../react-apply.js';
  const mod = (await import(path)) as {
    benchReactApply(options: typeof params): Promise<{
      particleToCommit: { medianMs: number };
      immerProduce: { medianMs: number };
      componentsWokenPerSet: number;
    }>;
  };
  const r = await mod.benchReactApply(params);
  return {
    reactMedianUs: r.particleToCommit.medianMs * 1000,
    immerFindMedianUs: r.immerProduce.medianMs * 1000,
    componentsWokenPerSet: r.componentsWokenPerSet,
  };
}

export interface P4DeltaParams {
  docs: number;
  /** Deltas per timed batch; the figure is a batch's time divided by this. */
  batch: number;
  batches: number;
  /** `listening`: an `on('users.n')` listener and a notice listener, as an app would have. */
  listening: boolean;
}

/** A WebSocket that hands the Collector text frames in-process: parse and apply, no network. */
function frameSocket(): {
  WebSocket: new (url: string) => unknown;
  frame: (text: string) => void;
} {
  const sockets: { onmessage: ((event: { data: unknown }) => void) | null }[] = [];
  class FrameSocket {
    readyState = 1;
    onopen: (() => void) | null = null;
    onmessage: ((event: { data: unknown }) => void) | null = null;
    onclose: ((event: unknown) => void) | null = null;
    onerror: ((event: unknown) => void) | null = null;
    constructor() {
      sockets.push(this);
      queueMicrotask(() => this.onopen?.());
    }
    send(): void {}
    close(): void {}
  }
  return {
    WebSocket: FrameSocket,
    frame: (text) => sockets.at(-1)?.onmessage?.({ data: text }),
  };
}

/**
 * P4 delta CPU: one `set` delta frame (text, as the socket hands it over) into a root of
 * `docs` documents, through the Collector's whole path (JSON.parse, validation, apply, freeze,
 * notices), beside a bare `JSON.parse` of the same frame and a handler that applies its op to a
 * plain Map of plain objects. Batches of both are interleaved so both see the same machine.
 */
async function p4delta(params: P4DeltaParams): Promise<Figures> {
  const { Collector } = await import('../../src/client/index.js');
  const docs: Doc[] = Array.from({ length: params.docs }, (_, i) => ({
    _id: i,
    name: `user ${i}`,
    email: `user${i}@example.com`,
    n: 0,
  }));
  const socket = frameSocket();
  const collector = new Collector({
    identity: { bench: true },
    url: 'ws://bench.invalid/',
    WebSocket: socket.WebSocket as never,
  });
  await new Promise((resolve) => setTimeout(resolve, 0));
  socket.frame(JSON.stringify({ type: 'registered', session: 'bench' }));
  socket.frame(JSON.stringify({ type: 'manifest', sources: { users: true } }));
  socket.frame(
    JSON.stringify({ type: 'payload', root: 'users', epoch: 'e', version: 0, data: docs }),
  );
  await collector.ready();
  let events = 0;
  let notices = 0;
  if (params.listening) {
    collector.on('users.n', () => events++);
    collector.onNotice(() => notices++);
  }
  const plain = new Map<number, Record<string, unknown>>(
    docs.map((d) => [d._id as number, { ...d }]),
  );
  const bare = (text: string): void => {
    const message = JSON.parse(text) as DeltaMessage;
    for (const op of message.ops) {
      const doc = plain.get(op[1] as number);
      if (doc !== undefined && op[0] === 'set') doc[op[2]] = op[3];
    }
  };
  let version = 0;
  const frames = (count: number): string[] =>
    Array.from({ length: count }, () => {
      version++;
      const id = (version * 7919) % params.docs;
      return `{"type":"delta","root":"users","epoch":"e","version":${version},"timestamp":${Date.now()},"ops":[["set",${id},"n",${version}]]}`;
    });
  const particle: number[] = [];
  const baseline: number[] = [];
  const warmup = Math.ceil(params.batches / 5);
  for (let run = 0; run < warmup + params.batches; run++) {
    const batch = frames(params.batch);
    const t0 = performance.now();
    for (const text of batch) socket.frame(text);
    const t1 = performance.now();
    for (const text of batch) bare(text);
    const t2 = performance.now();
    if (run >= warmup) {
      particle.push(((t1 - t0) * 1000) / params.batch);
      baseline.push(((t2 - t1) * 1000) / params.batch);
    }
  }
  const last = collector.data.users?.find((d) => d._id === (version * 7919) % params.docs);
  collector.disconnect();
  if (last?.n !== version) throw new Error('the collector did not apply every delta');
  if (params.listening && events !== version) throw new Error('a listener missed an event');
  return {
    collectorDeltaUs: median(particle),
    bareDeltaUs: median(baseline),
    notices,
  };
}
