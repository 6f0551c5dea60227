import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ClientCommand, ClientReply, Envelope, Subscription } from './protocol.js';

const script = fileURLToPath(new URL('./clientProcess.ts', import.meta.url));

interface Proc {
  child: ChildProcess;
  pending: Map<number, (reply: ClientReply) => void>;
  received: number;
}

/** Several client processes, each holding many sockets, driven as one. */
export class ClientPool {
  private nextId = 1;
  private progressWaiters: (() => void)[] = [];

  private constructor(private readonly procs: Proc[]) {
    for (const proc of procs) {
      proc.child.on('message', (message: Envelope<ClientReply>) => {
        if (message.ev === 'progress' && message.id === -1) {
          proc.received = message.received;
          const waiters = this.progressWaiters;
          this.progressWaiters = [];
          for (const w of waiters) w();
          return;
        }
        const resolve = proc.pending.get(message.id);
        proc.pending.delete(message.id);
        resolve?.(message);
      });
    }
  }

  static async start(count: number): Promise<ClientPool> {
    const procs = Array.from({ length: count }, () => ({
      child: fork(script, [], {
        execArgv: ['--import', 'tsx', '--max-old-space-size=4096'],
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
      pending: new Map<number, (reply: ClientReply) => void>(),
      received: 0,
    }));
    const pool = new ClientPool(procs);
    // A round trip proves every process has loaded.
    await Promise.all(procs.map((_, i) => pool.request(i, { cmd: 'reset' })));
    return pool;
  }

  get size(): number {
    return this.procs.length;
  }

  request(index: number, command: ClientCommand): Promise<ClientReply> {
    const proc = this.procs[index] as Proc;
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      proc.pending.set(id, (reply) =>
        reply.ev === 'error' ? reject(new Error(reply.message)) : resolve(reply),
      );
      proc.child.send({ ...command, id });
    });
  }

  private every(command: ClientCommand): Promise<ClientReply[]> {
    return Promise.all(this.procs.map((_, i) => this.request(i, command)));
  }

  /**
   * Opens one socket per identity, spread over the processes; resolves when all are ready. With
   * `subscriptions`, socket `i` sends `subscriptions[i]` right after its register.
   */
  async connect(
    url: string,
    identities: (Record<string, unknown> | null)[],
    options: {
      readyPayloads: number;
      readyTicks?: boolean;
      subscriptions?: (Subscription | null)[];
      pause?: boolean;
      concurrency?: number;
    },
  ): Promise<{ ready: number; failed: number }> {
    const shares: (Record<string, unknown> | null)[][] = this.procs.map(() => []);
    const subShares: (Subscription | null)[][] = this.procs.map(() => []);
    identities.forEach((identity, i) => {
      shares[i % shares.length]?.push(identity);
      subShares[i % subShares.length]?.push(options.subscriptions?.[i] ?? null);
    });
    const replies = await Promise.all(
      shares.map((share, i) =>
        this.request(i, {
          cmd: 'connect',
          url,
          identities: share,
          ...(options.subscriptions ? { subscriptions: subShares[i] } : {}),
          readyPayloads: options.readyPayloads,
          readyTicks: options.readyTicks ?? false,
          pause: options.pause ?? false,
          concurrency: options.concurrency ?? 50,
        }),
      ),
    );
    let ready = 0;
    let failed = 0;
    for (const r of replies) {
      if (r.ev === 'connected') {
        ready += r.ready;
        failed += r.failed;
      }
    }
    return { ready, failed };
  }

  async reset(): Promise<void> {
    for (const proc of this.procs) proc.received = 0;
    await this.every({ cmd: 'reset' });
  }

  /** Delta frames received by every socket together, as last reported. */
  get delivered(): number {
    let n = 0;
    for (const proc of this.procs) n += proc.received;
    return n;
  }

  async progress(everyMs: number): Promise<void> {
    await this.every({ cmd: 'progress', everyMs });
  }

  /** Resolves at the next progress report of any process. */
  nextProgress(): Promise<void> {
    return new Promise((resolve) => this.progressWaiters.push(resolve));
  }

  async report(): Promise<{
    received: number;
    bytes: number;
    samples: number[];
    closes: Record<string, number>;
  }> {
    const replies = await this.every({ cmd: 'report' });
    const out = {
      received: 0,
      bytes: 0,
      samples: [] as number[],
      closes: {} as Record<string, number>,
    };
    for (const r of replies) {
      if (r.ev !== 'report') continue;
      out.received += r.received;
      out.bytes += r.bytes;
      for (const s of r.samples) out.samples.push(s);
      for (const [code, n] of Object.entries(r.closes))
        out.closes[code] = (out.closes[code] ?? 0) + n;
    }
    return out;
  }

  /** Of every subscribed socket: how many last saw `ticks === expected`, saw another, or none. */
  async ticks(expected: number): Promise<{ right: number; wrong: number; missing: number }> {
    const replies = await this.every({ cmd: 'ticks', expected });
    const out = { right: 0, wrong: 0, missing: 0 };
    for (const r of replies) {
      if (r.ev !== 'ticks') continue;
      out.right += r.right;
      out.wrong += r.wrong;
      out.missing += r.missing;
    }
    return out;
  }

  /**
   * Every process sends mutations from `senders` of its sockets (in all) at `rate` per second
   * (in all) and reports the round trips; resolves with them merged.
   */
  async mutateLoad(options: {
    senders: number;
    rate: number;
    warmupMs: number;
    measureMs: number;
    name: string;
  }): Promise<{
    sent: number;
    answered: number;
    inBatch: number;
    errors: number;
    firstError: string | null;
    samples: number[];
  }> {
    const count = this.procs.length;
    const replies = await Promise.all(
      this.procs.map((_, i) =>
        this.request(i, {
          cmd: 'mutateLoad',
          name: options.name,
          senders: Math.max(1, Math.round(options.senders / count)),
          rate: options.rate / count,
          warmupMs: options.warmupMs,
          measureMs: options.measureMs,
        }),
      ),
    );
    const out = {
      sent: 0,
      answered: 0,
      inBatch: 0,
      errors: 0,
      firstError: null as string | null,
      samples: [] as number[],
    };
    for (const r of replies) {
      if (r.ev !== 'mutated') continue;
      out.sent += r.sent;
      out.answered += r.answered;
      out.inBatch += r.inBatch;
      out.errors += r.errors;
      out.firstError ??= r.firstError;
      for (const s of r.samples) out.samples.push(s);
    }
    return out;
  }

  async closeAll(): Promise<void> {
    await this.every({ cmd: 'closeAll' });
  }

  /** Ends every client process (by its own handle) and waits for them to exit. */
  async stop(): Promise<void> {
    await Promise.all(
      this.procs.map(
        ({ child }) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
  }
}
