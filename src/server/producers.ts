import { encodeSubscriptionError } from '../protocol/encode.js';
import { ParticleError } from '../protocol/errors.js';
import type { Adapter, Change, Doc } from './adapter.js';
import { canonicalKey } from './canonical.js';
import { Group, MATCH_ALL } from './group.js';
import { Wildcards } from './wildcards.js';
import type { Produced } from './produced.js';
import { idKey } from './ids.js';
import { Instance, produceOnce, type ProducedView, type ProductionHost } from './production.js';
import type { SessionRoot } from './session.js';
import type { SourceState } from './sources.js';

export { Instance } from './production.js';

/**
 * The live instances of every produced source: made on the first subscriber, shared by the
 * subscribers with the same params and `shareBy` values, produced again (single-flight,
 * coalescing) when a dependency may have changed, destroyed `lingerMs` after the last one left.
 */
export class Producers {
  private readonly instances = new Map<string, Instance>();
  private readonly byGroup = new Map<Group, Instance>();
  /** Wildcard consumers. */
  private readonly wildcards = new Wildcards();
  /** First productions under way, so that concurrent subscribers share them. */
  private readonly starting = new Map<string, Promise<Instance>>();

  constructor(
    private readonly adapter: Adapter,
    private readonly debug: (message: string, details?: unknown) => void,
    /** The data sources by name (for `read`). */
    lookup: (name: string) => SourceState | undefined,
  ) {
    this.host = {
      adapter,
      lookup,
      keyOf: (view) => this.keyOf(view),
      instanceFor: (view, chain) => this.instanceFor(view, chain),
      relink: (instance, reads) => this.relink(instance, reads),
      debug,
    };
  }

  /** What a production reads through (see {@link produceOnce}). */
  private readonly host: ProductionHost;

  get size(): number {
    return this.instances.size;
  }

  /** Puts `member` into its instance, producing it first if it is new. */
  async join(member: SessionRoot, view: ProducedView): Promise<void> {
    const instance = await this.instanceFor(view);
    clearTimeout(instance.linger);
    instance.linger = undefined;
    instance.members.add(member);
    instance.group.members.add(member);
    member.group = instance.group;
    member.resolution = null;
  }

  /** The documents an instance holds (or would hold) for this identity and params. */
  async view(view: ProducedView): Promise<Doc[]> {
    const live = this.instances.get(this.keyOf(view));
    if (live) return live.group.list();
    const scratch = this.newInstance(view);
    try {
      await this.firstProduction(scratch);
      return scratch.group.list();
    } finally {
      this.destroy(scratch);
    }
  }

  owns(member: SessionRoot): boolean {
    return (
      member.group !== null && (this.byGroup.has(member.group) || this.wildcards.owns(member.group))
    );
  }

  /** A wildcard consumer: one document per live instance of `source` that `authorize` lets it see. */
  async joinAll(
    member: SessionRoot,
    source: SourceState & { readonly produced: Produced },
    identity: Record<string, unknown>,
  ): Promise<void> {
    const live = [...this.instances.values()].filter((i) => i.source === source);
    await this.wildcards.join(member, { source: source.name, identity }, live);
  }

  leave(member: SessionRoot): void {
    if (this.wildcards.leave(member)) return;
    const instance = member.group ? this.byGroup.get(member.group) : undefined;
    if (!instance) return;
    instance.members.delete(member);
    instance.group.members.delete(member);
    member.group = null;
    this.unused(instance);
  }

  /** An instance nobody subscribes to or reads goes after `lingerMs`. */
  private unused(instance: Instance): void {
    if (instance.members.size > 0 || instance.readers.size > 0 || instance.destroyed) return;
    clearTimeout(instance.linger);
    const lingerMs = instance.source.produced.lingerMs;
    if (lingerMs === 0) this.destroy(instance);
    else {
      instance.linger = setTimeout(() => this.destroy(instance), lingerMs);
      instance.linger.unref?.();
    }
  }

  /** A change on the feed: instances whose finds it could alter produce again. */
  changed(change: Change): void {
    for (const instance of this.instances.values()) {
      const hit = instance.finds.some(
        (f) =>
          f.collection === change.collection &&
          (change.type === 'reset' ||
            f.ids.has(idKey(change.id)) ||
            (change.type !== 'delete' && change.doc !== null && f.matcher(change.doc))),
      );
      if (hit) this.stale(instance);
    }
  }

