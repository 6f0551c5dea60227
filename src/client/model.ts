import type {
  DeltaMessage,
  ManifestMessage,
  Op,
  PayloadMessage,
  ResumedMessage,
  RootPosition,
} from '../protocol/index.js';
import {
  RootDocs,
  firstTooDeep,
  type ApplyContext,
  type FrameLimits,
  type RootLayout,
} from './rootDocs.js';
import { dataOf, emptyShown, withRoots, type ShownData } from './shownData.js';
import { compileSort } from './sort.js';
import type { CollectorData, CollectorEvent, CollectorNotice } from './types.js';

/** What one applied message changed, gathered before anyone is told. */
export type Outcome = {
  notices: CollectorNotice[];
  events: { name: readonly string[]; event: CollectorEvent }[];
  /** No `on` listener could hear them: events are not built. */
  quiet?: boolean;
};

type RootState = {
  docs: RootDocs;
  /** The manifest's sort spec the docs are laid out by, to notice when it changes. */
  sort: unknown;
  epoch: string;
  version: number;
  /** False once the server's idea of this root's history disagreed with ours: ask afresh. */
  resumable: boolean;
};

type LayoutEntry = { layout: RootLayout; sort: unknown };

const DEFAULT_LAYOUT: RootLayout = { idField: '_id', compare: null };

let lastMs = NaN;
let lastIso = '';

