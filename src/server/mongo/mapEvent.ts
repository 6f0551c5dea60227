import type { Change, Doc } from '../adapter.js';
import { getPath, hasPath } from '../clone.js';
import { eventTime, timeValue } from './clusterTime.js';

/**
 * The fields of a MongoDB change event that the adapter reads. Structural on purpose: the
 * driver's `ChangeStreamDocument` union fits it, and so do fixtures decoded from Extended JSON.
 * The server may add fields and operation types at any time; unknown ones are ignored.
 */
export interface ChangeEvent {
  /** The resume token (opaque). */
  _id?: unknown;
  operationType: string;
  /** When it was committed (a BSON Timestamp). */
  clusterTime?: unknown;
  ns?: { db?: string; coll?: string };
  /** Only on `rename`: the new namespace. */
  to?: { db?: string; coll?: string };
  documentKey?: { _id?: unknown };
  fullDocument?: Doc | null;
  updateDescription?: {
    updatedFields?: Doc;
    removedFields?: string[];
    truncatedArrays?: { field: string; newSize: number }[];
    disambiguatedPaths?: Record<string, (string | number)[]>;
  };
}

/**
 * Turns one change event into the adapter-neutral {@link Change}s it stands for (none for an
 * event Particle does not use).
 *
 * - insert / replace: the full document.
 * - update: `updatedFields` and `removedFields` keep the event's dotted paths (numeric
 *   segments index arrays); `doc` is the post-image (`null` when the document was deleted
 *   before the server could look it up).
 * - `truncatedArrays` (pipeline updates that shrink an array) become one `updatedFields`
 *   entry holding the whole array read from the post-image, placed first and replacing the
 *   event's entries below that array. When there is no post-image the document is already gone
 *   and the `delete` that follows removes it, so the truncation is left out.
 * - A path whose real components hold a dot (`disambiguatedPaths`) cannot be written as a
 *   dotted path; the whole top-level field is sent from the post-image instead.
 * - drop / rename (both names) / dropDatabase / invalidate: `reset` for the affected watched
 *   collections, so the Stream re-queries and diffs.
 *
 * @param event - The change event as the driver (or a fixture) gives it.
 * @param watched - The collections the feed covers; namespace events only reset these.
 */
export function mapChangeEvent(event: ChangeEvent, watched: readonly string[]): Change[] {
  const collection = event.ns?.coll;
  const at = timeValue(eventTime(event));
  const stamp = at === undefined ? {} : { at };
  const resets = (names: (string | undefined)[]): Change[] =>
    [...new Set(names)]
      .filter((name): name is string => name !== undefined && watched.includes(name))
      .map((name) => ({ type: 'reset', collection: name }));

  switch (event.operationType) {
    case 'insert':
    case 'replace': {
      if (collection === undefined || !event.fullDocument) return [];
      const id = event.documentKey?._id ?? event.fullDocument._id;
      return [{ type: event.operationType, collection, id, doc: event.fullDocument, ...stamp }];
    }
    case 'update': {
      if (collection === undefined) return [];
      const doc = event.fullDocument ?? null;
      return [
        {
          type: 'update',
          collection,
          id: event.documentKey?._id,
          doc,
          ...updatePaths(event, doc),
          ...stamp,
        },
      ];
    }
    case 'delete':
      if (collection === undefined) return [];
      return [{ type: 'delete', collection, id: event.documentKey?._id, ...stamp }];
    case 'drop':
      return resets([collection]);
    case 'rename':
      return resets([collection, event.to?.coll]);
    case 'dropDatabase':
    case 'invalidate':
      return resets([...watched]);
    default:
      return [];
  }
}

function updatePaths(
  event: ChangeEvent,
  doc: Doc | null,
): { updatedFields: Record<string, unknown>; removedFields: string[] } {
  const description = event.updateDescription ?? {};
  const updated = Object.entries(description.updatedFields ?? {});
  let removed = [...(description.removedFields ?? [])];
  const updatedFields: Record<string, unknown> = {};

  const wholeArrays = doc
    ? (description.truncatedArrays ?? []).map((t) => t.field).filter((f) => hasPath(doc, f))
    : [];
  const underArray = (path: string): boolean =>
    wholeArrays.some((field) => path === field || path.startsWith(`${field}.`));
  for (const field of wholeArrays) updatedFields[field] = getPath(doc, field);

  const dotted = Object.entries(description.disambiguatedPaths ?? {})
    .filter(([, parts]) => parts.some((part) => typeof part === 'string' && part.includes('.')))
    .map(([path]) => path);
  const wholeTop = new Set<string>();
  for (const path of dotted) wholeTop.add(path.split('.')[0] ?? path);
  const underTop = (path: string): boolean => wholeTop.has(path.split('.')[0] ?? path);

  for (const [path, value] of updated) {
    if (underArray(path) || underTop(path)) continue;
    updatedFields[path] = value;
  }
  removed = removed.filter((path) => !underArray(path) && !underTop(path));
  for (const top of wholeTop) {
    if (doc && Object.hasOwn(doc, top)) updatedFields[top] = doc[top];
    else removed.push(top);
  }
  return { updatedFields, removedFields: removed };
}
