/**
 * One optimistic mutation into a 10k-document root, timed from `collector.mutate(...)` to the
 * commit of the component that reads the changed document, beside a bare Immer `produce` of
 * the same change. The server's answer (the confirming delta and `mutated`, in one batch) is
 * sent after each timed step, outside the timing, so every mutation starts with nothing
 * pending; how long that confirmation takes to commit is reported too.
 *
 * Rendering and timing are those of ./react-apply.ts: happy-dom's DOM, `createRoot`, and
 * `flushSync` around the step, under NODE_ENV=production.
 */
import { produce } from 'immer';
import { Window } from 'happy-dom';
import { createElement, type ReactElement } from 'react';
import { flushSync } from 'react-dom';
import { createRoot } from 'react-dom/client';
import { scriptedCollector } from './lib/scriptedCollector.js';
import type { ClientMessage, Doc, ServerMessage } from '../src/protocol/index.js';
import type { LocalStore } from '../src/client/index.js';
import { ParticleProvider, useParticle } from '../src/react/index.js';

export interface MutationReactOptions {
  /** Documents in the root. @default 10000 */
  docs?: number;
  /** Components mounted, each reading one document's field. @default 1000 */
  components?: number;
  /** Measured mutations (after as many warm-up runs as a fifth of this). @default 300 */
  samples?: number;
  /** Measured mutations of the variant whose recipe searches the draft. @default samples / 5 */
  draftFindSamples?: number;
}

/** Timings in milliseconds over the samples. */
export interface Timing {
  medianMs: number;
  p95Ms: number;
}

export interface MutationReactResult {
  docs: number;
  components: number;
  samples: number;
  /** `collector.mutate` with an optimistic recipe, to React's commit of the changed value. */
  optimisticToCommit: Timing;
  /** The same, with a recipe that finds the document by `docs.find` on the Immer draft. */
  draftFindToCommit: Timing;
  /** The server's answer (batch of the confirming delta and `mutated`) to React's commit. */
  confirmToCommit: Timing;
  /** `produce` of the same change on the same array, the document found by `findIndex`. */
  immerProduce: Timing;
  /** Components re-rendered per optimistic mutation, averaged over the samples. */
  componentsWokenPerMutation: number;
  /** Components re-rendered per confirmation (the value does not change: ideally 0). */
  componentsWokenPerConfirm: number;
}

function timing(samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { medianMs: at(0.5), p95Ms: at(0.95) };
}

type Recipe = (local: LocalStore, id: number, n: number) => void;

/** The document's position found on the plain confirmed array, as the baseline does. */
const byIndex =
  (docs: readonly Doc[]): Recipe =>
  (local, id, n) => {
    const at = docs.findIndex((doc) => doc._id === id);
    local.update('users', undefined, (draft) => {
      const doc = draft[at];
      if (doc !== undefined) doc.n = n;
    });
  };

/** What a recipe written without thought for cost looks like: a search of the draft. */
const byDraftFind: Recipe = (local, id, n) => {
  local.update('users', undefined, (draft) => {
    const doc = draft.find((d) => d._id === id);
    if (doc !== undefined) doc.n = n;
  });
};

