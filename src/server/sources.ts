import { ParticleError } from '../protocol/errors.js';
import { checkKeys } from '../protocol/config.js';
import type { Manifest, Sort } from '../protocol/messages.js';
import type { Doc } from './adapter.js';
import { isPlainObject } from './clone.js';
import { compileCriteria, type CacheConfig, type CompiledCriteria } from './criteria.js';
import type { GroupSource } from './group.js';
import { toProjection } from './projection.js';
import type { Resolution } from './views.js';

/** One root of every client's data model. */
export interface DataSource {
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
}

export interface SourceState extends GroupSource {
  readonly compiled: CompiledCriteria;
  readonly projection: Doc | undefined;
  readonly resolutions: Map<string, Resolution>;
}

const DATA_SOURCE_KEYS = [
  'collection',
  'criteria',
  'manifest',
  'sort',
  'idField',
] as const satisfies readonly (keyof DataSource)[];

/** Checks one data source's configuration and compiles its criteria and projection. */
export function compileSource(name: string, ds: DataSource, cacheConfig: CacheConfig): SourceState {
  const where = `dataSources.${name}`;
  if (!isPlainObject(ds)) {
    throw new ParticleError(
      'config',
      `${where} must be an object such as { collection, manifest }`,
    );
  }
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
  return {
    name,
    collection: ds.collection,
    manifest: ds.manifest,
    idField,
    sort: ds.sort,
    compiled: compileCriteria(ds.criteria, cacheConfig, where),
    projection: toProjection(ds.manifest, idField),
    resolutions: new Map(),
  };
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
