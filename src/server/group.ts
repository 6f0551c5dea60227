import { find as mingoFind } from 'mingo';
import type { Manifest, Op, Sort } from '../protocol/messages.js';
import type { Change, Doc } from './adapter.js';
import type { DeltaEntry } from './backlog.js';
import { deltaBody } from '../protocol/encode.js';
import { deepEqual, isPlainObject } from './clone.js';
import { idKey, wireId } from './ids.js';
import type { Matcher } from './matcher.js';
import { projectDoc } from './projection.js';
import { wireBson } from './mongo/toWire.js';
import { isIndex } from '../protocol/path.js';
import { Members, flushSoon, forget, type Flushable } from './coalesce.js';

/** What a group needs to know of its data source. */
export interface GroupSource {
  readonly name: string;
  readonly collection: string;
  readonly manifest: Manifest;
  readonly idField: string;
  readonly sort: Sort | undefined;
}

/** A member of a group: one client's root. */
export interface GroupMember {
  deliver(entry: DeltaEntry): void;
}

/** Groups whose deltas wait for the end of a transaction (see {@link holdEmits}). */
let holding: Set<Group> | null = null;

/** From now until {@link releaseEmits}, every group collects its ops instead of sending them. */
export function holdEmits(): void {
  holding ??= new Set();
}

/** Each group that collected ops since {@link holdEmits} sends them as one delta. */
export function releaseEmits(): void {
  const groups = holding;
  holding = null;
  for (const group of groups ?? []) group.flushHeld();
}

/** What one group is: its key, its source, the criteria it holds and (windows) its window. */
export interface GroupSpec {
  readonly key: string;
  readonly source: GroupSource;
  readonly query: Doc;
  readonly matcher: Matcher;
  readonly window?: { readonly limit: number; readonly sort: Sort } | undefined;
}

/** A group that holds everything it is given (a published, produced or scope source). */
export const MATCH_ALL: Matcher = () => true;

const ignoreHold = (): void => {};

/**
 * The clients of one data source whose resolved criteria are equal. The group holds the
 * projected documents of the view (once, for all members) and turns each change into ops; the
 * ops of one tick are serialized once and handed to every member as one delta.
 */
export class Group implements Flushable {
  /** Projected documents in the view, by {@link idKey} of their `_id`. */
  readonly docs = new Map<string, Doc>();
  readonly members: Set<GroupMember> = new Members<GroupMember>(() => this.flush());
  /** A window's "matching documents exist beyond it" (`undefined` without a window). */
  more: boolean | undefined;
  /** The time the read that filled the view saw, when the adapter knows it (see `holdsAlready`). */
  loadedAt: bigint | undefined;
  private payloadJson: string | null = null;
  private heldOps: Op[] = [];
  private heldMore: boolean | undefined;
  /** Ops already applied to {@link docs} that the members have not been sent yet. */
  private waitingOps: Op[] = [];
  /** The `more` the members were last told (with their payload or a delta). */
  private sentMore: boolean | undefined;

  readonly key: string;
  readonly source: GroupSource;
  readonly query: Doc;
  readonly matcher: Matcher;
  /** A live window: the first `limit` documents in `sort` order (ties by id). */
  readonly window: GroupSpec['window'];

  constructor(
    spec: GroupSpec,
    /** Called when the group starts or stops holding an id (keeps the id index right). */
    private readonly onHold: (group: Group, key: string, held: boolean) => void = ignoreHold,
  ) {
    this.key = spec.key;
    this.source = spec.source;
    this.query = spec.query;
    this.matcher = spec.matcher;
    this.window = spec.window;
  }

  /**
   * Whether the read that filled the view already saw `change` (a feed that lags delivers it
   * after the payload): replaying it would take clients back in time.
   */
  holdsAlready(change: Exclude<Change, { type: 'reset' }>): boolean {
    return change.at !== undefined && this.loadedAt !== undefined && change.at <= this.loadedAt;
  }

  /** Fills the view from a payload query. */
  load(rows: Doc[]): void {
    for (const row of rows) this.hold(idKey(row._id), this.projected(row));
  }

  /** The ops one change means for this group's members, already applied to the view. */
  process(change: Exclude<Change, { type: 'reset' }>, key: string): Op[] {
    const doc = change.type === 'delete' ? null : change.doc;
    const before = this.docs.get(key);
    const inView = doc !== null && this.matcher(doc);
    if (!before && !inView) return [];
    if (before && !inView) {
      this.release(key);
      return [{ operation: 'remove', id: this.wire(before) }];
    }
    const next = this.projected(doc as Doc);
    this.hold(key, next);
    if (!before) return [{ operation: 'insert', id: this.wire(next), data: next }];
    // An update's ops come from the same document that decided membership, never from the
    // event's updatedFields: with updateLookup that document can be newer than the event, and
    // the event-time values may be ones the document held only outside this view.
    if (change.type === 'update') return diffOps(this.wire(next), before, next);
    return deepEqual(before, next)
      ? []
      : [{ operation: 'insert', id: this.wire(next), data: next }];
  }

