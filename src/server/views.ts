import { ParticleError } from '../protocol/errors.js';
import { encodeManifest } from '../protocol/encode.js';
import type { Manifest, RootOptions } from '../protocol/messages.js';
import type { Adapter, Change, ChangeBatch, Doc } from './adapter.js';
import { isPlainObject } from './clone.js';
import type { CacheConfig } from './criteria.js';
import { holdEmits, releaseEmits, type Group, type GroupMember } from './group.js';
import { Groups } from './groups.js';
import { Resolutions, type Resolution, type ViewOf } from './resolutions.js';
import { compileSource, type DataSource, type SourceState } from './sources.js';
import { Producers } from './producers.js';
import { Publications } from './publications.js';
import { ScopeViews, type LiveScope } from './scopeSources.js';
import type { Published } from './published.js';
import type { Produced } from './produced.js';
import type { SessionRoot } from './session.js';

export type { DataSource, SourceState } from './sources.js';
export type { Resolution } from './resolutions.js';

/** A client's root as the views see it: a group member that follows one resolution. */
export interface ViewMember extends GroupMember {
  group: Group | null;
  resolution: Resolution | null;
}

/** How the views report and schedule. */
export interface ViewsOptions {
  /** How criteria lookups are cached. @default {} */
  cacheConfig?: CacheConfig | undefined;
  /** Receives what went wrong where no client can be told. */
  debug?: ((message: string, details?: unknown) => void) | undefined;
  /** How many values a reference may expand to. @default Infinity */
  maxReferenceValues?: number | undefined;
  /** Runs `job` after `delayMs`, in turn with the change feed (a resync after a failure). */
  defer?: ((job: () => Promise<void>, delayMs: number) => void) | undefined;
  /** Publications a client may hold at once. @default 16 */
  maxPublications?: number | undefined;
}

/** A view as a caller asks for it: `params` default to `{}`, and no `limit` is no window. */
export type ViewAsk = Omit<ViewOf, 'params' | 'limit'> & {
  readonly params?: Record<string, unknown> | undefined;
  readonly limit?: number | undefined;
};

/**
 * Every data source's live views: resolutions of criteria per identity, the subscription groups
 * they share, and the routing of each change to the groups it may concern.
 */
export class Views {
  readonly sources = new Map<string, SourceState>();
  /** The collections whose changes matter: sources' collections and what their pipes read. */
  readonly watched: string[];
  /** The manifest message every client gets, serialized once. */
  readonly manifestFrame: string;
  /** Identity fields read by any reference. */
  readonly identityFields: string[];
  private readonly dependents = new Map<string, { source: SourceState; fields: Set<string> }[]>();
  /** The subscription groups and the routing of changes to them. */
  private readonly groups: Groups;
  /** The resolutions of collection sources' criteria, per identity values and params. */
  private readonly resolutions: Resolutions;
  /** The instances of produced sources. */
  readonly producers: Producers;
  /** The instances of published sources, and who publishes into them. */
  readonly publications: Publications;
  /** The followed scopes of live scope sources. */
  private readonly scopes: ScopeViews;