  /** `stream.bump(name)`: instances that depend on `name` produce again. Returns how many. */
  bump(name: string): number {
    let count = 0;
    for (const instance of this.instances.values()) {
      if (instance.names.has(name)) {
        count++;
        this.stale(instance);
      }
    }
    return count;
  }

  clear(): void {
    for (const instance of [...this.instances.values()]) this.destroy(instance);
  }

  // ---- internals ---------------------------------------------------------------------------

  private keyOf({ source, identity, params }: ProducedView): string {
    const shared = Object.fromEntries(source.produced.shareBy.map((f) => [f, identity[f] ?? null]));
    return `${source.name}?${canonicalKey(params)}#${canonicalKey(shared)}`;
  }

  private async instanceFor(view: ProducedView, chain: readonly string[] = []): Promise<Instance> {
    const key = this.keyOf(view);
    const live = this.instances.get(key);
    if (live) return live;
    let starting = this.starting.get(key);
    if (!starting) {
      const instance = this.newInstance(view);
      starting = this.firstProduction(instance, chain).then(
        () => {
          this.starting.delete(key);
          this.instances.set(key, instance);
          this.byGroup.set(instance.group, instance);
          void this.wildcards.tell(instance, 'live');
          return instance;
        },
        (error: unknown) => {
          this.starting.delete(key);
          throw error;
        },
      );
      this.starting.set(key, starting);
    }
    return starting;
  }

  private newInstance(view: ProducedView): Instance {
    const { source, identity, params } = view;
    const key = this.keyOf(view);
    const shared = Object.freeze(
      Object.fromEntries(
        source.produced.shareBy
          .map((f): [string, unknown] => [f, identity[f]])
          .filter(([, v]) => v !== undefined),
      ),
    );
    const group = new Group({ key, source, query: {}, matcher: MATCH_ALL });
    return new Instance({ source, params, identity: shared }, group);
  }

  private async firstProduction(instance: Instance, chain: readonly string[] = []): Promise<void> {
    const outcome = await produceOnce(this.host, instance, chain);
    if (!outcome.ok) throw new ParticleError('produce_failed', outcome.message);
    instance.group.load(outcome.docs);
  }

  private stale(instance: Instance): void {
    if (instance.destroyed) return;
    if (instance.running) {
      instance.again = true;
      return;
    }
    if (instance.timer) return;
    instance.timer = setTimeout(() => {
      instance.timer = undefined;
      void this.reproduce(instance);
    }, instance.source.produced.debounceMs);
    instance.timer.unref?.();
  }

  private async reproduce(instance: Instance): Promise<void> {
    if (instance.destroyed) return;
    instance.running = true;
    const outcome = await produceOnce(this.host, instance);
    instance.running = false;
    if (instance.destroyed) return;
    if (outcome.ok) {
      const ops = instance.group.replace(outcome.docs);
      instance.group.emit(ops);
      // What read this instance reads something new.
      if (ops.length > 0) {
        for (const reader of instance.readers) this.stale(reader);
        void this.wildcards.tell(instance, 'changed');
      }
    } else {
      // The last good value stays; subscribers hear why, and the next stale mark retries.
      for (const member of instance.members) {
        try {
          member.session.sink?.send(
            encodeSubscriptionError(
              member.name,
              { code: 'produce_failed', message: outcome.message },
              true,
            ),
            'control',
          );
        } catch {
          // a failing link is closed by its transport
        }
      }
    }
    if (instance.again) {
      instance.again = false;
      this.stale(instance);
    }
  }

  /** Records what `instance` read in its last production (and lets go of what it no longer reads). */
  private relink(instance: Instance, reads: Set<Instance>): void {
    const old = instance.reads;
    instance.reads = reads;
    for (const dep of reads) {
      dep.readers.add(instance);
      clearTimeout(dep.linger);
      dep.linger = undefined;
    }
    for (const dep of old) {
      if (reads.has(dep)) continue;
      dep.readers.delete(instance);
      this.unused(dep);
    }
  }

  private destroy(instance: Instance): void {
    if (instance.destroyed) return;
    instance.destroyed = true;
    this.relink(instance, new Set());
    clearTimeout(instance.timer);
    clearTimeout(instance.linger);
    if (this.instances.get(instance.key) === instance) this.instances.delete(instance.key);
    this.byGroup.delete(instance.group);
    instance.group.clear();
    void this.wildcards.tell(instance, 'gone');
  }
}
