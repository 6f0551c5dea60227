import { ParticleError } from '../protocol/errors.js';
import type { Doc } from './adapter.js';
import { isPlainObject } from './clone.js';
import { idKey } from './ids.js';

/** `{ L: { field: 'T.f' } }`: `L.field` references `T.f`. */
export type CacheConfig = Record<string, Record<string, string>>;

/** One step of a pipe: select documents of `collection` and read `field`. */
interface Hop {
  collection: string;
  /** How the documents of this node are selected from the previous node's documents. */
  select:
    | { kind: 'same' }
    // Both kinds select this node's documents whose `field` is in the previous node's `from`
    // values; `into` walks towards the referencing collection, `out` away from it.
    | { kind: 'into'; field: string; from: string }
    | { kind: 'out'; field: string; from: string };
}

/** A reference found in criteria. */
export type Reference =
  | { kind: 'identity'; field: string }
  | { kind: 'param'; field: string }
  | {
      kind: 'pipe';
      start: { identity: string } | { param: string } | { literal: string };
      first: { collection: string; field: string };
      hops: Hop[];
      last: string;
    };

/** Criteria with their references located, ready to be resolved per identity. */
export interface CompiledCriteria {
  /** The criteria as written (`undefined`: every record). */
  source: Doc | undefined;
  /** Every reference, keyed by a path into `source` (see {@link resolveCriteria}). */
  references: Map<string, Reference>;
  /** Identity fields the references read. */
  identityFields: string[];
  /** Params the references read. */
  paramFields: string[];
  /** Collections the pipes read, with the fields read in each: only a change to one of these
   * fields (or an insert, replace or delete) can change the resolved criteria. */
  dependencies: Map<string, Set<string>>;
}

function isReference(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    (value.startsWith('@') || value.startsWith('$') || value.includes('|'))
  );
}

/** Operators whose operand may be a reference (it must resolve to exactly one value). */
const OPERAND_OPERATORS = new Set(['$eq', '$ne', '$gt', '$gte', '$lt', '$lte']);
/** Operators whose array elements may be references (each adds the values it resolves to). */
const SET_OPERATORS = new Set(['$in', '$nin']);
/** Separates an operator, and an element index, from the field in a reference's location. */
const OP = '\u0001';

function parseNode(text: string, where: string): { collection: string; field: string } {
  const dot = text.indexOf('.');
  if (dot <= 0 || dot === text.length - 1) {
    throw new ParticleError(
      'config',
      `${where}: "${text}" must name a collection and a field, as "users._id"`,
    );
  }
  return { collection: text.slice(0, dot), field: text.slice(dot + 1) };
}

function findLink(cacheConfig: CacheConfig, from: string, to: string): Hop['select'] | undefined {
  // into the referencing collection: `to.field` references `from.f`
  for (const [field, target] of Object.entries(cacheConfig[to] ?? {})) {
    const t = parseNode(target, `cacheConfig.${to}.${field}`);
    if (t.collection === from) return { kind: 'into', field, from: t.field };
  }
  // out of it: `from.field` references `to.f`
  for (const [field, target] of Object.entries(cacheConfig[from] ?? {})) {
    const t = parseNode(target, `cacheConfig.${from}.${field}`);
    if (t.collection === to) return { kind: 'out', field: t.field, from: field };
  }
  return undefined;
}

/** How a data source's criteria are compiled. */
export interface CriteriaOptions {
  /** The links between collections that pipes follow. */
  cacheConfig: CacheConfig;
  /** Names the data source in config errors. */
  where: string;
  /** Whether the source declares params (which `$name` references read); default false. */
  params?: boolean;
}

/** Parses the reference written at `at` (a location in the criteria, for errors). */
function parseReference(text: string, at: string, options: CriteriaOptions): Reference {
  const { cacheConfig, params = false } = options;
  const where = `${options.where} criteria.${at}`;
  const bar = text.indexOf('|');
  const head = bar < 0 ? text : text.slice(0, bar);
  if (head.startsWith('$') && !params) {
    throw new ParticleError(
      'config',
      `${where}: "${head}" reads a param, but this source declares no params`,
    );
  }
  if (bar < 0) {
    const field = text.slice(1);
    if (!field) {
      throw new ParticleError(
        'config',
        `${where}: "${text}" must name ${text === '$' ? 'a param' : 'an identity field'}`,
      );
    }
    return text.startsWith('$') ? { kind: 'param', field } : { kind: 'identity', field };
  }
  const start = head.startsWith('@')
    ? { identity: head.slice(1) }
    : head.startsWith('$')
      ? { param: head.slice(1) }
      : { literal: head };
  const nodes = text
    .slice(bar + 1)
    .split('>')
    .map((n) => parseNode(n.trim(), where));
  const first = nodes[0] as { collection: string; field: string };
  const hops: Hop[] = [];
  for (let i = 1; i < nodes.length; i++) {
    const prev = nodes[i - 1] as { collection: string };
    const node = nodes[i] as { collection: string };
    if (prev.collection === node.collection) {
      hops.push({ collection: node.collection, select: { kind: 'same' } });
      continue;
    }
    const select = findLink(cacheConfig, prev.collection, node.collection);
    if (!select) {
      throw new ParticleError(
        'config',
        `${where}: no cacheConfig link between ${prev.collection} and ${node.collection} ` +
          `(declare one, e.g. cacheConfig: { ${node.collection}: { someField: '${prev.collection}._id' } })`,
      );
    }
    hops.push({ collection: node.collection, select });
  }
  return {
    kind: 'pipe',
    start,
    first,
    hops,
    last: (nodes[nodes.length - 1] as { field: string }).field,
  };
}

