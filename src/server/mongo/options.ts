import type { Db } from 'mongodb';

/** Options of {@link MongoAdapter} (mongoAdapter.ts). */
export interface MongoAdapterOptions {
  /** The database to query and watch. The adapter never closes its `MongoClient`. */
  db: Db;
  /**
   * How long the server holds each `getMore` of the change stream open waiting for events.
   * Lower values make `close()` and idle resume-token updates quicker.
   * @default 1000
   */
  maxAwaitTimeMS?: number;
  /**
   * Read each update's point-in-time post-image (`fullDocument: 'whenAvailable'`) instead of
   * looking the document up when the event is read (`'updateLookup'`, which can be newer than
   * the event). Clients then pass through every committed state. Needs MongoDB 6.0+ and
   * `changeStreamPreAndPostImages: { enabled: true }` on every watched collection (`create` or
   * `collMod`); an update without an image (not enabled, or expired) is read again by `_id`.
   * @default false
   */
  postImages?: boolean;
  /**
   * The first delay before the change stream is opened again after it failed; it doubles on
   * each failed attempt, up to `maxReopenDelayMs`.
   * @default 100
   */
  reopenDelayMs?: number;
  /** @default 10000 */
  maxReopenDelayMs?: number;
  /** Receives diagnostic messages (unknown event types, closing errors). */
  onDebug?: (message: string, detail?: unknown) => void;
}

export const DEFAULTS = {
  maxAwaitTimeMS: 1000,
  reopenDelayMs: 100,
  maxReopenDelayMs: 10_000,
  postImages: false,
};

/** `value` without its `undefined` entries. */
export function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
