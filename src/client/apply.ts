import { Immer, freeze } from 'immer';
import { isIndex, type Doc, type Id, type Op } from '../protocol/index.js';
import { insertionIndex, type DocComparator } from './sort.js';

// A private instance: a user's global `setAutoFreeze(false)` must not unfreeze our snapshots.
const immer = new Immer({ autoFreeze: true });

type Container = Record<string, unknown> | unknown[];

/** How one root is laid out: its id field and, with a `sort` option, its order. */
export type RootLayout = { idField: string; compare: DocComparator | null };

/** What a frame may hold before the collector refuses it as invalid. */
export type FrameLimits = { maxDepth: number; maxArrayGap: number };

/**
 * The outcome of applying a delta's ops: the new array and the ops that changed something, or
 * why the delta is invalid (then nothing changed).
 */
export type ApplyResult =
  { ok: true; docs: readonly Doc[]; applied: Op[]; ids: Id[] } | { ok: false; reason: string };

/** An op no server of this protocol sends: the whole frame is refused. */
class InvalidOp extends Error {}

/** Path segments that would reach a prototype rather than a field. */
const FORBIDDEN_SEGMENTS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

function isId(value: unknown): value is Id {
  return typeof value === 'string' || typeof value === 'number';
}

/**
 * True when `value` nests objects or arrays more than `budget` levels deep (a scalar is 0
 * levels, `{}` one). Recursion stops at the budget, so a hostile depth cannot overflow the stack.
 */
function deeperThan(value: unknown, budget: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (budget <= 0) return true;
  if (Array.isArray(value)) {
    for (const item of value) {
      if (typeof item === 'object' && item !== null && deeperThan(item, budget - 1)) return true;
    }
    return false;
  }
  for (const key in value) {
    const item = (value as Record<string, unknown>)[key];
    if (typeof item === 'object' && item !== null && deeperThan(item, budget - 1)) return true;
  }
  return false;
}

/** The position of the first document nested deeper than `maxDepth`, or -1. */
export function firstTooDeep(docs: readonly Doc[], maxDepth: number): number {
  return docs.findIndex((doc) => deeperThan(doc, maxDepth));
}

function toSegments(path: string, maxDepth: number): string[] {
  if (path === '') throw new InvalidOp('the path is empty');
  const segments = path.split('.');
  if (segments.length > maxDepth) {
    throw new InvalidOp(`the path is ${segments.length} levels deep (maxDepth ${maxDepth})`);
  }
  for (const segment of segments) {
    // Assigning `__proto__` would replace a prototype rather than add a field.
    if (FORBIDDEN_SEGMENTS.has(segment)) throw new InvalidOp(`the path names ${segment}`);
  }
  return segments;
}

function notAnIndex(segment: string): InvalidOp {
  return new InvalidOp(`${JSON.stringify(segment)} is not an index, but names an array element`);
}

function child(node: Container, segment: string): unknown {
  if (Array.isArray(node)) {
    if (!isIndex(segment)) throw notAnIndex(segment);
    return node[Number(segment)];
  }
  // Own fields only: `toString` of a document is not its prototype's function.
  return Object.hasOwn(node, segment) ? node[segment] : undefined;
}

function writeChild(node: Container, segment: string, value: unknown, limits: FrameLimits): void {
  if (Array.isArray(node)) {
    if (!isIndex(segment)) throw notAnIndex(segment);
    const index = Number(segment);
    const gap = index - node.length;
    if (gap > limits.maxArrayGap) {
      throw new InvalidOp(
        `index ${segment} is ${gap} past the array's end (maxArrayGap ${limits.maxArrayGap})`,
      );
    }
    // MongoDB pads an array with nulls when a $set reaches past its end.
    while (node.length < index) node.push(null);
    node[index] = value;
  } else {
    (node as Record<string, unknown>)[segment] = value;
  }
}

function setIn(
  doc: Container,
  segments: readonly string[],
  value: unknown,
  limits: FrameLimits,
): void {
  let node = doc;
  for (const segment of segments.slice(0, -1)) {
    let next = child(node, segment);
    if (next === null || typeof next !== 'object') {
      writeChild(node, segment, {}, limits);
      next = child(node, segment);
    }
    node = next as Container;
  }
  writeChild(node, segments[segments.length - 1]!, value, limits);
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
    if (!isIndex(last)) throw notAnIndex(last);
    // MongoDB's $unset on an array element leaves null in its place, keeping positions.
    if (Number(last) < node.length) node[Number(last)] = null;
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
  readonly #limits: FrameLimits;
  #docs: readonly Doc[];
  readonly #index = new Map<Id, number>();

  /**
   * Starts from a payload: frozen, sorted (stably) when the root has a sort. The caller has
   * checked the documents against `limits.maxDepth` ({@link firstTooDeep}).
   */
  constructor(
    layout: RootLayout,
    docs: Doc[],
    limits: FrameLimits,
    debug: (message: string) => void,
  ) {
    this.layout = layout;
    this.#limits = limits;
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

  /**
   * Applies ops in order; returns the same array when none changed anything. An op that only
   * misses (an unknown id) is skipped; an op no server sends (a path through `length` or
   * `__proto__`, an index past `maxArrayGap`, nesting past `maxDepth`) makes the whole delta
   * invalid, and then nothing changed.
   */
  apply(ops: readonly Op[], debug: (message: string) => void): ApplyResult {
    let next: Doc[] | null = null;
    const applied: Op[] = [];
    const ids = new Set<Id>();
    for (const op of ops) {
      const docs: Doc[] = (next ??= this.#docs.slice());
      let error: string | null;
      try {
        error = this.#applyOp(docs, op);
      } catch (thrown) {
        // The index followed the half-applied copy: bring it back to the documents we keep.
        this.#index.clear();
        this.#reindex(this.#docs, 0, this.#docs.length - 1);
        const why = thrown instanceof Error ? thrown.message : String(thrown);
        return { ok: false, reason: `${op.operation} of ${JSON.stringify(op.id)}: ${why}` };
      }
      if (error === null) {
        applied.push(op);
        ids.add(op.id);
      } else {
        debug(`${op.operation} of ${JSON.stringify(op.id)} skipped: ${error}`);
      }
    }
    if (next !== null && applied.length > 0) this.#docs = Object.freeze(next);
    return { ok: true, docs: this.#docs, applied, ids: [...ids] };
  }

  /** Returns null when applied, else why the op changed nothing. */
  #applyOp(docs: Doc[], op: Op): string | null {
    const position = this.#index.get(op.id);
    switch (op.operation) {
      case 'insert': {
        const { maxDepth } = this.#limits;
        if (deeperThan(op.data, maxDepth)) {
          throw new InvalidOp(`the document is nested deeper than maxDepth (${maxDepth})`);
        }
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
        const { maxDepth } = this.#limits;
        const segments = toSegments(op.path, maxDepth);
        if (op.operation === 'set' && deeperThan(op.data, maxDepth - segments.length)) {
          throw new InvalidOp(`the value would nest deeper than maxDepth (${maxDepth})`);
        }
        const before = docs[position]!;
        const after = immer.produce(before, (draft: Doc) => {
          if (op.operation === 'set') setIn(draft, segments, op.data, this.#limits);
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
