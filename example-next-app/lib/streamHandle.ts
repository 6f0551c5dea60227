import type { Stream } from 'particle-sync/server';

/*
 * server.ts creates the one Stream; the pages need it for `stream.snapshot(...)`. Next bundles
 * server components apart from server.ts, so a module both import would be two copies with two
 * variables. A property of `globalThis` (same process) is the one place both see.
 */
const KEY = Symbol.for('particle-example.stream');
const slot = globalThis as { [KEY]?: Stream };

/** Called once by server.ts. */
export function publishStream(stream: Stream): void {
  slot[KEY] = stream;
}

/** The running Stream, for server components. */
export function getStream(): Stream {
  const stream = slot[KEY];
  if (!stream) {
    throw new Error(
      'No Particle stream: start the app through server.ts (`npm run example`), not `next start`.',
    );
  }
  return stream;
}
