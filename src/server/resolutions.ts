import type { Adapter, Change, Doc } from './adapter.js';
import { canonicalKey } from './canonical.js';
import { resolveCriteria } from './criteria.js';
import type { Group } from './group.js';
import type { Groups } from './groups.js';
import { idKey } from './ids.js';
import { LookupIndex, type TracedLookup } from './lookupIndex.js';
import { compileMatcher } from './matcher.js';
import type { SourceState } from './sources.js';
import type { ViewMember } from './views.js';

/** The criteria of one source resolved for one set of identity values, shared by its clients. */
export interface Resolution {
  readonly key: string;
  readonly source: SourceState;
  readonly identity: Record<string, unknown>;
  /** The validated params the criteria read (`{}` for an eager root). */
  readonly params: Record<string, unknown>;
  /** The window in force, if any. */
  readonly limit: number | undefined;
  query: Doc;
  /** The lookups behind `query`: only a change to what they selected, or could now select, can change it. */
  trace: TracedLookup[];
  /** A pipe expanded past `maxReferenceValues`: `query` matches nothing (reported once). */
  exceeded: boolean;
  group: Group;
  readonly members: Set<ViewMember>;
}

/** How resolutions report and schedule (a part of the views' options). */
export interface ResolutionsOptions {
  debug?: ((message: string, details?: unknown) => void) | undefined;
  maxReferenceValues?: number | undefined;
  defer?: ((job: () => Promise<void>, delayMs: number) => void) | undefined;
}

/**
 * The per-identity resolutions of collection sources' criteria, shared by the clients that
 * resolve alike, and their reactive re-resolution when a change alters what their pipes read.
 */
export class Resolutions {
  /** The traced lookups of every live resolution, by what a change must hold to alter them. */
  private readonly lookups = new LookupIndex<Resolution>();
  private closed = false;

  constructor(
    private readonly adapter: Adapter,
    private readonly groups: Groups,
    private readonly options: ResolutionsOptions,
  ) {}

  /** The live resolutions whose lookups this change may alter. */
  touched(change: Exclude<Change, { type: 'reset' }>): Set<Resolution> {
    return this.lookups.touched(change);
  }

  /** Forgets every resolution (the stream is shutting down). */
  clear(sources: Iterable<SourceState>): void {
    this.closed = true;
    for (const source of sources) source.resolutions.clear();
    this.lookups.clear();
  }

  /** Forgets a resolution nobody follows any more. */
  drop(resolution: Resolution): void {
    if (resolution.source.resolutions.get(resolution.key) === resolution) {
      resolution.source.resolutions.delete(resolution.key);
    }
    this.lookups.delete(resolution);
  }

  /**
   * Re-runs the criteria of these resolutions; moves clients whose criteria changed. Resolves
   * with the resolutions whose lookups failed (they keep their current view until a retry).
   */
  async reresolve(resolutions: Resolution[]): Promise<Resolution[]> {
    const failed: Resolution[] = [];
    for (const resolution of new Set(resolutions)) {
      if (resolution.source.resolutions.get(resolution.key) !== resolution) continue;
      try {
        await this.reresolveOne(resolution);
      } catch (error) {
        failed.push(resolution);
        this.options.debug?.(
          `dataSources.${resolution.source.name}: re-resolving criteria failed; the view will resync`,
          error,
        );
      }
    }
    return failed;
  }

  /** Resyncs resolutions whose re-resolution failed, later, with a growing delay. */
  retry(failed: Resolution[], attempt: number): void {
    const defer = this.options.defer;
    if (failed.length === 0 || !defer || this.closed) return;
    defer(
      async () => {
        if (this.closed) return;
        this.retry(await this.reresolve(failed), attempt + 1);
      },
      Math.min(10_000, 100 * 2 ** attempt),
    );
  }

  private async reresolveOne(resolution: Resolution): Promise<void> {
    const { source } = resolution;
    // A resolution is a ViewOf itself: its source, identity values, params and limit.
    const { query, trace, exceeded } = await this.resolve(resolution, resolution);
    resolution.exceeded = exceeded;
    // Left while its lookups ran: nothing follows it any more.
    if (source.resolutions.get(resolution.key) !== resolution) return;
    if (canonicalKey(query) === canonicalKey(resolution.query)) {
      resolution.trace = trace;
      this.lookups.set(resolution, trace);
      return;
    }
    const from = resolution.group;
    const to = await this.groups.shared(source, query, resolution.limit);
    resolution.trace = trace;
    this.lookups.set(resolution, trace);
    resolution.query = query;
    resolution.group = to;
    for (const member of resolution.members) this.groups.move(member, from, to);
  }

  /** The key of the resolution for these identity values, params and window. */
  key({ source, identity, params, limit }: ViewOf): string {
    // A missing field and an explicit null resolve differently (missing matches nothing), so
    // they must never share a key: a missing field is written as an empty entry.
    const entries = (values: Record<string, unknown>, fields: string[]): unknown[][] =>
      fields.map((f) => (Object.hasOwn(values, f) ? [values[f]] : []));
    return canonicalKey([
      entries(identity, source.compiled.identityFields),
      entries(params, source.compiled.paramFields),
      limit ?? null,
    ]);
  }

  async resolve(
    { source, identity, params }: ViewOf,
    was?: Resolution,
  ): Promise<{ query: Doc; trace: TracedLookup[]; exceeded: boolean }> {
    const trace: TracedLookup[] = [];
    const { query, exceeded } = await resolveCriteria(source.compiled, {
      identity,
      lookup: async (collection, q) => {
        const docs = await this.adapter.find(collection, q);
        trace.push({
          collection,
          query: q,
          matcher: compileMatcher(q),
          ids: new Set(docs.map((d) => idKey(d._id))),
        });
        return docs;
      },
      maxValues: this.options.maxReferenceValues ?? Infinity,
      params,
    });
    if (exceeded !== undefined && !was?.exceeded) {
      this.options.debug?.(
        `dataSources.${source.name}: criteria.${exceeded} expands past maxReferenceValues ` +
          `(${this.options.maxReferenceValues}); the view matches nothing until it shrinks`,
      );
    }
    return { query, trace, exceeded: exceeded !== undefined };
  }

  async for(view: ViewOf): Promise<Resolution> {
    const { source, identity, params, limit } = view;
    const key = this.key(view);
    const existing = source.resolutions.get(key);
    if (existing) return existing;
    const { query, trace, exceeded } = await this.resolve(view);
    const group = await this.groups.shared(source, query, limit);
    const resolution: Resolution = {
      key,
      source,
      identity: pick(identity, source.compiled.identityFields),
      params: pick(params, source.compiled.paramFields),
      limit,
      query,
      trace,
      exceeded,
      group,
      members: new Set(),
    };
    source.resolutions.set(key, resolution);
    this.lookups.set(resolution, trace);
    return resolution;
  }
}

/** What one view is of: a source, the identity's values, the params and (windows) a limit. */
export interface ViewOf {
  readonly source: SourceState;
  readonly identity: Record<string, unknown>;
  readonly params: Record<string, unknown>;
  readonly limit: number | undefined;
}

/** The identity fields a resolution reads, and nothing else of the identity. */
function pick(identity: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) if (Object.hasOwn(identity, f)) out[f] = identity[f];
  return Object.freeze(out);
}
