import { WRITABLE_KEYS, type Writable } from './directWrites.js';
import { checkProduced, type Produced, type ProducedDataSource } from './produced.js';
import { checkPublished, type Published, type PublishedDataSource } from './published.js';
import { checkScopeSource, type LiveScope, type ScopeDataSource } from './scopeSources.js';
import { ParticleError } from '../protocol/errors.js';
import { checkKeys } from '../protocol/config.js';
import type { Manifest, Sort } from '../protocol/messages.js';
import type { Doc } from './adapter.js';
import { isPlainObject } from './clone.js';
import { compileCriteria, type CacheConfig, type CompiledCriteria } from './criteria.js';
import type { GroupSource } from './group.js';
import { toProjection } from './projection.js';
import type { Resolution } from './views.js';
import { isSchema, type Schema } from './params.js';

/** What `authorize` is asked on subscribe: the resolved identity and the validated params. */
export interface AuthorizeContext {
  readonly identity: Readonly<Record<string, unknown>>;
  readonly params: Readonly<Record<string, unknown>>;
}

/** A live window's bounds: `default` when the client names none, never more than `max`. */
export interface WindowLimit {
  default: number;
  max: number;
}

/** One root of every client's data model. */
/** A source over a collection: the documents its criteria select for each identity. */
export interface CollectionDataSource {
  /** The adapter's collection (Mongo collection, memory collection). */
  collection: string;
  /** A MongoDB query; string values starting with `@` or holding `|` are references. `undefined`: every record. */
  criteria?: Doc | undefined;
  /** `true` (all fields) or a projection with `true` at any depth. Only listed fields leave the server. */
  manifest: Manifest;
  /** The order of the client's array (MongoDB sort spec). Its fields must be in the manifest. */
  sort?: Sort;
  /** The field that identifies a document on the wire. @default '_id' */
  idField?: string;
  /**
   * Makes the source subscribed on demand with these params (any Standard Schema, such as zod,
   * valibot or ArkType, or a TypeBox schema), validated on the server. Criteria read them as
   * `'$name'`. Params are untrusted: they choose within what the identity may see.
   */
  params?: Schema;
  /** An extra check on subscribe; `false` or a throw refuses with `forbidden`. */
  authorize?: (context: AuthorizeContext) => boolean | Promise<boolean>;
  /** A live window of the first documents in `sort` order; `n` means `{ default: n, max: n }`. */
  limit?: number | WindowLimit;
  /** `false`: subscribed on demand even without params. @default true without params */
  eager?: boolean;
  /**
   * Lets clients write this source's documents directly (`collector.update(root, id, recipe)`),
   * within their view and `fields`, and take leases on them (`collector.lock`).
   */
  writable?: Writable;
}

/**
 * A data source: a collection's documents, documents made by `produce` (see
 * {@link ProducedDataSource}), or documents clients publish (see {@link PublishedDataSource}).
 */
export type DataSource =
  CollectionDataSource | ProducedDataSource | PublishedDataSource | ScopeDataSource;

export interface SourceState extends GroupSource {
  /** Set for a produced source (its `collection` is then empty). */
  readonly produced?: Produced | undefined;
  /** Set for a published source (its `collection` is then empty). */
  readonly published?: Published | undefined;
  /** Set for a live scope source (its `collection` is then empty). */
  readonly liveScope?: LiveScope | undefined;
  readonly params: Schema | undefined;
  readonly authorize: DataSource['authorize'];
  readonly limit: WindowLimit | undefined;
  /** Sent at register (no params, not `eager: false`). */
  readonly eager: boolean;
  readonly compiled: CompiledCriteria;
  readonly projection: Doc | undefined;
  readonly resolutions: Map<string, Resolution>;
  readonly writable: Writable | undefined;
  /** The fields the criteria name (an insert may set them besides `writable.fields`). */
  readonly criteriaFields: readonly string[];
}

const DATA_SOURCE_KEYS = [
  'collection',
  'criteria',
  'manifest',
  'sort',
  'idField',
  'params',
  'authorize',
  'limit',
  'eager',
  'writable',
] as const satisfies readonly (keyof CollectionDataSource)[];

