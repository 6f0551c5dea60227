/** A stored document, as the adapter returns it (ids and dates stay native). */
export type Doc = Record<string, unknown>;

/**
 * One change to one collection, in commit order. Update events carry the post-image (`doc`,
 * `null` when the document was deleted before it could be read) and the paths the update named,
 * as a MongoDB change stream's `updateDescription` does.
 */
/**
 * One change from an adapter's feed. `at`, when the adapter knows it, is the change's commit
 * time: a change at or before the `at` of a {@link Adapter.findAt} result is already in it.
 */
export type Change =
  | { type: 'insert' | 'replace'; collection: string; id: unknown; doc: Doc; at?: bigint }
  | {
      type: 'update';
      collection: string;
      id: unknown;
      doc: Doc | null;
      updatedFields: Record<string, unknown>;
      removedFields: string[];
      at?: bigint;
    }
  | { type: 'delete'; collection: string; id: unknown; at?: bigint }
  /** History was lost (drop, rename, invalidate, a resume point gone): re-query and diff. */
  | { type: 'reset'; collection: string };

/**
 * The changes of one transaction (a database's multi-document commit), in order: applied as
 * one step, so each client gets them in one delta per view, never a state in between.
 */
export interface ChangeBatch {
  type: 'transaction';
  changes: Change[];
}

/** Options of a payload query. */
export interface FindOptions {
  /** A MongoDB projection with `1`/`true` values; the id field is always returned. */
  projection?: Doc;
  /** A MongoDB sort specification. */
  sort?: Record<string, 1 | -1>;
  /** At most this many documents (after `sort`). */
  limit?: number;
}

/**
 * The write API a mutator's `run` gets as `db`, the same on every adapter. Writes resolve with
 * how many documents they changed; `update` takes a MongoDB update document (`$set`, `$inc`, ...).
 */
export interface Db {
  insert(collection: string, docs: Doc | Doc[]): Promise<number>;
  update(collection: string, filter: Doc, update: Record<string, Doc>): Promise<number>;
  replace(collection: string, filter: Doc, doc: Doc): Promise<number>;
  remove(collection: string, filter: Doc): Promise<number>;
  find(collection: string, query: Doc, options?: FindOptions): Promise<Doc[]>;
}

/** What {@link Adapter.runWrites} resolves with. */
export interface WritesDone<T> {
  value: T;
  /** Where the writes ended in the adapter's history (MongoDB: the operation time); for `settled`. */
  written: unknown;
}

/** Stops a change feed opened by {@link Adapter.watch}. */
export type StopWatching = () => Promise<void>;

/**
 * What a `Stream` needs from a data store: a query for payloads and a change feed.
 * `watch` must deliver every change committed after its promise resolves, in commit order;
 * the Stream opens the feed before it queries, so a change seen twice must be harmless.
 */
export interface Adapter {
  /** Returns the documents of `collection` that match the MongoDB `query`. */
  find(collection: string, query: Doc, options?: FindOptions): Promise<Doc[]>;
  /**
   * Opens one change feed for `collections`. `onError` reports a feed failure the adapter could
   * not repair itself; the adapter then emits `reset` changes once it is back.
   */
  /**
   * Optional: `find`, and the time the read saw (changes at or before it are in the result), so
   * a view loaded while the feed lags does not replay what it already holds.
   */
  findAt?(
    collection: string,
    query: Doc,
    options?: FindOptions,
  ): Promise<{ docs: Doc[]; at: bigint | undefined }>;
  /**
   * Optional: how far behind the database the feed is, in ms (now minus the commit time of the
   * latest point it is known to have delivered), or `undefined` before it delivered anything.
   */
  feedLagMs?(): number | undefined;
  watch(
    collections: string[],
    onChange: (change: Change | ChangeBatch) => void,
    onError?: (error: Error) => void,
  ): Promise<StopWatching>;
  /**
   * Runs `fn` with the write API (in a transaction with `transaction: true`, where `fn` may run
   * again after a transient error). Needed, with {@link settled}, for mutators.
   */
  runWrites?<T>(
    fn: (db: Db) => Promise<T>,
    options: { transaction: boolean },
  ): Promise<WritesDone<T>>;
  /**
   * Resolves once every change committed up to `written` (from {@link runWrites}) has been passed
   * to the feeds' `onChange`. Without it a Stream cannot acknowledge a mutation by inclusion.
   */
  settled?(written: unknown): Promise<void>;
  /**
   * Resolves once every change committed before the call has been passed to the feeds'
   * `onChange` (MongoDB: the stream has passed the server's current operation time). Views that
   * are already live wait for it before `stream.snapshot()` answers from them, so a snapshot
   * taken right after a write made elsewhere holds it. Adapters whose feed never lags omit it.
   */
  caughtUp?(): Promise<void>;
  /** Releases the adapter's resources (feeds, timers). Does not close a client the user owns. */
  close(): Promise<void>;
}
