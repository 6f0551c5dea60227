import { Immer, freeze } from 'immer';
import { isIndex, type Doc, type Id, type Op } from '../protocol/index.js';
import { insertionIndex, type DocComparator } from './sort.js';

// A private instance: a user's global `setAutoFreeze(false)` must not unfreeze our snapshots.
const immer = new Immer({ autoFreeze: true });

type Container = Record<string, unknown> | unknown[];

/** How one root is laid out: its id field and, with a `sort` option, its order. */
export type RootLayout = { idField: string; compare: DocComparator | null };

/** The outcome of applying a delta's ops: the new array and the ops that changed something. */
export type ApplyResult = { docs: readonly Doc[]; applied: Op[]; ids: Id[] };

function isId(value: unknown): value is Id {
  return typeof value === 'string' || typeof value === 'number';
}

function toSegments(path: string): string[] | string {
  if (path === '') return 'the path is empty';
  const segments = path.split('.');
  // Assigning `__proto__` would replace a prototype rather than add a field.
  if (segments.includes('__proto__')) return 'the path names __proto__';
  return segments;
}

function child(node: Container, segment: string): unknown {
  return Array.isArray(node) ? node[Number(segment)] : node[segment];
}

function writeChild(node: Container, segment: string, value: unknown): void {
  if (Array.isArray(node) && isIndex(segment)) {
    const index = Number(segment);
    // MongoDB pads an array with nulls when a $set reaches past its end.
    while (node.length < index) node.push(null);
    node[index] = value;
  } else {
    (node as Record<string, unknown>)[segment] = value;
  }
}

function setIn(doc: Container, segments: readonly string[], value: unknown): void {
  let node = doc;
  for (const segment of segments.slice(0, -1)) {
    let next = child(node, segment);
    if (next === null || typeof next !== 'object') {
      writeChild(node, segment, {});
      next = child(node, segment);
    }
    node = next as Container;
  }
  writeChild(node, segments[segments.length - 1]!, value);
}

function unsetIn(doc: Container, segments: readonly string[]): void {
  let node: unknown = doc;
  for (const segment of segments.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return;
    node = child(node as Container, segment);
  }
  if (node === null || typeof node !== 'object') return;
  const last = segments[segments.length - 1]!;
  if (Array.isArray(node)) {
    // MongoDB's $unset on an array element leaves null in its place, keeping positions.
    if (isIndex(last) && Number(last) < node.length) node[Number(last)] = null;
  } else if (Object.hasOwn(node, last)) {
    delete (node as Record<string, unknown>)[last];
  }
}

/**
 * The documents of one root, kept frozen and structurally shared, with an index from id (its
 * wire value: `7` and `'7'` differ) to position, so an op finds its document without a scan.
 * Structural changes shift positions; the index is repaired over the shifted range only.
 */
export class RootDocs {
  readonly layout: RootLayout;
  #docs: readonly Doc[];
  readonly #index = new Map<Id, number>();

  /** Starts from a payload: frozen, sorted (stably) when the root has a sort. */
  constructor(layout: RootLayout, docs: Doc[], debug: (message: string) => void) {
    this.layout = layout;
    const frozen = docs.map((doc) => freeze(doc, true));
    if (layout.compare !== null) frozen.sort(layout.compare);
    this.#docs = Object.freeze(frozen);
    this.#reindex(frozen, 0, frozen.length - 1);
    if (this.#index.size !== frozen.length) {
      debug(`payload holds documents with a missing or repeated ${layout.idField}`);
    }
  }

  /** The current frozen array. */
  get docs(): readonly Doc[] {
    return this.#docs;
  }

  /** Applies ops in order; returns the same array when none changed anything. */
  apply(ops: readonly Op[], debug: (message: string) => void): ApplyResult {
    let next: Doc[] | null = null;
    const applied: Op[] = [];
    const ids = new Set<Id>();
    for (const op of ops) {
      const docs: Doc[] = (next ??= this.#docs.slice());
      const error = this.#applyOp(docs, op);
      if (error === null) {
        applied.push(op);
        ids.add(op.id);
      } else {
        debug(`${op.operation} of ${JSON.stringify(op.id)} skipped: ${error}`);
      }
    }
    if (next !== null && applied.length > 0) this.#docs = Object.freeze(next);
    return { docs: this.#docs, applied, ids: [...ids] };
  }

  /** Returns null when applied, else why the op changed nothing. */
  #applyOp(docs: Doc[], op: Op): string | null {
    const position = this.#index.get(op.id);
    switch (op.operation) {
      case 'insert': {
        const { idField } = this.layout;
        const doc = freeze(
          op.data[idField] === op.id ? op.data : { ...op.data, [idField]: op.id },
          true,
        );
        if (position === undefined) {
          const at = this.layout.compare
            ? insertionIndex(docs, doc, this.layout.compare)
            : docs.length;
          docs.splice(at, 0, doc);
          this.#reindex(docs, at, docs.length - 1);
        } else {
          this.#replace(docs, position, doc);
        }
        return null;
      }
      case 'remove': {
        if (position === undefined) return 'no document has this id';
        docs.splice(position, 1);
        this.#index.delete(op.id);
        this.#reindex(docs, position, docs.length - 1);
        return null;
      }
      case 'set':
      case 'unset': {
        if (position === undefined) return 'no document has this id';
        const segments = toSegments(op.path);
        if (typeof segments === 'string') return segments;
        const before = docs[position]!;
        const after = immer.produce(before, (draft: Doc) => {
          if (op.operation === 'set') setIn(draft, segments, op.data);
          else unsetIn(draft, segments);
        });
        if (after === before) return 'it changes nothing';
        if (segments[0] === this.layout.idField) {
          // The id itself changed (never in MongoDB, possible in other stores): re-key it.
          this.#index.delete(op.id);
        }
        this.#replace(docs, position, after);
        return null;
      }
    }
  }

  /** Puts `doc` at `position`, moving it only when its sort keys no longer fit there. */
  #replace(docs: Doc[], position: number, doc: Doc): void {
    const compare = this.layout.compare;
    const fits =
      compare === null ||
      ((position === 0 || compare(docs[position - 1]!, doc) <= 0) &&
        (position === docs.length - 1 || compare(doc, docs[position + 1]!) <= 0));
    if (fits) {
      docs[position] = doc;
      this.#reindex(docs, position, position);
      return;
    }
    docs.splice(position, 1);
    const at = insertionIndex(docs, doc, compare);
    docs.splice(at, 0, doc);
    this.#reindex(docs, Math.min(position, at), Math.max(position, at));
  }

  #reindex(docs: readonly Doc[], from: number, to: number): void {
    const { idField } = this.layout;
    for (let i = from; i <= to; i++) {
      const id = docs[i]![idField];
      if (isId(id)) this.#index.set(id, i);
    }
  }
}