/** Checks one data source's configuration and compiles its criteria and projection. */
export function compileSource(name: string, ds: DataSource, cacheConfig: CacheConfig): SourceState {
  const where = `dataSources.${name}`;
  if (!isPlainObject(ds)) {
    throw new ParticleError(
      'config',
      `${where} must be an object such as { collection, manifest }`,
    );
  }
  const kinds = (['collection', 'produce', 'published', 'scopes'] as const).filter((k) => k in ds);
  if (kinds.length > 1) {
    throw new ParticleError(
      'config',
      `${where}: a source is exactly one kind: collection (criteria), produced (produce), published or a scope (scopes), not ${kinds.join(' and ')}`,
    );
  }
  if (kinds[0] === 'produce') return compileProduced(name, where, ds as ProducedDataSource);
  if (kinds[0] === 'published') return compilePublished(name, where, ds as PublishedDataSource);
  if (kinds[0] === 'scopes') return compileScope(name, where, ds as ScopeDataSource);
  return compileCollection(name, ds as CollectionDataSource, cacheConfig);
}

function compileCollection(
  name: string,
  ds: CollectionDataSource,
  cacheConfig: CacheConfig,
): SourceState {
  const where = `dataSources.${name}`;
  checkKeys(where, ds, DATA_SOURCE_KEYS);
  if (typeof ds.collection !== 'string' || !ds.collection) {
    throw new ParticleError('config', `${where}.collection must name a collection`);
  }
  if (ds.manifest !== true && !isPlainObject(ds.manifest)) {
    throw new ParticleError(
      'config',
      `${where}.manifest is required: true, or a projection such as { name: true }`,
    );
  }
  if (ds.criteria !== undefined && !isPlainObject(ds.criteria)) {
    throw new ParticleError(
      'config',
      `${where}.criteria must be a MongoDB query object or undefined`,
    );
  }
  const idField = ds.idField ?? '_id';
  for (const field of Object.keys(ds.sort ?? {})) {
    if (!manifestShows(ds.manifest, field) && field !== idField) {
      throw new ParticleError(
        'config',
        `${where}.sort: "${field}" must be in the manifest, or clients cannot keep the order`,
      );
    }
  }
  if (ds.params !== undefined && !isSchema(ds.params)) {
    throw new ParticleError(
      'config',
      `${where}.params must be a Standard Schema (zod, valibot, ArkType) or a TypeBox schema`,
    );
  }
  if (ds.authorize !== undefined && typeof ds.authorize !== 'function') {
    throw new ParticleError('config', `${where}.authorize must be a function`);
  }
  if (ds.eager !== undefined && typeof ds.eager !== 'boolean') {
    throw new ParticleError('config', `${where}.eager must be true or false`);
  }
  if (ds.eager === true && ds.params !== undefined) {
    throw new ParticleError('config', `${where}: a source with params cannot be eager`);
  }
  const limit = windowLimit(where, ds);
  const writable = checkWritable(where, ds.writable);
  return {
    writable,
    criteriaFields: criteriaFields(ds.criteria),
    name,
    params: ds.params,
    authorize: ds.authorize,
    limit,
    eager: ds.params === undefined && ds.eager !== false,
    collection: ds.collection,
    manifest: ds.manifest,
    idField,
    sort: ds.sort,
    compiled: compileCriteria(ds.criteria, { cacheConfig, where, params: ds.params !== undefined }),
    projection: toProjection(ds.manifest, idField),
    resolutions: new Map(),
  };
}

function compileProduced(name: string, where: string, ds: ProducedDataSource): SourceState {
  const produced = checkProduced(where, ds);
  if (ds.manifest !== true && !isPlainObject(ds.manifest)) {
    throw new ParticleError(
      'config',
      `${where}.manifest is required: true, or a projection such as { total: true }`,
    );
  }
  if (ds.authorize !== undefined && typeof ds.authorize !== 'function') {
    throw new ParticleError('config', `${where}.authorize must be a function`);
  }
  const idField = ds.idField ?? '_id';
  return {
    name,
    produced,
    params: ds.params,
    authorize: ds.authorize,
    limit: undefined,
    eager: false,
    collection: '',
    manifest: ds.manifest,
    idField,
    sort: ds.sort,
    compiled: {
      source: undefined,
      references: new Map(),
      identityFields: [...produced.shareBy],
      paramFields: [],
      dependencies: new Map(),
    },
    projection: toProjection(ds.manifest, idField),
    resolutions: new Map(),
    writable: undefined,
    criteriaFields: [],
  };
}

