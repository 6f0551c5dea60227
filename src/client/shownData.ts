import type { RootDocs } from './rootDocs.js';
import type { CollectorData } from './types.js';

/**
 * One state of `collector.data`, made into an object only when someone reads it: each applied
 * message makes a new state at the cost of a small map, whatever the roots hold, and a state
 * read later still shows its own message.
 */
export type ShownData = {
  /** One accessor per root, in `data`'s key order. */
  readonly properties: readonly (readonly [string, PropertyDescriptor])[];
  data: CollectorData | null;
};

/**
 * What every `data` object inherits from: `Object.prototype`, and a way for Node's
 * `console.log(collector.data)` to show the documents rather than `[Getter]`.
 */
const DATA_PROTOTYPE = Object.create(Object.prototype, {
  [Symbol.for('nodejs.util.inspect.custom')]: {
    value(this: CollectorData) {
      return { ...this };
    },
  },
}) as object;

/** A state without roots. */
export function emptyShown(): ShownData {
  const data = Object.freeze(Object.create(DATA_PROTOTYPE) as object) as CollectorData;
  return { properties: [], data };
}

/** `shown` with roots whose documents changed (`docs`), or are gone (`null`). */
export function withRoots(
  shown: ShownData,
  changes: ReadonlyMap<string, RootDocs | null>,
): ShownData {
  // A few roots: an array copies faster than a map.
  let properties = shown.properties.slice();
  for (const [root, docs] of changes) {
    const at = properties.findIndex(([name]) => name === root);
    if (docs === null) {
      if (at >= 0) properties = properties.filter(([name]) => name !== root);
      continue;
    }
    // The version of now, not the root: later deltas must not show through this state.
    const version = docs.version;
    const property = { enumerable: true, get: version.read.bind(version) };
    if (at >= 0) properties[at] = [root, property];
    else properties.push([root, property]);
  }
  return { properties, data: null };
}

/**
 * The frozen `data` object of `shown` (the same one on every call): each root an accessor that
 * copies that root's array when first read, then returns the same array.
 */
export function dataOf(shown: ShownData): CollectorData {
  if (shown.data !== null) return shown.data;
  const data = Object.create(DATA_PROTOTYPE) as object;
  for (const [root, property] of shown.properties) Object.defineProperty(data, root, property);
  shown.data = Object.freeze(data) as CollectorData;
  return shown.data;
}
