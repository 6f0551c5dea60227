/**
 * Applies a MongoDB update document to one document in place and returns the paths it
 * changed, sorted: the same paths mingo's `update()` reports, without building its operator
 * machinery on every call. Positional paths (`a.$`, `a.$[]`, `a.$[x]`) and `$bit` still go
 * through mingo.
 */
import { update as mingoUpdate } from 'mingo';
import type { Doc } from '../adapter.js';
import { deepEqual, isPlainObject } from '../clone.js';
import { ParticleError } from '../../protocol/errors.js';
import { FIELD_OPERATORS, type UpdateContext } from './operators.js';
import { slotOf, splitPath } from './paths.js';

/** A MongoDB update document: `$set`, `$unset`, `$inc`, `$push`, `$pull`, ... */
export type UpdateDocument = Record<string, Record<string, unknown>>;

/** Operators accepted and ignored: an update here never inserts. */
const IGNORED = new Set(['$setOnInsert']);
/** Operators left to mingo. */
const DELEGATED = new Set(['$bit']);

function bad(message: string): ParticleError {
  return new ParticleError('config', message);
}

/** Applies `update` to `doc` (mutating it) and returns the changed paths, sorted. */
export function applyUpdate(doc: Doc, update: UpdateDocument): string[] {
  if (delegates(update)) return mingoUpdate(doc, update);
  const ops = Object.keys(update);
  const claimed = new Map<string, string[]>();
  for (const op of ops) {
    const fields = update[op];
    if (!isPlainObject(fields)) throw bad(`${op} needs a document of fields`);
    const field = FIELD_OPERATORS[op];
    if (!field && op !== '$rename' && !IGNORED.has(op)) {
      throw bad(`unsupported update operator ${op}`);
    }
    for (const [path, arg] of Object.entries(fields)) {
      claim(claimed, path);
      if (op === '$rename') {
        if (typeof arg !== 'string') throw bad(`$rename needs a string target for '${path}'`);
        if (arg === path) throw bad(`$rename needs a target other than its source ('${path}')`);
        claim(claimed, arg);
      } else field?.check?.(arg, path);
    }
  }
  const ctx: UpdateContext = { now: new Date(), path: '' };
  const changed: string[] = [];
  for (const op of ops) {
    if (IGNORED.has(op)) continue;
    const fields = update[op] as Record<string, unknown>;
    for (const [path, arg] of Object.entries(fields)) {
      if (op === '$rename') {
        changed.push(...rename(doc, path, arg as string));
        continue;
      }
      const field = FIELD_OPERATORS[op];
      if (!field) continue;
      const slot = slotOf(doc, claimed.get(path) ?? splitPath(path), field.creates);
      ctx.path = path;
      if (slot && field.apply(slot, arg, ctx)) changed.push(path);
    }
  }
  return [...new Set(changed)].sort();
}

/** True when the update needs what only mingo implements (positional paths, `$bit`). */
function delegates(update: UpdateDocument): boolean {
  for (const op of Object.keys(update)) {
    if (DELEGATED.has(op)) return true;
    const fields = update[op];
    if (!isPlainObject(fields)) continue;
    for (const path of Object.keys(fields)) if (path.includes('$')) return true;
  }
  return false;
}

/** Records that one operator writes `path`; two writes to the same or nested paths conflict. */
function claim(claimed: Map<string, string[]>, path: string): void {
  const segs = splitPath(path);
  if (segs[0] === '_id') throw bad(`an update may not change _id ('${path}')`);
  let prefix = '';
  for (let i = 0; i < segs.length - 1; i++) {
    prefix = i === 0 ? (segs[0] as string) : `${prefix}.${segs[i] as string}`;
    if (claimed.has(prefix)) throw conflict(path, prefix);
  }
  if (claimed.has(path)) throw conflict(path, path);
  for (const other of claimed.keys()) {
    if (other.startsWith(`${path}.`)) throw conflict(path, other);
  }
  claimed.set(path, segs);
}

function conflict(path: string, other: string): ParticleError {
  return bad(`updating the path '${path}' would create a conflict at '${other}'`);
}

/** `$rename`: moves a value; neither path may run through an array. */
function rename(doc: Doc, from: string, to: string): string[] {
  const source = slotOf(doc, splitPath(from), false);
  if (!source || !Object.hasOwn(source.container, source.key)) return [];
  if (Array.isArray(source.container))
    throw bad(`$rename cannot move an array element ('${from}')`);
  const value = source.container[source.key];
  delete source.container[source.key];
  const target = slotOf(doc, splitPath(to), true);
  if (!target || Array.isArray(target.container)) {
    throw bad(`$rename cannot write into an array ('${to}')`);
  }
  const same =
    Object.hasOwn(target.container, target.key) && deepEqual(target.container[target.key], value);
  target.container[target.key] = value;
  return same ? [from] : [from, to];
}
