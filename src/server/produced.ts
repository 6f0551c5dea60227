import { ParticleError } from '../protocol/errors.js';
import type { Manifest, Sort } from '../protocol/messages.js';
import { checkKeys } from '../protocol/config.js';
import type { Doc, FindOptions } from './adapter.js';
import { isSchema, type Schema } from './params.js';
import type { AuthorizeContext } from './sources.js';

/** What a producer gets. */
export interface ProduceContext {
  /** The validated params. */
  readonly params: Record<string, unknown>;
  /** Only the identity's `shareBy` fields: an instance is shared by everyone alike in them. */
  readonly identity: Readonly<Record<string, unknown>>;
  /**
   * Reads through the adapter (a collection listed in `collections`); a later change that could
   * alter this result makes the instance produce again.
   */
  find(collection: string, query?: Doc, options?: FindOptions): Promise<Doc[]>;
  /** Produces again on `stream.bump(name)`. */
  depend(name: string): void;
  /**
   * The documents of another produced source's instance (same `shareBy` identity), produced if
   * needed; this instance produces again when that one's output changes. A cycle is
   * `produce_failed` naming it.
   */
  read(source: string, params?: unknown): Promise<Doc[]>;
}

/** A produced source (Seapig's objects): documents made by `produce`, on demand, shared. */
export interface ProducedDataSource {
  /** Makes one document or an array of documents (each with its id field). */
  produce: (context: ProduceContext) => Doc | Doc[] | Promise<Doc | Doc[]>;
  /** `true` (all fields) or a projection; only listed fields leave the server. */
  manifest: Manifest;
  /** Validated params (Standard Schema or TypeBox); part of the instance key. */
  params?: Schema;
  /** The identity fields `produce` may read; one instance per params and these values. @default [] */
  shareBy?: string[];
  /** The collections `produce` reads with `find` (their changes are watched). @default [] */
  collections?: string[];
  /** An extra check on subscribe; `false` or a throw refuses with `forbidden`. */
  authorize?: (context: AuthorizeContext) => boolean | Promise<boolean>;
  /** The order of the client's array. */
  sort?: Sort;
  /** @default '_id' */
  idField?: string;
  /** Stale marks within this long give one production. @default 0 */
  debounceMs?: number;
  /** How long an instance outlives its last subscriber. @default 0 */
  lingerMs?: number;
  /** A production running longer fails (`produce_failed`, retried on the next stale mark). @default 10000 */
  produceTimeoutMs?: number;
  /** A larger output (as UTF-8 JSON) fails like a throw: the last good value stays. @default 8388608 (8 MiB) */
  maxBytes?: number;
  /**
   * Lets clients follow every live instance (`collector.subscribeAll(source)`): one document per
   * instance, filtered by `authorize`. Needs `shareBy: []` (instances then hold no identity).
   */
  wildcard?: boolean;
}

export const PRODUCED_KEYS = [
  'produce',
  'manifest',
  'params',
  'shareBy',
  'collections',
  'authorize',
  'sort',
  'idField',
  'debounceMs',
  'lingerMs',
  'produceTimeoutMs',
  'maxBytes',
  'wildcard',
] as const satisfies readonly (keyof ProducedDataSource)[];

/** A checked produced source. */
export interface Produced {
  readonly produce: ProducedDataSource['produce'];
  readonly shareBy: readonly string[];
  readonly collections: readonly string[];
  readonly debounceMs: number;
  readonly lingerMs: number;
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly wildcard: boolean;
  readonly authorize: ProducedDataSource['authorize'];
}

/** Checks a produced source's own keys (the shared ones are checked with every source). */
export function checkProduced(where: string, ds: ProducedDataSource): Produced {
  checkKeys(where, ds, PRODUCED_KEYS);
  if (typeof ds.produce !== 'function') {
    throw new ParticleError(
      'config',
      `${where}.produce must be a function ({ params, identity, find, depend }) => doc | docs`,
    );
  }
  if (ds.params !== undefined && !isSchema(ds.params)) {
    throw new ParticleError(
      'config',
      `${where}.params must be a Standard Schema or a TypeBox schema`,
    );
  }
  for (const key of ['shareBy', 'collections'] as const) {
    const list = ds[key];
    if (
      list !== undefined &&
      (!Array.isArray(list) || !list.every((f) => typeof f === 'string' && f))
    ) {
      throw new ParticleError('config', `${where}.${key} must be an array of names`);
    }
  }
  for (const key of ['debounceMs', 'lingerMs', 'produceTimeoutMs'] as const) {
    const value = ds[key];
    if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
      throw new ParticleError('config', `${where}.${key} must be an integer >= 0`);
    }
  }
  if (ds.maxBytes !== undefined && (!Number.isInteger(ds.maxBytes) || ds.maxBytes < 1)) {
    throw new ParticleError('config', `${where}.maxBytes must be a positive integer`);
  }
  if (ds.wildcard !== undefined && typeof ds.wildcard !== 'boolean') {
    throw new ParticleError('config', `${where}.wildcard must be true or false`);
  }
  if (ds.wildcard && (ds.shareBy ?? []).length > 0) {
    throw new ParticleError(
      'config',
      `${where}: a wildcard source needs shareBy: [] (a consumer of every instance must not see identities)`,
    );
  }
  return {
    wildcard: ds.wildcard === true,
    authorize: ds.authorize,
    produce: ds.produce,
    shareBy: ds.shareBy ?? [],
    collections: ds.collections ?? [],
    debounceMs: ds.debounceMs ?? 0,
    lingerMs: ds.lingerMs ?? 0,
    timeoutMs: ds.produceTimeoutMs ?? 10_000,
    maxBytes: ds.maxBytes ?? 8 * 1024 * 1024,
  };
}
