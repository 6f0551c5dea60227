import Type from 'typebox';
import { randomUUID } from 'node:crypto';
import { MutationError } from '../protocol/errors.js';
import type { Manifest } from '../protocol/messages.js';
import type { Db, Doc } from './adapter.js';
import { canonicalKey } from './canonical.js';
import { cloneDeep, isPlainObject } from './clone.js';
import { idKey, wireId } from './ids.js';
import { applyUpdate } from './memory/update.js';
import { validate } from './params.js';
import type { Session, SessionRoot } from './session.js';
import type { SourceState } from './sources.js';

/** What `allow` is asked about one direct write. */
export interface AllowContext {
  readonly identity: Readonly<Record<string, unknown>>;
  /** The document as stored now; `null` for an insert. */
  readonly doc: Readonly<Doc> | null;
  /** The document after the write; `null` for a remove. */
  readonly next: Readonly<Doc> | null;
  readonly op: 'update' | 'insert' | 'remove';
}

/** `writable` on a collection source: what clients may write to its documents directly. */
export interface Writable {
  /** The fields (paths, like a manifest) a direct write may set or unset. */
  fields: Manifest;
  /** Whether clients may insert documents (with the fields above, those the criteria name, and the id). @default false */
  insert?: boolean;
  /** Whether clients may remove documents of their view. @default false */
  remove?: boolean;
  /** A direct write needs the writer to hold the document's lease. @default false */
  requireLock?: boolean;
  /** A last check per write; `false` or a throw refuses it with `forbidden`. */
  allow?: (context: AllowContext) => boolean | Promise<boolean>;
  /** What other clients see as the holder of a lease (a name); the holder's identity stays on the server. */
  lockOwner?: (identity: Readonly<Record<string, unknown>>) => unknown;
}

export const WRITABLE_KEYS = [
  'fields',
  'insert',
  'remove',
  'requireLock',
  'allow',
  'lockOwner',
] as const satisfies readonly (keyof Writable)[];

const Op = Type.Union([
  Type.Object(
    { operation: Type.Literal('set'), path: Type.String({ minLength: 1 }), data: Type.Unknown() },
    { additionalProperties: false },
  ),
  Type.Object(
    { operation: Type.Literal('unset'), path: Type.String({ minLength: 1 }) },
    { additionalProperties: false },
  ),
]);
const Id = Type.Union([Type.String({ minLength: 1, maxLength: 200 }), Type.Number()]);
const Root = Type.String({ minLength: 1, maxLength: 200 });

