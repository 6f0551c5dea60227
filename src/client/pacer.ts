/** A link's frame bound as the server told it in `registered`. */
export interface LinkLimits {
  readonly messagesPerSecond: number;
  readonly burst: number;
}

/**
 * Sends queued items in order, no faster than a token bucket allows: half the server's rate,
 * with a burst of one second's worth. That leaves the rest of the server's bound for what a
 * new registration sends besides (subscriptions, locks, publications), so catching up never
 * trips it, and a long queue of offline work drains instead of looping on `rate_limited`.
 */
export class Pacer<T> {
  readonly #send: (item: T) => void;
  #queue: T[] = [];
  #rate = Infinity;
  #burst = Infinity;
  #tokens = Infinity;
  #at = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(send: (item: T) => void) {
    this.#send = send;
  }

  /** A new registration: its bound (none: unpaced), with a full bucket. */
  reset(limits: LinkLimits | undefined): void {
    this.clear();
    this.#rate = limits ? limits.messagesPerSecond / 2 : Infinity;
    this.#burst = limits ? Math.max(1, Math.floor(limits.messagesPerSecond)) : Infinity;
    this.#tokens = this.#burst;
    this.#at = Date.now();
  }

  push(item: T): void {
    if (this.#rate === Infinity) {
      this.#send(item);
      return;
    }
    this.#queue.push(item);
    this.#pump();
  }

  /** Drops what is queued (the link is gone; the next registration sends it again). */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#queue = [];
  }

  #pump(): void {
    if (this.#timer) return;
    const now = Date.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) / 1000) * this.#rate);
    this.#at = now;
    while (this.#queue.length > 0 && this.#tokens >= 1) {
      this.#tokens -= 1;
      this.#send(this.#queue.shift() as T);
    }
    if (this.#queue.length === 0) return;
    const waitMs = Math.ceil(((1 - this.#tokens) / this.#rate) * 1000);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#pump();
    }, waitMs);
  }
}
