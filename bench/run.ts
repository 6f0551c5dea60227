/**
 * `npm run bench [-- --quick] [-- --only P1,P3]`: runs every scenario, each measurement in a
 * fresh process, prints a table (Particle beside its baseline from the same run) and writes
 * bench/results.json with the raw figures and the machine.
 */
import { fork } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { SERVICE_NAMES } from './lib/services.js';
import { machine, median } from './lib/stats.js';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyAt = args.indexOf('--only');
const only = onlyAt >= 0 ? new Set((args[onlyAt + 1] ?? '').toUpperCase().split(',')) : null;
const runs = quick ? 1 : 3;
const jobScript = fileURLToPath(new URL('./lib/job.ts', import.meta.url));
const hasReactBench = existsSync(fileURLToPath(new URL('./react-apply.ts', import.meta.url)));

type Figures = Record<string, number>;

/** Runs one job in a fresh process and returns its figures. */
function runJob(name: string, params: unknown, env: Record<string, string> = {}): Promise<Figures> {
  return new Promise((resolve, reject) => {
    const child = fork(jobScript, [name, JSON.stringify(params)], {
      execArgv: [
        '--import',
        'tsx',
        '--expose-gc',
        '--max-old-space-size=4096',
        // JOB_CPU_PROF=<dir>: each job process (a server and its writer) writes a CPU profile.
        ...(process.env.JOB_CPU_PROF
          ? ['--cpu-prof', `--cpu-prof-dir=${process.env.JOB_CPU_PROF}/${name}`]
          : []),
      ],
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: { ok: boolean; figures?: Figures; error?: string } | undefined;
    child.on('message', (m: typeof result) => (result = m));
    child.on('exit', (code) => {
      if (result?.ok && result.figures) resolve(result.figures);
      else reject(new Error(`${name} failed (exit ${code}): ${result?.error ?? 'no result'}`));
    });
  });
}

/** One measured configuration: its job, parameters, and every run's figures. */
interface Measure {
  key: string;
  job: string;
  params: unknown;
  env?: Record<string, string>;
  figures: Figures[];
}

interface Row {
  scenario: string;
  particle: number;
  baseline: number;
  unit: string;
  ratio: number;
  goal: string;
  met: boolean | null;
  note?: string;
  /** Other systems' figures beside Particle's, by column (already formatted). */
  peers?: Record<string, string>;
}

const measures = new Map<string, Measure>();
/** A scenario: its measures, its rows, and (when not the default) its runs per figure. */
const plan: { id: string; keys: string[]; rows: () => Row[]; runs?: number }[] = [];

function measure(key: string, job: string, params: unknown, env?: Record<string, string>): Measure {
  const m: Measure = { key, job, params, figures: [], ...(env ? { env } : {}) };
  measures.set(key, m);
  return m;
}

/** The median over runs of one figure of one measure. */
function fig(key: string, name: string): number {
  return median((measures.get(key)?.figures ?? []).map((f) => f[name] ?? Number.NaN));
}

/** The largest over runs of one figure of one measure (for a count that must stay 0). */
function worst(key: string, name: string): number {
  const values = (measures.get(key)?.figures ?? []).map((f) => f[name] ?? Number.NaN);
  return values.length > 0 ? Math.max(...values) : Number.NaN;
}

function ratioRow(
  scenario: string,
  particle: number,
  baseline: number,
  unit: string,
  goal: string,
  test: ((ratio: number) => boolean) | null,
  note?: string,
): Row {
  const ratio = particle / baseline;
  return {
    scenario,
    particle,
    baseline,
    unit,
    ratio,
    goal,
    met: test && Number.isFinite(ratio) ? test(ratio) : null,
    ...(note ? { note } : {}),
  };
}

// ---- the plan ----------------------------------------------------------------------------

const p1Sizes = quick ? [500] : [1000, 5000];
for (const clients of p1Sizes) {
  const common = {
    clients,
    procs: 4,
    warmupMs: quick ? 500 : 1000,
    measureMs: quick ? 1500 : 3000,
    latencyRate: Math.max(1, Math.round(10_000 / clients)),
    latencyMs: quick ? 1500 : 3000,
  };
  const p = measure(`p1-${clients}-particle`, 'p1', { ...common, system: 'particle' });
  const r = measure(`p1-${clients}-raw`, 'p1', { ...common, system: 'raw' });
  plan.push({
    id: 'P1',
    keys: [p.key, r.key],
    rows: () => [
      ratioRow(
        `P1 shared group, ${clients} clients: delivered msgs/s`,
        fig(p.key, 'msgsPerSec'),
        fig(r.key, 'msgsPerSec'),
        'msgs/s',
        '>= 0.8x',
        (x) => x >= 0.8,
      ),
      ratioRow(
        `P1 ${clients} clients: write-to-client p50 at ${common.latencyRate * clients} msgs/s`,
        fig(p.key, 'p50Ms'),
        fig(r.key, 'p50Ms'),
        'ms',
        'info',
        null,
      ),
      ratioRow(
        `P1 ${clients} clients: write-to-client p99 at ${common.latencyRate * clients} msgs/s`,
        fig(p.key, 'p99Ms'),
        fig(r.key, 'p99Ms'),
        'ms',
        'info',
        null,
      ),
    ],
  });
}

{
  const common = {
    clients: quick ? 500 : 2000,
    accounts: quick ? 10 : 20,
    procs: 4,
    warmupMs: quick ? 500 : 1000,
    measureMs: quick ? 1500 : 3000,
  };
  const p = measure('p2-particle', 'p2', { ...common, system: 'particle' });
  const r = measure('p2-raw', 'p2', { ...common, system: 'raw' });
  plan.push({
    id: 'P2',
    keys: [p.key, r.key],
    rows: () => {
      const row = ratioRow(
        `P2 permissioned, ${common.clients} clients (${common.clients + common.accounts} groups): delivered msgs/s`,
        fig(p.key, 'msgsPerSec'),
        fig(r.key, 'msgsPerSec'),
        'msgs/s',
        '>= 0.5x and > 4k/s',
        null,
      );
      row.met = row.ratio >= 0.5 && row.particle > 4000;
      return [row];
    },
  });
}

{
  const changes = quick ? 5000 : 20_000;
  const keys = [10, 1000, 10_000].map(
    (groups) => measure(`p3-${groups}`, 'p3', { groups, docs: 10_000, changes }).key,
  );
  plan.push({
    id: 'P3',
    keys,
    rows: () => [
      ratioRow(
        'P3 CPU per change, 1k groups (baseline: 10 groups)',
        fig('p3-1000', 'cpuUsPerChange'),
        fig('p3-10', 'cpuUsPerChange'),
        'µs',
        'info',
        null,
      ),
      ratioRow(
        'P3 CPU per change, 10k groups (baseline: 10 groups)',
        fig('p3-10000', 'cpuUsPerChange'),
        fig('p3-10', 'cpuUsPerChange'),
        'µs',
        '<= 2x',
        (x) => x <= 2,
      ),
    ],
  });
}

{
  const p = measure('p4', 'p4', { docs: 10_000, samples: quick ? 300 : 1000 });
  const keys = [p.key];
  // CPU per applied delta frame at two root sizes, with a listener and a notice listener.
  const deltaSizes = [1_000, 100_000];
  for (const docs of deltaSizes) {
    const params = { docs, batch: 200, batches: quick ? 50 : 200, listening: true };
    keys.push(measure(`p4-delta-${docs}`, 'p4', params).key);
  }
  if (hasReactBench) {
    keys.push(
      measure(
        'p4-react',
        'p4react',
        { docs: 10_000, components: 1000, samples: quick ? 100 : 300 },
        { NODE_ENV: 'production' },
      ).key,
    );
  }
  plan.push({
    id: 'P4',
    keys,
    rows: () => [
      ratioRow(
        'P4 one set into 10k docs: Collector apply + notify (baseline: bare Immer produce)',
        fig('p4', 'collectorMedianUs'),
        fig('p4', 'immerMedianUs'),
        'µs',
        '<= 1.5x',
        (x) => x <= 1.5,
      ),
      ...deltaSizes.map((docs) =>
        ratioRow(
          `P4 Collector CPU per applied delta, ${docs / 1000}k docs (baseline: JSON.parse + handler on a plain Map)`,
          fig(`p4-delta-${docs}`, 'collectorDeltaUs'),
          fig(`p4-delta-${docs}`, 'bareDeltaUs'),
          'µs',
          '<= 1.5x',
          (x) => x <= 1.5,
        ),
      ),
      ratioRow(
        'P4 Collector CPU per applied delta, 100k docs (baseline: the same at 1k docs)',
        fig('p4-delta-100000', 'collectorDeltaUs'),
        fig('p4-delta-1000', 'collectorDeltaUs'),
        'µs',
        '<= 1.25x',
        (x) => x <= 1.25,
      ),
      ...(hasReactBench
        ? [
            ratioRow(
              'P4 one set into 10k docs: delta to React commit, 1k components (baseline: produce + findIndex)',
              fig('p4-react', 'reactMedianUs'),
              fig('p4-react', 'immerFindMedianUs'),
              'µs',
              '<= 1.5x',
              (x: number) => x <= 1.5,
              `components woken per set: ${fig('p4-react', 'componentsWokenPerSet')}`,
            ),
          ]
        : []),
    ],
  });
}

{
  const docs = quick ? 20_000 : 100_000;
  const p = measure('p5-particle', 'p5', { system: 'particle', docs });
  const r = measure('p5-raw', 'p5', { system: 'raw', docs });
  plan.push({
    id: 'P5',
    keys: [p.key, r.key],
    rows: () => [
      ratioRow(
        `P5 ${docs / 1000}k docs to ready, first client (cold group)`,
        fig(p.key, 'coldMs'),
        fig(r.key, 'coldMs'),
        'ms',
        '<= 1.5x',
        (x) => x <= 1.5,
      ),
      ratioRow(
        `P5 ${docs / 1000}k docs to ready, second client (cached payload)`,
        fig(p.key, 'warmMs'),
        fig(r.key, 'warmMs'),
        'ms',
        'info',
        null,
      ),
    ],
  });
}

{
  const common = { clients: quick ? 500 : 3000, docs: 1000, procs: 2 };
  const p = measure('p6-particle', 'p6', { ...common, system: 'particle' });
  const r = measure('p6-raw', 'p6', { ...common, system: 'raw' });
  plan.push({
    id: 'P6',
    keys: [p.key, r.key],
    rows: () => {
      const row = ratioRow(
        `P6 server RSS per idle client, ${common.clients} clients, one group of ${common.docs} docs`,
        fig(p.key, 'rssPerClient') / 1024,
        fig(r.key, 'rssPerClient') / 1024,
        'KiB',
        '<= raw + 2 KiB',
        null,
      );
      row.met = row.particle <= row.baseline + 2;
      const heap = ratioRow(
        'P6 server JS heap per idle client',
        fig(p.key, 'heapPerClient') / 1024,
        fig(r.key, 'heapPerClient') / 1024,
        'KiB',
        'no doc copies',
        null,
      );
      // A per-client copy of the root would cost about its JSON size per client.
      heap.met = heap.particle * 1024 < fig(p.key, 'rootBytes') / 10;
      return [row, heap];
    },
  });
}

{
  const common = {
    clients: quick ? 50 : 200,
    blobBytes: 32 * 1024,
    rate: 50,
    durationMs: quick ? 6000 : 12_000,
    maxBufferedBytes: 1024 * 1024,
  };
  const p = measure('p7-particle', 'p7', { ...common, system: 'particle' });
  const r = measure('p7-raw', 'p7', { ...common, system: 'raw' });
  const boundMiB = (common.clients * common.maxBufferedBytes) / 2 ** 20;
  plan.push({
    id: 'P7',
    keys: [p.key, r.key],
    rows: () => {
      const row = ratioRow(
        `P7 ${common.clients} non-reading clients, ${common.rate} writes/s of 32 KiB: peak server RSS growth`,
        fig(p.key, 'peakGrowthMiB'),
        fig(r.key, 'peakGrowthMiB'),
        'MiB',
        `<= ${boundMiB} + 64 MiB`,
        null,
        `raw: the kernel's socket buffers (tcp_mem) hold most of it; Particle dropped slow sockets after ${fig(p.key, 'perSocketMiBAtFirstDrop').toFixed(1)} MiB each`,
      );
      row.met = row.particle <= boundMiB + 64 && fig(p.key, 'readerDeliveredShare') === 1;
      return [row];
    },
  });
}

{
  const p = measure('p8', 'p8', {
    docs: quick ? 5000 : 20_000,
    writes: quick ? 20_000 : 100_000,
    inIds: quick ? 5_000 : 10_000,
  });
  const ix = measure('p8-index', 'p8', {
    updateDocs: 100_000,
    writes: quick ? 20_000 : 100_000,
    scanWrites: quick ? 20 : 50,
    findDocs: 1_000_000,
    perValue: 20,
    finds: quick ? 5000 : 20_000,
    scanFinds: quick ? 2 : 5,
  });
  plan.push({
    id: 'P8',
    keys: [p.key, ix.key],
    rows: () => {
      const inc = ratioRow(
        'P8 MemoryAdapter.update by _id, one $inc (baseline: mingo update())',
        fig(p.key, 'incUs'),
        fig(p.key, 'mingoIncUs'),
        'µs',
        '<= 5 µs (200k/s)',
        null,
      );
      inc.met = inc.particle <= 5;
      const kb = Math.round(fig(p.key, 'inListBytes') / 1024);
      const eq = ratioRow(
        'P8 MemoryAdapter.update by an indexed equality filter ({ ownerId }), one $inc, 100k documents (baseline: the same filter scanning)',
        fig(ix.key, 'eqUpdateUs'),
        fig(ix.key, 'eqScanUs'),
        'µs',
        '<= 20 µs (50k/s)',
        null,
        `the first such filter indexed ownerId in ${fig(ix.key, 'eqFirstMs').toFixed(0)} ms`,
      );
      eq.met = eq.particle <= 20;
      return [
        inc,
        eq,
        ratioRow(
          `P8 find of 20 by an indexed field on ${fig(ix.key, 'findDocs') / 1e6}M documents (baseline: the same find scanning)`,
          fig(ix.key, 'findUs'),
          fig(ix.key, 'findScanUs'),
          'µs',
          'info',
          null,
        ),
        ratioRow(
          'P8 MemoryAdapter.update by _id, two $set + $push with $each/$slice (baseline: mingo)',
          fig(p.key, 'mixedUs'),
          fig(p.key, 'mingoMixedUs'),
          'µs',
          'info',
          null,
        ),
        ratioRow(
          `P8 find with a ${kb} KB $in identity list (baseline: mingo Query)`,
          fig(p.key, 'inMs'),
          fig(p.key, 'mingoInMs'),
          'ms',
          'info',
          null,
        ),
      ];
    },
  });
}

{
  const clients = quick ? 500 : 1000;
  const common = {
    clients,
    procs: 2,
    senders: clients / 10,
    rate: quick ? 100 : 200,
    sharedRate: Math.max(1, Math.round(20_000 / clients)),
    warmupMs: quick ? 500 : 1000,
    measureMs: quick ? 2000 : 6000,
    targets: ['own', 'unwatched', 'shared'],
  };
  const p = measure('p9-particle', 'p9', { ...common, system: 'particle' });
  const r = measure('p9-raw', 'p9', { ...common, system: 'raw' });
  const who = `${clients} clients, ${common.senders} sending ${common.rate}/s`;
  const counts = (target: string): string =>
    `${fig(p.key, `${target}Samples`)} / ${fig(r.key, `${target}Samples`)} round trips sampled, ` +
    `${fig(p.key, `${target}Lost`)} / ${fig(r.key, `${target}Lost`)} unanswered, ` +
    `${Math.round(fig(p.key, `${target}InBatchShare`) * 100)}% / ${Math.round(fig(r.key, `${target}InBatchShare`) * 100)}% answered inside a batch (Particle / raw)`;
  plan.push({
    id: 'P9',
    keys: [p.key, r.key],
    rows: () => [
      ratioRow(
        `P9 mutation round trip, ${who}, own doc (one delta, to the caller): p50`,
        fig(p.key, 'ownP50Ms'),
        fig(r.key, 'ownP50Ms'),
        'ms',
        'info',
        null,
      ),
      ratioRow(
        `P9 mutation round trip, ${who}, own doc (one delta, to the caller): p99`,
        fig(p.key, 'ownP99Ms'),
        fig(r.key, 'ownP99Ms'),
        'ms',
        '<= 2x',
        (x) => x <= 2,
        counts('own'),
      ),
      ratioRow(
        `P9 mutation round trip, ${who}, unwatched collection (no delta): p50`,
        fig(p.key, 'unwatchedP50Ms'),
        fig(r.key, 'unwatchedP50Ms'),
        'ms',
        'info',
        null,
      ),
      ratioRow(
        `P9 mutation round trip, ${who}, unwatched collection (no delta): p99`,
        fig(p.key, 'unwatchedP99Ms'),
        fig(r.key, 'unwatchedP99Ms'),
        'ms',
        'info',
        null,
        counts('unwatched'),
      ),
      ratioRow(
        `P9 mutation round trip, ${clients} clients, ${common.sharedRate}/s to the shared doc (delta to every client): p50`,
        fig(p.key, 'sharedP50Ms'),
        fig(r.key, 'sharedP50Ms'),
        'ms',
        'info',
        null,
      ),
      ratioRow(
        `P9 mutation round trip, ${clients} clients, ${common.sharedRate}/s to the shared doc (delta to every client): p99`,
        fig(p.key, 'sharedP99Ms'),
        fig(r.key, 'sharedP99Ms'),
        'ms',
        'info',
        null,
        `${(common.sharedRate * clients).toLocaleString('en-US')} deltas/s delivered; ${counts('shared')}`,
      ),
    ],
  });
}

{
  const p = measure(
    'p10',
    'p10',
    { docs: 10_000, components: 1000, samples: quick ? 100 : 300 },
    { NODE_ENV: 'production' },
  );
  plan.push({
    id: 'P10',
    keys: [p.key],
    rows: () => [
      ratioRow(
        'P10 one optimistic mutation into 10k docs: mutate to React commit, 1k components (baseline: produce + findIndex)',
        fig(p.key, 'optimisticMedianUs'),
        fig(p.key, 'immerFindMedianUs'),
        'µs',
        '<= 1.5x',
        (x) => x <= 1.5,
        `components woken per mutation: ${fig(p.key, 'componentsWokenPerMutation')}`,
      ),
      ratioRow(
        'P10 the same, the recipe finding the document with docs.find on the draft',
        fig(p.key, 'draftFindMedianUs'),
        fig(p.key, 'immerFindMedianUs'),
        'µs',
        'info',
        null,
      ),
      ratioRow(
        "P10 the server's answer (delta + mutated in one batch) to React commit",
        fig(p.key, 'confirmMedianUs'),
        fig(p.key, 'immerFindMedianUs'),
        'µs',
        'info',
        null,
        `components woken per answer: ${fig(p.key, 'componentsWokenPerConfirm')}`,
      ),
    ],
  });
}

{
  const common = {
    objects: 100,
    consumers: 1000,
    procs: 2,
    objectBytes: 10_000,
    rate: 100,
    durationMs: quick ? 2000 : 5000,
    debounceMs: 10,
  };
  const p = measure('p11-particle', 'p11', { ...common, system: 'particle' });
  const r = measure('p11-raw', 'p11', { ...common, system: 'raw' });
  const who =
    `${common.objects} produced objects of ${common.objectBytes / 1000} kB, ` +
    `${common.consumers} consumers, ${common.rate} bumps/s of one field`;
  // Stale marks within debounceMs give one production: at most one per debounceMs per object.
  const bound = common.durationMs / common.debounceMs;
  plan.push({
    id: 'P11',
    keys: [p.key, r.key],
    rows: () => {
      const productions = ratioRow(
        `P11 ${who}: productions per bump (baseline: Seapig, every object on every bump)`,
        fig(p.key, 'productionsPerBump'),
        fig(r.key, 'productionsPerBump'),
        'productions',
        `<= 1 per object per ${common.debounceMs} ms`,
        null,
        `${fig(p.key, 'productionsPerObject').toFixed(0)} productions per object in ` +
          `${common.durationMs / 1000} s (bound ${bound}), ${fig(p.key, 'initialProductions')} / ` +
          `${fig(r.key, 'initialProductions')} first productions for ${common.consumers} subscribers; ` +
          `bumps sustained ${fig(p.key, 'bumpsPerSec').toFixed(0)} / ${fig(r.key, 'bumpsPerSec').toFixed(0)} per s (Particle / baseline)`,
      );
      productions.met = worst(p.key, 'productionsPerObject') <= bound;
      const wrong = ratioRow(
        `P11 consumers whose last ticks is not the final value (worst run)`,
        worst(p.key, 'wrong'),
        worst(r.key, 'wrong'),
        'consumers',
        '0',
        null,
        `${worst(p.key, 'closed')} / ${worst(r.key, 'closed')} sockets closed (Particle / baseline)`,
      );
      wrong.met = wrong.particle === 0;
      return [
        productions,
        ratioRow(
          `P11 bytes sent per bump, server to all ${common.consumers} consumers`,
          fig(p.key, 'bytesPerBump') / 1024,
          fig(r.key, 'bytesPerBump') / 1024,
          'KiB',
          'info',
          null,
          `${fig(p.key, 'framesPerBump').toFixed(0)} / ${fig(r.key, 'framesPerBump').toFixed(0)} frames per bump ` +
            `(Particle: set ops per production; baseline: one JSON Patch frame per consumer)`,
        ),
        ratioRow(
          `P11 server CPU per bump (baseline: re-produce all, fast-json-patch compare per consumer)`,
          fig(p.key, 'cpuUsPerBump'),
          fig(r.key, 'cpuUsPerBump'),
          'µs',
          '>= 5x less',
          (x) => x <= 0.2,
        ),
        ratioRow(
          `P11 server CPU per production of one object, sent to its ${common.consumers / common.objects} consumers`,
          fig(p.key, 'cpuUsPerProduction'),
          fig(r.key, 'cpuUsPerProduction'),
          'µs',
          'info',
          null,
          'Particle diffs once per production and serializes the ops once; the baseline diffs per consumer',
        ),
        wrong,
      ];
    },
  });
}

{
  const writers = 8;
  const each = quick ? 50 : 500;
  // Each writer fires all its increments at once, as the storage test's writers do.
  const common = { writers, each, inFlight: each };
  const budgets = { particle: quick ? 20_000 : 60_000, seed: quick ? 5000 : 20_000 };
  const stores = [
    ['redis', 'Redis'],
    ['mysql', 'MariaDB'],
    ['file', 'file'],
  ] as const;
  const keys = stores.flatMap(([kind]) =>
    (['particle', 'seed'] as const).map(
      (system) =>
        measure(`p12-${kind}-${system}`, 'p12', {
          ...common,
          kind,
          system,
          budgetMs: budgets[system],
        }).key,
    ),
  );
  plan.push({
    id: 'P12',
    // One run per figure: the seed's jobs run to their budget, three runs would take minutes.
    runs: 1,
    keys,
    rows: () =>
      stores.flatMap(([kind, label]): Row[] => {
        const p = `p12-${kind}-particle`;
        const s = `p12-${kind}-seed`;
        const who = `P12 ${label}, ${writers} writer processes x ${each} increments fired at once, one scope`;
        if (fig(p, 'skipped') === 1 || fig(s, 'skipped') === 1) {
          const service = SERVICE_NAMES[kind as keyof typeof SERVICE_NAMES];
          return [
            {
              scenario: who,
              particle: Number.NaN,
              baseline: Number.NaN,
              unit: 'commits/s',
              ratio: Number.NaN,
              goal: '0 lost, >= 10x commits/s',
              met: null,
              note: `skipped: ${service} is unreachable (the job's warning gives the error)`,
            },
          ];
        }
        const count = ratioRow(
          `${who}: final count (expected ${writers * each}; baseline: the seed's algorithm)`,
          fig(p, 'final'),
          fig(s, 'final'),
          'increments',
          '0 lost',
          null,
          `baseline: ${fig(s, 'lost')} acknowledged increments lost (${fig(s, 'acknowledged')} ` +
            `acknowledged, ${fig(s, 'final')} stored${fig(s, 'unreadable') === 1 ? ', the file left unparseable' : ''}), ` +
            `${fig(s, 'timeouts')} unfinished at its ${budgets.seed / 1000} s budget, ${fig(s, 'hung')} hung ` +
            `(an error the seed only logs: its promise never settles); Particle: ` +
            `${fig(p, 'attemptsPerCommit').toFixed(1)} commit attempts per commit, ` +
            `${fig(p, 'contended')} scope_contended, ${fig(p, 'timeouts')} unfinished at ${budgets.particle / 1000} s`,
        );
        count.met = worst(p, 'lost') <= 0 && worst(p, 'missing') === 0;
        return [
          count,
          ratioRow(
            `${who}: increments stored per second`,
            fig(p, 'commitsPerSec'),
            fig(s, 'commitsPerSec'),
            'commits/s',
            '>= 10x',
            (x) => x >= 10,
            `over ${fig(p, 'seconds').toFixed(1)} / ${fig(s, 'seconds').toFixed(1)} s (Particle / baseline); ` +
              `the baseline acknowledged ${fig(s, 'acknowledgedPerSec').toFixed(0)} increments/s, the lost ones included`,
          ),
        ];
      }),
  });
}

{
  const ready = { docs: 100_000, rooms: 100, limit: 50, samples: quick ? 60 : 200, warmup: 20 };
  const pr = measure('p13-ready-particle', 'p13ready', { ...ready, system: 'particle' });
  const rr = measure('p13-ready-raw', 'p13ready', { ...ready, system: 'raw' });
  const churn = {
    windows: 100,
    perWindow: 10,
    procs: 2,
    rate: 1000,
    warmupMs: 300,
    measureMs: quick ? 1000 : 2000,
    maxPending: 50,
  };
  const small = 10_000;
  const large = quick ? 100_000 : 1_000_000;
  const cs = measure('p13-churn-small', 'p13churn', { ...churn, docs: small });
  const cl = measure('p13-churn-large', 'p13churn', { ...churn, docs: large });
  const memory = { docsPerRoom: 55, subscriptions: quick ? 300 : 1000, procs: 2, warm: 50 };
  const m = measure('p13-memory', 'p13memory', memory);
  const docs = (n: number): string => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1000}k`);
  const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;
  const window = `50-doc window of ${docs(ready.docs)} docs in ${ready.rooms} rooms`;
  plan.push({
    id: 'P13',
    keys: [pr.key, rr.key, cs.key, cl.key, m.key],
    rows: () => [
      ratioRow(
        `P13 subscribe to payload, ${window}, cold (its group loads): p50 (baseline: find + sort + limit, send, parse)`,
        fig(pr.key, 'coldP50Ms'),
        fig(rr.key, 'coldP50Ms'),
        'ms',
        '<= 1.5x',
        (x) => x <= 1.5,
        `p90 ${fig(pr.key, 'coldP90Ms').toFixed(1)} / ${fig(rr.key, 'coldP90Ms').toFixed(1)} ms ` +
          `(Particle / baseline); the window's JSON is ${kib(fig(pr.key, 'windowBytes'))}`,
      ),
      ratioRow(
        `P13 subscribe to payload, ${window}, warm (another subscription holds the room): p50`,
        fig(pr.key, 'warmP50Ms'),
        fig(rr.key, 'warmP50Ms'),
        'ms',
        'info',
        null,
        'Particle joins the open group and sends its cached payload; the baseline queries again',
      ),
      ratioRow(
        `P13 server CPU per head insert, ${churn.windows} windows x ${churn.perWindow} subscribers, ` +
          `${churn.rate}/s offered: ${docs(large)} docs (baseline: ${docs(small)} docs)`,
        fig(cl.key, 'cpuUsPerChange'),
        fig(cs.key, 'cpuUsPerChange'),
        'µs',
        '<= 2x',
        (x) => x <= 2,
        `inserts sustained ${fig(cl.key, 'sustainedPerSec').toFixed(0)} / ` +
          `${fig(cs.key, 'sustainedPerSec').toFixed(0)} per s (${docs(large)} / ${docs(small)} docs), ` +
          `${fig(cl.key, 'inserts')} / ${fig(cs.key, 'inserts')} measured; each is one delta to ` +
          `${fig(cl.key, 'deliveredPerChange')} subscribers`,
      ),
      ratioRow(
        `P13 server heap per open window subscription, ${memory.subscriptions} windows on distinct params ` +
          '(baseline: per registered socket without one)',
        fig(m.key, 'heapPerWindow') / 1024,
        fig(m.key, 'heapPerSocket') / 1024,
        'KiB',
        'report',
        null,
        `RSS ${kib(fig(m.key, 'rssPerWindow'))} per window, ${kib(fig(m.key, 'rssPerSocket'))} per socket; ` +
          `a window's JSON is ${kib(fig(m.key, 'windowBytes'))}`,
      ),
      ratioRow(
        'P13 server heap per subscription joining an open window (baseline: per registered socket)',
        fig(m.key, 'heapPerJoin') / 1024,
        fig(m.key, 'heapPerSocket') / 1024,
        'KiB',
        'info',
        null,
      ),
    ],
  });
}

