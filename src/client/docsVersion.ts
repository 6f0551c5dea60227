import type { Doc } from '../protocol/index.js';

/** How to take one change back: put `doc` at `at`, take out what is at `at`, or put `doc` in. */
export type Undo =
  | { kind: 'replace'; at: number; doc: Doc }
  | { kind: 'unInsert'; at: number }
  | { kind: 'unRemove'; at: number; doc: Doc };

/** Takes back `undo` on `docs`, newest first. */
export function undoAll(docs: Doc[], undo: readonly Undo[]): void {
  for (let i = undo.length - 1; i >= 0; i--) {
    const step = undo[i]!;
    if (step.kind === 'replace') docs[step.at] = step.doc;
    else if (step.kind === 'unInsert') docs.splice(step.at, 1);
    else docs.splice(step.at, 0, step.doc);
  }
}

/**
 * One state of a root's document array, read as a frozen array only when someone reads it.
 *
 * The newest version holds the live (mutable, private) array; applying a change moves the array
 * on to a new version and leaves behind how to take the change back, so an older version keeps
 * its own state at O(1) per change. Older versions point only forward, so one nobody holds is
 * collected. Reading a version copies the array once (then it is cached): the cost of a change
 * does not grow with the root, the cost of a read after a change does.
 */
export class DocsVersion {
  /** The live array, while this is the newest version. */
  #live: Doc[] | null;
  #next: DocsVersion | null = null;
  /** Takes the next version's array back to this one. */
  #undo: readonly Undo[] = [];
  #frozen: readonly Doc[] | null = null;

  constructor(live: Doc[]) {
    this.#live = live;
  }

  /** Hands the live array to a new newest version; `undo` takes it back to this one. */
  advance(undo: readonly Undo[]): DocsVersion {
    const next = new DocsVersion(this.#live!);
    this.#live = null;
    this.#next = next;
    this.#undo = undo;
    return next;
  }

  /** This version's documents, frozen; the same array on every read. */
  read(): readonly Doc[] {
    if (this.#frozen !== null) return this.#frozen;
    const undos: (readonly Undo[])[] = [];
    let live = this.#live;
    let at = this.#next;
    if (live === null) undos.push(this.#undo);
    while (live === null && at !== null) {
      live = at.#live;
      if (live === null) undos.push(at.#undo);
      at = at.#next;
    }
    const copy = live!.slice();
    for (let i = undos.length - 1; i >= 0; i--) undoAll(copy, undos[i]!);
    this.#frozen = Object.freeze(copy);
    return this.#frozen;
  }
}
