import { ParticleError } from '../protocol/errors.js';
import type { Adapter, Doc } from './adapter.js';
import { cloneDeep, isPlainObject } from './clone.js';
import type { Group } from './group.js';
import { idKey } from './ids.js';
import { compileMatcher, type Matcher } from './matcher.js';
import { validate } from './params.js';
import type { ProduceContext, Produced } from './produced.js';
import type { SessionRoot } from './session.js';
import type { SourceState } from './sources.js';

export interface FindTrace {
  readonly collection: string;
  readonly matcher: Matcher;
  readonly ids: ReadonlySet<string>;
}

/** A produced source as seen with one identity and params. */
export interface ProducedView {
  readonly source: SourceState & { readonly produced: Produced };
  readonly identity: Readonly<Record<string, unknown>>;
  readonly params: Record<string, unknown>;
}

/** One produced instance: its documents (a group, shared by its subscribers) and dependencies. */
export class Instance implements ProducedView {
  /** The instance's key, which is its group's. */
  readonly key: string;
  readonly source: SourceState & { readonly produced: Produced };
  readonly params: Record<string, unknown>;
  /** Only the identity values the instance is shared by (`shareBy`). */
  readonly identity: Readonly<Record<string, unknown>>;
  readonly members = new Set<SessionRoot>();
  finds: FindTrace[] = [];
  names = new Set<string>();
  /** Instances this one read in its last production, and those that read it. */
  reads = new Set<Instance>();
  readonly readers = new Set<Instance>();
  running = false;
  again = false;
  destroyed = false;
  timer: ReturnType<typeof setTimeout> | undefined;
  linger: ReturnType<typeof setTimeout> | undefined;

  constructor(
    view: ProducedView,
    readonly group: Group,
  ) {
    this.key = group.key;
    this.source = view.source;
    this.params = view.params;
    this.identity = view.identity;
  }
}

/** What a production needs from the registry of instances. */
export interface ProductionHost {
  readonly adapter: Adapter;
  /** The data sources by name (for `read`). */
  lookup(name: string): SourceState | undefined;
  keyOf(view: ProducedView): string;
  /** The live instance `read` depends on (produced first if new). */
  instanceFor(view: ProducedView, chain: readonly string[]): Promise<Instance>;
  /** Records what `instance` read in its last production. */
  relink(instance: Instance, reads: Set<Instance>): void;
  debug(message: string, details?: unknown): void;
}

const TIMEOUT = Symbol('timeout');

/** One production with its dependencies recorded; a throw, a bad value or a timeout fails it. */
export async function produceOnce(
  host: ProductionHost,
  instance: Instance,
  before: readonly string[] = [],
): Promise<{ ok: true; docs: Doc[] } | { ok: false; message: string }> {
  const { source } = instance;
  const chain = [...before, instance.key];
  const finds: FindTrace[] = [];
  const names = new Set<string>();
  const reads = new Set<Instance>();
  const context: ProduceContext = {
    params: instance.params,
    identity: instance.identity,
    find: async (collection, query = {}, options) => {
      if (!source.produced.collections.includes(collection)) {
        throw new ParticleError(
          'config',
          `dataSources.${source.name}: find in ${collection}, which its collections do not list`,
        );
      }
      const docs = await host.adapter.find(collection, query, options);
      finds.push({
        collection,
        matcher: compileMatcher(query),
        ids: new Set(docs.map((d) => idKey(d._id))),
      });
      return docs.map((d) => cloneDeep(d));
    },
    depend: (name) => {
      names.add(String(name));
    },
    read: async (name, rawParams) => {
      const target = host.lookup(String(name));
      if (!target?.produced) {
        throw new ParticleError('produce_failed', `read: ${String(name)} is not a produced source`);
      }
      let params: Record<string, unknown> = {};
      if (target.params) {
        const checked = await validate(target.params, rawParams, 'params');
        if (!checked.ok)
          throw new ParticleError('produce_failed', `read ${target.name}: ${checked.message}`);
        params = checked.value as Record<string, unknown>;
      }
      const view: ProducedView = {
        source: target as SourceState & { readonly produced: Produced },
        identity: instance.identity,
        params,
      };
      const key = host.keyOf(view);
      if (chain.includes(key)) {
        const names = [...chain, key].map((k) => k.slice(0, k.indexOf('?')));
        throw new ParticleError('produce_failed', `read cycle: ${names.join(' -> ')}`);
      }
      const dep = await host.instanceFor(view, chain);
      reads.add(dep);
      return dep.group.list().map((d) => cloneDeep(d));
    },
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<typeof TIMEOUT>((resolve) => {
      timer = setTimeout(() => resolve(TIMEOUT), source.produced.timeoutMs);
      timer.unref?.();
    });
    const value = await Promise.race([
      Promise.resolve().then(() => source.produced.produce(context)),
      timeout,
    ]);
    if (value === TIMEOUT) {
      return {
        ok: false,
        message: `${source.name}: produce took longer than ${source.produced.timeoutMs} ms`,
      };
    }
    const docs = Array.isArray(value) ? value : [value];
    const idField = source.idField;
    const bad = docs.findIndex((d) => !isPlainObject(d) || d[idField] === undefined);
    if (bad >= 0) {
      return {
        ok: false,
        message: `${source.name}: produce must return documents with ${idField} (item ${bad} has none)`,
      };
    }
    // The group keys documents by `_id`; a produced document named by another field is keyed by it.
    const rows = docs.map((d) => (idField === '_id' ? d : { ...d, _id: d[idField] }));
    const json = JSON.stringify(rows);
    const max = source.produced.maxBytes;
    // `length` counts UTF-16 units: at most 3 bytes each, never more bytes than units / 1.
    if (json.length > max || (json.length * 3 > max && Buffer.byteLength(json) > max)) {
      return {
        ok: false,
        message: `${source.name}: produce returned more than maxBytes (${max} bytes of JSON)`,
      };
    }
    instance.finds = finds;
    instance.names = names;
    host.relink(instance, reads);
    return { ok: true, docs: JSON.parse(json) as Doc[] };
  } catch (error) {
    host.debug(`${source.name}: produce failed`, error);
    const text = error instanceof ParticleError ? error.message : 'produce failed on the server';
    return { ok: false, message: `${source.name}: ${text}` };
  } finally {
    clearTimeout(timer);
  }
}
