import type { Adapter, Change, Doc, FindOptions } from './adapter.js';
import { canonicalKey } from './canonical.js';
import { Group } from './group.js';
import { CollectionGroups } from './groupIndex.js';
import { idKey } from './ids.js';
import { compileMatcher } from './matcher.js';
import type { SourceState } from './sources.js';
import { deltaBody } from '../protocol/encode.js';
import type { ViewMember } from './views.js';

/**
 * The subscription groups of collection sources: one per source, resolved query and window,
 * shared by every member that resolves to it, indexed by collection and document id, and the
 * routing of each change to the groups it may concern.
 */
export class Groups {
  private readonly byKey = new Map<string, Group>();
  private readonly byCollection = new Map<string, CollectionGroups>();

  constructor(private readonly adapter: Adapter) {}

  get size(): number {
    return this.byKey.size;
  }

  /** The documents this query (and window) selects now, in order: a live group's, or a read. */
  async list(source: SourceState, query: Doc, limit?: number): Promise<Doc[]> {
    const group =
      this.byKey.get(this.groupKey(source, query, limit)) ??
      (await this.loadGroup({ source, query, limit }, false));
    return group.list();
  }

  /** History of `collection` was lost: every group over it reads its view again and diffs. */
  async resync(collection: string): Promise<void> {
    for (const group of [...this.byKey.values()]) {
      if (group.source.collection !== collection || this.byKey.get(group.key) !== group) continue;
      if (group.window) {
        await this.refreshWindows([group]);
        continue;
      }
      const source = group.source as SourceState;
      const { docs: rows, at } = await this.timedRows(
        collection,
        group.query,
        source.projection ? { projection: source.projection } : {},
      );
      group.loadedAt = at;
      group.emit(group.diff(rows));
    }
  }

  /** Forgets every group (the stream is shutting down). */
  clear(): void {
    for (const group of this.byKey.values()) group.clear();
    this.byKey.clear();
  }

  route(change: Exclude<Change, { type: 'reset' }>): void | Promise<void> {
    const index = this.byCollection.get(change.collection);
    if (!index || index.size === 0) return;
    const key = idKey(change.id);
    const doc = change.type === 'delete' ? null : change.doc;
    const windows = new Set<Group>();
    for (const group of index.candidates(key, doc)) {
      if (group.window) {
        if (!group.docs.has(key) && (doc === null || !group.matcher(doc))) continue;
        if (group.holdsAlready(change)) continue;
        // Most changes move the window by themselves (a document in front slides the last one
        // out); only one that leaves a full window, or may move past its end, reads it again.
        const slid = group.slide(change, key);
        if (slid) group.emit(slid.ops, slid.more);
        else windows.add(group);
      } else if (!group.holdsAlready(change)) group.emit(group.process(change, key));
    }
    // A delete of a document beyond a window can only change its `more`.
    if (doc === null) {
      for (const group of index.windowed()) if (group.more) windows.add(group);
    }
    if (windows.size > 0) return this.refreshWindows(windows);
  }

  /**
   * A window's content after a change is not knowable from the change alone (the document that
   * slides in is not in it): query the window again and send the difference.
   */
  private async refreshWindows(groups: Iterable<Group>): Promise<void> {
    for (const group of groups) {
      if (this.byKey.get(group.key) !== group) continue;
      const rows = await this.windowRows(group.source as SourceState, group.query, group.window);
      const limit = group.window?.limit ?? rows.length;
      group.emit(group.diff(rows.slice(0, limit)), rows.length > limit);
    }
  }

  private windowRows(source: SourceState, query: Doc, window: Group['window']): Promise<Doc[]> {
    return this.adapter.find(source.collection, query, this.rowOptions(source, window));
  }

  private rowOptions(source: SourceState, window: Group['window']): FindOptions {
    return {
      ...(source.projection ? { projection: source.projection } : {}),
      ...(window ? { sort: window.sort, limit: window.limit + 1 } : {}),
      ...(!window && source.sort ? { sort: source.sort } : {}),
    };
  }

  /** A group's rows and, when the adapter knows it, the time its read saw (see `Group.loadedAt`). */
  private async timedRows(
    collection: string,
    query: Doc,
    options: FindOptions,
  ): Promise<{ docs: Doc[]; at: bigint | undefined }> {
    if (this.adapter.findAt) return this.adapter.findAt(collection, query, options);
    return { docs: await this.adapter.find(collection, query, options), at: undefined };
  }

  move(member: ViewMember, from: Group, to: Group): void {
    // The difference is taken between views the member has been sent all of.
    from.flush();
    to.flush();
    const ops = from.opsTowards(to);
    const moreChanged = to.more !== from.more && to.more !== undefined;
    to.members.add(member);
    member.group = to;
    if (ops.length > 0 || moreChanged) {
      member.deliver(deltaBody(ops, moreChanged ? to.more : undefined));
    }
    this.leave(member, from);
  }

  /** Takes `member` out of `group`; a group nobody is in any more is dropped. */
  leave(member: ViewMember, group: Group): void {
    group.members.delete(member);
    if (group.members.size === 0 && this.byKey.get(group.key) === group) {
      this.byKey.delete(group.key);
      this.byCollection.get(group.source.collection)?.remove(group);
      group.clear();
    }
  }

  private groupKey(source: SourceState, query: Doc, limit: number | undefined): string {
    const key = `${source.name}\u0000${canonicalKey(query)}`;
    return limit === undefined ? key : `${key}\u0000${limit}`;
  }

  /** The group for this query (and window), shared with every member that resolves to it. */
  async shared(source: SourceState, query: Doc, limit?: number): Promise<Group> {
    return (
      this.byKey.get(this.groupKey(source, query, limit)) ??
      this.loadGroup({ source, query, limit }, true)
    );
  }

  /** Queries a group's view; with `keep`, the group is indexed and follows changes. */
  private async loadGroup(
    { source, query, limit }: { source: SourceState; query: Doc; limit: number | undefined },
    keep: boolean,
  ): Promise<Group> {
    const collection = source.collection;
    const index = this.collectionGroups(collection);
    const window =
      limit === undefined
        ? undefined
        : {
            limit,
            sort: {
              ...source.sort,
              ...(source.sort?.[source.idField] ? {} : { [source.idField]: 1 as const }),
            },
          };
    const group = new Group(
      {
        key: this.groupKey(source, query, limit),
        source,
        query,
        matcher: compileMatcher(query),
        window,
      },
      (g, key, held) => {
        if (keep) index.hold(g, key, held);
      },
    );
    const { docs: rows, at } = await this.timedRows(
      collection,
      query,
      this.rowOptions(source, window),
    );
    group.loadedAt = at;
    if (keep) {
      this.byKey.set(group.key, group);
      index.add(group);
    }
    if (window) {
      group.more = rows.length > window.limit;
      group.load(rows.slice(0, window.limit));
    } else group.load(rows);
    return group;
  }

  private collectionGroups(collection: string): CollectionGroups {
    let index = this.byCollection.get(collection);
    if (!index) this.byCollection.set(collection, (index = new CollectionGroups()));
    return index;
  }
}
