import {
  CLOSE_CODES,
  parseServerMessage,
  type RegisterMessage,
  type ServerMessage,
} from '../protocol/index.js';
import { truncateUtf8 } from '../protocol/closeReason.js';
import type { LinkMessage } from './link.js';
import type { ReconnectOptions, WebSocketClass, WebSocketLike } from './types.js';

/** Close code the client uses when it drops a link itself to start over (gap, bad frame, silence). */
export const CLIENT_RESTART_CLOSE_CODE = 4000;

/** The shortest wait before reconnecting after close 4430 (`rate_limited`), whatever the backoff. */
export const RATE_LIMITED_DELAY_MS = 1000;

/**
 * The wait before retry number `attempt` (0-based): a random time in
 * `[ceiling / 2, ceiling]` where `ceiling = min(maxDelayMs, minDelayMs * 2^(attempt + 1))`,
 * and never below `minDelayMs`. Doubling keeps a down server from being hammered; the jitter
 * spreads the clients a restarted server sees.
 */
export function backoffDelay(
  attempt: number,
  { minDelayMs, maxDelayMs }: ReconnectOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(maxDelayMs, minDelayMs * 2 ** (attempt + 1));
  const delay = ceiling / 2 + random() * (ceiling / 2);
  return Math.min(maxDelayMs, Math.max(minDelayMs, delay));
}

/** Why a link went down. */
export type LinkDown = {
  /**
   * The close code (`1006` when the socket failed without one, `CLIENT_RESTART_CLOSE_CODE` for
   * silence and for a connect timeout).
   */
  code: number;
  reason: string;
  /** Whether the socket had opened before it went down. */
  opened: boolean;
  /**
   * `'silence'` when no frame arrived for `heartbeatTimeoutMs`; `'connect_timeout'` when the
   * server did not accept the registration within `connectTimeoutMs`.
   */
  cause: 'closed' | 'silence' | 'connect_timeout';
};

/** What the connection asks of its owner. */
export interface ConnectionHandlers {
  /** The frame to send once a socket opens (built then: it depends on what the owner holds). */
  registerMessage(): RegisterMessage;
  /** A valid server message. */
  message(message: ServerMessage): void;
  /** A frame that is not a valid server message (the owner decides; it drops the link). */
  invalid(reason: string, detail: unknown): void;
  /** The link went down by itself (not through `restart`/`stop`); return `false` to stay down. */
  down(info: LinkDown): boolean;
  debug(message: string, detail?: unknown): void;
}

export interface ConnectionOptions {
  url: string;
  WebSocket: WebSocketClass;
  reconnect: ReconnectOptions;
  heartbeatTimeoutMs: number;
  /** How long a socket may go without `registered` before it is replaced; `0`: no limit. */
  connectTimeoutMs: number;
}

type MessageLike = { data?: unknown };
type CloseLike = { code?: unknown; reason?: unknown };

const ignore = (): void => {};

// Silence is timed on a monotonic clock: setting the wall clock back must not hide a dead link.
const now = (): number => performance.now();

/** What a close frame carries. */
export type CloseFrame = { code: number; reason: string };

/**
 * Closes `socket` without ever throwing. The reason is cut to what a close frame holds (a longer
 * one makes `close` throw and, in `ws`, leaves the socket half-closed and open for good); should
 * `close` throw all the same, the socket is terminated (`ws`) or closed without a reason.
 */
export function closeSocket(
  socket: WebSocketLike,
  { code, reason }: CloseFrame,
  debug: (message: string, detail?: unknown) => void,
): void {
  try {
    socket.close(code, truncateUtf8(reason));
    return;
  } catch (error) {
    debug('closing the socket failed', error);
  }
  try {
    const { terminate } = socket as { terminate?: unknown };
    if (typeof terminate === 'function') (terminate as () => void).call(socket);
    else socket.close(code);
  } catch (error) {
    debug('closing the socket failed again', error);
  }
}

/**
 * One WebSocket at a time to the Stream: opens it, sends `register`, validates every frame,
 * watches for silence, and reopens with capped exponential backoff when told to or when the
 * link drops. What a frame means is the owner's business.
 */
export class Connection {
  readonly #options: ConnectionOptions;
  readonly #handlers: ConnectionHandlers;
  #socket: WebSocketLike | null = null;
  #opened = false;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #silenceTimer: ReturnType<typeof setTimeout> | null = null;
  #connectTimer: ReturnType<typeof setTimeout> | null = null;
  #lastFrameAt = 0;
  #stopped = false;

  constructor(options: ConnectionOptions, handlers: ConnectionHandlers) {
    this.#options = options;
    this.#handlers = handlers;
  }

  /** Opens the first socket. */
  start(): void {
    this.#open();
  }

  /** The server accepted the registration: the next drop starts the backoff from its minimum. */
  registered(): void {
    this.#attempt = 0;
    this.#clearConnectTimer();
  }

