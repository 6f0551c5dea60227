/**
 * A P12 writer process: `scopeWriter.ts <target JSON> <increments> <in flight>`. Opens the
 * scope, answers `ready`, and on `go` runs its increments, `in flight` at a time, until they
 * are done or the deadline passes; then it reports how each ended (one not started, or still
 * running when the writer stops, counts as `timeout`; a running one is abandoned: the process
 * exits). Driven over IPC by bench/scenarios/scopes.ts.
 */
import { openCounter, type IncrementOutcome, type ScopeTarget } from './scopeStores.js';
import { wallMs } from './stats.js';

export interface WriterGo {
  cmd: 'go';
  /** Wall-clock ms at which the writer stops (the seed also stops retrying then). */
  deadline: number;
}

export type WriterReply =
  | { ev: 'ready' }
  | { ev: 'done'; outcomes: Record<IncrementOutcome, number>; attempts: number }
  | { ev: 'error'; message: string };

const [targetJson, countText, inFlightText] = process.argv.slice(2);
const target = JSON.parse(targetJson ?? '{}') as ScopeTarget;
const count = Number(countText);
const inFlight = Number(inFlightText);

function reply(message: WriterReply): Promise<void> {
  return new Promise((resolve) => process.send?.(message, () => resolve()));
}

async function run(deadline: number): Promise<void> {
  const counter = await opened;
  const outcomes: Record<IncrementOutcome, number> = {
    committed: 0,
    contended: 0,
    timeout: 0,
    hung: 0,
  };
  let started = 0;
  const lane = async () => {
    while (started < count && wallMs() < deadline) {
      started++;
      outcomes[await counter.increment(deadline)]++;
    }
  };
  const lanes = Promise.all(Array.from({ length: Math.min(inFlight, count) }, lane));
  // The seed stops by itself at the deadline (it checks before each retry), so only a call
  // stuck past it is abandoned; Particle's `scoped` has no deadline, so it is cut off there.
  const cutoff = target.system === 'seed' ? deadline + 5000 : deadline;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const finished = await Promise.race([
    lanes.then(() => true),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), cutoff - wallMs()))),
  ]);
  clearTimeout(timer);
  const settled = Object.values(outcomes).reduce((n, v) => n + v, 0);
  // Snapshot now: an abandoned call must not change the report while it is being sent.
  const report = { ...outcomes, timeout: outcomes.timeout + count - settled };
  await reply({ ev: 'done', outcomes: report, attempts: counter.attempts() });
  if (!finished) process.exit(0);
  await counter.close();
}

const opened = openCounter(target);
process.once('message', (message: WriterGo) => {
  run(message.deadline).then(
    () => process.disconnect?.(),
    async (error: unknown) => {
      await reply({
        ev: 'error',
        message: error instanceof Error ? String(error.stack) : String(error),
      });
      process.exit(1);
    },
  );
});
opened.then(
  () => reply({ ev: 'ready' }),
  async (error: unknown) => {
    await reply({ ev: 'error', message: String(error) });
    process.exit(1);
  },
);
