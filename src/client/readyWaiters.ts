import { ParticleError } from '../protocol/index.js';
import type { CollectorStatus, ReadyCallback } from './types.js';

/** What `ready` callbacks are told in `status`: `null` when ready, `undefined` while waiting. */
export function settledBy(
  status: CollectorStatus,
  error: ParticleError | null,
): ParticleError | null | undefined {
  switch (status) {
    case 'ready':
      return null;
    case 'error':
      return error ?? new ParticleError('internal', 'Registration failed');
    case 'closed':
      return new ParticleError('disconnected', 'collector.disconnect() was called before ready');
    default:
      return undefined;
  }
}

/** The `ready(callback)` calls waiting for the collector to be ready or never to be. */
export class ReadyWaiters {
  #callbacks: ReadyCallback[] = [];
  readonly #report: (message: string, error: unknown) => void;

  constructor(report: (message: string, error: unknown) => void) {
    this.#report = report;
  }

  /**
   * Waits for {@link settle}; with `timeoutMs`, gives up after that long and tells `callback`
   * the error `timedOut(timeoutMs)` makes.
   */
  wait(
    callback: ReadyCallback,
    timeoutMs: number | undefined,
    timedOut: (timeoutMs: number) => ParticleError,
  ): void {
    if (timeoutMs === undefined) {
      this.#callbacks.push(callback);
      return;
    }
    const timer = setTimeout(() => {
      this.#callbacks = this.#callbacks.filter((waiting) => waiting !== settle);
      this.#call(callback, timedOut(timeoutMs));
    }, timeoutMs);
    const settle: ReadyCallback = (error) => {
      clearTimeout(timer);
      callback(error);
    };
    this.#callbacks.push(settle);
  }

  /** Tells every waiting callback, once: `null` (ready) or why the collector never will be. */
  settle(result: ParticleError | null): void {
    const callbacks = this.#callbacks;
    this.#callbacks = [];
    for (const callback of callbacks) this.#call(callback, result ?? undefined);
  }

  #call(callback: ReadyCallback, error: ParticleError | undefined): void {
    try {
      callback(error);
    } catch (thrown) {
      this.#report('a ready callback threw', thrown);
    }
  }
}
