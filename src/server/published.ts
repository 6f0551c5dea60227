import { ParticleError } from '../protocol/errors.js';
import { checkKeys } from '../protocol/config.js';
import type { Manifest, Sort } from '../protocol/messages.js';
import type { Doc } from './adapter.js';
import { isPlainObject } from './clone.js';
import { isSchema, type Schema } from './params.js';
import type { AuthorizeContext } from './sources.js';

/** What `accept` gets: who publishes, where, and the value as the client sent it. */
export interface AcceptContext extends AuthorizeContext {
  /** Untrusted: whatever the client sent. */
  readonly data: unknown;
}

/**
 * A published source (Seapig's client masters, presence): documents that clients publish
 * with `collector.publish(source, params, value)`, one instance per params, live for as long as
 * their publishers are.
 */
export interface PublishedDataSource {
  /**
   * `'many'`: one document per publishing client (presence); `'single'`: one publisher per
   * instance at a time (a master object; a second live one gets `publish_conflict`).
   */
  published: 'many' | 'single';
  /** `true` (all fields) or a projection; only listed fields leave the server. */
  manifest: Manifest;
  /** Validated params (Standard Schema or TypeBox); one instance per params. */
  params?: Schema;
  /** Who may subscribe and publish; `false` or a throw refuses with `forbidden`. */
  authorize?: (context: AuthorizeContext) => boolean | Promise<boolean>;
  /**
   * Shapes what is stored from what the client sent (stamp fields from the identity here, so
   * nobody publishes as someone else); throw to refuse (`rejected`; a `MutationError`'s
   * message reaches the client). Without it, a plain object is stored as sent.
   */
  accept?: (context: AcceptContext) => Doc | Promise<Doc>;
  /** How long a document outlives its publisher's closed link when no resume comes. @default 5000 */
  goneAfterMs?: number;
  /** The largest stored value, as UTF-8 JSON. @default 16384 */
  maxBytes?: number;
  /** The order of the client's array. */
  sort?: Sort;
}

export const PUBLISHED_KEYS = [
  'published',
  'manifest',
  'params',
  'authorize',
  'accept',
  'goneAfterMs',
  'maxBytes',
  'sort',
] as const satisfies readonly (keyof PublishedDataSource)[];

/** A checked published source. */
export interface Published {
  readonly mode: 'many' | 'single';
  readonly accept: PublishedDataSource['accept'];
  readonly goneAfterMs: number;
  readonly maxBytes: number;
}

/** Checks a published source's own keys (the shared ones are checked with every source). */
export function checkPublished(where: string, ds: PublishedDataSource): Published {
  checkKeys(where, ds, PUBLISHED_KEYS);
  if (ds.published !== 'many' && ds.published !== 'single') {
    throw new ParticleError(
      'config',
      `${where}.published must be 'many' (one document per publisher) or 'single' (one publisher)`,
    );
  }
  if (ds.manifest !== true && !isPlainObject(ds.manifest)) {
    throw new ParticleError(
      'config',
      `${where}.manifest is required: true, or a projection such as { name: true }`,
    );
  }
  if (ds.params !== undefined && !isSchema(ds.params)) {
    throw new ParticleError(
      'config',
      `${where}.params must be a Standard Schema or a TypeBox schema`,
    );
  }
  for (const key of ['authorize', 'accept'] as const) {
    if (ds[key] !== undefined && typeof ds[key] !== 'function') {
      throw new ParticleError('config', `${where}.${key} must be a function`);
    }
  }
  if (ds.goneAfterMs !== undefined && (!Number.isInteger(ds.goneAfterMs) || ds.goneAfterMs < 0)) {
    throw new ParticleError('config', `${where}.goneAfterMs must be an integer >= 0`);
  }
  if (ds.maxBytes !== undefined && (!Number.isInteger(ds.maxBytes) || ds.maxBytes < 1)) {
    throw new ParticleError('config', `${where}.maxBytes must be a positive integer`);
  }
  return {
    mode: ds.published,
    accept: ds.accept,
    goneAfterMs: ds.goneAfterMs ?? 5000,
    maxBytes: ds.maxBytes ?? 16 * 1024,
  };
}
