import { subscriptionKey } from '../protocol/subscriptionKey.js';
import type { Doc } from './adapter.js';
import { Group, MATCH_ALL } from './group.js';
import type { Instance } from './producers.js';
import type { SessionRoot } from './session.js';

/** One wildcard consumer: its own group of one document per instance its identity may see. */
interface Watcher {
  readonly source: string;
  readonly group: Group;
  readonly identity: Readonly<Record<string, unknown>>;
  /** The rows it shows, by instance key. */
  readonly rows: Map<string, Doc>;
}

/**
 * The wildcard consumers of produced sources (`subscribeAll`): each holds one document per live
 * instance that `authorize` lets its identity see, kept current as instances come, change and go.
 */
export class Wildcards {
  private readonly bySource = new Map<string, Set<Watcher>>();
  private readonly byGroup = new Map<Group, Watcher>();

  owns(group: Group): boolean {
    return this.byGroup.has(group);
  }

  /** Puts `member` on `source`'s wildcard view: a row per instance in `live` it may see. */
  async join(
    member: SessionRoot,
    { source, identity }: { readonly source: string; readonly identity: Record<string, unknown> },
    live: readonly Instance[],
  ): Promise<void> {
    const group = new Group({
      key: `*${source}`,
      source: { name: source, collection: '', manifest: true, idField: '_id', sort: undefined },
      query: {},
      matcher: MATCH_ALL,
    });
    const watcher: Watcher = { source, group, identity, rows: new Map() };
    for (const instance of live) {
      if (await allowed(watcher, instance)) watcher.rows.set(instance.key, rowOf(instance));
    }
    group.load([...watcher.rows.values()]);
    let set = this.bySource.get(source);
    if (!set) this.bySource.set(source, (set = new Set()));
    set.add(watcher);
    this.byGroup.set(group, watcher);
    group.members.add(member);
    member.group = group;
    member.resolution = null;
  }

  /** Returns whether `member` was a wildcard consumer (it is gone now). */
  leave(member: SessionRoot): boolean {
    const watcher = member.group ? this.byGroup.get(member.group) : undefined;
    if (!watcher) return false;
    this.byGroup.delete(watcher.group);
    this.bySource.get(watcher.source)?.delete(watcher);
    watcher.group.clear();
    member.group = null;
    return true;
  }

  /** An instance became live, changed its output, or was destroyed. */
  async tell(instance: Instance, what: 'live' | 'changed' | 'gone'): Promise<void> {
    const watchers = this.bySource.get(instance.source.name);
    if (!watchers || !instance.source.produced.wildcard) return;
    for (const watcher of [...watchers]) {
      if (what === 'gone') {
        if (!watcher.rows.delete(instance.key)) continue;
      } else if (what === 'changed') {
        if (!watcher.rows.has(instance.key)) continue;
        watcher.rows.set(instance.key, rowOf(instance));
      } else {
        if (!(await allowed(watcher, instance)) || instance.destroyed) continue;
        if (!this.byGroup.has(watcher.group)) continue;
        watcher.rows.set(instance.key, rowOf(instance));
      }
      watcher.group.emit(watcher.group.replace([...watcher.rows.values()]));
    }
  }
}

async function allowed(watcher: Watcher, instance: Instance): Promise<boolean> {
  const authorize = instance.source.produced.authorize;
  if (!authorize) return true;
  try {
    return (await authorize({ identity: watcher.identity, params: instance.params })) === true;
  } catch {
    return false;
  }
}

/** What a wildcard consumer holds for one instance: its key, its params and its documents. */
function rowOf(instance: Instance): Doc {
  return {
    _id: subscriptionKey(instance.source.name, instance.params),
    params: instance.params,
    docs: instance.group.list(),
  };
}
