import type { SubscriptionErrorCode, WireErrorCode } from './messages.js';

/** Every code a {@link ParticleError} can carry: the wire codes plus client-side ones. */
export type ParticleErrorCode =
  | WireErrorCode
  | SubscriptionErrorCode
  | 'connection_failed'
  | 'frame_too_large'
  | 'disconnected'
  | 'config'
  | 'scope_contended';

/** An error with a stable machine-readable `code`. */
export class ParticleError extends Error {
  override readonly name = 'ParticleError';
  readonly code: ParticleErrorCode;

  constructor(code: ParticleErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * A mutation's refusal: on the server, what a mutator throws to send its own `code`
 * (`^[a-z][a-z0-9_]*$`) and `message` to the client as they are; on the client, what
 * `collector.mutate` rejects with (the server's code, or `mutation_timeout`, `disconnected`).
 */
export class MutationError extends Error {
  override readonly name = 'MutationError';

  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** WebSocket close codes used by Particle, and whether a client should reconnect after them. */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001,
  tooLarge: 1009,
  internal: 1011,
  badMessage: 4400,
  badIdentity: 4401,
  identityRejected: 4403,
  registerTimeout: 4408,
  protocolMismatch: 4426,
  slowConsumer: 4429,
  rateLimited: 4430,
} as const;

/** Close codes after which a client gives up instead of reconnecting. */
export const TERMINAL_CLOSE_CODES: ReadonlySet<number> = new Set([
  CLOSE_CODES.badMessage,
  CLOSE_CODES.badIdentity,
  CLOSE_CODES.identityRejected,
  CLOSE_CODES.protocolMismatch,
  CLOSE_CODES.tooLarge,
]);

/** The close code the server uses after sending an error with this code. */
export function closeCodeFor(code: WireErrorCode): number {
  switch (code) {
    case 'bad_message':
      return CLOSE_CODES.badMessage;
    case 'protocol_mismatch':
      return CLOSE_CODES.protocolMismatch;
    case 'bad_identity':
      return CLOSE_CODES.badIdentity;
    case 'identity_rejected':
      return CLOSE_CODES.identityRejected;
    case 'rate_limited':
      return CLOSE_CODES.rateLimited;
    case 'internal':
      return CLOSE_CODES.internal;
  }
}
