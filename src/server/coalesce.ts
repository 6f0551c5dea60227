/**
 * The changes a group receives within one tick of the event loop go to its members as one
 * delta: groups with waiting ops are flushed together once the tick's I/O is done.
 */

/** Something that holds ops for its members until {@link flushDeltas}. */
export interface Flushable {
  flush(): void;
}

const waiting = new Set<Flushable>();
let scheduled = false;

/**
 * Makes sure waiting groups are flushed at the end of this tick. A change feed calls it as a
 * change arrives, so the ops that change makes (even after an awaited read) go out with those of
 * every other change of the tick, once its I/O is done.
 */
export function flushThisTick(): void {
  if (scheduled) return;
  scheduled = true;
  setImmediate(() => {
    scheduled = false;
    flushDeltas();
  });
}

/** Flushes `group` at the end of this tick, with every other group that has ops waiting. */
export function flushSoon(group: Flushable): void {
  waiting.add(group);
  flushThisTick();
}

/** Sends every waiting group's ops now (before an answer that must follow them). */
export function flushDeltas(): void {
  while (waiting.size > 0) {
    const groups = [...waiting];
    waiting.clear();
    for (const group of groups) group.flush();
  }
}

/** Forgets `group`'s place in the queue (it was dropped). */
export function forget(group: Flushable): void {
  waiting.delete(group);
}

/**
 * A group's members: joining or leaving first flushes the ops waiting for the members there
 * were, so a new member never gets ops its payload already holds, and one that moves on gets
 * what it was owed before the difference to its next group is taken.
 */
export class Members<T> extends Set<T> {
  private beforeChange: (() => void) | undefined;

  constructor(beforeChange: () => void) {
    super();
    this.beforeChange = beforeChange;
  }

  override add(member: T): this {
    if (!this.has(member)) this.beforeChange?.();
    return super.add(member);
  }

  override delete(member: T): boolean {
    if (this.has(member)) this.beforeChange?.();
    return super.delete(member);
  }
}
