import { Immer, type Draft } from 'immer';
import { canonicalJson, type Doc, type Id } from '../protocol/index.js';
import type { DocComparator } from './sort.js';

/**
 * What an optimistic recipe writes to: the client's local views. `source` is an eager root's
 * name (`params` `undefined`) or a subscribed source with its params; every view of it (all
 * limits) is changed. Changes are never sent: the mutation is what reaches the server.
 */
export interface LocalStore {
  /** Runs `recipe` on a draft of each matching view's documents (an Immer draft; its return value is ignored). */
  update(source: string, params: unknown, recipe: (docs: Draft<Doc[]>) => void): void;
  /** Adds `doc` to each matching view, unless a document with its id is there already. */
  insert(source: string, params: unknown, doc: Doc): void;
  /** Removes the document `id` from each matching view. */
  remove(source: string, params: unknown, id: Id): void;
}

/** A recipe given to `collector.mutate(..., { optimistic })`. */
export type OptimisticRecipe = (local: LocalStore) => void;

/** One local view the optimistic layer may change: an eager root or a subscription. */
export interface LocalView {
  readonly source: string;
  /** `''` for an eager root, else the canonical JSON of the subscription's params. */
  readonly paramsKey: string;
  /** The confirmed documents (what the server sent); `undefined` before the first payload. */
  readonly confirmed: readonly Doc[] | undefined;
  readonly idField: string;
  readonly compare: DocComparator | null;
}

// Immer's own freeze walks every element of a 10k-document root on every produce; here only
// the new arrays and the documents a recipe made are frozen (the rest is frozen already).
const immer = new Immer({ autoFreeze: false });

function freezeNew(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const child of Object.values(value)) freezeNew(child);
}

/** The key {@link LocalView.paramsKey} is matched against. */
export function paramsKeyOf(params: unknown): string {
  return params === undefined ? '' : canonicalJson(params);
}

/**
 * Runs every pending recipe, in order, on the confirmed documents (rebase by re-run) and
 * returns the views whose documents differ from the confirmed ones. A recipe that throws is
 * skipped whole (what it changed before the throw is undone) and reported.
 */
export function computeOverlay(
  views: readonly LocalView[],
  recipes: readonly OptimisticRecipe[],
  report: (message: string, error: unknown) => void,
): Map<LocalView, readonly Doc[]> {
  let current = new Map<LocalView, readonly Doc[]>();
  const matching = (source: string, params: unknown): LocalView[] => {
    if (typeof source !== 'string') throw new TypeError('local: source must be a string');
    const key = paramsKeyOf(params);
    return views.filter((v) => v.source === source && v.paramsKey === key && v.confirmed);
  };
  const change = (view: LocalView, recipe: (docs: Draft<Doc[]>) => void): void => {
    const base = current.get(view) ?? view.confirmed!;
    // The recipe's return value is ignored: `docs => docs.push(x)` must not read as a replacement.
    const next = immer.produce(base as Doc[], (draft) => {
      recipe(draft);
    });
    if (next !== base) current.set(view, next);
  };
  const local: LocalStore = {
    update(source, params, recipe) {
      if (typeof recipe !== 'function')
        throw new TypeError('local.update: recipe must be a function');
      for (const view of matching(source, params)) change(view, recipe);
    },
    insert(source, params, doc) {
      for (const view of matching(source, params)) {
        const id = doc[view.idField] as Id;
        change(view, (docs) => {
          if (!docs.some((d) => d[view.idField] === id)) docs.push(doc);
        });
      }
    },
    remove(source, params, id) {
      for (const view of matching(source, params)) {
        change(view, (docs) => {
          const at = docs.findIndex((d) => d[view.idField] === id);
          if (at >= 0) docs.splice(at, 1);
        });
      }
    },
  };
  for (const recipe of recipes) {
    const before = current;
    current = new Map(before);
    try {
      recipe(local);
    } catch (error) {
      current = before;
      report('an optimistic recipe threw; it is skipped', error);
    }
  }
  for (const [view, docs] of current) {
    const laid =
      view.compare !== null && !sorted(docs, view.compare) ? [...docs].sort(view.compare) : docs;
    freezeNew(laid);
    current.set(view, laid);
  }
  return current;
}

function sorted(docs: readonly Doc[], compare: DocComparator): boolean {
  for (let i = 1; i < docs.length; i++) {
    if (compare(docs[i - 1] as Doc, docs[i] as Doc) > 0) return false;
  }
  return true;
}

/** Where a view is found, for direct writes and leases. */
export interface LocalViewInfo {
  readonly docs: readonly Doc[] | undefined;
  readonly idField: string;
  /** The root name the wire uses for it: the source's, or the subscription's id. */
  readonly wireRoot: string;
}

/** Where the local views are: the eager roots, the documents shown, the subscriptions. */
export interface LocalViews {
  readonly eager: { idField(root: string): string | undefined };
  readonly shown: Readonly<Record<string, readonly Doc[]>>;
  readonly subs: readonly (LocalView & {
    readonly sub: string;
    readonly docs: readonly Doc[] | undefined;
  })[];
}

/** The local view of `root` with `params`: an eager root (no params), or that subscription. */
export function localView(
  { eager, shown, subs }: LocalViews,
  root: string,
  params: unknown,
): LocalViewInfo | undefined {
  const idField = params === undefined ? eager.idField(root) : undefined;
  if (idField !== undefined) return { docs: shown[root], idField, wireRoot: root };
  const key = paramsKeyOf(params);
  const sub = subs.find((v) => v.source === root && v.paramsKey === key);
  return sub && { docs: sub.docs, idField: sub.idField, wireRoot: sub.sub };
}
