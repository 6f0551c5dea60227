import { describe, expect, it } from 'vitest';
import { JobQueue } from '../../src/server/jobQueue.js';

describe('JobQueue', () => {
  it('runs jobs one at a time in order: a waiting job holds the next, jobs queued by a job run after it', async () => {
    const errors: unknown[] = [];
    const queue = new JobQueue((error) => errors.push(error));
    const log: string[] = [];
    let release!: () => void;
    queue.push(() => {
      log.push('a');
      queue.push(() => void log.push('a2'));
      log.push('a end');
    });
    queue.push(
      () =>
        new Promise<void>((resolve) => {
          log.push('b');
          release = resolve;
        }),
    );
    queue.push(() => {
      log.push('c');
      throw new Error('c failed');
    });
    const d = queue.run(() => {
      log.push('d');
      return 4;
    });
    expect(log).toEqual(['a', 'a end', 'a2', 'b']);
    release();
    await expect(d).resolves.toBe(4);
    expect(log).toEqual(['a', 'a end', 'a2', 'b', 'c', 'd']);
    expect(errors).toEqual([new Error('c failed')]);
    // Idle again: a job runs at once, without a turn of the event loop.
    queue.push(() => void log.push('e'));
    expect(log.at(-1)).toBe('e');
  });
});