/** Locates the references in a data source's criteria. Throws a config error on a bad pipe. */
export function compileCriteria(
  criteria: Doc | undefined,
  options: CriteriaOptions,
): CompiledCriteria {
  const references = new Map<string, Reference>();
  const add = (path: string, text: string, at: string): void => {
    references.set(path, parseReference(text, at, options));
  };
  const walk = (query: Doc, prefix: string): void => {
    for (const [key, value] of Object.entries(query)) {
      if ((key === '$and' || key === '$or' || key === '$nor') && Array.isArray(value)) {
        value.forEach((sub, i) => {
          if (isPlainObject(sub)) walk(sub, `${prefix}${key}\u0000${i}\u0000`);
        });
      } else if (isReference(value)) {
        add(prefix + key, value, key);
      } else if (isPlainObject(value)) {
        for (const [op, operand] of Object.entries(value)) {
          if (OPERAND_OPERATORS.has(op) && isReference(operand)) {
            add(`${prefix}${key}${OP}${op}`, operand, `${key}.${op}`);
          } else if (SET_OPERATORS.has(op) && Array.isArray(operand)) {
            operand.forEach((element, i) => {
              if (isReference(element)) {
                add(`${prefix}${key}${OP}${op}${OP}${i}`, element, `${key}.${op}.${i}`);
              }
            });
          }
        }
      }
    }
  };
  if (criteria !== undefined) walk(criteria, '');
  const identityFields = new Set<string>();
  const paramFields = new Set<string>();
  const dependencies = new Map<string, Set<string>>();
  const reads = (collection: string, field: string): void => {
    let fields = dependencies.get(collection);
    if (!fields) dependencies.set(collection, (fields = new Set()));
    fields.add(field.split('.')[0] as string);
  };
  for (const ref of references.values()) {
    if (ref.kind === 'identity') identityFields.add(ref.field);
    else if (ref.kind === 'param') paramFields.add(ref.field);
    else {
      if ('identity' in ref.start) identityFields.add(ref.start.identity);
      if ('param' in ref.start) paramFields.add(ref.start.param);
      reads(ref.first.collection, ref.first.field);
      let prev = ref.first.collection;
      for (const hop of ref.hops) {
        if (hop.select.kind !== 'same') {
          reads(prev, hop.select.from);
          reads(hop.collection, hop.select.field);
        }
        prev = hop.collection;
      }
      reads(prev, ref.last);
    }
  }
  return {
    source: criteria,
    references,
    identityFields: [...identityFields],
    paramFields: [...paramFields],
    dependencies,
  };
}

/** A query no document matches (deny by default). */
export function matchNothing(): Doc {
  return { _id: { $in: [] } };
}

/** Reads documents for pipe resolution. */
export type Lookup = (collection: string, query: Doc) => Promise<Doc[]>;

/** The values of an identity field as a set, or an error for operator objects and sets larger
 * than `maxValues`. */
export function identityValues(identity: Doc, field: string, maxValues = Infinity): unknown[] {
  return referenceValues(identity, field, { from: 'identity', maxValues });
}

/** Where a reference's values come from (which names them in errors), and how many it may hold. */
export interface ValueBound {
  from: 'identity' | 'params';
  maxValues: number;
}

/** The values of one identity field or param as a set; `bad_identity` / `bad_params` else. */
export function referenceValues(values: Doc, field: string, bound: ValueBound): unknown[] {
  const { from, maxValues } = bound;
  if (!Object.hasOwn(values, field)) return [];
  const value = values[field];
  const list = Array.isArray(value) ? value : [value];
  const code = from === 'identity' ? 'bad_identity' : 'bad_params';
  const name = from === 'identity' ? `identity field "${field}"` : `params.${field}`;
  if (list.length > maxValues) {
    throw new ParticleError(
      code,
      `${name} holds ${list.length} values; at most ${maxValues} are allowed`,
    );
  }
  for (const v of list) {
    if (isPlainObject(v) || Array.isArray(v)) {
      throw new ParticleError(
        code,
        `${name} must be a scalar or an array of scalars, not an object`,
      );
    }
    if (typeof v === 'number' && !Number.isFinite(v)) {
      throw new ParticleError(code, `${name} must be a finite number, not ${String(v)}`);
    }
  }
  return list.filter((v) => v !== undefined);
}

function uniqueSorted(values: unknown[]): unknown[] {
  const seen = new Map<string, unknown>();
  for (const v of values.flat()) if (v !== undefined) seen.set(idKey(v), v);
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}

