type Job = () => void | Promise<void>;

/**
 * Runs jobs one at a time, in order; synchronous jobs run without a turn of the event loop. The
 * Stream puts changes, registrations and resyncs through one queue, so a group is never queried
 * while a change to it is half-applied.
 */
export class JobQueue {
  private jobs: (Job | undefined)[] = [];
  private head = 0;
  private running = false;

  constructor(private readonly onError: (error: unknown) => void) {}

  /** Queues `job`; the promise settles with its result once it ran. */
  run<T>(job: () => T | Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.jobs.push(() => {
        try {
          const result = job();
          if (result instanceof Promise) return result.then(resolve, reject);
          resolve(result);
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
      if (!this.running) void this.pump();
    });
  }

  /** Queues `job` without waiting for it; a failure goes to `onError`. */
  push(job: () => void | Promise<void>): void {
    if (this.running) {
      this.run(job).catch(this.onError);
      return;
    }
    // Idle: run it now, as pump would, without a promise per job (every change comes here).
    this.running = true;
    let result: void | Promise<void>;
    try {
      result = job();
    } catch (error) {
      result = undefined;
      this.onError(error);
    }
    if (result instanceof Promise) {
      void result.catch(this.onError).finally(() => {
        this.running = false;
        void this.pump();
      });
      return;
    }
    this.running = false;
    // Jobs the job queued meanwhile run next, in order.
    if (this.head < this.jobs.length) void this.pump();
  }

  private async pump(): Promise<void> {
    this.running = true;
    try {
      while (this.head < this.jobs.length) {
        const job = this.jobs[this.head] as Job;
        this.jobs[this.head++] = undefined;
        if (this.head > 1024 && this.head * 2 > this.jobs.length) {
          this.jobs = this.jobs.slice(this.head);
          this.head = 0;
        }
        const result = job();
        if (result instanceof Promise) await result.catch(this.onError);
      }
    } finally {
      this.running = false;
    }
  }
}
