import { enablePatches, produceWithPatches, type Draft, type Patch } from 'immer';
import type { Doc } from '../protocol/index.js';

enablePatches();

/** A direct write's ops: Particle ops without an id (the document is named beside them). */
export type WriteOp =
  { operation: 'set'; path: string; data: unknown } | { operation: 'unset'; path: string };

/**
 * Runs `recipe` on a draft of `doc` and returns the ops that turn `doc` into the result:
 * `set`/`unset` at dotted paths, and a whole array `set` wherever a change is inside an array
 * (arrays travel whole, as the server applies them).
 */
export function opsOf(
  doc: Doc,
  recipe: (draft: Draft<Doc>) => void,
): { next: Doc; ops: WriteOp[] } {
  const [next, patches] = produceWithPatches(doc, (draft) => {
    recipe(draft);
  });
  const ops = new Map<string, WriteOp>();
  for (const patch of patches) {
    const op = toOp(next, patch);
    if (op === null) continue;
    // A later op on a path under an earlier whole-array set is already in it.
    if (
      [...ops.keys()].some((p) => op.path.startsWith(`${p}.`) && ops.get(p)?.operation === 'set')
    ) {
      continue;
    }
    for (const p of [...ops.keys()]) if (p.startsWith(`${op.path}.`)) ops.delete(p);
    ops.delete(op.path);
    ops.set(op.path, op);
  }
  return { next, ops: [...ops.values()] };
}

function toOp(next: Doc, patch: Patch): WriteOp | null {
  const path = patch.path;
  if (path.length === 0) return null;
  // Inside an array: the whole (outermost) array is set.
  let value: unknown = next;
  for (let i = 0; i < path.length; i++) {
    if (Array.isArray(value)) {
      const at = path.slice(0, i).join('.');
      return { operation: 'set', path: at, data: value };
    }
    if (i === path.length - 1) break;
    value = (value as Record<string, unknown> | undefined)?.[String(path[i])];
  }
  const dotted = path.join('.');
  if (patch.op === 'remove') return { operation: 'unset', path: dotted };
  return { operation: 'set', path: dotted, data: patch.value as unknown };
}
