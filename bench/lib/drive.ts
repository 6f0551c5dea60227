import type { ClientPool } from './clients.js';
import { percentile, sleep } from './stats.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Writes as fast as the clients take it: a new write goes out while fewer than `windowMsgs`
 * messages are in flight (written but not yet reported received), so neither side buffers
 * without bound. `write()` performs one write and returns how many messages it fans out to.
 * The delivered rate is measured over `measureMs` after `warmupMs`.
 */
export async function saturate(
  pool: ClientPool,
  write: () => number,
  options: { warmupMs: number; measureMs: number; windowMsgs: number },
): Promise<{ msgsPerSec: number; writesPerSec: number }> {
  await pool.reset();
  await pool.progress(20);
  let expected = 0;
  let writes = 0;
  const start = performance.now();
  let from: { t: number; delivered: number; writes: number } | undefined;
  let result: { msgsPerSec: number; writesPerSec: number };
  for (;;) {
    const now = performance.now();
    if (!from && now - start >= options.warmupMs)
      from = { t: now, delivered: pool.delivered, writes };
    if (from && now - from.t >= options.measureMs) {
      const seconds = (now - from.t) / 1000;
      result = {
        msgsPerSec: (pool.delivered - from.delivered) / seconds,
        writesPerSec: (writes - from.writes) / seconds,
      };
      break;
    }
    if (expected - pool.delivered < options.windowMsgs) {
      expected += write();
      writes++;
      await tick();
    } else {
      await Promise.race([pool.nextProgress(), sleep(50)]);
    }
  }
  // Let what is in flight arrive before the next phase.
  const deadline = performance.now() + 10_000;
  while (pool.delivered < expected && performance.now() < deadline) {
    await Promise.race([pool.nextProgress(), sleep(50)]);
  }
  await pool.progress(0);
  return result;
}

/**
 * Writes at a steady `rate` (writes/s) for `durationMs`, then waits for delivery; returns the
 * write-to-client latency percentiles the clients sampled.
 */
export async function steady(
  pool: ClientPool,
  write: () => number,
  options: { rate: number; durationMs: number },
): Promise<{ p50: number; p99: number; delivered: number; expected: number; samples: number }> {
  await pool.reset();
  await pool.progress(50);
  const count = Math.max(1, Math.round((options.rate * options.durationMs) / 1000));
  const interval = 1000 / options.rate;
  let expected = 0;
  let next = performance.now();
  for (let i = 0; i < count; i++) {
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
    expected += write();
    next += interval;
  }
  const deadline = performance.now() + 10_000;
  while (pool.delivered < expected && performance.now() < deadline) {
    await Promise.race([pool.nextProgress(), sleep(100)]);
  }
  await pool.progress(0);
  const report = await pool.report();
  return {
    p50: percentile(report.samples, 50),
    p99: percentile(report.samples, 99),
    delivered: report.received,
    expected,
    samples: report.samples.length,
  };
}