  /**
   * A live window after `change` (one it may concern), with its `more`, when the change alone
   * tells: a new document beyond a full window changes nothing, one in front of its end slides
   * the last one out; an update that stays inside is a diff. `null` when the window must be read
   * again: a document leaves a window with more beyond it, or may have moved past its end.
   */
  slide(
    change: Exclude<Change, { type: 'reset' }>,
    key: string,
  ): { ops: Op[]; more: boolean | undefined } | null {
    const window = this.window;
    if (!window) return null;
    const doc = change.type === 'delete' ? null : change.doc;
    const before = this.docs.get(key);
    const inView = doc !== null && this.matcher(doc);
    if (!before && !inView) return { ops: [], more: this.more };
    if (before && !inView) {
      if (this.more) return null;
      this.release(key);
      return { ops: [{ operation: 'remove', id: this.wire(before) }], more: false };
    }
    const next = this.projected(doc as Doc);
    const others = [...this.docs.entries()].filter(([k]) => k !== key);
    const full = others.length >= window.limit;
    const last = full ? this.lastOf(others.map(([, d]) => d)) : undefined;
    if (before) {
      // Past the others' end while more lie beyond: one of those may now come first.
      if (this.more) {
        const lastOther = this.lastOf(others.map(([, d]) => d));
        if (lastOther && !this.sortsBefore(next, lastOther)) return null;
      }
      this.hold(key, next);
      return { ops: diffOps(this.wire(next), before, next), more: this.more };
    }
    if (!full) {
      this.hold(key, next);
      return { ops: [{ operation: 'insert', id: this.wire(next), data: next }], more: this.more };
    }
    if (!last || !this.sortsBefore(next, last)) return { ops: [], more: true };
    const lastKey = idKey(last._id);
    this.release(lastKey);
    this.hold(key, next);
    return {
      ops: [
        { operation: 'remove', id: this.wire(last) },
        { operation: 'insert', id: this.wire(next), data: next },
      ],
      more: true,
    };
  }

  /** The last of `docs` in the window's order. */
  private lastOf(docs: Doc[]): Doc | undefined {
    const sort = (this.window as NonNullable<Group['window']>).sort;
    return (mingoFind(docs, {}).sort(sort).all() as Doc[]).at(-1);
  }

  /** Whether `a` comes before `b` in the window's order (ties by id, as the window sorts). */
  private sortsBefore(a: Doc, b: Doc): boolean {
    const sort = (this.window as NonNullable<Group['window']>).sort;
    return (mingoFind([b, a], {}).sort(sort).all() as Doc[])[0] === a;
  }

  /** Replaces the view by a fresh query result, returning the difference as ops. */
  diff(rows: Doc[]): Op[] {
    const ops: Op[] = [];
    const fresh = new Map<string, Doc>();
    for (const row of rows) fresh.set(idKey(row._id), this.projected(row));
    for (const [key, doc] of this.docs) {
      if (!fresh.has(key)) {
        this.release(key);
        ops.push({ operation: 'remove', id: this.wire(doc) });
      }
    }
    for (const [key, doc] of fresh) {
      const before = this.docs.get(key);
      if (before && deepEqual(before, doc)) continue;
      this.hold(key, doc);
      ops.push({ operation: 'insert', id: this.wire(doc), data: doc });
    }
    return ops;
  }

  /**
   * Replaces the view by `rows` (a producer's new output) with the smallest ops: a document
   * gone is a `remove`, a new one an `insert`, a changed one `set`/`unset` at the deepest
   * changed paths (an array whose length changed is set whole).
   */
  replace(rows: Doc[]): Op[] {
    const ops: Op[] = [];
    const fresh = new Map<string, Doc>();
    for (const row of rows) fresh.set(idKey(row._id), this.projected(row));
    for (const [key, doc] of this.docs) {
      if (!fresh.has(key)) {
        this.release(key);
        ops.push({ operation: 'remove', id: this.wire(doc) });
      }
    }
    for (const [key, doc] of fresh) {
      const before = this.docs.get(key);
      this.hold(key, doc);
      if (!before) ops.push({ operation: 'insert', id: this.wire(doc), data: doc });
      else ops.push(...diffOps(this.wire(doc), before, doc));
    }
    return ops;
  }

  /** The ops that take a client from this group's view to `other`'s view. */
  opsTowards(other: Group): Op[] {
    const ops: Op[] = [];
    for (const [key, doc] of this.docs) {
      if (!other.docs.has(key)) ops.push({ operation: 'remove', id: this.wire(doc) });
    }
    for (const [key, doc] of other.docs) {
      const mine = this.docs.get(key);
      if (!mine || !deepEqual(mine, doc))
        ops.push({ operation: 'insert', id: this.wire(doc), data: doc });
    }
    return ops;
  }