  constructor(
    private readonly adapter: Adapter,
    dataSources: Record<string, DataSource>,
    private readonly options: ViewsOptions = {},
  ) {
    const cacheConfig = options.cacheConfig ?? {};
    this.groups = new Groups(adapter);
    this.resolutions = new Resolutions(adapter, this.groups, options);
    this.scopes = new ScopeViews((message, details) => options.debug?.(message, details));
    this.producers = new Producers(
      adapter,
      (message, details) => options.debug?.(message, details),
      (name) => this.sources.get(name),
    );
    this.publications = new Publications({
      sources: this.sources,
      maxPublications: options.maxPublications ?? 16,
      schedule: (job) =>
        // eslint-disable-next-line @typescript-eslint/require-await -- defer takes a Promise-returning job; a throw must reject
        options.defer ? options.defer(async () => job(), 0) : queueMicrotask(job),
      debug: (message, details) => options.debug?.(message, details),
    });
    const manifests: Record<string, Manifest> = {};
    const rootOptions: Record<string, RootOptions> = {};
    const watched = new Set<string>();
    if (!isPlainObject(dataSources)) {
      throw new ParticleError('config', 'dataSources must be an object of named data sources');
    }
    for (const [name, ds] of Object.entries(dataSources)) {
      const source = compileSource(name, ds, cacheConfig);
      this.sources.set(name, source);
      const options = rootOptionsOf(source);
      if (source.eager) {
        manifests[name] = ds.manifest;
        if (options) rootOptions[name] = options;
      }
      if (source.produced) for (const c of source.produced.collections) watched.add(c);
      else if (!source.published && !source.liveScope) watched.add(source.collection);
      for (const [collection, fields] of source.compiled.dependencies) {
        watched.add(collection);
        const list = this.dependents.get(collection) ?? [];
        list.push({ source, fields });
        this.dependents.set(collection, list);
      }
    }
    this.watched = [...watched];
    this.identityFields = [
      ...new Set([...this.sources.values()].flatMap((s) => s.compiled.identityFields)),
    ].sort();
    this.manifestFrame = encodeManifest({
      sources: manifests,
      ...(Object.keys(rootOptions).length ? { options: rootOptions } : {}),
    });
  }

  get groupCount(): number {
    return this.groups.size + this.producers.size + this.publications.size + this.scopes.size;
  }

  /** The sources sent at register, in declaration order. */
  get eagerSources(): SourceState[] {
    return [...this.sources.values()].filter((s) => s.eager);
  }

  /**
   * Puts `member` into the view of `source` for this identity and params (sharing a group when
   * it can); `limit` makes it a live window.
   */
  async join(member: ViewMember, view: ViewAsk): Promise<void> {
    const { source, identity, params = {}, limit } = view;
    if (source.published) {
      this.publications.join(member as SessionRoot, publishedOf(source), params);
      return;
    }
    if (source.liveScope) return this.scopes.join(member as SessionRoot, scopeOf(source), params);
    if (source.produced) {
      const root = member as SessionRoot;
      if (root.subscription?.all) return this.producers.joinAll(root, producedOf(source), identity);
      return this.producers.join(root, { source: producedOf(source), identity, params });
    }
    const resolution = await this.resolutions.for({ source, identity, params, limit });
    member.resolution = resolution;
    member.group = resolution.group;
    resolution.members.add(member);
    resolution.group.members.add(member);
  }

  /** Moves `member` to another params or window of its source; the difference is one delta. */
  async rejoin(member: ViewMember, view: ViewAsk): Promise<void> {
    const { source, identity, params = {}, limit } = view;
    // A produced or published source has no window: its view does not change with the limit.
    if (source.produced || source.published || source.liveScope) return;
    const old = member.resolution;
    const from = member.group;
    const resolution = await this.resolutions.for({ source, identity, params, limit });
    if (old === resolution) return;
    if (old) {
      old.members.delete(member);
      if (old.members.size === 0) this.resolutions.drop(old);
    }
    member.resolution = resolution;
    resolution.members.add(member);
    if (from) this.groups.move(member, from, resolution.group);
    else {
      member.group = resolution.group;
      resolution.group.members.add(member);
    }
  }

  /** Takes `member` out of its view; groups and resolutions nobody uses are dropped. */
  leave(member: ViewMember): void {
    if (this.producers.owns(member as SessionRoot)) {
      this.producers.leave(member as SessionRoot);
      member.resolution = null;
      return;
    }
    if (this.publications.owns(member as SessionRoot)) {
      this.publications.leave(member as SessionRoot);
      return;
    }
    if (this.scopes.owns(member as SessionRoot)) {
      this.scopes.leave(member as SessionRoot);
      return;
    }
    const resolution = member.resolution;
    if (resolution) {
      resolution.members.delete(member);
      if (resolution.members.size === 0) this.resolutions.drop(resolution);
    }
    if (member.group) this.groups.leave(member, member.group);
    member.resolution = null;
    member.group = null;
  }

