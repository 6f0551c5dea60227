import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, stat, unlink } from 'node:fs/promises';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function hasCode(error: unknown, code: string): boolean {
  return (error as { code?: unknown } | null)?.code === code;
}

async function readToken(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return null;
    throw error;
  }
}

/**
 * Takes over a lock file older than `staleMs` (its holder crashed): moves it aside, and
 * only removes it if it is still the stale one; a live lock moved by mistake is put back.
 */
async function recoverStale(path: string, staleMs: number): Promise<void> {
  let mtimeMs: number;
  try {
    mtimeMs = (await stat(path)).mtimeMs;
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return;
    throw error;
  }
  if (Date.now() - mtimeMs < staleMs) return;
  const staleToken = await readToken(path);
  const aside = `${path}.${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(path, aside);
  } catch (error) {
    if (hasCode(error, 'ENOENT')) return;
    throw error;
  }
  if ((await readToken(aside)) !== staleToken) {
    // Someone took the lock between our look and the move: give it back if the slot is free.
    try {
      await link(aside, path);
    } catch (error) {
      if (!hasCode(error, 'EEXIST')) throw error;
    }
  }
  await unlink(aside).catch(() => {});
}

// Holders in this process queue here, so the lock file is only contended between processes.
const localQueues = new Map<string, Promise<void>>();

/**
 * Runs `task` under the lock file `path`: one holder at a time in this process (a queue), and
 * across processes through {@link acquireFileLock}.
 */
export async function withFileLock<T>(
  path: string,
  staleMs: number,
  task: () => Promise<T>,
): Promise<T> {
  const previous = localQueues.get(path) ?? Promise.resolve();
  let done!: () => void;
  const mine = new Promise<void>((resolve) => (done = resolve));
  const tail = previous.then(() => mine);
  localQueues.set(path, tail);
  await previous;
  try {
    const release = await acquireFileLock(path, staleMs);
    try {
      return await task();
    } finally {
      await release();
    }
  } finally {
    done();
    if (localQueues.get(path) === tail) localQueues.delete(path);
  }
}

/**
 * An exclusive lock file (`open` with `wx`), held for one compare-and-set. Waits with short
 * jittered sleeps while another holder has it; recovers a lock older than `staleMs`.
 * Resolves with the release function.
 */
export async function acquireFileLock(path: string, staleMs: number): Promise<() => Promise<void>> {
  const token = `${process.pid}.${randomBytes(8).toString('hex')}`;
  for (let wait = 1; ; wait = Math.min(wait * 2, 16)) {
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(token);
      } finally {
        await handle.close();
      }
      return async () => {
        // Remove only our own lock (a holder paused past staleMs may have lost it).
        if ((await readToken(path)) === token) await unlink(path).catch(() => {});
      };
    } catch (error) {
      if (!hasCode(error, 'EEXIST')) throw error;
    }
    await recoverStale(path, staleMs);
    await sleep(Math.random() * wait);
  }
}
