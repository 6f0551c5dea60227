/**
 * One `set` into a 10k-document root, timed from the delta message to the commit of the
 * components that read the changed document, beside a bare Immer `produce` of the same change.
 * Also counts how many components re-rendered per `set` (the goal is 1).
 *
 * Run it under NODE_ENV=production for figures comparable with a production build of React.
 * The DOM is happy-dom's, created here; nothing is left behind after the returned promise settles.
 */
import { produce } from 'immer';
import { Window } from 'happy-dom';
import { createElement, type ReactElement } from 'react';
import { flushSync } from 'react-dom';
import { createRoot } from 'react-dom/client';
import { scriptedCollector } from './lib/scriptedCollector.js';
import type { DeltaMessage, Doc } from '../src/protocol/index.js';
import { ParticleProvider, useParticle } from '../src/react/index.js';

/** What {@link benchReactApply} measures. */
export interface ReactApplyOptions {
  /** Documents in the root. @default 10000 */
  docs?: number;
  /** Components mounted, each reading one document's field. @default 1000 */
  components?: number;
  /** Measured `set`s (after as many warm-up runs as a fifth of this). @default 500 */
  samples?: number;
}

/** Timings in milliseconds over the samples. */
export interface Timing {
  medianMs: number;
  p95Ms: number;
}

export interface ReactApplyResult {
  docs: number;
  components: number;
  samples: number;
  /** Delta message in, through the Collector and the store, to React's commit. */
  particleToCommit: Timing;
  /** `produce` of the same change on the same array, the document found by `findIndex`. */
  immerProduce: Timing;
  /** `particleToCommit.medianMs / immerProduce.medianMs`. */
  ratio: number;
  /** Components re-rendered per `set`, averaged over the samples. */
  componentsWokenPerSet: number;
}

function timing(samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { medianMs: at(0.5), p95Ms: at(0.95) };
}

/** Measures one `set` into a large root, through React, against a bare Immer `produce`. */
export async function benchReactApply(options: ReactApplyOptions = {}): Promise<ReactApplyResult> {
  const docCount = options.docs ?? 10_000;
  const componentCount = Math.min(options.components ?? 1000, docCount);
  const sampleCount = options.samples ?? 500;
  const warmup = Math.ceil(sampleCount / 5);
  const data: Doc[] = Array.from({ length: docCount }, (_, i) => ({
    _id: i,
    name: `user ${i}`,
    n: 0,
  }));

  const { collector, send } = scriptedCollector(data);

  let renders = 0;
  function Reader({ id }: { id: number }): ReactElement {
    renders++;
    const n = useParticle<number>(['users', id, 'n']);
    return createElement('i', null, n);
  }
  // Spread the readers over the root, so the changed document sits among them.
  const step = Math.max(1, Math.floor(docCount / componentCount));
  const readers = Array.from({ length: componentCount }, (_, k) =>
    createElement(Reader, { key: k, id: k * step }),
  );

  // React DOM reads the global `window`; lend it happy-dom's where there is none.
  const window = new Window();
  const globals = globalThis as { window?: unknown; document?: unknown };
  const lent = globals.window === undefined;
  if (lent) Object.assign(globals, { window, document: window.document });
  const container = window.document.createElement('div');
  const root = createRoot(container as unknown as Element);
  flushSync(() => root.render(createElement(ParticleProvider, { collector }, readers)));

  const particle: number[] = [];
  const immer: number[] = [];
  let version = 0;
  let woken = 0;
  let base = collector.data.users ?? [];
  for (let run = 0; run < warmup + sampleCount; run++) {
    const id = ((run * 7919) % componentCount) * step;
    const delta: DeltaMessage = {
      type: 'delta',
      root: 'users',
      epoch: 'e',
      version: ++version,
      timestamp: Date.now(),
      ops: [['set', id, 'n', run + 1]],
    };
    const before = renders;
    const t0 = performance.now();
    flushSync(() => send(delta));
    const t1 = performance.now();

    const t2 = performance.now();
    base = produce(base, (draft) => {
      const at = base.findIndex((doc) => doc._id === id);
      const doc = draft[at];
      if (doc !== undefined) doc.n = run + 1;
    });
    const t3 = performance.now();

    if (run >= warmup) {
      particle.push(t1 - t0);
      immer.push(t3 - t2);
      woken += renders - before;
    }
  }

  flushSync(() => root.unmount());
  collector.disconnect();
  await window.happyDOM.close();
  if (lent) {
    delete globals.window;
    delete globals.document;
  }

  const particleToCommit = timing(particle);
  const immerProduce = timing(immer);
  return {
    docs: docCount,
    components: componentCount,
    samples: sampleCount,
    particleToCommit,
    immerProduce,
    ratio: particleToCommit.medianMs / immerProduce.medianMs,
    componentsWokenPerSet: woken / sampleCount,
  };
}
