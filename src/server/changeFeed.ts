import { ParticleError } from '../protocol/errors.js';
import type { Adapter, StopWatching } from './adapter.js';
import { flushThisTick } from './coalesce.js';
import type { JobQueue } from './jobQueue.js';
import type { Views } from './views.js';

/**
 * The adapter's change feed as a Stream follows it: opened on the first registration, retried
 * with backoff while it cannot open, reopened after a failure with every watched collection
 * read again. Each change goes through the Stream's queue, in order.
 */
export class ChangeFeed {
  private feed: Promise<StopWatching> | null = null;

  constructor(
    private readonly adapter: Adapter,
    private readonly views: Views,
    private readonly host: {
      /** The Stream's queue: each change goes through it, in order. */
      readonly queue: JobQueue;
      closed(): boolean;
      debug(message: string, details?: unknown): void;
    },
  ) {}

  /** The open feed (opening it first if needed). */
  ensure(): Promise<StopWatching> {
    this.feed ??= this.open();
    return this.feed;
  }

  /** Stops the feed, if one is open. */
  async stop(): Promise<void> {
    const feed = this.feed;
    this.feed = null;
    if (feed) await feed.then((stop) => stop()).catch(() => undefined);
  }

  private async open(): Promise<StopWatching> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.adapter.watch(
          this.views.watched,
          (change) => {
            flushThisTick();
            this.host.queue.push(() => (this.host.closed() ? undefined : this.views.apply(change)));
          },
          (error) => this.failed(error),
        );
      } catch (error) {
        if (this.host.closed()) throw error;
        if (error instanceof ParticleError && error.code === 'config') {
          // Retrying cannot help (e.g. a MongoDB server without a replica set): let each
          // registration fail with the reason, and try again on the next one.
          this.feed = null;
          throw error;
        }
        this.host.debug('opening the change feed failed; retrying', error);
        await new Promise((r) => setTimeout(r, Math.min(10_000, 250 * 2 ** attempt)));
      }
    }
  }

  /** The adapter lost its feed: open a new one, then re-query everything it may have missed. */
  private failed(error: Error): void {
    this.host.debug('change feed failed; reopening and resyncing', error);
    if (this.host.closed()) return;
    const old = this.feed;
    this.feed = null;
    this.host.queue.push(async () => {
      await old?.then((stop) => stop()).catch(() => undefined);
      await this.ensure();
      for (const collection of this.views.watched) await this.views.resync(collection);
    });
  }
}
