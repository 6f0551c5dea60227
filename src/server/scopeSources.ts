import { ParticleError } from '../protocol/errors.js';
import { checkKeys } from '../protocol/config.js';
import type { Manifest } from '../protocol/messages.js';
import type { Doc } from './adapter.js';
import { isPlainObject } from './clone.js';
import { Group, MATCH_ALL } from './group.js';
import { isSchema, type Schema } from './params.js';
import type { SessionRoot } from './session.js';
import type { AuthorizeContext, SourceState } from './sources.js';

/** One stored version of a scope, as a store reports it. */
interface ScopeRecordLike {
  readonly data: object;
  readonly version: number;
}

/**
 * The part of `Scopes` (from `particle-sync/storage`) a live scope source reads: the current
 * record, and its store's commit notices (from any process on the same backend).
 */
export interface LiveScopesLike {
  read(name: string): Promise<ScopeRecordLike>;
  readonly store: {
    watch(name: string, listener: (commit: ScopeRecordLike) => void): () => void;
  };
}

/**
 * A live scope (Metaparticle's scopes, followed): one document, the scope's data with `_id` its
 * name, kept current with every commit made through any `Scopes` on the same store.
 */
export interface ScopeDataSource {
  /** The scopes to follow (`new Scopes({ store })`). */
  scopes: LiveScopesLike;
  /** The scope's name, or `'$param'`: the name is that (string) param. */
  scope: string;
  /** `true` (all fields) or a projection; only listed fields leave the server. */
  manifest: Manifest;
  /** Validated params (Standard Schema or TypeBox); needed for a `'$param'` scope. */
  params?: Schema;
  /** An extra check on subscribe; `false` or a throw refuses with `forbidden`. */
  authorize?: (context: AuthorizeContext) => boolean | Promise<boolean>;
}

const SCOPE_KEYS = [
  'scopes',
  'scope',
  'manifest',
  'params',
  'authorize',
] as const satisfies readonly (keyof ScopeDataSource)[];

/** A checked live scope source. */
export interface LiveScope {
  readonly scopes: LiveScopesLike;
  /** The fixed name, or the param that names the scope. */
  readonly name: { readonly fixed: string } | { readonly param: string };
}

/** Checks a live scope source's own keys. */
export function checkScopeSource(where: string, ds: ScopeDataSource): LiveScope {
  checkKeys(where, ds, SCOPE_KEYS);
  const scopes = ds.scopes as Partial<LiveScopesLike> | undefined;
  if (typeof scopes?.read !== 'function' || typeof scopes.store?.watch !== 'function') {
    throw new ParticleError(
      'config',
      `${where}.scopes must be a Scopes from particle-sync/storage (new Scopes({ store }))`,
    );
  }
  if (typeof ds.scope !== 'string' || ds.scope === '' || ds.scope === '$') {
    throw new ParticleError('config', `${where}.scope must name a scope, or '$param'`);
  }
  if (ds.manifest !== true && !isPlainObject(ds.manifest)) {
    throw new ParticleError('config', `${where}.manifest is required: true, or a projection`);
  }
  if (ds.params !== undefined && !isSchema(ds.params)) {
    throw new ParticleError(
      'config',
      `${where}.params must be a Standard Schema or a TypeBox schema`,
    );
  }
  if (ds.scope.startsWith('$') && ds.params === undefined) {
    throw new ParticleError('config', `${where}: scope '${ds.scope}' reads a param; add params`);
  }
  if (ds.authorize !== undefined && typeof ds.authorize !== 'function') {
    throw new ParticleError('config', `${where}.authorize must be a function`);
  }
  return {
    scopes: ds.scopes,
    name: ds.scope.startsWith('$') ? { param: ds.scope.slice(1) } : { fixed: ds.scope },
  };
}

type ScopeSource = SourceState & { readonly liveScope: LiveScope };

/** One followed scope: its one document (a group), its subscribers and its watch. */
class Followed {
  readonly members = new Set<SessionRoot>();
  version = 0;
  unwatch: () => void = () => undefined;
  /** The newest notice that came while the first read ran. */
  early: ScopeRecordLike | null = null;
  loading = true;

