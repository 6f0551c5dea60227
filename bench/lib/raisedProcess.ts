/**
 * A benchmark child process with its file-descriptor limit raised as far as the machine allows
 * (1,048,576, else the hard limit), driven over IPC with numbered requests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The soft limit on open files of this process (Linux: /proc/self/limits; else NaN). */
export function openFilesLimit(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    return Number(line?.split(/\s+/)[3]);
  } catch {
    return Number.NaN;
  }
}

type Reply = { id: number; ok: boolean; value?: unknown; error?: string };

/** One child process and its numbered requests. */
export class RaisedProcess {
  private nextId = 1;
  private readonly pending = new Map<number, (reply: Reply) => void>();
  private readonly exited: Promise<void>;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (reply: Reply) => {
      const resolve = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      resolve?.(reply);
    });
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        for (const resolve of this.pending.values())
          resolve({ id: 0, ok: false, error: `process exited (${code ?? signal})` });
        this.pending.clear();
        resolve();
      }),
    );
  }

  /** Starts `script` (TypeScript, through tsx) with `args`, under a raised `ulimit -n`. */
  static start(script: string, args: string[], nodeFlags: string[] = []): RaisedProcess {
    // `ulimit -n` above the hard limit needs CAP_SYS_RESOURCE; without it, take the hard limit.
    const raise = 'ulimit -n 1048576 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"';
    const child = spawn(
      'sh',
      ['-c', raise, process.execPath, '--import', 'tsx', ...nodeFlags, script, ...args],
      { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' },
    );
    return new RaisedProcess(child);
  }

  request<T>(command: Record<string, unknown>): Promise<T> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, (reply) =>
        reply.ok ? resolve(reply.value as T) : reject(new Error(reply.error)),
      );
      this.child.send({ ...command, id });
    });
  }

  /** Ends the process (by its own handle) and waits for it to exit. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.exited;
  }
}

/** In a child: answers each numbered request with `handle`'s result. */
export function serveRequests(
  handle: (command: Record<string, unknown>) => Promise<unknown>,
): void {
  process.on('message', (message: Record<string, unknown> & { id: number }) => {
    handle(message).then(
      (value) => process.send?.({ id: message.id, ok: true, value }),
      (error: unknown) =>
        process.send?.({
          id: message.id,
          ok: false,
          error: error instanceof Error ? (error.stack ?? error.message) : String(error),
        }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}