/** A pipe expanded past `maxValues` (deny by default: the criteria match nothing). */
class TooManyValues extends Error {}

async function resolvePipe(
  ref: Extract<Reference, { kind: 'pipe' }>,
  input: Required<ResolveInput>,
): Promise<unknown[]> {
  const { identity, params, lookup, maxValues } = input;
  const bounded = (values: unknown[]): unknown[] => {
    if (values.length > maxValues) throw new TooManyValues();
    return values;
  };
  const start =
    'identity' in ref.start
      ? identityValues(identity, ref.start.identity, maxValues)
      : 'param' in ref.start
        ? referenceValues(params, ref.start.param, { from: 'params', maxValues })
        : [ref.start.literal];
  if (start.length === 0) return [];
  let docs = await lookup(ref.first.collection, { [ref.first.field]: { $in: start } });
  for (const hop of ref.hops) {
    if (docs.length === 0) return [];
    const select = hop.select;
    if (select.kind === 'same') continue;
    const values = bounded(uniqueSorted(docs.map((d) => d[select.from])));
    const field = select.field;
    docs = values.length === 0 ? [] : await lookup(hop.collection, { [field]: { $in: values } });
  }
  return bounded(uniqueSorted(docs.map((d) => d[ref.last])));
}

/** Criteria resolved for one identity. */
export interface ResolvedCriteria {
  query: Doc;
  /** Set when a pipe expanded past `maxValues`: `query` then matches nothing. */
  exceeded?: string;
}

/** What criteria are resolved with. */
export interface ResolveInput {
  identity: Doc;
  /** Reads the documents pipes walk. */
  lookup: Lookup;
  /** The most values one reference may stand for; default: no limit. */
  maxValues?: number;
  /** The view's params; default: none. */
  params?: Doc;
}

/**
 * Replaces every reference with literal values for one identity: a scalar identity value stays
 * an equality, a set becomes `$in`, and a missing identity field matches nothing. A pipe that
 * expands past `maxValues` makes the whole criteria match nothing (deny by default).
 */
export async function resolveCriteria(
  compiled: CompiledCriteria,
  input: ResolveInput,
): Promise<ResolvedCriteria> {
  if (compiled.source === undefined) return { query: {} };
  const { identity, lookup, maxValues = Infinity, params = {} } = input;
  const withDefaults = { identity, lookup, maxValues, params };
  /** Per location: the values a reference stands for, and whether it was a single scalar. */
  const resolved = new Map<string, { values: unknown[]; scalar: boolean }>();
  for (const [path, ref] of compiled.references) {
    let values: unknown[];
    let scalar = false;
    if (ref.kind === 'pipe') {
      try {
        values = await resolvePipe(ref, withDefaults);
      } catch (error) {
        if (!(error instanceof TooManyValues)) throw error;
        return { query: matchNothing(), exceeded: path.replaceAll('\u0000', '.') };
      }
    } else {
      const from = ref.kind === 'identity' ? identity : params;
      values = referenceValues(from, ref.field, {
        from: ref.kind === 'identity' ? 'identity' : 'params',
        maxValues,
      });
      scalar = values.length === 1 && !Array.isArray(from[ref.field]);
      values = scalar ? values : uniqueSorted(values);
    }
    // Under a negation an empty set would match every document, and a comparison needs exactly
    // one value: deny by default instead.
    const [, op] = path.split(OP);
    const negated = path.includes('$nor\u0000') || op === '$ne' || op === '$nin';
    const operand = op !== undefined && OPERAND_OPERATORS.has(op) && path.endsWith(op);
    if (values.length === 0 && negated) return { query: matchNothing() };
    if (operand && values.length !== 1) return { query: matchNothing() };
    resolved.set(path, { values, scalar });
  }
  const rebuildOperators = (ops: Doc, at: string): Doc => {
    const out: Doc = {};
    for (const [op, operand] of Object.entries(ops)) {
      const slot = resolved.get(`${at}${OP}${op}`);
      if (slot) out[op] = slot.values[0];
      else if (SET_OPERATORS.has(op) && Array.isArray(operand)) {
        out[op] = operand.flatMap((element: unknown, i) => {
          const el = resolved.get(`${at}${OP}${op}${OP}${i}`);
          return el ? el.values : [element];
        });
      } else out[op] = operand;
    }
    return out;
  };
  const rebuild = (query: Doc, prefix: string): Doc => {
    const out: Doc = {};
    for (const [key, value] of Object.entries(query)) {
      const slot = resolved.get(prefix + key);
      if ((key === '$and' || key === '$or' || key === '$nor') && Array.isArray(value)) {
        out[key] = value.map((sub: unknown, i) =>
          isPlainObject(sub) ? rebuild(sub, `${prefix}${key}\u0000${i}\u0000`) : sub,
        );
      } else if (slot) out[key] = slot.scalar ? slot.values[0] : { $in: slot.values };
      else if (isPlainObject(value)) out[key] = rebuildOperators(value, prefix + key);
      else out[key] = value;
    }
    return out;
  };
  return { query: rebuild(compiled.source, '') };
}
