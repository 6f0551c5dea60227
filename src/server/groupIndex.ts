import type { Doc } from './adapter.js';
import { isPlainObject } from './clone.js';
import type { Group } from './group.js';
import { idKey } from './ids.js';
import { isBsonNumber } from './numbers.js';

/** An equality a query requires: `field` is one of `values`. */
export interface Equality {
  field: string;
  values: unknown[];
}

function isLiteral(value: unknown): boolean {
  return (
    value !== null &&
    value !== undefined &&
    !Array.isArray(value) &&
    !isPlainObject(value) &&
    !(value instanceof RegExp)
  );
}

/**
 * Finds equalities that every matching document satisfies at least one of, so the group can be
 * indexed by their values: one required equality, or one per branch of an `$or`.
 */
export function findEqualities(query: Doc): Equality[] | undefined {
  for (const [field, value] of Object.entries(query)) {
    if (field === '$and' && Array.isArray(value)) {
      for (const sub of value) {
        const found = isPlainObject(sub) ? findEqualities(sub) : undefined;
        if (found) return found;
      }
      continue;
    }
    if (field === '$or' && Array.isArray(value) && value.length > 0) {
      const branches = value.map((sub) => (isPlainObject(sub) ? findEqualities(sub) : undefined));
      if (branches.every((b) => b !== undefined)) return branches.flat();
      continue;
    }
    if (field.startsWith('$')) continue;
    if (isLiteral(value)) return [{ field, values: [value] }];
    if (isPlainObject(value)) {
      if (Array.isArray(value.$in) && value.$in.every(isLiteral)) {
        return [{ field, values: value.$in }];
      }
      if (isLiteral(value.$eq)) return [{ field, values: [value.$eq] }];
    }
  }
  return undefined;
}

/**
 * The key of a value for an equality index: equal values share a key, as the matcher sees them
 * (a BSON number is keyed by its value, so `5` and Decimal128 `5` meet), and values the matcher
 * tells apart may share one too; whoever reads the index tests its candidates exactly.
 */
export function equalityKey(value: unknown): string {
  if (isBsonNumber(value)) return `n:${Number(String(value))}`;
  if (value instanceof Date) return `d:${value.getTime()}`;
  return idKey(value);
}

const NO_PATH: readonly string[] = [];
/** The walker's output between calls (never written then). */
const NO_VALUES: unknown[] = [];

/**
 * The walk behind {@link valuesAt}. It runs synchronously and calls nothing outside itself, so
 * one walker serves every call: the path and the output stay on it and each step passes only
 * the node and its depth.
 */
class PathValues {
  path: readonly string[] = NO_PATH;
  out: unknown[] = NO_VALUES;

  collect(doc: unknown, from: number): void {
    const { path, out } = this;
    if (from === path.length) {
      if (Array.isArray(doc)) out.push(...(doc as unknown[]));
      else out.push(doc);
      return;
    }
    if (Array.isArray(doc)) {
      for (const element of doc) this.collect(element, from);
      const seg = path[from] as string;
      if (/^\d+$/.test(seg)) this.collect(doc[Number(seg)], from + 1);
      return;
    }
    if (doc !== null && typeof doc === 'object') {
      this.collect((doc as Record<string, unknown>)[path[from] as string], from + 1);
    }
  }
}

const walker = new PathValues();

/** Every value at a dotted path, descending through arrays as MongoDB's matching does. */
export function valuesAt(doc: unknown, path: readonly string[]): unknown[] {
  const out: unknown[] = [];
  walker.path = path;
  walker.out = out;
  walker.collect(doc, 0);
  // Hold no document's values past the call.
  walker.path = NO_PATH;
  walker.out = NO_VALUES;
  return out;
}

/**
 * The groups of one collection, indexed so that a change costs work only for the groups whose
 * equality it can satisfy, the groups without an equality, and the groups that hold its id.
 */
export class CollectionGroups {
  private readonly byId = new Map<string, Group | Set<Group>>();
  private readonly byField = new Map<string, { path: string[]; values: Map<string, Set<Group>> }>();
  private readonly scan = new Set<Group>();
  private readonly windows = new Set<Group>();
  private readonly equalities = new WeakMap<Group, Equality[]>();
  size = 0;

  /** The groups that are live windows. */
  windowed(): Iterable<Group> {
    return this.windows;
  }

  add(group: Group): void {
    this.size++;
    if (group.window) this.windows.add(group);
    const equalities = findEqualities(group.query);
    if (!equalities) {
      this.scan.add(group);
      return;
    }
    this.equalities.set(group, equalities);
    for (const eq of equalities) {
      let field = this.byField.get(eq.field);
      if (!field) {
        this.byField.set(eq.field, (field = { path: eq.field.split('.'), values: new Map() }));
      }
      for (const value of eq.values) addTo(field.values, equalityKey(value), group);
    }
  }

  remove(group: Group): void {
    this.size--;
    this.windows.delete(group);
    const equalities = this.equalities.get(group);
    if (!equalities) {
      this.scan.delete(group);
      return;
    }
    for (const eq of equalities) {
      const field = this.byField.get(eq.field);
      if (!field) continue;
      for (const value of eq.values) removeFrom(field.values, equalityKey(value), group);
      if (field.values.size === 0) this.byField.delete(eq.field);
    }
  }

  /** Records that `group` holds (or no longer holds) the document with this id key. */
  hold(group: Group, key: string, held: boolean): void {
    // Most documents are held by one group: keep the group itself, a Set only when shared.
    const current = this.byId.get(key);
    if (held) {
      if (current === undefined) this.byId.set(key, group);
      else if (current instanceof Set) current.add(group);
      else if (current !== group) this.byId.set(key, new Set([current, group]));
    } else if (current === group) this.byId.delete(key);
    else if (current instanceof Set) {
      current.delete(group);
      if (current.size === 1) this.byId.set(key, current.values().next().value as Group);
    }
  }

  /** The groups a change to this document may concern. */
  candidates(key: string, doc: Doc | null): Set<Group> {
    const holders = this.byId.get(key);
    const out = new Set<Group>(holders instanceof Set ? holders : holders ? [holders] : []);
    if (doc === null) return out;
    for (const g of this.scan) out.add(g);
    for (const { path, values } of this.byField.values()) {
      for (const value of valuesAt(doc, path)) {
        const groups = values.get(equalityKey(value));
        if (groups) for (const g of groups) out.add(g);
      }
    }
    return out;
  }
}

export function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(value);
}

export function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(value);
  if (set.size === 0) map.delete(key);
}