function compilePublished(name: string, where: string, ds: PublishedDataSource): SourceState {
  const published = checkPublished(where, ds);
  for (const field of Object.keys(ds.sort ?? {})) {
    if (!manifestShows(ds.manifest, field) && field !== '_id') {
      throw new ParticleError(
        'config',
        `${where}.sort: "${field}" must be in the manifest, or clients cannot keep the order`,
      );
    }
  }
  return {
    ...detachedSource(name, ds.manifest, ds.sort),
    published,
    params: ds.params,
    authorize: ds.authorize,
  };
}

function compileScope(name: string, where: string, ds: ScopeDataSource): SourceState {
  const liveScope = checkScopeSource(where, ds);
  return {
    ...detachedSource(name, ds.manifest, undefined),
    liveScope,
    params: ds.params,
    authorize: ds.authorize,
  };
}

/** The state of a source whose documents come from outside the adapter's collections. */
function detachedSource(
  name: string,
  manifest: Manifest,
  sort: Sort | undefined,
): Omit<SourceState, 'params' | 'authorize'> {
  return {
    name,
    limit: undefined,
    eager: false,
    collection: '',
    manifest,
    idField: '_id',
    sort,
    compiled: {
      source: undefined,
      references: new Map(),
      identityFields: [],
      paramFields: [],
      dependencies: new Map(),
    },
    projection: toProjection(manifest, '_id'),
    resolutions: new Map(),
    writable: undefined,
    criteriaFields: [],
  };
}

function checkWritable(where: string, writable: unknown): Writable | undefined {
  if (writable === undefined) return undefined;
  if (!isPlainObject(writable)) {
    throw new ParticleError(
      'config',
      `${where}.writable must be an object such as { fields: { title: true } }`,
    );
  }
  checkKeys(`${where}.writable`, writable, WRITABLE_KEYS);
  const w = writable as Partial<Writable>;
  if (w.fields !== true && !isPlainObject(w.fields)) {
    throw new ParticleError(
      'config',
      `${where}.writable.fields is required: true, or fields such as { title: true }`,
    );
  }
  for (const key of ['insert', 'remove', 'requireLock'] as const) {
    if (w[key] !== undefined && typeof w[key] !== 'boolean') {
      throw new ParticleError('config', `${where}.writable.${key} must be true or false`);
    }
  }
  for (const key of ['allow', 'lockOwner'] as const) {
    if (w[key] !== undefined && typeof w[key] !== 'function') {
      throw new ParticleError('config', `${where}.writable.${key} must be a function`);
    }
  }
  return w as Writable;
}

function criteriaFields(criteria: Doc | undefined): string[] {
  const out = new Set<string>();
  const visit = (query: unknown) => {
    if (!isPlainObject(query)) return;
    for (const [key, value] of Object.entries(query)) {
      if (key === '$and' && Array.isArray(value)) value.forEach(visit);
      else if (!key.startsWith('$')) out.add(key.split('.')[0] as string);
    }
  };
  visit(criteria);
  return [...out];
}

function manifestShows(manifest: Manifest, path: string): boolean {
  let m: Manifest = manifest;
  for (const seg of path.split('.')) {
    if (m === true) return true;
    const next: Manifest | undefined = Object.hasOwn(m, seg) ? m[seg] : undefined;
    if (next === undefined) return false;
    m = next;
  }
  return true;
}

function windowLimit(where: string, ds: CollectionDataSource): WindowLimit | undefined {
  if (ds.limit === undefined) return undefined;
  const limit = typeof ds.limit === 'number' ? { default: ds.limit, max: ds.limit } : ds.limit;
  if (!isPlainObject(limit)) {
    throw new ParticleError('config', `${where}.limit must be a number or { default, max }`);
  }
  checkKeys(`${where}.limit`, limit, ['default', 'max']);
  for (const key of ['default', 'max'] as const) {
    if (!Number.isInteger(limit[key]) || limit[key] < 1) {
      throw new ParticleError('config', `${where}.limit.${key} must be a positive integer`);
    }
  }
  if (limit.default > limit.max) {
    throw new ParticleError('config', `${where}.limit.default must not exceed limit.max`);
  }
  if (!ds.sort || Object.keys(ds.sort).length === 0) {
    throw new ParticleError(
      'config',
      `${where}.limit needs a sort: a window is the first documents in some order`,
    );
  }
  if (ds.params === undefined && ds.eager !== false) {
    throw new ParticleError(
      'config',
      `${where}.limit needs params or eager: false (a window is subscribed on demand)`,
    );
  }
  return limit;
}
