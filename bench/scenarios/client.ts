/**
 * P4: one `set` into a 10k-document root through the Collector (validation, apply, snapshot,
 * notify), beside a bare Immer `produce` of the same change on the same frozen array.
 */
import { freeze, produce } from 'immer';
import { scriptedCollector } from '../lib/scriptedCollector.js';
import type { DeltaMessage, Doc } from '../../src/protocol/index.js';
import { median, percentile } from '../lib/stats.js';
import type { Figures } from './fanout.js';

export interface P4Params {
  docs: number;
  samples: number;
}

export async function p4(params: P4Params): Promise<Figures> {
  const docs: Doc[] = Array.from({ length: params.docs }, (_, i) => ({
    _id: i,
    name: `user ${i}`,
    email: `user${i}@example.com`,
    n: 0,
  }));
  const { collector, send } = scriptedCollector(docs);
  await collector.ready();

  let notified = 0;
  let events = 0;
  collector.subscribe(() => notified++);
  collector.on('users.n', () => events++);

  const particle: number[] = [];
  const immer: number[] = [];
  const warmup = Math.ceil(params.samples / 5);
  let base = freeze(
    docs.map((d) => ({ ...d })),
    true,
  );
  for (let run = 0; run < warmup + params.samples; run++) {
    const id = (run * 7919) % params.docs;
    const delta: DeltaMessage = {
      type: 'delta',
      root: 'users',
      epoch: 'e',
      version: run + 1,
      timestamp: new Date().toISOString(),
      ops: [{ operation: 'set', id, path: 'n', data: run + 1 }],
    };
    const before = events;
    const t0 = performance.now();
    send(delta);
    const t1 = performance.now();
    if (events !== before + 1) throw new Error('the listener was not called synchronously');

    // The same change with the document's position already known: the strictest baseline.
    const t2 = performance.now();
    base = produce(base, (draft) => {
      (draft[id] as Doc).n = run + 1;
    });
    const t3 = performance.now();
    if (run >= warmup) {
      particle.push(t1 - t0);
      immer.push(t3 - t2);
    }
  }
  const check = collector.data.users?.[params.docs - 1];
  collector.disconnect();
  if (!check) throw new Error('the collector lost its data');
  return {
    collectorMedianUs: median(particle) * 1000,
    collectorP95Us: percentile(particle, 95) * 1000,
    immerMedianUs: median(immer) * 1000,
    immerP95Us: percentile(immer, 95) * 1000,
    notices: notified,
  };
}

/** The React path, measured by ../react-apply.ts when that module is present. */
export async function p4react(params: {
  docs: number;
  components: number;
  samples: number;
}): Promise<Figures> {
  const path = '../react-apply.js';
  const mod = (await import(path)) as {
    benchReactApply(options: typeof params): Promise<{
      particleToCommit: { medianMs: number };
      immerProduce: { medianMs: number };
      componentsWokenPerSet: number;
    }>;
  };
  const r = await mod.benchReactApply(params);
  return {
    reactMedianUs: r.particleToCommit.medianMs * 1000,
    immerFindMedianUs: r.immerProduce.medianMs * 1000,
    componentsWokenPerSet: r.componentsWokenPerSet,
  };
}
