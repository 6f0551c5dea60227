import type { Doc, Id } from '../protocol/index.js';
import type { Model, Outcome } from './model.js';
import { computeOverlay, type LocalView, type OptimisticRecipe } from './optimistic.js';
import { dataOf, type ShownData } from './shownData.js';
import type { CollectorData } from './types.js';
import type { WireSubscription } from './wireSubscription.js';

/** Where the optimistic layer reads the confirmed data and the pending recipes. */
export interface LayerSources {
  readonly model: Model;
  subscriptions(): WireSubscription[];
  recipes(): OptimisticRecipe[];
  report(message: string, error: unknown): void;
}

/**
 * What a collector shows: its confirmed data with every pending recipe run again on it, for
 * eager roots (`data`) and subscriptions (their `overlay`).
 */
export class OptimisticLayer {
  readonly #from: LayerSources;
  /** The model's state when showing it as it is, else `null` and `#own` is shown. */
  #model: ShownData | null;
  #own: CollectorData | null = null;
  /** The eager roots the layer changed last time, with what it showed for them. */
  #overlaid = new Map<string, readonly Doc[]>();

  constructor(from: LayerSources) {
    this.#from = from;
    this.#model = from.model.shown;
  }

  /** `collector.data`: the model's own object when nothing pending changes it. */
  get data(): CollectorData {
    return this.#own ?? dataOf(this.#model!);
  }

  /**
   * Re-runs every pending recipe on the confirmed data (rebase by re-run) and shows the result:
   * `data` for eager roots (the model's own object when nothing is pending), the overlay of each
   * subscription. Roots and subscriptions whose shown documents changed are told.
   */
  update(outcome: Outcome): void {
    const recipes = this.#from.recipes();
    const subs = this.#from.subscriptions();
    if (recipes.length === 0 && this.#overlaid.size === 0 && subs.every((s) => !s.overlay)) {
      // Not read here: the model's data object is made only if someone reads it.
      this.#model = this.#from.model.shown;
      this.#own = null;
      return;
    }
    const confirmed = this.#from.model.data;
    const eager: LocalView[] = Object.keys(confirmed).map((root) => ({
      source: root,
      paramsKey: '',
      confirmed: confirmed[root],
      idField: this.#from.model.idField(root) ?? '_id',
      compare: this.#from.model.compare(root),
    }));
    const result =
      recipes.length === 0
        ? new Map<LocalView, readonly Doc[]>()
        : computeOverlay([...eager, ...subs], recipes, (text, error) =>
            this.#from.report(text, error),
          );
    const previous = this.data;
    const overlaid = new Map<string, readonly Doc[]>();
    let shown: Record<string, readonly Doc[]> | null = null;
    for (const view of eager) {
      const docs = result.get(view);
      if (docs !== undefined) {
        overlaid.set(view.source, docs);
        (shown ??= { ...confirmed })[view.source] = docs;
      }
      const before = previous[view.source];
      const now = docs ?? view.confirmed;
      if (now !== before) notice(outcome, view.source, changedIds(before, now, view.idField));
    }
    this.#overlaid = overlaid;
    this.#model = shown === null ? this.#from.model.shown : null;
    this.#own = shown === null ? null : Object.freeze(shown);
    for (const sub of subs) {
      const docs = result.get(sub) ?? null;
      if (docs === sub.overlay) continue;
      sub.overlay = docs;
      sub.deliver({ type: 'data', ids: null }, []);
    }
  }
}

/** Beyond this many changed documents a notice names none (the whole root is re-read). */
const MAX_NAMED = 64;

/**
 * The ids whose documents differ between two shown arrays of one root, when they line up
 * (same length, so a set or a rebase); `null` (the whole root) otherwise.
 */
function changedIds(
  before: readonly Doc[] | undefined,
  now: readonly Doc[] | undefined,
  idField: string,
): Id[] | null {
  if (!before || !now || before.length !== now.length) return null;
  const ids: Id[] = [];
  for (let i = 0; i < now.length; i++) {
    const a = before[i] as Doc;
    const b = now[i] as Doc;
    if (a === b) continue;
    if (a[idField] !== b[idField] || ids.length === MAX_NAMED) return null;
    ids.push(b[idField] as Id);
  }
  return ids;
}

/** Adds `ids` to the root's data notice of this message (one notice per root). */
function notice(outcome: Outcome, root: string, ids: Id[] | null): void {
  const at = outcome.notices.findIndex((n) => n.type === 'data' && n.root === root);
  if (at < 0) {
    outcome.notices.push({ type: 'data', root, ids });
    return;
  }
  const existing = outcome.notices[at] as { type: 'data'; root: string; ids: readonly Id[] | null };
  const merged =
    existing.ids === null || ids === null ? null : [...new Set([...existing.ids, ...ids])];
  outcome.notices[at] = { type: 'data', root, ids: merged };
}