  /**
   * Queues `ops` (and a window's new `more`) for the members: everything a group emits within
   * one tick goes out as one delta, serialized once (see {@link flush}).
   */
  emit(ops: Op[], more?: boolean): void {
    if (holding) {
      this.heldOps.push(...ops);
      if (more !== undefined) this.heldMore = more;
      holding.add(this);
      return;
    }
    if (more !== undefined) this.more = more;
    if (ops.length > 0) {
      this.payloadJson = null;
      for (const op of ops) this.waitingOps.push(op);
    }
    if (this.waitingOps.length > 0 || this.more !== this.sentMore) flushSoon(this);
  }

  /**
   * Sends the waiting ops to every member as one delta. `except` is a member about to get a
   * payload, which holds those ops already.
   */
  flush(except?: GroupMember): void {
    const ops = this.waitingOps;
    const moreChanged = this.more !== this.sentMore;
    forget(this);
    if (ops.length === 0 && !moreChanged) return;
    this.waitingOps = [];
    this.sentMore = this.more;
    if (this.members.size === 0) return;
    const entry: DeltaEntry = deltaBody(ops, moreChanged ? this.more : undefined);
    for (const member of this.members) {
      if (member === except) continue;
      try {
        member.deliver(entry);
      } catch {
        // A member must not stop the others from getting the delta (it detaches itself).
      }
    }
  }

  /** Sends what was collected while emits were held. */
  flushHeld(): void {
    const ops = this.heldOps;
    const more = this.heldMore;
    this.heldOps = [];
    this.heldMore = undefined;
    this.emit(ops, more);
  }

  /** The view as a JSON array, in the source's sort order; cached until the next change. */
  payload(): string {
    if (this.payloadJson === null) this.payloadJson = JSON.stringify(this.list());
    return this.payloadJson;
  }

  /** The view as an array, in the source's sort order. */
  list(): Doc[] {
    const docs = [...this.docs.values()];
    const sort = this.window?.sort ?? this.source.sort;
    return sort ? mingoFind(docs, {}).sort(sort).all() : docs;
  }

  /** Forgets the view (the group is being dropped). */
  clear(): void {
    for (const key of [...this.docs.keys()]) this.release(key);
    this.payloadJson = null;
    this.waitingOps = [];
    forget(this);
  }

  /** The document as members receive it: projected, BSON values in their wire form. */
  private projected(doc: Doc): Doc {
    return wireBson(projectDoc(doc, this.source.manifest, this.source.idField)) as Doc;
  }

  private wire(doc: Doc): string | number {
    return wireId(doc[this.source.idField] ?? doc._id);
  }

  private hold(key: string, doc: Doc): void {
    const had = this.docs.has(key);
    this.docs.set(key, doc);
    if (!had) this.onHold(this, key, true);
  }

  private release(key: string): void {
    if (this.docs.delete(key)) this.onHold(this, key, false);
  }
}

/** A key a dotted op path can name without ambiguity. */
function plainKey(key: string): boolean {
  return key !== '' && !key.includes('.') && key !== '__proto__' && !isIndex(key);
}

/**
 * The ops that take a client holding `before` to `after` (both projected documents of one id):
 * `set`/`unset` of the fields that differ, descending into sub-documents and same-length
 * arrays; a whole `insert` when a top-level key cannot be written as a path.
 */
export function diffOps(id: string | number, before: Doc, after: Doc): Op[] {
  if (!plainKeys(before) || !plainKeys(after)) {
    return deepEqual(before, after) ? [] : [{ operation: 'insert', id, data: after }];
  }
  const differ = new Differ(id);
  differ.fields(before, after, '');
  return differ.ops;
}

function plainKeys(doc: Record<string, unknown>): boolean {
  for (const key of Object.keys(doc)) if (!plainKey(key)) return false;
  return true;
}

/** The ops of one document's diff, collected field by field in the documents' key order. */
class Differ {
  readonly ops: Op[] = [];

  constructor(private readonly id: string | number) {}

  /** The fields of `a` first (unset or compared), then those only `b` has (set). */
  fields(a: Record<string, unknown>, b: Record<string, unknown>, prefix: string): void {
    const { id, ops } = this;
    for (const name of Object.keys(a)) {
      const path = prefix === '' ? name : `${prefix}.${name}`;
      if (!Object.hasOwn(b, name)) ops.push({ operation: 'unset', id, path });
      else this.value(a[name], b[name], path);
    }
    for (const name of Object.keys(b)) {
      if (Object.hasOwn(a, name)) continue;
      const path = prefix === '' ? name : `${prefix}.${name}`;
      ops.push({ operation: 'set', id, path, data: b[name] });
    }
  }

  value(a: unknown, b: unknown, path: string): void {
    if (a === b || deepEqual(a, b)) return;
    if (isPlainObject(a) && isPlainObject(b)) {
      if (plainKeys(a) && plainKeys(b)) {
        this.fields(a, b, path);
        return;
      }
    } else if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
      for (let i = 0; i < b.length; i++) this.value(a[i], b[i], `${path}.${i}`);
      return;
    }
    this.ops.push({ operation: 'set', id: this.id, path, data: b });
  }
}