{
  // S1/S2: Particle beside raw ws and the systems people pick instead, each checked for loss.
  const clients = quick ? 200 : 1000;
  const common = {
    clients,
    procs: 4,
    docs: 10,
    warmupMs: quick ? 500 : 1000,
    measureMs: quick ? 1500 : 3000,
    writesPerTick: 8,
  };
  const peers = [
    ['sharedb', 'ShareDB 5'],
    ['feathers', 'Feathers 5'],
    ['socketio', 'Socket.IO 4'],
  ] as const;
  const scenarios = [
    ['S1', 's1', 8 * clients],
    ['S2', 's2', 2 * clients],
  ] as const;
  for (const [id, job, windowMsgs] of scenarios) {
    const key = (system: string): string => `${job}-${system}`;
    const systems = ['particle', 'raw', ...peers.map(([system]) => system)];
    for (const system of systems) measure(key(system), job, { ...common, system, windowMsgs });
    /** Why a system has no figures (it lost, repeated or refused updates), or null. */
    const fault = (system: string): string | null => {
      const k = key(system);
      const parts = [
        [worst(k, 'dropped'), 'dropped'],
        [worst(k, 'duplicated'), 'duplicated'],
        [worst(k, 'wrongClients'), 'clients with wrong data:'],
        [worst(k, 'writeErrors'), 'write errors:'],
      ] as const;
      const found = parts.filter(([n]) => n > 0).map(([n, what]) => `${what} ${n}`);
      return found.length > 0 ? found.join(', ') : null;
    };
    const value = (system: string, name: string): number =>
      fault(system) ? Number.NaN : fig(key(system), name);
    const peerCells = (name: string, unit: string): Record<string, string> =>
      Object.fromEntries(
        peers.map(([system, label]) => [label, fault(system) ?? format(value(system, name), unit)]),
      );
    const faults = (): string | undefined => {
      const found = systems.flatMap((system) => {
        const why = fault(system);
        return why ? [`${system}: ${why}`] : [];
      });
      return found.length > 0 ? `not timed: ${found.join('; ')}` : undefined;
    };
    /** Particle at `goal` times raw or better, and ahead of every peer that has a figure. */
    const ahead = (row: Row, name: string, goal: number): boolean =>
      row.ratio >= goal && peers.every(([system]) => !(value(system, name) >= row.particle));
    const who = `${clients} clients`;
    plan.push({
      id,
      keys: systems.map(key),
      rows: () => {
        const rate = ratioRow(
          id === 'S1'
            ? `S1 one shared query of ${common.docs} docs, ${who}: updates delivered/s`
            : `S2 each client its own identity-enforced query, ${who}: updates delivered/s`,
          value('particle', 'deliveredPerSec'),
          value('raw', 'deliveredPerSec'),
          'msgs/s',
          id === 'S1' ? '>= 1.0x, ahead of peers' : '>= 0.6x, ahead of peers',
          null,
          faults(),
        );
        rate.met = ahead(rate, 'deliveredPerSec', id === 'S1' ? 1 : 0.6);
        rate.peers = peerCells('deliveredPerSec', 'msgs/s');
        const server = ratioRow(
          `${id} server CPU per delivered update`,
          value('particle', 'serverCpuUsPerUpdate'),
          value('raw', 'serverCpuUsPerUpdate'),
          'µs',
          'info',
          null,
        );
        server.peers = peerCells('serverCpuUsPerUpdate', 'µs');
        if (id === 'S2') return [rate, server];
        const client = ratioRow(
          'S1 client CPU per delivered update (all client processes)',
          value('particle', 'clientCpuUsPerUpdate'),
          value('raw', 'clientCpuUsPerUpdate'),
          'µs',
          'info',
          null,
        );
        client.peers = peerCells('clientCpuUsPerUpdate', 'µs');
        const bytes = ratioRow(
          'S1 bytes received per delivered update (baseline: the raw frame of the same change)',
          value('particle', 'bytesPerUpdate'),
          fig(key('raw'), 'rawFrameBytes'),
          'B',
          '<= 1.5x',
          (x) => x <= 1.5,
          `raw ws received ${format(value('raw', 'bytesPerUpdate'), 'B')} per update (message payloads, as for every system)`,
        );
        bytes.peers = peerCells('bytesPerUpdate', 'B');
        return [rate, server, client, bytes];
      },
    });
  }
}

