import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Expected, PeerCommand, PeerEnvelope, PeerReply, PeerSystem } from './protocol.js';

const script = fileURLToPath(new URL('./clientProcess.ts', import.meta.url));

type Of<E extends PeerReply['ev']> = Extract<PeerReply, { ev: E }>;

/** The client processes of a peer scenario, each holding its share of the clients. */
export class PeerPool {
  private nextId = 1;
  private readonly pending = new Map<number, (reply: PeerReply) => void>();
  private readonly totals: number[];
  private waiters: (() => void)[] = [];

  private constructor(private readonly children: ChildProcess[]) {
    this.totals = children.map(() => 0);
    children.forEach((child, i) =>
      child.on('message', (message: PeerEnvelope<PeerReply>) => {
        if (message.ev === 'progress' && message.id === -1) {
          this.totals[i] = message.total;
          const waiters = this.waiters;
          this.waiters = [];
          for (const wake of waiters) wake();
          return;
        }
        this.pending.get(message.id)?.(message);
        this.pending.delete(message.id);
      }),
    );
  }

  static async start(count: number): Promise<PeerPool> {
    const children = Array.from({ length: count }, () =>
      fork(script, [], {
        execArgv: [
          '--import',
          'tsx',
          '--max-old-space-size=4096',
          // PEER_CPU_PROF=<dir>: each client process writes a CPU profile there when it ends.
          ...(process.env.PEER_CPU_PROF
            ? ['--cpu-prof', `--cpu-prof-dir=${process.env.PEER_CPU_PROF}`]
            : []),
        ],
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      }),
    );
    const pool = new PeerPool(children);
    await pool.every({ cmd: 'reset' });
    return pool;
  }

  private request(i: number, command: PeerCommand): Promise<PeerReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, (reply) =>
        reply.ev === 'error' ? reject(new Error(reply.message)) : resolve(reply),
      );
      this.children[i]?.send({ ...command, id });
    });
  }

  private every(command: PeerCommand): Promise<PeerReply[]> {
    return Promise.all(this.children.map((_, i) => this.request(i, command)));
  }

  /** Opens one client per user, spread over the processes. */
  async connect(
    system: PeerSystem,
    scenario: 'S1' | 'S2',
    url: string,
    users: number[],
  ): Promise<number> {
    const replies = await Promise.all(
      this.children.map((_, i) =>
        this.request(i, {
          cmd: 'connect',
          system,
          scenario,
          url,
          users: users.filter((_, u) => u % this.children.length === i),
        }),
      ),
    );
    return (replies as Of<'connected'>[]).reduce((n, r) => n + r.ready, 0);
  }

  /** Updates every client saw so far, as last reported. */
  get delivered(): number {
    return this.totals.reduce((a, b) => a + b, 0);
  }

  async progress(everyMs: number): Promise<void> {
    await this.every({ cmd: 'progress', everyMs });
  }

  nextProgress(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  async reset(): Promise<void> {
    await this.every({ cmd: 'reset' });
  }

  async report(): Promise<{ received: number; bytes: number; cpuUs: number }> {
    const replies = (await this.every({ cmd: 'report' })) as Of<'report'>[];
    return {
      received: replies.reduce((n, r) => n + r.received, 0),
      bytes: replies.reduce((n, r) => n + r.bytes, 0),
      cpuUs: replies.reduce((n, r) => n + r.cpuUs, 0),
    };
  }

  async check(
    expected: Expected,
  ): Promise<{ duplicated: number; dropped: number; wrong: number; total: number }> {
    const replies = (await this.every({ cmd: 'check', expected })) as Of<'checked'>[];
    const sum = (key: 'duplicated' | 'dropped' | 'wrong' | 'total'): number =>
      replies.reduce((n, r) => n + r[key], 0);
    return {
      duplicated: sum('duplicated'),
      dropped: sum('dropped'),
      wrong: sum('wrong'),
      total: sum('total'),
    };
  }

  /** Closes every client, then ends the processes by their own handles. */
  async stop(): Promise<void> {
    await this.every({ cmd: 'close' }).catch(() => undefined);
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
          }),
      ),
    );
  }
}