  /** Drops the current socket (ignoring anything it still delivers) and reconnects after backoff. */
  restart(reason: string, minDelayMs = 0): void {
    if (this.#stopped) return;
    this.#handlers.debug(`dropping the link: ${reason}`);
    this.#abandon(CLIENT_RESTART_CLOSE_CODE, reason);
    this.#scheduleRetry(minDelayMs);
  }

  /** Sends on the open socket; without one it drops the message (the owner sends again). */
  send(message: LinkMessage): boolean {
    const socket = this.#socket;
    if (socket === null || !this.#opened) return true;
    try {
      socket.send(JSON.stringify(message));
    } catch (error) {
      this.#handlers.debug(`sending a ${message.type} failed`, error);
    }
    return true;
  }

  /** Closes the socket for good and stops every timer. */
  stop(): void {
    this.#stopped = true;
    this.#abandon(1000, 'client disconnect');
    if (this.#retryTimer !== null) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
  }

  #open(): void {
    this.#retryTimer = null;
    if (this.#stopped) return;
    let socket: WebSocketLike;
    try {
      socket = new this.#options.WebSocket(this.#options.url);
    } catch (error) {
      this.#handlers.debug('could not create the WebSocket', error);
      this.#down({ code: 1006, reason: String(error), opened: false, cause: 'closed' });
      return;
    }
    this.#socket = socket;
    this.#opened = false;
    this.#touch();
    this.#armConnectTimer();
    socket.onopen = () => {
      this.#opened = true;
      this.#touch();
      socket.send(JSON.stringify(this.#handlers.registerMessage()));
    };
    socket.onmessage = (event: MessageLike) => this.#frame(event.data);
    socket.onerror = (event: unknown) => {
      // A close event always follows; the error itself carries no usable detail in browsers.
      this.#handlers.debug('socket error', event);
    };
    socket.onclose = (event: CloseLike) => {
      if (this.#socket !== socket) return;
      const code = typeof event.code === 'number' ? event.code : 1006;
      const reason = typeof event.reason === 'string' ? event.reason : '';
      this.#detach();
      this.#down({ code, reason, opened: this.#opened, cause: 'closed' });
    };
  }

  #frame(data: unknown): void {
    this.#touch();
    if (typeof data !== 'string') {
      this.#handlers.invalid('a binary frame (Particle speaks JSON text frames)', data);
      return;
    }
    const parsed = parseServerMessage(data);
    if (!parsed.ok) {
      this.#handlers.invalid(`invalid frame from the server: ${parsed.error}`, data);
      return;
    }
    this.#handlers.message(parsed.message);
  }

  #down(info: LinkDown): void {
    if (this.#stopped) return;
    if (!this.#handlers.down(info)) this.#stopped = true;
    else if (info.code === CLOSE_CODES.rateLimited) this.#scheduleRetry(RATE_LIMITED_DELAY_MS);
    else this.#scheduleRetry();
  }

  #scheduleRetry(minDelayMs = 0): void {
    if (this.#stopped || this.#retryTimer !== null) return;
    const delay = Math.max(minDelayMs, backoffDelay(this.#attempt++, this.#options.reconnect));
    this.#handlers.debug(`reconnecting in ${Math.round(delay)} ms`);
    this.#retryTimer = setTimeout(() => this.#open(), delay);
  }

  /** Records that the link is alive (any frame, or the socket opening). */
  #touch(): void {
    this.#lastFrameAt = now();
    if (this.#silenceTimer === null && this.#options.heartbeatTimeoutMs > 0) {
      this.#armSilenceTimer(this.#options.heartbeatTimeoutMs);
    }
  }

  // One timer per window rather than one per frame: it re-arms for what is left when it fires.
  #armSilenceTimer(delay: number): void {
    this.#silenceTimer = setTimeout(() => {
      this.#silenceTimer = null;
      const silent = now() - this.#lastFrameAt;
      const timeout = this.#options.heartbeatTimeoutMs;
      if (silent < timeout) {
        this.#armSilenceTimer(timeout - silent);
        return;
      }
      const reason = `no frame from the server for ${timeout} ms`;
      this.#handlers.debug(`dropping the link: ${reason}`);
      const opened = this.#opened;
      this.#abandon(CLIENT_RESTART_CLOSE_CODE, reason);
      this.#down({ code: CLIENT_RESTART_CLOSE_CODE, reason, opened, cause: 'silence' });
    }, delay);
  }

  #armConnectTimer(): void {
    const timeout = this.#options.connectTimeoutMs;
    if (timeout <= 0 || !Number.isFinite(timeout)) return;
    this.#connectTimer = setTimeout(() => {
      this.#connectTimer = null;
      const reason = `no registration accepted within ${timeout} ms`;
      this.#handlers.debug(`dropping the link: ${reason}`);
      const opened = this.#opened;
      this.#abandon(CLIENT_RESTART_CLOSE_CODE, reason);
      this.#down({ code: CLIENT_RESTART_CLOSE_CODE, reason, opened, cause: 'connect_timeout' });
    }, timeout);
  }

  #clearConnectTimer(): void {
    if (this.#connectTimer !== null) clearTimeout(this.#connectTimer);
    this.#connectTimer = null;
  }

  /** Stops listening to the current socket and closes it without waiting for its close event. */
  #abandon(code: number, reason: string): void {
    const socket = this.#socket;
    this.#detach();
    if (socket === null) return;
    closeSocket(socket, { code, reason }, (message, detail) =>
      this.#handlers.debug(message, detail),
    );
  }

  #detach(): void {
    this.#clearConnectTimer();
    if (this.#silenceTimer !== null) clearTimeout(this.#silenceTimer);
    this.#silenceTimer = null;
    const socket = this.#socket;
    this.#socket = null;
    if (socket === null) return;
    // No-ops rather than null: `ws` throws an unhandled 'error' event when nothing listens.
    socket.onopen = ignore;
    socket.onmessage = ignore;
    socket.onerror = ignore;
    socket.onclose = ignore;
  }
}