  /** The documents of `source` this identity sees now, in order. */
  async view(view: ViewAsk): Promise<Doc[]> {
    const { source, identity, params = {}, limit } = view;
    if (source.produced)
      return this.producers.view({ source: producedOf(source), identity, params });
    if (source.published) return this.publications.view(publishedOf(source), params);
    if (source.liveScope) return this.scopes.view(scopeOf(source), params);
    const of = { source, identity, params, limit };
    const existing = source.resolutions.get(this.resolutions.key(of));
    const query = existing?.query ?? (await this.resolutions.resolve(of)).query;
    return this.groups.list(source, query, limit);
  }

  /** Applies one change (or one transaction's changes, as one step) from the feed. */
  apply(change: Change | ChangeBatch): void | Promise<void> {
    if (change.type === 'transaction') return this.applyAll(change.changes);
    this.producers.changed(change);
    if (change.type === 'reset') return this.resync(change.collection);
    const affected = new Set(
      (this.dependents.get(change.collection) ?? [])
        .filter(({ source, fields }) => source.resolutions.size > 0 && touches(change, fields))
        .map(({ source }) => source),
    );
    const stale =
      affected.size === 0
        ? []
        : [...this.resolutions.touched(change)].filter((r) => affected.has(r.source));
    if (stale.length === 0) return this.groups.route(change);
    // A failed lookup must not drop the change for everyone: route it whatever happened, and
    // resync the views whose lookups failed.
    return this.resolutions.reresolve(stale).then((failed) => {
      const routed = this.groups.route(change);
      this.resolutions.retry(failed, 0);
      return routed;
    });
  }

  /** A transaction's changes, in order; each group sends what they did to it as one delta. */
  private async applyAll(changes: readonly Change[]): Promise<void> {
    holdEmits();
    try {
      for (const change of changes) await this.apply(change);
    } finally {
      releaseEmits();
    }
  }

  /** History of `collection` was lost: re-resolve criteria reading it and re-query its groups. */
  async resync(collection: string): Promise<void> {
    const dependents = (this.dependents.get(collection) ?? []).flatMap((d) => [
      ...d.source.resolutions.values(),
    ]);
    if (dependents.length) this.resolutions.retry(await this.resolutions.reresolve(dependents), 0);
    await this.groups.resync(collection);
  }

  /** Forgets every group (the stream is shutting down). */
  clear(): void {
    this.producers.clear();
    this.publications.clear();
    this.scopes.clear();
    this.groups.clear();
    this.resolutions.clear(this.sources.values());
  }
}

/** The options a client needs for a source's root: only those that differ from the defaults. */
export function rootOptionsOf(source: SourceState, limit?: number): RootOptions | undefined {
  const options: RootOptions = {
    ...(source.idField !== '_id' ? { idField: source.idField } : {}),
    ...(source.sort ? { sort: source.sort } : {}),
    ...(limit !== undefined ? { limit } : {}),
  };
  return Object.keys(options).length ? options : undefined;
}

/** True when a change may alter which documents a pipe selects or the values it reads. */
function touches(change: Exclude<Change, { type: 'reset' }>, fields: Set<string>): boolean {
  if (change.type !== 'update') return true;
  if (change.doc === null) return true;
  for (const path of Object.keys(change.updatedFields)) {
    if (fields.has(path.split('.')[0] as string)) return true;
  }
  for (const path of change.removedFields)
    if (fields.has(path.split('.')[0] as string)) return true;
  return false;
}

function producedOf(source: SourceState): SourceState & { readonly produced: Produced } {
  return source as SourceState & { readonly produced: Produced };
}

function publishedOf(source: SourceState): SourceState & { readonly published: Published } {
  return source as SourceState & { readonly published: Published };
}

function scopeOf(source: SourceState): SourceState & { readonly liveScope: LiveScope } {
  return source as SourceState & { readonly liveScope: LiveScope };
}
