import { deepFreeze } from './deepFreeze.js';
import { opFromWire, type Doc, type Id, type Op, type WireOp } from '../protocol/index.js';
import { DocsVersion, undoAll, type Undo } from './docsVersion.js';
import {
  InvalidOp,
  PathWriter,
  deeperThan,
  toSegments,
  unsetIn,
  type FrameLimits,
} from './docPaths.js';
import { insertionIndex, type DocComparator } from './sort.js';

export { firstTooDeep, type FrameLimits } from './docPaths.js';

/** How one root is laid out: its id field and, with a `sort` option, its order. */
export type RootLayout = { idField: string; compare: DocComparator | null };

/** What applying a root's messages needs from the collector: made once, shared by its roots. */
export interface ApplyContext {
  readonly limits: FrameLimits;
  debug(message: string): void;
}

/**
 * The outcome of applying a delta's ops: the ops that changed something and their ids, or why
 * the delta is invalid (then nothing changed).
 */
export type ApplyResult = { ok: true; applied: Op[]; ids: Id[] } | { ok: false; reason: string };

function isId(value: unknown): value is Id {
  return typeof value === 'string' || typeof value === 'number';
}

/**
 * The documents of one root, each frozen and structurally shared, with an index from id (its
 * wire value: `7` and `'7'` differ) to position, so an op finds its document without a scan.
 * Ops change a private array in place and copy only the path they change inside a document;
 * each applied delta is a new {@link DocsVersion}, read as a frozen array only when read.
 * Structural changes shift positions; the index is repaired over the shifted range only.
 */
export class RootDocs {
  readonly layout: RootLayout;
  readonly #limits: FrameLimits;
  readonly #paths: PathWriter;
  readonly #live: Doc[];
  #version: DocsVersion;
  readonly #index = new Map<Id, number>();

  /**
   * Starts from a payload: frozen, sorted (stably) when the root has a sort. The caller has
   * checked the documents against `context.limits.maxDepth` ({@link firstTooDeep}).
   */
  constructor(layout: RootLayout, docs: readonly Doc[], context: ApplyContext) {
    this.layout = layout;
    this.#limits = context.limits;
    this.#paths = new PathWriter(context.limits);
    const live = docs.map((doc) => deepFreeze(doc));
    if (layout.compare !== null) live.sort(layout.compare);
    this.#live = live;
    this.#version = new DocsVersion(live);
    this.#reindex(0, live.length - 1);
    if (this.#index.size !== live.length) {
      context.debug(`payload holds documents with a missing or repeated ${layout.idField}`);
    }
  }

  /** The current documents as a frozen array (copied once per applied delta, when read). */
  get docs(): readonly Doc[] {
    return this.#version.read();
  }

  /** The current state, to be read later (it keeps its documents when more deltas apply). */
  get version(): DocsVersion {
    return this.#version;
  }

  /**
   * Applies ops in order. An op that only misses (an unknown id) is skipped; an op no server
   * sends (a path through `length` or `__proto__`, an index past `maxArrayGap`, nesting past
   * `maxDepth`) makes the whole delta invalid, and then nothing changed.
   */
  apply(ops: readonly WireOp[], debug: (message: string) => void): ApplyResult {
    const applied: Op[] = [];
    const undo: Undo[] = [];
    for (const wire of ops) {
      const op = opFromWire(wire);
      let error: string | null;
      try {
        error = this.#applyOp(op, undo);
      } catch (thrown) {
        undoAll(this.#live, undo);
        // The index followed the half-applied array: bring it back to the documents we keep.
        this.#index.clear();
        this.#reindex(0, this.#live.length - 1);
        const why = thrown instanceof Error ? thrown.message : String(thrown);
        return { ok: false, reason: `${op.operation} of ${JSON.stringify(op.id)}: ${why}` };
      }
      if (error === null) applied.push(op);
      else debug(`${op.operation} of ${JSON.stringify(op.id)} skipped: ${error}`);
    }
    if (applied.length === 0) return { ok: true, applied, ids: [] };
    this.#version = this.#version.advance(undo);
    const ids = applied.length === 1 ? [applied[0]!.id] : [...new Set(applied.map((op) => op.id))];
    return { ok: true, applied, ids };
  }

  /** Returns null when applied (with how to take it back in `undo`), else why not. */
  #applyOp(op: Op, undo: Undo[]): string | null {
    const docs = this.#live;
    const position = this.#index.get(op.id);
    switch (op.operation) {
      case 'insert': {
        const { maxDepth } = this.#limits;
        if (deeperThan(op.data, maxDepth)) {
          throw new InvalidOp(`the document is nested deeper than maxDepth (${maxDepth})`);
        }
        const { idField } = this.layout;
        const doc = deepFreeze(
          op.data[idField] === op.id ? op.data : { ...op.data, [idField]: op.id },
        );
        if (position === undefined) {
          const at = this.layout.compare
            ? insertionIndex(docs, doc, this.layout.compare)
            : docs.length;
          docs.splice(at, 0, doc);
          undo.push({ kind: 'unInsert', at });
          this.#reindex(at, docs.length - 1);
        } else {
          this.#replace(position, doc, undo);
        }
        return null;
      }
      case 'remove': {
        if (position === undefined) return 'no document has this id';
        undo.push({ kind: 'unRemove', at: position, doc: docs[position]! });
        docs.splice(position, 1);
        this.#index.delete(op.id);
        this.#reindex(position, docs.length - 1);
        return null;
      }
      case 'set':
      case 'unset': {
        if (position === undefined) return 'no document has this id';
        const { maxDepth } = this.#limits;
        const segments = toSegments(op.path, maxDepth);
        if (op.operation === 'set' && deeperThan(op.data, maxDepth - segments.length)) {
          throw new InvalidOp(`the value would nest deeper than maxDepth (${maxDepth})`);
        }
        const before = docs[position]!;
        const after =
          op.operation === 'set'
            ? this.#paths.set(before, segments, op.data)
            : unsetIn(before, segments);
        if (after === before) return 'it changes nothing';
        if (segments[0] === this.layout.idField) {
          // The id itself changed (never in MongoDB, possible in other stores): re-key it.
          this.#index.delete(op.id);
        }
        this.#replace(position, after, undo);
        return null;
      }
    }
  }

  /** Puts `doc` at `position`, moving it only when its sort keys no longer fit there. */
  #replace(position: number, doc: Doc, undo: Undo[]): void {
    const docs = this.#live;
    const compare = this.layout.compare;
    const fits =
      compare === null ||
      ((position === 0 || compare(docs[position - 1]!, doc) <= 0) &&
        (position === docs.length - 1 || compare(doc, docs[position + 1]!) <= 0));
    if (fits) {
      const before = docs[position]!;
      undo.push({ kind: 'replace', at: position, doc: before });
      docs[position] = doc;
      const { idField } = this.layout;
      if (doc[idField] !== before[idField]) this.#reindex(position, position);
      return;
    }
    undo.push({ kind: 'unRemove', at: position, doc: docs[position]! });
    docs.splice(position, 1);
    const at = insertionIndex(docs, doc, compare);
    docs.splice(at, 0, doc);
    undo.push({ kind: 'unInsert', at });
    this.#reindex(Math.min(position, at), Math.max(position, at));
  }

  #reindex(from: number, to: number): void {
    const docs = this.#live;
    const { idField } = this.layout;
    for (let i = from; i <= to; i++) {
      const id = docs[i]![idField];
      if (isId(id)) this.#index.set(id, i);
    }
  }
}
