import type { DocsVersion } from './docsVersion.js';
import type { RootDocs } from './rootDocs.js';
import type { CollectorData } from './types.js';

/**
 * One state of `collector.data`, made into an object only when someone reads it: each applied
 * message makes a new state at the cost of a small array, whatever the roots hold, and a state
 * read later still shows its own message.
 */
export type ShownData = {
  /** Each root's version of this state, in `data`'s key order. */
  readonly versions: readonly (readonly [string, DocsVersion])[];
  data: CollectorData | null;
};

/**
 * What every `data` object is: an object whose roots are accessors reading this state's
 * versions, and a way for Node's `console.log(collector.data)` to show the documents rather
 * than `[Getter]`. The accessors are one function per root name, shared by every state, so
 * the objects of all states share one shape and cost little to make.
 */
class DataObject {
  readonly #versions: ShownData['versions'];

  constructor(versions: ShownData['versions']) {
    this.#versions = versions;
  }

  static accessor(root: string): PropertyDescriptor {
    return {
      enumerable: true,
      get(this: DataObject) {
        for (const [name, version] of this.#versions) if (name === root) return version.read();
        return undefined;
      },
    };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): object {
    return { ...this };
  }
}
// Data objects inherit Object.prototype's methods and nothing named like a root.
Object.defineProperty(DataObject.prototype, 'constructor', { value: Object, enumerable: false });

const accessors = new Map<string, PropertyDescriptor>();

function accessorOf(root: string): PropertyDescriptor {
  let accessor = accessors.get(root);
  if (accessor === undefined) {
    accessor = DataObject.accessor(root);
    accessors.set(root, accessor);
  }
  return accessor;
}

/** A state without roots. */
export function emptyShown(): ShownData {
  return { versions: [], data: null };
}

/** `shown` with roots whose documents changed (`docs`), or are gone (`null`). */
export function withRoots(
  shown: ShownData,
  changes: ReadonlyMap<string, RootDocs | null>,
): ShownData {
  // A few roots: an array copies faster than a map.
  let versions = shown.versions.slice();
  for (const [root, docs] of changes) {
    const at = versions.findIndex(([name]) => name === root);
    if (docs === null) {
      if (at >= 0) versions = versions.filter(([name]) => name !== root);
      continue;
    }
    // The version of now, not the root: later deltas must not show through this state.
    const entry = [root, docs.version] as const;
    if (at >= 0) versions[at] = entry;
    else versions.push(entry);
  }
  return { versions, data: null };
}

/**
 * The frozen `data` object of `shown` (the same one on every call): each root an accessor that
 * copies that root's array when first read, then returns the same array.
 */
export function dataOf(shown: ShownData): CollectorData {
  if (shown.data !== null) return shown.data;
  const data = new DataObject(shown.versions);
  for (const [root] of shown.versions) Object.defineProperty(data, root, accessorOf(root));
  shown.data = Object.freeze(data);
  return shown.data;
}