  constructor(
    readonly key: string,
    readonly name: string,
    readonly group: Group,
  ) {}
}

/**
 * The live scope sources' views: one per source and scope name, watched while it has
 * subscribers; each commit becomes one delta (the difference of the data), in version order.
 */
export class ScopeViews {
  constructor(private readonly debug: (message: string, details?: unknown) => void) {}

  private readonly followed = new Map<string, Followed>();
  private readonly starting = new Map<string, Promise<Followed>>();
  private readonly byGroup = new Map<Group, Followed>();

  get size(): number {
    return this.followed.size;
  }

  owns(member: SessionRoot): boolean {
    return member.group !== null && this.byGroup.has(member.group);
  }

  async join(
    member: SessionRoot,
    source: ScopeSource,
    params: Record<string, unknown>,
  ): Promise<void> {
    const followed = await this.followedFor(source, params);
    followed.members.add(member);
    followed.group.members.add(member);
    member.group = followed.group;
    member.resolution = null;
  }

  leave(member: SessionRoot): void {
    const followed = member.group ? this.byGroup.get(member.group) : undefined;
    if (!followed) return;
    followed.members.delete(member);
    followed.group.members.delete(member);
    member.group = null;
    if (followed.members.size === 0) this.drop(followed);
  }

  async view(source: ScopeSource, params: Record<string, unknown>): Promise<Doc[]> {
    const name = nameOf(source, params);
    const live = this.followed.get(`${source.name}\u0000${name}`);
    if (live) return live.group.list();
    const record = await source.liveScope.scopes.read(name);
    return [{ ...record.data, _id: name }];
  }

  clear(): void {
    for (const followed of [...this.followed.values()]) this.drop(followed);
  }

  private followedFor(source: ScopeSource, params: Record<string, unknown>): Promise<Followed> {
    const name = nameOf(source, params);
    const key = `${source.name}\u0000${name}`;
    const live = this.followed.get(key);
    if (live) return Promise.resolve(live);
    let starting = this.starting.get(key);
    if (!starting) {
      starting = this.start(source, key, name).finally(() => this.starting.delete(key));
      this.starting.set(key, starting);
    }
    return starting;
  }

  /** Watches first, then reads: no commit falls between the two. */
  private async start(source: ScopeSource, key: string, name: string): Promise<Followed> {
    const group = new Group({ key, source, query: {}, matcher: MATCH_ALL });
    const followed = new Followed(key, name, group);
    followed.unwatch = source.liveScope.scopes.store.watch(name, (commit) =>
      this.committed(followed, commit),
    );
    try {
      const record = await source.liveScope.scopes.read(name);
      followed.version = record.version;
      group.load([{ ...record.data, _id: name }]);
    } catch (error) {
      followed.unwatch();
      // The store's own text may name hosts or tables: it goes to onDebug, not to the client.
      this.debug(`${source.name}: reading scope ${JSON.stringify(name)} failed`, error);
      throw new ParticleError('bad_params', `${source.name}: the scope could not be read`);
    }
    followed.loading = false;
    this.followed.set(key, followed);
    this.byGroup.set(group, followed);
    const early = followed.early;
    followed.early = null;
    if (early) this.committed(followed, early);
    return followed;
  }

  private committed(followed: Followed, commit: ScopeRecordLike): void {
    if (followed.loading) {
      if (!followed.early || commit.version > followed.early.version) followed.early = commit;
      return;
    }
    if (commit.version <= followed.version || this.followed.get(followed.key) !== followed) return;
    followed.version = commit.version;
    followed.group.emit(followed.group.replace([{ ...commit.data, _id: followed.name }]));
  }

  private drop(followed: Followed): void {
    followed.unwatch();
    if (this.followed.get(followed.key) === followed) this.followed.delete(followed.key);
    this.byGroup.delete(followed.group);
    followed.group.clear();
  }
}

function nameOf(source: ScopeSource, params: Record<string, unknown>): string {
  const { name } = source.liveScope;
  if ('fixed' in name) return name.fixed;
  const value = params[name.param];
  if (typeof value !== 'string' || value === '') {
    throw new ParticleError(
      'bad_params',
      `${source.name}: params.${name.param} must name a scope (a non-empty string)`,
    );
  }
  return value;
}
