/**
 * P15's client process: opens bare `ws` sockets that register (`{ userId, teamId }`) and counts one
 * ready once its answer is in (Particle: both manifest roots' `payload`; raw: one frame). Sockets
 * are bound round-robin to the given loopback source addresses, so one server port takes more
 * than one address's ephemeral ports. Requests: `open`, `held`, `stop`.
 */
import WebSocket from 'ws';
import { openFilesLimit, serveRequests } from './raisedProcess.js';

const sockets: WebSocket[] = [];
let ready = 0;
/** Sockets that closed after they were ready (an idle client the server dropped). */
let lostAfterReady = 0;
let sourceTurn = 0;

interface Open {
  url: string;
  /** The first identity's `userId`; the others follow. */
  from: number;
  count: number;
  /** Frames of type `payload` a socket waits for (0: any one frame). */
  payloads: number;
  sources: string[];
  concurrency: number;
  timeoutMs: number;
}

function openOne(o: Open, userId: number): Promise<{ ok: boolean; ms: number; why: string }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const localAddress = o.sources[sourceTurn++ % o.sources.length] as string;
    const ws = new WebSocket(o.url, { perMessageDeflate: false, localAddress });
    let payloads = 0;
    let settled = false;
    let isReady = false;
    const settle = (ok: boolean, why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (ok) {
        isReady = true;
        ready++;
        sockets.push(ws);
      } else ws.terminate();
      resolve({ ok, ms: performance.now() - t0, why });
    };
    const timer = setTimeout(() => settle(false, 'timeout'), o.timeoutMs);
    ws.on('open', () =>
      ws.send(
        JSON.stringify({
          type: 'register',
          protocol: 2,
          identity: { userId, teamId: Math.floor(userId / 20) },
        }),
      ),
    );
    ws.on('message', (data) => {
      if (settled) return;
      if (o.payloads === 0) return settle(true, '');
      const frame = JSON.parse(String(data)) as { type?: string };
      if (frame.type === 'error') settle(false, String(data).slice(0, 200));
      else if (frame.type === 'payload' && ++payloads === o.payloads) settle(true, '');
    });
    ws.on('close', (code) => {
      if (isReady) {
        lostAfterReady++;
        ready--;
      } else settle(false, `close ${code}`);
    });
    ws.on('error', (error: NodeJS.ErrnoException) => settle(false, error.code ?? error.message));
  });
}

async function open(o: Open): Promise<Record<string, unknown>> {
  let next = 0;
  let ok = 0;
  let failed = 0;
  let firstError = '';
  const ms: number[] = [];
  const t0 = performance.now();
  const lane = async (): Promise<void> => {
    while (next < o.count) {
      const r = await openOne(o, o.from + next++);
      if (r.ok) {
        ok++;
        ms.push(r.ms);
      } else {
        failed++;
        firstError ||= r.why;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, lane));
  return {
    ok,
    failed,
    firstError,
    seconds: (performance.now() - t0) / 1000,
    samples: ms,
  };
}

serveRequests(async (command) => {
  switch (command.cmd) {
    case 'open':
      return open(command as unknown as Open);
    case 'held':
      return { ready, lostAfterReady, fdLimit: openFilesLimit() };
    case 'stop':
      for (const ws of sockets) ws.terminate();
      return null;
    default:
      throw new Error(`unknown command ${String(command.cmd)}`);
  }
});