/** The args of the built-in `$write` mutation. */
export const WriteArgsSchema = Type.Union([
  Type.Object(
    {
      root: Root,
      params: Type.Optional(Type.Unknown()),
      id: Id,
      ops: Type.Array(Op, { minItems: 1, maxItems: 1000 }),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      root: Root,
      params: Type.Optional(Type.Unknown()),
      insert: Type.Record(Type.String(), Type.Unknown()),
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { root: Root, params: Type.Optional(Type.Unknown()), remove: Id },
    { additionalProperties: false },
  ),
]);

export type WriteOp =
  { operation: 'set'; path: string; data: unknown } | { operation: 'unset'; path: string };
export type WriteArgs =
  | { root: string; params?: unknown; id: string | number; ops: WriteOp[] }
  | { root: string; params?: unknown; insert: Doc }
  | { root: string; params?: unknown; remove: string | number };

/** What a direct write checks against leases; see `Leases`. */
export interface LeaseCheck {
  /** Throws `MutationError('locked')` when another session holds the lease of one of `ids`. */
  assertFree(session: Session, collection: string, ids: readonly unknown[]): void;
  /** Whether `session` holds the lease of (collection, id). */
  holds(session: Session, collection: string, id: unknown): boolean;
}

const refuse = (message: string): MutationError => new MutationError('forbidden', message);

/** Where a direct write runs: for which session, over which sources, database and leases. */
export interface WriteContext {
  readonly session: Session;
  readonly sources: ReadonlyMap<string, SourceState>;
  readonly db: Db;
  readonly leases: LeaseCheck;
}

/**
 * Applies one direct write (`$write`) for `session`: whole or not at all. The document must be
 * in the writer's current view of that root; the paths under `writable.fields`; `allow` must
 * pass; and the document after the write must still match the root's criteria for the writer.
 * A document that does not exist is refused like one outside the view, so existence does not
 * leak.
 */
export async function directWrite(
  args: WriteArgs,
  { session, sources, db, leases }: WriteContext,
): Promise<unknown> {
  const source = sources.get(args.root);
  if (!source) throw new MutationError('unknown_source', `no data source is named "${args.root}"`);
  const writable = source.writable;
  if (!writable) throw refuse(`${args.root} is not writable`);
  const root = await viewOf(session, source, args.params);
  if (!root?.group) throw refuse(`${args.root} with these params is not in your view`);
  const group = root.group;
  const { collection, idField } = source;
  const identity = session.identity;
  const check = async (doc: Doc | null, next: Doc | null, op: AllowContext['op']) => {
    let ok = true;
    if (writable.allow) {
      try {
        ok = (await writable.allow({ identity, doc, next, op })) === true;
      } catch {
        ok = false;
      }
    }
    if (!ok) throw refuse(`this ${op} of ${args.root} is not allowed`);
  };

  if ('insert' in args) {
    if (writable.insert !== true) throw refuse(`${args.root} does not take inserts`);
    const doc = cloneDeep(args.insert);
    if (doc[idField] === undefined) doc[idField] = randomUUID();
    const named = new Set(source.criteriaFields);
    for (const field of Object.keys(doc)) {
      if (field !== idField && !named.has(field) && !under(writable.fields, field)) {
        throw refuse(`${args.root}: ${field} is not a writable field`);
      }
    }
    if (!group.matcher(doc))
      throw refuse(`the new document would not be in your view of ${args.root}`);
    await check(null, doc, 'insert');
    await db.insert(collection, doc);
    return { id: wireId(doc[idField]) };
  }

  const id = 'remove' in args ? args.remove : args.id;
  const native = nativeId(group.docs, id);
  if (native === undefined) throw refuse(`no document ${String(id)} in your view of ${args.root}`);
  const [current] = await db.find(collection, { _id: native });
  if (!current) throw refuse(`no document ${String(id)} in your view of ${args.root}`);
  if (writable.requireLock && !leases.holds(session, collection, native)) {
    throw new MutationError('locked', `writing ${args.root} ${String(id)} needs its lease`);
  }
  leases.assertFree(session, collection, [native]);

  if ('remove' in args) {
    if (writable.remove !== true) throw refuse(`${args.root} does not take removes`);
    await check(current, null, 'remove');
    await db.remove(collection, { _id: native });
    return undefined;
  }

  const $set: Doc = {};
  const $unset: Doc = {};
  for (const op of args.ops) {
    const top = op.path.split('.')[0] as string;
    if (top === idField || top === '_id' || !under(writable.fields, op.path)) {
      throw refuse(`${args.root}: ${op.path} is not a writable field`);
    }
    if (op.operation === 'set') $set[op.path] = op.data;
    else $unset[op.path] = '';
  }
  const update: Record<string, Doc> = {};
  if (Object.keys($set).length > 0) update.$set = $set;
  if (Object.keys($unset).length > 0) update.$unset = $unset;
  const next = cloneDeep(current);
  try {
    applyUpdate(next, update);
  } catch (error) {
    throw new MutationError('bad_args', error instanceof Error ? error.message : String(error));
  }
  if (!group.matcher(next)) throw refuse(`the document would leave your view of ${args.root}`);
  await check(current, next, 'update');
  await db.update(collection, { _id: native }, update);
  return undefined;
}

/** The writer's root that shows `source` with these params: an eager root or a subscription. */
export async function viewOf(
  session: Session,
  source: SourceState,
  params: unknown,
): Promise<SessionRoot | undefined> {
  if (source.params === undefined) {
    const eager = session.roots.get(source.name);
    if (eager) return eager;
  }
  let key = canonicalKey({});
  if (source.params !== undefined) {
    const checked = await validate(source.params, params, 'params');
    if (!checked.ok) throw new MutationError('bad_args', checked.message);
    key = canonicalKey(checked.value);
  }
  for (const root of session.subs.values()) {
    const spec = root.subscription;
    if (spec?.source === source && spec.paramsKey === key) return root;
  }
  return undefined;
}

/** The stored id of the view's document whose wire id is `id` (ObjectIds travel as hex). */
export function nativeId(docs: ReadonlyMap<string, Doc>, id: unknown): unknown {
  const direct = docs.get(idKey(id));
  if (direct) return direct._id;
  for (const doc of docs.values()) if (wireId(doc._id) === id) return doc._id;
  return undefined;
}

/** Whether `path` lies under the manifest-like `fields`. */
function under(fields: Manifest, path: string): boolean {
  let m: Manifest = fields;
  for (const seg of path.split('.')) {
    if (m === true) return true;
    if (!isPlainObject(m) || !Object.hasOwn(m, seg)) return false;
    m = m[seg] as Manifest;
  }
  return m === true;
}