/** A delta's timestamp as `on` events give it (ISO 8601); deltas of one millisecond share one. */
export function isoTime(ms: number): string {
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** The `on` event for one applied op. */
export function eventFor(root: string, timestamp: string, op: Op): CollectorEvent {
  const { id } = op;
  switch (op.operation) {
    case 'insert':
      return { root, timestamp, id, operation: 'insert', path: '', data: op.data };
    case 'remove':
      return { root, timestamp, id, operation: 'remove', path: '', data: undefined };
    case 'set':
      return { root, timestamp, id, operation: 'set', path: op.path, data: op.data };
    case 'unset':
      return { root, timestamp, id, operation: 'unset', path: op.path, data: undefined };
  }
}

/**
 * The collector's data and where each root stands (epoch, version), changed only by whole
 * server messages. A method that cannot apply its message returns why, and changes nothing.
 */
export class Model {
  #shown: ShownData = emptyShown();
  readonly #roots = new Map<string, RootState>();
  readonly #layouts = new Map<string, LayoutEntry>();
  /** Roots still owed a payload or `resumed` on this registration; `null` until the manifest. */
  #pending: Set<string> | null = null;
  readonly #debug: (message: string) => void;
  readonly #limits: FrameLimits;
  readonly #context: ApplyContext;

  constructor(limits: FrameLimits, debug: (message: string) => void) {
    this.#limits = limits;
    this.#debug = debug;
    this.#context = { limits, debug };
  }

  /** The data as of the last applied message (see {@link ShownData}). */
  get shown(): ShownData {
    return this.#shown;
  }

  /** A frozen object per applied message, its roots read when read ({@link dataOf}). */
  get data(): CollectorData {
    return dataOf(this.#shown);
  }

  #show(changes: ReadonlyMap<string, RootDocs | null>): void {
    this.#shown = withRoots(this.#shown, changes);
  }

  /** True once the manifest and a payload or `resumed` for each of its roots arrived. */
  /** The field naming a root's documents, once the manifest has told it. */
  idField(root: string): string | undefined {
    return this.#layouts.get(root)?.layout.idField;
  }

  /** The comparator a root's documents are sorted by, or `null`. */
  compare(root: string): RootLayout['compare'] {
    return this.#layouts.get(root)?.layout.compare ?? null;
  }

  get complete(): boolean {
    return this.#pending !== null && this.#pending.size === 0;
  }

  /** A new registration starts: what it owes is unknown until its manifest. */
  restart(): void {
    this.#pending = null;
  }

  /** Where each root stands, for a `resume`. */
  positions(): Record<string, RootPosition> {
    const roots: Record<string, RootPosition> = {};
    for (const [root, state] of this.#roots) {
      if (state.resumable) roots[root] = { epoch: state.epoch, version: state.version };
    }
    return roots;
  }

  manifest(message: ManifestMessage, outcome: Outcome): void {
    this.#layouts.clear();
    for (const root of Object.keys(message.sources)) {
      const options = message.options?.[root];
      const sort = options?.sort;
      const layout: RootLayout = {
        idField: options?.idField ?? DEFAULT_LAYOUT.idField,
        compare: sort === undefined ? null : compileSort(sort),
      };
      this.#layouts.set(root, { layout, sort });
    }
    const changes = new Map<string, RootDocs | null>();
    for (const [root, state] of this.#roots) {
      const entry = this.#layouts.get(root);
      if (entry === undefined) {
        // No longer one of this identity's roots: it must not linger in the data.
        this.#roots.delete(root);
        changes.set(root, null);
        outcome.notices.push({ type: 'data', root, ids: null });
      } else if (
        state.docs.layout.idField !== entry.layout.idField ||
        JSON.stringify(state.sort) !== JSON.stringify(entry.sort)
      ) {
        state.sort = entry.sort;
        state.docs = new RootDocs(entry.layout, state.docs.docs, this.#context);
        changes.set(root, state.docs);
        outcome.notices.push({ type: 'data', root, ids: null });
      }
    }
    if (changes.size > 0) this.#show(changes);
    this.#pending = new Set(this.#layouts.keys());
  }

  /** Returns null, or why the payload is invalid (then nothing changed). */
  payload(message: PayloadMessage, outcome: Outcome): string | null {
    const { root } = message;
    const tooDeep = firstTooDeep(message.data, this.#limits.maxDepth);
    if (tooDeep >= 0) {
      return `payload for ${root}: document ${tooDeep} is nested deeper than maxDepth (${this.#limits.maxDepth})`;
    }
    const entry = this.#layouts.get(root);
    if (entry === undefined) this.#debug(`payload for ${root}, which the manifest lacks`);
    const docs = new RootDocs(entry?.layout ?? DEFAULT_LAYOUT, message.data, this.#context);
    this.#roots.set(root, {
      docs,
      sort: entry?.sort,
      epoch: message.epoch,
      version: message.version,
      resumable: true,
    });
    this.#pending?.delete(root);
    this.#show(new Map([[root, docs]]));
    outcome.notices.push({ type: 'data', root, ids: null });
    if (outcome.quiet === true) return null;
    const event: CollectorEvent = {
      root,
      timestamp: new Date().toISOString(),
      operation: 'payload',
      id: null,
      path: '',
      data: docs.docs,
    };
    outcome.events.push({ name: [root], event });
    return null;
  }

  /** Returns null, or why the resume point is not one this model holds. */
  resumed(message: ResumedMessage): string | null {
    const state = this.#roots.get(message.root);
    if (state === undefined || state.epoch !== message.epoch || state.version !== message.version) {
      // Never build on a history this client does not hold: ask for a fresh payload instead.
      if (state !== undefined) state.resumable = false;
      return `resumed ${message.root} at a point this collector does not hold`;
    }
    this.#pending?.delete(message.root);
    return null;
  }

  /**
   * Returns null, or why the delta cannot follow what this model holds or is invalid (then
   * nothing changed). The ops apply first and the version advances only after: a delta that
   * fails is asked for again on resume, never lost without a gap.
   */
  delta(message: DeltaMessage, outcome: Outcome): string | null {
    const { root } = message;
    const state = this.#roots.get(root);
    if (state === undefined) return `delta for ${root} before its payload`;
    if (state.epoch !== message.epoch || message.version !== state.version + 1) {
      return (
        `version gap on ${root}: holds ${state.epoch}/${state.version}, ` +
        `got ${message.epoch}/${message.version}`
      );
    }
    const result = state.docs.apply(message.ops, this.#debug);
    if (!result.ok)
      return `invalid delta for ${root} at version ${message.version}: ${result.reason}`;
    state.version = message.version;
    const { applied, ids } = result;
    if (applied.length === 0) return null;
    this.#show(new Map([[root, state.docs]]));
    outcome.notices.push({ type: 'data', root, ids });
    if (outcome.quiet === true) return null;
    const timestamp = isoTime(message.timestamp);
    for (const op of applied) {
      const name =
        op.operation === 'insert' || op.operation === 'remove'
          ? [root]
          : [root, ...op.path.split('.')];
      outcome.events.push({ name, event: eventFor(root, timestamp, op) });
    }
    return null;
  }
}