{
  const common = quick
    ? { step: 1000, maxClients: 2000, heartbeatMs: 2000, idleMs: 4000 }
    : // The users collection holds maxClients users; each new group's first read scans it.
      { step: 5000, maxClients: 40_000, heartbeatMs: 15_000, idleMs: 30_000 };
  const params = { ...common, maxRssBytes: 12 * 2 ** 30, maxMs: quick ? 60_000 : 150_000 };
  const p = measure('p15-particle', 'p15', { ...params, system: 'particle' });
  const r = measure('p15-raw', 'p15', { ...params, system: 'raw' });
  const why = (key: string): string =>
    ['', 'a client was refused', 'the client bound', 'the 12 GiB bound', 'the time bound'][
      fig(key, 'stopped')
    ] ?? 'n/a';
  const sizes = (key: string, name: string): string =>
    Object.keys(measures.get(key)?.figures[0] ?? {})
      .filter((k) => k.startsWith(`${name}@`))
      .map((k) => `${k.slice(name.length + 1)}: ${(fig(key, k) / 1024).toFixed(1)}`)
      .join(', ');
  plan.push({
    id: 'P15',
    // One run per figure: each steps to the process's limit.
    runs: 1,
    keys: [p.key, r.key],
    rows: () => [
      ratioRow(
        `P15 idle registered clients one server process holds, each an identity-enforced root (its team of 20) + a shared one (baseline: raw ws, same answer)`,
        fig(p.key, 'held'),
        fig(r.key, 'held'),
        'clients',
        'report',
        null,
        `stopped by ${why(p.key)} / ${why(r.key)} (Particle / raw) with ${fig(p.key, 'serverSockets')} / ` +
          `${fig(r.key, 'serverSockets')} sockets open against an fd limit of ${fig(p.key, 'fdLimit')} per process; ` +
          `${fig(p.key, 'clientProcs')} client processes over ${fig(p.key, 'sourceAddresses')} source address(es); ` +
          `${fig(p.key, 'lostAfterReady')} / ${fig(r.key, 'lostAfterReady')} dropped after registering`,
      ),
      ratioRow(
        `P15 server RSS per idle client at the largest size (after GC)`,
        fig(p.key, 'rssPerClient') / 1024,
        fig(r.key, 'rssPerClient') / 1024,
        'KiB',
        'report',
        null,
        `KiB by size, Particle: ${sizes(p.key, 'rssPerClient')}; raw: ${sizes(r.key, 'rssPerClient')}`,
      ),
      ratioRow(
        `P15 server JS heap per idle client at the largest size`,
        fig(p.key, 'heapPerClient') / 1024,
        fig(r.key, 'heapPerClient') / 1024,
        'KiB',
        'report',
        null,
        `KiB by size, Particle: ${sizes(p.key, 'heapPerClient')}; raw: ${sizes(r.key, 'heapPerClient')}`,
      ),
      ratioRow(
        `P15 open to answered per client, last step (32 in flight per client process): p50`,
        fig(p.key, 'registerP50Ms'),
        fig(r.key, 'registerP50Ms'),
        'ms',
        'info',
        null,
        `p99 ${fig(p.key, 'registerP99Ms').toFixed(0)} / ${fig(r.key, 'registerP99Ms').toFixed(0)} ms; ` +
          `${fig(p.key, 'registeredPerSec').toFixed(0)} / ${fig(r.key, 'registeredPerSec').toFixed(0)} registered per s (Particle / raw)`,
      ),
      ratioRow(
        `P15 server CPU while idle at the largest size, a heartbeat every ${common.heartbeatMs / 1000} s`,
        fig(p.key, 'idleCpuMsPerSec'),
        fig(r.key, 'idleCpuMsPerSec'),
        'ms/s',
        'report',
        null,
        `${fig(p.key, 'idleCpuUsPerClientPerTick').toFixed(1)} / ${fig(r.key, 'idleCpuUsPerClientPerTick').toFixed(1)} µs ` +
          `per client per heartbeat (Particle: a ping and a heartbeat frame; raw: a ping)`,
      ),
    ],
  });
}

