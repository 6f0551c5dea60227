import type { Manifest } from '../protocol/messages.js';
import type { Doc } from './adapter.js';
import { isPlainObject } from './clone.js';

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
