/**
 * One measurement in a fresh process (so memory and JIT state do not leak between runs):
 * `job.ts <name> <params JSON>`; the figures go back to the parent over IPC.
 */
import { jobs } from '../scenarios/index.js';

const [name, paramsJson] = process.argv.slice(2);
const job = jobs[name as keyof typeof jobs] as ((params: unknown) => Promise<unknown>) | undefined;

async function main(): Promise<void> {
  if (!job) throw new Error(`unknown job ${String(name)}`);
  const figures = await job(JSON.parse(paramsJson ?? '{}'));
  if (process.send) process.send({ ok: true, figures });
  else console.log(JSON.stringify(figures));
}

main().then(
  () => process.disconnect?.(),
  (error: unknown) => {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    if (process.send) process.send({ ok: false, error: message }, () => process.exit(1));
    else {
      console.error(message);
      process.exit(1);
    }
  },
);
