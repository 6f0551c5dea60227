/**
 * Walking a dotted update path inside a document the way MongoDB does: numeric segments index
 * arrays, missing parents are created as objects when an operator writes, and a path that runs
 * through a scalar or names a field of an array is an error for a writing operator.
 */
import type { Doc } from '../adapter.js';
import { isPlainObject } from '../clone.js';
import { ParticleError } from '../../protocol/errors.js';

/** The container that holds a path's last segment, and that segment. */
export interface Slot {
  /** A plain object or an array. */
  container: Record<string, unknown> | unknown[];
  key: string;
  /** The array index when `container` is an array. */
  index: number;
}

const DIGITS = /^\d+$/;

/** Splits a path, refusing empty segments. */
export function splitPath(path: string): string[] {
  const segs = path.split('.');
  if (segs.some((s) => s === '')) {
    throw new ParticleError('config', `the update path '${path}' has an empty field name`);
  }
  return segs;
}

/** The error for a path that cannot be written; only an error joins the segments again. */
function cannot(segs: readonly string[], seg: string, reason: string): ParticleError {
  const path = segs.join('.');
  return new ParticleError('config', `cannot update '${path}': field '${seg}' ${reason}`);
}

/**
 * The slot a split path names. With `create`, missing parents become `{}` (and array parents are
 * padded with `null`), and a parent that cannot hold a field throws; without it, such a path
 * has no slot (`undefined`): the operator has nothing to do.
 */
export function slotOf(doc: Doc, segs: readonly string[], create: boolean): Slot | undefined {
  let cur: unknown = doc;
  const last = segs.length - 1;
  for (let i = 0; ; i++) {
    const seg = segs[i] as string;
    let index = -1;
    if (Array.isArray(cur)) {
      if (!DIGITS.test(seg)) {
        if (!create) return undefined;
        throw cannot(segs, seg, 'is not an index of the array it names');
      }
      index = Number(seg);
    } else if (!isPlainObject(cur)) {
      if (!create) return undefined;
      throw cannot(segs, seg, 'is inside a value that is not a document');
    }
    const container = cur as Record<string, unknown> | unknown[];
    if (i === last) return { container, key: seg, index };
    let next = read(container, seg, index);
    if (next === undefined) {
      if (!create) return undefined;
      next = {};
      if (index >= 0) setElement(container as unknown[], index, next);
      else (container as Record<string, unknown>)[seg] = next;
    } else if (next === null && create) {
      throw cannot(segs, segs[i + 1] as string, 'is inside a null');
    }
    cur = next;
  }
}

function read(container: Record<string, unknown> | unknown[], key: string, index: number): unknown {
  if (index >= 0) return (container as unknown[])[index];
  return Object.hasOwn(container, key) ? (container as Record<string, unknown>)[key] : undefined;
}

/** Writes an array element, padding the array with `null` up to the index as MongoDB does. */
function setElement(arr: unknown[], index: number, value: unknown): void {
  while (arr.length < index) arr.push(null);
  arr[index] = value;
}

/** True when the slot holds a value (an array element within bounds, an own field). */
export function has(slot: Slot): boolean {
  if (slot.index >= 0) return slot.index < (slot.container as unknown[]).length;
  return Object.hasOwn(slot.container, slot.key);
}

/** The slot's value (`undefined` when missing). */
export function get(slot: Slot): unknown {
  return has(slot) ? read(slot.container, slot.key, slot.index) : undefined;
}

/** Writes the slot (padding an array with `null` up to the index, as MongoDB does). */
export function set(slot: Slot, value: unknown): void {
  if (slot.index >= 0) setElement(slot.container as unknown[], slot.index, value);
  else (slot.container as Record<string, unknown>)[slot.key] = value;
}

/** Removes the slot's field; an array element becomes `null` instead (arrays keep positions). */
export function unset(slot: Slot): void {
  if (slot.index >= 0) (slot.container as unknown[])[slot.index] = null;
  else delete (slot.container as Record<string, unknown>)[slot.key];
}
