import {
  CLOSE_CODES,
  ERROR_CODES,
  ParticleError,
  TERMINAL_CLOSE_CODES,
  type ParticleErrorCode,
  type WireErrorCode,
} from '../protocol/index.js';
import type { LinkDown } from './connection.js';

const CLIENT_CODES: readonly ParticleErrorCode[] = [
  'connection_failed',
  'frame_too_large',
  'disconnected',
  'config',
];

/** Wire codes that mean "this registration is refused": retrying would be refused again. */
const REFUSALS: ReadonlySet<string> = new Set<WireErrorCode>([
  'bad_message',
  'protocol_mismatch',
  'bad_identity',
  'identity_rejected',
]);

/** Close codes that say "come back" even after an `error` message (4408: register timeout). */
const RETRY_CLOSE_CODES: ReadonlySet<number> = new Set([
  CLOSE_CODES.goingAway,
  CLOSE_CODES.internal,
  CLOSE_CODES.registerTimeout,
  CLOSE_CODES.slowConsumer,
  CLOSE_CODES.rateLimited,
]);

const CLOSE_ERRORS: ReadonlyMap<number, ParticleErrorCode> = new Map<number, ParticleErrorCode>([
  [CLOSE_CODES.badMessage, 'bad_message'],
  [CLOSE_CODES.badIdentity, 'bad_identity'],
  [CLOSE_CODES.identityRejected, 'identity_rejected'],
  [CLOSE_CODES.protocolMismatch, 'protocol_mismatch'],
  [CLOSE_CODES.tooLarge, 'frame_too_large'],
]);

function isWireCode(code: unknown): code is WireErrorCode {
  return (ERROR_CODES as readonly unknown[]).includes(code);
}

/** True for an error that refuses the registration itself. */
export function isRefusal(error: ParticleError | null): boolean {
  return error !== null && REFUSALS.has(error.code);
}

/**
 * Whether a link that closed with `code` must stay down: a terminal close code, or an unknown
 * code after the server refused the registration in an `error` message.
 */
export function isTerminalClose(code: number, lastError: ParticleError | null): boolean {
  return TERMINAL_CLOSE_CODES.has(code) || (isRefusal(lastError) && !RETRY_CLOSE_CODES.has(code));
}

/** The error an `error` message stands for. */
export function errorFromMessage(code: string, message: string): ParticleError {
  if (isWireCode(code)) {
    return new ParticleError(code, `The server refused the request (${code}): ${message}`);
  }
  return new ParticleError('internal', `The server reported an unknown error ${code}: ${message}`);
}

/**
 * The `connection_failed` error a dropped link stands for while the collector retries, or
 * `null` when the link had opened and closed (the server's own `error`, if any, says why).
 */
export function errorFromLinkDown(
  info: LinkDown,
  url: string,
  connectTimeoutMs: number,
): ParticleError | null {
  if (info.cause === 'connect_timeout') {
    return new ParticleError(
      'connection_failed',
      `No registration accepted by ${url} within ${connectTimeoutMs} ms; ` +
        "retrying. Check the url's path: it must be the path the server's " +
        'particleMiddleware listens on.',
    );
  }
  if (info.cause === 'silence') {
    return new ParticleError('connection_failed', `Link to ${url} went silent: ${info.reason}`);
  }
  if (!info.opened) {
    return new ParticleError(
      'connection_failed',
      `Could not connect to ${url} (close code ${info.code}); retrying`,
    );
  }
  return null;
}

/** The error a terminal close code stands for when no `error` message explained it. */
export function errorFromClose(code: number, reason: string): ParticleError {
  const because = reason === '' ? '' : `: ${reason}`;
  const errorCode = CLOSE_ERRORS.get(code) ?? 'internal';
  if (errorCode === 'frame_too_large') {
    return new ParticleError(
      errorCode,
      `The server closed the link with ${code}: a frame was over its size limit (maxFrameBytes)${because}`,
    );
  }
  return new ParticleError(errorCode, `The server closed the link with ${code}${because}`);
}

/** The error a `register` transport's `done(error)` reports. */
export function errorFromDone(error: unknown): ParticleError {
  if (error instanceof ParticleError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (isWireCode(code) || CLIENT_CODES.includes(code as ParticleErrorCode)) {
    return new ParticleError(code as ParticleErrorCode, message, { cause: error });
  }
  return new ParticleError('internal', `Registration failed: ${message}`, { cause: error });
}
