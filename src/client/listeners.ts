import type { CollectorData, CollectorEvent } from './types.js';

/**
 * Whether a listener pattern matches an event name, both as segments: `*` is exactly one
 * segment, `**` is zero or more.
 */
export function matchPattern(pattern: readonly string[], name: readonly string[]): boolean {
  let p = 0;
  let n = 0;
  // Backtracking points for the last `**` seen: where it stood and how much it has swallowed.
  let starP = -1;
  let starN = 0;
  while (n < name.length || p < pattern.length) {
    const segment = pattern[p];
    if (segment === '**') {
      starP = p++;
      starN = n;
      continue;
    }
    if (n < name.length && (segment === '*' || segment === name[n])) {
      p++;
      n++;
      continue;
    }
    if (starP === -1 || starN >= name.length) return false;
    p = starP + 1;
    n = ++starN;
  }
  return true;
}

type Registration<TData> = {
  readonly seq: number;
  readonly pattern: string;
  readonly segments: readonly string[];
  readonly listener: (data: TData, event: CollectorEvent) => void;
  readonly bucket: Set<Registration<TData>>;
};

/**
 * Listener patterns over event names (`root` then the op's path segments). Registrations are
 * indexed by their first segment (the root), with one more bucket for patterns that start with
 * a wildcard, so an event only tests the patterns that can match it. Names are segment arrays,
 * so a root name is one segment whatever it holds. `TData` is what listeners get first: the
 * collector's data, or a subscription's documents.
 */
export class Listeners<TData = CollectorData> {
  readonly #byRoot = new Map<string, Set<Registration<TData>>>();
  readonly #anyRoot = new Set<Registration<TData>>();
  readonly #report: (error: unknown, pattern: string) => void;
  readonly #caller: string;
  #seq = 0;
  #size = 0;

  /**
   * `report` receives what a listener throws; the others still run. `caller` names the method
   * in argument errors.
   */
  constructor(report: (error: unknown, pattern: string) => void, caller = 'collector.on') {
    this.#report = report;
    this.#caller = caller;
  }

  /** How many listeners are registered. */
  get size(): number {
    return this.#size;
  }

  /** Adds a listener; returns a function that removes exactly this registration. */
  on(pattern: string, listener: (data: TData, event: CollectorEvent) => void): () => void {
    if (typeof pattern !== 'string' || pattern === '') {
      throw new TypeError(`${this.#caller}: pattern must be a non-empty string such as "users.**"`);
    }
    if (typeof listener !== 'function') {
      throw new TypeError(`${this.#caller}: listener must be a function (data, event) => void`);
    }
    const segments = pattern.split('.').filter((s, i, all) => !(s === '**' && all[i - 1] === '**'));
    const first = segments[0] as string;
    let bucket = this.#anyRoot;
    if (first !== '*' && first !== '**') {
      bucket = this.#byRoot.get(first) ?? new Set();
      this.#byRoot.set(first, bucket);
    }
    const registration: Registration<TData> = {
      seq: this.#seq++,
      pattern,
      segments,
      listener,
      bucket,
    };
    bucket.add(registration);
    this.#size++;
    return () => this.#remove(registration);
  }

  /** Removes one registration of `listener` under `pattern` (the latest one). */
  off(pattern: string, listener: (data: TData, event: CollectorEvent) => void): void {
    let found: Registration<TData> | undefined;
    for (const bucket of [this.#anyRoot, ...this.#byRoot.values()]) {
      for (const r of bucket) {
        if (r.pattern === pattern && r.listener === listener && r.seq > (found?.seq ?? -1)) {
          found = r;
        }
      }
    }
    if (found !== undefined) this.#remove(found);
  }

  /** Calls every listener whose pattern matches `name`, in the order they were added. */
  emit(name: readonly string[], data: TData, event: CollectorEvent): void {
    if (this.#size === 0) return;
    const rooted = this.#byRoot.get(name[0] as string);
    let candidates: Registration<TData>[];
    if (!rooted || rooted.size === 0) candidates = [...this.#anyRoot];
    else if (this.#anyRoot.size === 0) candidates = [...rooted];
    else candidates = [...rooted, ...this.#anyRoot].sort((a, b) => a.seq - b.seq);
    for (const r of candidates) {
      if (!r.bucket.has(r) || !matchPattern(r.segments, name)) continue;
      try {
        r.listener(data, event);
      } catch (error) {
        this.#report(error, r.pattern);
      }
    }
  }

  #remove(registration: Registration<TData>): void {
    if (!registration.bucket.delete(registration)) return;
    this.#size--;
    const first = registration.segments[0] as string;
    if (registration.bucket.size === 0 && this.#byRoot.get(first) === registration.bucket) {
      this.#byRoot.delete(first);
    }
  }
}