/** Measures one optimistic mutation into a large root, through React, against bare Immer. */
export async function benchMutationReact(
  options: MutationReactOptions = {},
): Promise<MutationReactResult> {
  const docCount = options.docs ?? 10_000;
  const componentCount = Math.min(options.components ?? 1000, docCount);
  const sampleCount = options.samples ?? 300;
  const draftFindCount = options.draftFindSamples ?? Math.ceil(sampleCount / 5);
  const data: Doc[] = Array.from({ length: docCount }, (_, i) => ({
    _id: i,
    name: `user ${i}`,
    n: 0,
  }));

  let lastMutate: ClientMessage | undefined;
  const { collector, send } = scriptedCollector(data, (message) => {
    if (message.type === 'mutate') lastMutate = message;
  });

  let renders = 0;
  const rendered = new Map<number, unknown>();
  function Reader({ id }: { id: number }): ReactElement {
    renders++;
    const n = useParticle<number>(['users', id, 'n']);
    rendered.set(id, n);
    return createElement('i', null, n);
  }
  const step = Math.max(1, Math.floor(docCount / componentCount));
  const readers = Array.from({ length: componentCount }, (_, k) =>
    createElement(Reader, { key: k, id: k * step }),
  );

  const window = new Window();
  const globals = globalThis as { window?: unknown; document?: unknown };
  const lent = globals.window === undefined;
  if (lent) Object.assign(globals, { window, document: window.document });
  const container = window.document.createElement('div');
  const root = createRoot(container as unknown as Element);
  flushSync(() => root.render(createElement(ParticleProvider, { collector }, readers)));

  let version = 0;
  let value = 0;
  let base = collector.data.users ?? [];

  /** One optimistic mutation, then its confirmation; returns the timings and renders. */
  const mutation = async (
    run: number,
    recipe: Recipe,
  ): Promise<{ optimistic: number; confirm: number; woken: number; confirmWoken: number }> => {
    const id = ((run * 7919) % componentCount) * step;
    const n = ++value;
    lastMutate = undefined;
    let done: Promise<unknown> | undefined;
    const before = renders;
    const t0 = performance.now();
    flushSync(() => {
      done = collector.mutate('touch', { id, n }, { optimistic: (local) => recipe(local, id, n) });
    });
    const t1 = performance.now();
    const woken = renders - before;
    if (rendered.get(id) !== n) throw new Error(`the optimistic value of ${id} was not committed`);
    const sent = lastMutate as ClientMessage | undefined;
    if (sent?.type !== 'mutate') throw new Error('the mutation was not sent');

    const answer: ServerMessage = {
      type: 'batch',
      messages: [
        {
          type: 'delta',
          root: 'users',
          epoch: 'e',
          version: ++version,
          timestamp: Date.now(),
          ops: [['set', id, 'n', n]],
        },
        { type: 'mutated', id: sent.id, result: 1 },
      ],
    };
    const beforeConfirm = renders;
    const t2 = performance.now();
    flushSync(() => send(answer));
    const t3 = performance.now();
    const confirmWoken = renders - beforeConfirm;
    await done;
    if (collector.pending.length !== 0) throw new Error('the mutation is still pending');
    if (rendered.get(id) !== n) throw new Error(`the confirmed value of ${id} is not shown`);
    return { optimistic: t1 - t0, confirm: t3 - t2, woken, confirmWoken };
  };

  const warmup = Math.ceil(sampleCount / 5);
  const particle: number[] = [];
  const confirm: number[] = [];
  const immer: number[] = [];
  let woken = 0;
  let confirmWoken = 0;
  for (let run = 0; run < warmup + sampleCount; run++) {
    const r = await mutation(run, byIndex(collector.data.users ?? []));

    const id = ((run * 7919) % componentCount) * step;
    const n = value;
    const t2 = performance.now();
    base = produce(base, (draft) => {
      const at = base.findIndex((doc) => doc._id === id);
      const doc = draft[at];
      if (doc !== undefined) doc.n = n;
    });
    const t3 = performance.now();

    if (run >= warmup) {
      particle.push(r.optimistic);
      confirm.push(r.confirm);
      immer.push(t3 - t2);
      woken += r.woken;
      confirmWoken += r.confirmWoken;
    }
  }

  const draftFind: number[] = [];
  const draftWarmup = Math.ceil(draftFindCount / 5);
  for (let run = 0; run < draftWarmup + draftFindCount; run++) {
    const r = await mutation(run, byDraftFind);
    if (run >= draftWarmup) draftFind.push(r.optimistic);
  }

  flushSync(() => root.unmount());
  collector.disconnect();
  await window.happyDOM.close();
  if (lent) {
    delete globals.window;
    delete globals.document;
  }

  return {
    docs: docCount,
    components: componentCount,
    samples: sampleCount,
    optimisticToCommit: timing(particle),
    draftFindToCommit: timing(draftFind),
    confirmToCommit: timing(confirm),
    immerProduce: timing(immer),
    componentsWokenPerMutation: woken / sampleCount,
    componentsWokenPerConfirm: confirmWoken / sampleCount,
  };
}