{
  const changes = quick ? 300 : 1000;
  const large = quick ? 5000 : 10_000;
  const s = measure('p14-small', 'p14', { identities: 100, changes });
  const l = measure('p14-large', 'p14', { identities: large, changes });
  plan.push({
    id: 'P14',
    keys: [s.key, l.key],
    rows: () => [
      ratioRow(
        `P14 server CPU per change to a join collection, ${large.toLocaleString('en-US')} identities ` +
          'piping through it (baseline: 100 identities)',
        fig(l.key, 'cpuUsPerChange'),
        fig(s.key, 'cpuUsPerChange'),
        'µs',
        '<= 2x',
        (x) => x <= 2,
        'each change re-resolves one identity and sends it one delta',
      ),
    ],
  });
}

// ---- running -----------------------------------------------------------------------------

function format(value: number, unit: string): string {
  if (!Number.isFinite(value)) return 'n/a';
  if (unit === 'msgs/s') return `${Math.round(value).toLocaleString('en-US')} ${unit}`;
  const digits = Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${unit}`;
}

function table(rows: Row[]): string {
  const peerNames = [...new Set(rows.flatMap((r) => Object.keys(r.peers ?? {})))];
  const head = ['scenario', 'Particle', 'baseline', ...peerNames, 'ratio', 'goal', 'met?'];
  const body = rows.map((r) => [
    r.scenario,
    format(r.particle, r.unit),
    format(r.baseline, r.unit),
    ...peerNames.map((name) => r.peers?.[name] ?? ''),
    Number.isFinite(r.ratio) ? `${r.ratio.toFixed(2)}x` : 'n/a',
    r.goal,
    r.met === null ? '-' : r.met ? 'yes' : 'NO',
  ]);
  const lines = [head, head.map(() => '---'), ...body].map((cells) => `| ${cells.join(' | ')} |`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const selected = plan.filter((s) => !only || only.has(s.id));
  const started = new Date();
  const loadBefore = os.loadavg();
  const t0 = performance.now();
  for (const scenario of selected) {
    const times = scenario.runs ?? runs;
    for (let run = 0; run < times; run++) {
      // Particle and its baseline alternate, so both see the same machine conditions.
      for (const key of scenario.keys) {
        const m = measures.get(key) as Measure;
        process.stderr.write(`${scenario.id} run ${run + 1}/${times}: ${key} ... `);
        const t = performance.now();
        const figures = await runJob(m.job, m.params, m.env);
        m.figures.push(figures);
        process.stderr.write(`${((performance.now() - t) / 1000).toFixed(1)} s\n`);
      }
    }
  }
  const rows = selected.flatMap((s) => s.rows());
  const fewer = selected
    .filter((s) => s.runs !== undefined && s.runs !== runs)
    .map((s) => ` (${s.id}: ${s.runs})`)
    .join('');
  const seconds = (performance.now() - t0) / 1000;
  const description: Record<string, unknown> = {
    ...machine(),
    loadAverageBefore: loadBefore.map((x) => Math.round(x * 100) / 100),
    loadAverageAfter: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
  console.log(table(rows));
  for (const r of rows) if (r.note) console.log(`- ${r.scenario}: ${r.note}`);
  console.log(
    `\n${quick ? 'quick' : 'full'} run, median of ${runs} run(s) per figure${fewer}, ${seconds.toFixed(0)} s; ` +
      `${String(description.cpus)} x ${String(description.cpuModel)}, ${String(description.memoryGiB)} GiB, Node ${process.version}; ` +
      `load average before/after: ${loadBefore[0]?.toFixed(2)} / ${os.loadavg()[0]?.toFixed(2)}`,
  );
  const out = fileURLToPath(new URL('./results.json', import.meta.url));
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        startedAt: started.toISOString(),
        seconds,
        mode: quick ? 'quick' : 'full',
        runsPerFigure: runs,
        machine: description,
        rows,
        measures: [...measures.values()].filter((m) => m.figures.length > 0),
      },
      null,
      2,
    )}\n`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
