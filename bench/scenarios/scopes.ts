/**
 * P12 (one contended scope, many processes): `writers` separate processes each run `each`
 * increments of `count` in one scope, `inFlight` at a time, on a file, Redis or MySQL store,
 * until done or `budgetMs` has passed. Particle: `scopes.scoped` (a compare-and-set on the
 * version, jittered exponential backoff, the default retry). Beside it, the seed's algorithm
 * (bench/lib/seedScopes.ts: top-level change detection, a fixed 100 ms retry, its one Redis
 * key on one connection, its file writes). The figures: the final count against the
 * increments each system acknowledged (lost = acknowledged - final), and increments in the
 * store per second.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  openCounter,
  removeTarget,
  unavailable,
  type ScopeSystem,
  type ScopeTarget,
  type StoreKind,
} from '../lib/scopeStores.js';
import type { WriterGo, WriterReply } from '../lib/scopeWriter.js';
import { wallMs } from '../lib/stats.js';
import type { Figures } from './fanout.js';

const writerScript = fileURLToPath(new URL('../lib/scopeWriter.ts', import.meta.url));

export interface P12Params {
  kind: StoreKind;
  system: ScopeSystem;
  writers: number;
  /** Increments per writer. */
  each: number;
  /** Increments each writer keeps in flight (a server answering several requests at once). */
  inFlight: number;
  /** When the writers stop, from the start: what is unfinished then counts as `timeouts`. */
  budgetMs: number;
}

type Done = Extract<WriterReply, { ev: 'done' }>;

/** Starts a writer; resolves once it is ready, with a function that runs it to its report. */
function startWriter(
  target: ScopeTarget,
  params: P12Params,
): Promise<(go: WriterGo) => Promise<Done>> {
  const child: ChildProcess = fork(
    writerScript,
    [JSON.stringify(target), String(params.each), String(params.inFlight)],
    { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] },
  );
  let onReply: (reply: WriterReply) => void = () => {};
  let failed: (error: Error) => void = () => {};
  child.on('message', (reply: WriterReply) => onReply(reply));
  child.on('exit', (code) => failed(new Error(`a P12 writer exited with ${code} early`)));
  const expect = <T extends WriterReply['ev']>(ev: T) =>
    new Promise<Extract<WriterReply, { ev: T }>>((resolve, reject) => {
      failed = reject;
      onReply = (reply) => {
        if (reply.ev === ev) resolve(reply as Extract<WriterReply, { ev: T }>);
        else if (reply.ev === 'error') reject(new Error(`P12 writer: ${reply.message}`));
      };
    });
  return expect('ready').then(() => (go) => {
    const done = expect('done');
    child.send(go);
    return done;
  });
}

export async function p12(params: P12Params): Promise<Figures> {
  const missing = await unavailable(params.kind);
  if (missing !== null) {
    console.warn(`P12 ${params.kind} skipped: ${missing}`);
    return { skipped: 1 };
  }
  const id = `${Date.now().toString(36)}${process.pid}`;
  const place = {
    file: join(tmpdir(), `particle-bench-p12-${id}`),
    redis: `particle:bench:p12:${id}:`,
    mysql: `${params.system === 'seed' ? 'records' : 'particle_scopes'}_p12_${id}`,
  }[params.kind];
  const target: ScopeTarget = { kind: params.kind, system: params.system, place, scope: 'global' };
  const own = await openCounter(target);
  try {
    // Creates the table (MySQL) before the writers start, so they do not race on it.
    await own.count();
    const writers = await Promise.all(
      Array.from({ length: params.writers }, () => startWriter(target, params)),
    );
    const t0 = performance.now();
    const deadline = wallMs() + params.budgetMs;
    const reports = await Promise.all(writers.map((run) => run({ cmd: 'go', deadline })));
    const seconds = (performance.now() - t0) / 1000;
    // The seed's file store can leave a file no one can parse (two writes interleaved).
    const final = await own.count().catch((error: unknown) => {
      if (params.system === 'seed') return Number.NaN;
      throw error;
    });
    const sum = (pick: (r: Done) => number) => reports.reduce((n, r) => n + pick(r), 0);
    const acknowledged = sum((r) => r.outcomes.committed);
    const expected = params.writers * params.each;
    const stored = Number.isNaN(final) ? 0 : final;
    return {
      expected,
      final: stored,
      unreadable: Number.isNaN(final) ? 1 : 0,
      acknowledged,
      // An increment abandoned at the budget may still have landed: count none as lost then.
      lost: Math.max(0, acknowledged - stored),
      missing: expected - stored,
      timeouts: sum((r) => r.outcomes.timeout),
      hung: sum((r) => r.outcomes.hung),
      contended: sum((r) => r.outcomes.contended),
      attemptsPerCommit: sum((r) => r.attempts) / Math.max(1, acknowledged),
      seconds,
      commitsPerSec: stored / seconds,
      acknowledgedPerSec: acknowledged / seconds,
    };
  } finally {
    await own.close();
    await removeTarget(target);
  }
}
