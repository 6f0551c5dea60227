import type { Doc } from '../protocol/index.js';
import type { ParsedPath } from './path.js';

/** Finds a root's document by the id in `path`; `idField` names the id field. */
export type DocLookup = (
  docs: readonly Doc[],
  idField: string,
  path: ParsedPath,
) => Doc | undefined;

interface Positions {
  /** The array the positions were taken from. */
  readonly docs: readonly Doc[];
  readonly idField: string;
  /** Id (as it is) to position; the first document wins when an id repeats. */
  readonly typed: Map<unknown, number>;
  /** `String(id)` to position, built on the first string-path read. */
  byString: Map<string, number> | undefined;
}

function positionsOf(docs: readonly Doc[], idField: string): Positions {
  const typed = new Map<unknown, number>();
  for (let i = 0; i < docs.length; i++) {
    const id = docs[i]?.[idField];
    if (!typed.has(id)) typed.set(id, i);
  }
  return { docs, idField, typed, byString: undefined };
}

function stringPositions(positions: Positions): Map<string, number> {
  if (positions.byString === undefined) {
    positions.byString = new Map();
    for (const [id, at] of positions.typed) {
      const key = String(id);
      if (!positions.byString.has(key)) positions.byString.set(key, at);
    }
  }
  return positions.byString;
}

/** The document at the remembered position, if it still holds the wanted id. */
function at(positions: Positions, docs: readonly Doc[], path: ParsedPath): Doc | undefined {
  const position = path.byString
    ? stringPositions(positions).get(path.idKey)
    : positions.typed.get(path.id);
  if (position === undefined) return undefined;
  const doc = docs[position];
  if (doc === undefined) return undefined;
  const id = doc[positions.idField];
  return (path.byString ? String(id) === path.idKey : id === path.id) ? doc : undefined;
}

/**
 * An id lookup for one root that stays O(1) across snapshots. It remembers each id's position
 * and checks, on every read, that the document there still has that id. A `set` or `unset` makes
 * a new root array with the same layout, so the positions stay valid and nothing is rebuilt;
 * when a check fails or an id is missing from a newer array (an insert, a remove, a re-sort, a
 * payload), the positions are taken again, once per new array at most.
 */
export function createDocLookup(): DocLookup {
  let positions: Positions | undefined;
  return (docs, idField, path) => {
    if (positions === undefined || positions.idField !== idField) {
      positions = positionsOf(docs, idField);
    }
    const doc = at(positions, docs, path);
    if (doc !== undefined || positions.docs === docs) return doc;
    positions = positionsOf(docs, idField);
    return at(positions, docs, path);
  };
}
