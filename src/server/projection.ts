import type { Manifest, Op } from '../protocol/messages.js';
import { isIndex } from '../protocol/path.js';
import type { Doc } from './adapter.js';
import { getPath, hasPath, isPlainObject } from './clone.js';

/**
 * Applies a manifest to a value as a MongoDB inclusion projection does: `true` keeps the whole
 * value; an object keeps only its listed fields, element by element over arrays (non-document
 * elements are dropped). Returns `undefined` when nothing of the value is visible.
 */
export function project(value: unknown, manifest: Manifest): unknown {
  if (manifest === true) return value;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const element of value) {
      if (isPlainObject(element) || Array.isArray(element)) out.push(project(element, manifest));
    }
    return out;
  }
  if (!isPlainObject(value)) return undefined;
  const out: Doc = {};
  for (const key of Object.keys(manifest)) {
    if (!Object.hasOwn(value, key)) continue;
    const sub = project(value[key], manifest[key] as Manifest);
    if (sub !== undefined) out[key] = sub;
  }
  return out;
}

/** Projects a whole document; its id field is always kept. */
export function projectDoc(doc: Doc, manifest: Manifest, idField: string): Doc {
  if (manifest === true) return doc;
  const out = project(doc, manifest) as Doc;
  if (Object.hasOwn(doc, idField) && !Object.hasOwn(out, idField)) {
    return { [idField]: doc[idField], ...out };
  }
  return out;
}

type PathVisibility =
  /** The whole value at the path is visible. */
  | { kind: 'all' }
  /** The path is visible, but only the listed parts of its value. */
  | { kind: 'partial'; manifest: Exclude<Manifest, true> }
  /** Nothing at this path is visible. */
  | { kind: 'none' }
  /** The path indexes an array under a partial manifest: send the top-level field again. */
  | { kind: 'field' };

function visibility(path: string, manifest: Manifest): PathVisibility {
  let m: Manifest = manifest;
  for (const seg of path.split('.')) {
    if (m === true) return { kind: 'all' };
    if (isIndex(seg)) return { kind: 'field' };
    // Own properties only: `constructor` or `valueOf` must not be found on Object.prototype.
    const next: Manifest | undefined = Object.hasOwn(m, seg) ? m[seg] : undefined;
    if (next === undefined) return { kind: 'none' };
    m = next;
  }
  return m === true ? { kind: 'all' } : { kind: 'partial', manifest: m };
}

/**
 * Turns an update's named paths into the ops a client with this manifest may see. `doc` is the
 * post-image; it is read only where a path cannot be projected on its own.
 */
export function updateOps(
  id: string | number,
  doc: Doc,
  updatedFields: Record<string, unknown>,
  removedFields: readonly string[],
  manifest: Manifest,
): Op[] {
  const ops: Op[] = [];
  const resent = new Set<string>();
  const resendField = (path: string): void => {
    const field = path.split('.')[0] as string;
    if (resent.has(field)) return;
    resent.add(field);
    const top =
      manifest === true ? true : Object.hasOwn(manifest, field) ? manifest[field] : undefined;
    if (top === undefined) return;
    const value = hasPath(doc, field) ? project(getPath(doc, field), top) : undefined;
    ops.push(
      value === undefined
        ? { operation: 'unset', id, path: field }
        : { operation: 'set', id, path: field, data: value },
    );
  };
  for (const [path, value] of Object.entries(updatedFields)) {
    const v = visibility(path, manifest);
    if (v.kind === 'none') continue;
    if (v.kind === 'field') resendField(path);
    else if (v.kind === 'all') ops.push({ operation: 'set', id, path, data: value });
    else {
      const projected = project(value, v.manifest);
      ops.push(
        projected === undefined
          ? { operation: 'unset', id, path }
          : { operation: 'set', id, path, data: projected },
      );
    }
  }
  for (const path of removedFields) {
    const v = visibility(path, manifest);
    if (v.kind === 'none') continue;
    if (v.kind === 'field') resendField(path);
    else ops.push({ operation: 'unset', id, path });
  }
  return ops;
}

/** Converts a manifest into a MongoDB projection (`undefined` for all fields). */
export function toProjection(manifest: Manifest, idField: string): Doc | undefined {
  if (manifest === true) return undefined;
  const out: Doc = { [idField]: 1 };
  const walk = (m: Exclude<Manifest, true>, prefix: string): void => {
    for (const [key, sub] of Object.entries(m)) {
      if (sub === true) out[prefix + key] = 1;
      else walk(sub, `${prefix}${key}.`);
    }
  };
  walk(manifest, '');
  return out;
}
