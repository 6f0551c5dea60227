import { Timestamp } from 'mongodb';

/**
 * The cluster time at the start of a resume token. A MongoDB token's `_data` is a hex
 * KeyString whose first value is the event's (or high-water mark's) cluster time: the byte 0x82,
 * then the seconds and the increment as 4-byte big-endian integers. `undefined` for any other form.
 */
export function tokenTime(token: unknown): Timestamp | undefined {
  const data = (token as { _data?: unknown } | null | undefined)?._data;
  if (typeof data !== 'string' || !/^82[0-9a-f]{16}/i.test(data)) return undefined;
  return new Timestamp({
    t: parseInt(data.slice(2, 10), 16),
    i: parseInt(data.slice(10, 18), 16),
  });
}

/** The `_data` of a resume token, to tell tokens apart. */
export function tokenData(token: unknown): string | undefined {
  const data = (token as { _data?: unknown } | null | undefined)?._data;
  return typeof data === 'string' ? data : undefined;
}

/** Whether `value` is a BSON Timestamp (of this or another copy of the `bson` package). */
export function isTimestamp(value: unknown): value is Timestamp {
  return (
    value instanceof Timestamp ||
    (typeof value === 'object' &&
      value !== null &&
      (value as { _bsontype?: unknown })._bsontype === 'Timestamp')
  );
}

/** The cluster time of a change event: its `clusterTime`, or else its resume token's. */
export function eventTime(event: { _id?: unknown; clusterTime?: unknown }): Timestamp | undefined {
  return isTimestamp(event.clusterTime) ? event.clusterTime : tokenTime(event._id);
}

function compare(a: Timestamp, b: Timestamp): number {
  return a.t - b.t || a.i - b.i;
}

interface Waiter {
  at: Timestamp;
  resolve: () => void;
}

/**
 * How far in cluster time a change feed has delivered, and the callers waiting for it to get
 * somewhere. Several events can share one cluster time (a transaction's, a batched delete's),
 * so an event at `t` proves only that everything before `t` was delivered; `inclusive` marks
 * the points where everything at `t` is known to be in as well.
 */
export class DeliveredTime {
  private time: Timestamp | undefined;
  private inclusive = false;
  /** Sorted by `at`; equal times keep their arrival order. */
  private readonly waiters: Waiter[] = [];

  /** The latest cluster time known delivered, if any. */
  get latest(): Timestamp | undefined {
    return this.time;
  }

  /** Whether every change at or before `at` has been delivered. */
  covers(at: Timestamp): boolean {
    if (!this.time) return false;
    const order = compare(at, this.time);
    return order < 0 || (order === 0 && this.inclusive);
  }

  /**
   * Records that every change before `at` has been delivered, and with `inclusive` every change
   * at `at` too; resolves the waiters this covers, earliest first. Never moves back.
   */
  advance(at: Timestamp, inclusive: boolean): void {
    const order = this.time ? compare(at, this.time) : 1;
    if (order < 0 || (order === 0 && (this.inclusive || !inclusive))) return;
    this.time = at;
    this.inclusive = inclusive;
    let covered = 0;
    while (covered < this.waiters.length && this.covers((this.waiters[covered] as Waiter).at)) {
      covered++;
    }
    for (const waiter of this.waiters.splice(0, covered)) waiter.resolve();
  }

  /** Resolves once every change at or before `at` has been delivered (or {@link releaseAll}). */
  wait(at: Timestamp): Promise<void> {
    if (this.covers(at)) return Promise.resolve();
    return new Promise((resolve) => {
      let index = this.waiters.length;
      while (index > 0 && compare((this.waiters[index - 1] as Waiter).at, at) > 0) index--;
      this.waiters.splice(index, 0, { at, resolve });
    });
  }

  /** Resolves every waiter, earliest first (the feed was reset or stopped: nothing to wait for). */
  releaseAll(): void {
    for (const waiter of this.waiters.splice(0)) waiter.resolve();
  }
}

/** A cluster time as one comparable number: the seconds, then the increment. */
export function timeValue(time: Timestamp | undefined): bigint | undefined {
  return time === undefined ? undefined : (BigInt(time.t) << 32n) | BigInt(time.i);
}
