import type { DeltaBody } from '../protocol/encode.js';

/** One delta's shared part: its ops serialized once for every member of a group. */
export type DeltaEntry = DeltaBody;

/**
 * The recent deltas of one session root, kept so a client that reconnects can be replayed what
 * it missed. Bounded by count and bytes; once something was evicted, versions at or below
 * `floor` can no longer be replayed.
 */
export class Backlog {
  private entries: DeltaEntry[] = [];
  private head = 0;
  private bytes = 0;
  /** The version of the newest entry evicted (or the epoch's first version). */
  floor: number;

  constructor(
    private readonly maxDeltas: number,
    private readonly maxBytes: number,
    start: number,
  ) {
    this.floor = start;
  }

  /** Records the delta that got `version` (always the previous version + 1). */
  push(entry: DeltaEntry): void {
    this.entries.push(entry);
    this.bytes += entry.opsJson.length;
    while (
      this.entries.length - this.head > this.maxDeltas ||
      (this.bytes > this.maxBytes && this.size > 0)
    ) {
      const old = this.entries[this.head] as DeltaEntry;
      this.entries[this.head] = undefined as unknown as DeltaEntry;
      this.head++;
      this.bytes -= old.opsJson.length;
      this.floor++;
    }
    if (this.head > 64 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  get size(): number {
    return this.entries.length - this.head;
  }

  /** The entries after `version`, or `undefined` when some of them were evicted. */
  since(version: number): DeltaEntry[] | undefined {
    if (version < this.floor) return undefined;
    const skip = version - this.floor;
    if (skip > this.size) return undefined;
    return this.entries.slice(this.head + skip);
  }

  /** Starts over at `version` (a new epoch). */
  reset(version: number): void {
    this.entries = [];
    this.head = 0;
    this.bytes = 0;
    this.floor = version;
  }
}
