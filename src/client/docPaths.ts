import { deepFreeze } from './deepFreeze.js';
import { isIndex, type Doc } from '../protocol/index.js';

type Container = Readonly<Record<string, unknown>> | readonly unknown[];

const isList = (node: Container): node is readonly unknown[] => Array.isArray(node);

/** What a frame may hold before the collector refuses it as invalid. */
export type FrameLimits = { maxDepth: number; maxArrayGap: number };

/** An op no server of this protocol sends: the whole frame is refused. */
export class InvalidOp extends Error {}

/** Path segments that would reach a prototype rather than a field. */
const FORBIDDEN_SEGMENTS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * True when `value` nests objects or arrays more than `budget` levels deep (a scalar is 0
 * levels, `{}` one). Recursion stops at the budget, so a hostile depth cannot overflow the stack.
 */
export function deeperThan(value: unknown, budget: number): boolean {
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

/** Paths seen lately, split and checked: deltas of one app repeat a few paths. */
const segmentsOf = new Map<string, readonly string[]>();
const MAX_PATHS = 1024;

/** An op's dotted path as segments, refused when empty, too deep or naming a prototype. */
export function toSegments(path: string, maxDepth: number): readonly string[] {
  const known = segmentsOf.get(path);
  if (known !== undefined && known.length <= maxDepth) return known;
  if (path === '') throw new InvalidOp('the path is empty');
  const segments = path.split('.');
  if (segments.length > maxDepth) {
    throw new InvalidOp(`the path is ${segments.length} levels deep (maxDepth ${maxDepth})`);
  }
  for (const segment of segments) {
    // Assigning `__proto__` would replace a prototype rather than add a field.
    if (FORBIDDEN_SEGMENTS.has(segment)) throw new InvalidOp(`the path names ${segment}`);
  }
  if (segmentsOf.size >= MAX_PATHS) segmentsOf.clear();
  segmentsOf.set(path, segments);
  return segments;
}

function notAnIndex(segment: string): InvalidOp {
  return new InvalidOp(`${JSON.stringify(segment)} is not an index, but names an array element`);
}

function child(node: Container, segment: string): unknown {
  if (isList(node)) {
    if (!isIndex(segment)) throw notAnIndex(segment);
    return node[Number(segment)];
  }
  // Own fields only: `toString` of a document is not its prototype's function.
  return Object.hasOwn(node, segment) ? node[segment] : undefined;
}

const NO_SEGMENTS: readonly string[] = [];

/**
 * Writes values into documents within one set of {@link FrameLimits}. One writer per root
 * holds the limits and, during a {@link PathWriter.set}, the path and value it writes, so the
 * walk down a document passes only the node and the depth.
 */
export class PathWriter {
  readonly #limits: FrameLimits;
  #segments: readonly string[] = NO_SEGMENTS;
  #value: unknown = undefined;

  constructor(limits: FrameLimits) {
    this.#limits = limits;
  }

  /** `doc` with `value` (frozen deeply: it is new) at `segments`; `doc` itself when unchanged. */
  set(doc: Doc, segments: readonly string[], value: unknown): Doc {
    this.#segments = segments;
    this.#value = deepFreeze(value);
    try {
      return this.#setFrom(doc, 0) as Doc;
    } finally {
      // Hold no document's value past its write.
      this.#segments = NO_SEGMENTS;
      this.#value = undefined;
    }
  }

  /**
   * `node` with the value at `segments[from..]`: the containers on the path are copied and
   * frozen, everything else is shared. Missing or scalar containers on the way become `{}`.
   * Returns `node` itself when the value is already there.
   */
  #setFrom(node: Container, from: number): Container {
    const segments = this.#segments;
    const value = this.#value;
    const segment = segments[from]!;
    const current = child(node, segment);
    let next: unknown = value;
    if (from < segments.length - 1) {
      const inner = current !== null && typeof current === 'object' ? current : Object.freeze({});
      next = this.#setFrom(inner as Container, from + 1);
      if (next === current) return node;
    } else if (Object.is(current, value) && (current !== undefined || hasSlot(node, segment))) {
      return node;
    }
    return Object.freeze(this.#withChild(node, segment, next));
  }

  /** A shallow, unfrozen copy of `node` with `segment` set to `value`. */
  #withChild(node: Container, segment: string, value: unknown) {
    if (!isList(node)) return { ...node, [segment]: value };
    if (!isIndex(segment)) throw notAnIndex(segment);
    const index = Number(segment);
    const gap = index - node.length;
    const { maxArrayGap } = this.#limits;
    if (gap > maxArrayGap) {
      throw new InvalidOp(
        `index ${segment} is ${gap} past the array's end (maxArrayGap ${maxArrayGap})`,
      );
    }
    const copy = node.slice();
    // MongoDB pads an array with nulls when a $set reaches past its end.
    while (copy.length < index) copy.push(null);
    copy[index] = value;
    return copy;
  }
}

function hasSlot(node: Container, segment: string): boolean {
  return isList(node) ? Number(segment) < node.length : Object.hasOwn(node, segment);
}

/**
 * `doc` without the field at `segments` (an array element becomes `null`, as MongoDB's `$unset`
 * leaves it); `doc` itself when there is nothing to remove.
 */
export function unsetIn(doc: Doc, segments: readonly string[]): Doc {
  return unsetFrom(doc, segments, 0) as Doc;
}

function unsetFrom(node: Container, segments: readonly string[], from: number): Container {
  const segment = segments[from]!;
  if (from < segments.length - 1) {
    const inner = child(node, segment);
    if (inner === null || typeof inner !== 'object') return node;
    const next = unsetFrom(inner as Container, segments, from + 1);
    if (next === inner) return node;
    const copy = isList(node) ? node.slice() : { ...node };
    (copy as Record<string, unknown>)[segment] = next;
    return Object.freeze(copy);
  }
  if (isList(node)) {
    if (!isIndex(segment)) throw notAnIndex(segment);
    const index = Number(segment);
    if (index >= node.length || node[index] === null) return node;
    const copy = node.slice();
    copy[index] = null;
    return Object.freeze(copy);
  }
  if (!Object.hasOwn(node, segment)) return node;
  const copy = { ...node };
  delete copy[segment];
  return Object.freeze(copy);
}
