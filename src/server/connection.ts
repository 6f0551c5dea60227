import { encodeBatch, encodeError } from '../protocol/encode.js';
import { CLOSE_CODES, ParticleError, closeCodeFor } from '../protocol/errors.js';
import { truncateUtf8 } from '../protocol/closeReason.js';
import type { ClientMessage, WireErrorCode } from '../protocol/messages.js';
import { parseClientMessage } from '../protocol/parse.js';
import { flushDeltas } from './coalesce.js';
import type { Session, Sink } from './session.js';
import type { IdentityRequest, Stream } from './stream.js';

/** What a transport gives a connection: a way to send text frames and to close. */
export interface ConnectionLink {
  send(frame: string): void;
  /** Bytes accepted but not yet written (a socket's `bufferedAmount`); `0` in process. */
  bufferedAmount(): number;
  /** Closes with a WebSocket close code; must not throw. */
  close(code: number, reason: string): void;
}

/** How one connection is bounded. */
export interface ConnectionLimits {
  /** No `register` by then: `bad_message`, close 4408. `0`: no timer (in process). */
  registerTimeoutMs: number;
  /** Unsent bytes past this close the link as a slow consumer (4429, resumable). */
  maxBufferedBytes: number;
  /** Client frames per second after `register` (a token bucket, see {@link burstFor}). */
  maxMessagesPerSecond: number;
  /** Whether a session whose link dropped is held for a resume (sockets: yes; in process: no). */
  resumable: boolean;
}

/** How one connection starts: its bounds, the request it came with, who hears its register. */
export interface ConnectionSetup {
  readonly limits: ConnectionLimits;
  /** Read once, by identityLookup, when the register arrives. */
  readonly request: IdentityRequest;
  /** Told once whether the register was accepted (`null`) or why not. */
  readonly onRegistered?: ((error: ParticleError | null) => void) | undefined;
}

/**
 * The burst a client may send at once: twice the rate, plus room to re-subscribe everything
 * re-lock and republish everything after a fresh session, so a reconnecting client never trips the bound
 * by catching up.
 */
export function burstFor(maxMessagesPerSecond: number, maxSubscriptions: number): number {
  return 2 * maxMessagesPerSecond + maxSubscriptions;
}

type State = 'waiting' | 'registering' | 'registered' | 'closed';

/**
 * One client link as the server sees it, whatever carries it (a WebSocket, or a function in
 * process): register timeout, one register per link, the message rate bound, dispatch of
 * messages to the session, the slow-consumer allowance, and error-then-close. Its methods
 * never throw: they run inside socket event handlers and promise callbacks.
 */
export class ClientConnection implements Sink {
  private state: State = 'waiting';
  private session: Session | null = null;
  private request: IdentityRequest;
  private readonly timer: ReturnType<typeof setTimeout> | undefined;
  /** Frames that arrived while the register was still being answered, in order. */
  private early: Exclude<ClientMessage, { type: 'register' }>[] = [];
  private told = false;
  private tokens: number;
  private refilledAt = Date.now();
  private readonly burst: number;
  // Payloads and replays are sent whole; while they drain they do not count against the
  // slow-consumer bound, or a big payload would cut every client at its first delta.
  private allowance = 0;
  /** Frames held while a mutation runs (see {@link hold}); `null` when not holding. */
  private held: { frames: string[]; bytes: number; control: boolean } | null = null;

  private readonly limits: ConnectionLimits;
  private readonly onRegistered: ((error: ParticleError | null) => void) | undefined;

  constructor(
    private readonly stream: Stream,
    private readonly link: ConnectionLink,
    { limits, request, onRegistered }: ConnectionSetup,
  ) {
    this.limits = limits;
    this.onRegistered = onRegistered;
    // Kept only until the register message: identityLookup reads it once.
    this.request = request;
    this.burst = burstFor(
      limits.maxMessagesPerSecond,
      stream.maxSubscriptions + stream.maxLeases + stream.maxPublications,
    );
    this.tokens = this.burst;
    if (limits.registerTimeoutMs > 0) {
      this.timer = setTimeout(
        () =>
          this.fail(
            'bad_message',
            `no register message within ${limits.registerTimeoutMs} ms`,
            CLOSE_CODES.registerTimeout,
          ),
        limits.registerTimeoutMs,
      );
      this.timer.unref?.();
    }
  }

  /** A frame from the client: JSON text, or an already-decoded message (in process). */
  receive(raw: unknown): void {
    if (this.state === 'closed') return;
    const parsed = parseClientMessage(raw);
    if (!parsed.ok) {
      this.fail('bad_message', parsed.error);
      return;
    }
    const message = parsed.message;
    if (this.state === 'waiting') {
      if (message.type !== 'register') {
        this.fail('bad_message', `the first message must be register, not ${message.type}`);
        return;
      }
      this.register(message);
      return;
    }
    if (!this.take()) {
      this.fail(
        'rate_limited',
        `more than ${this.limits.maxMessagesPerSecond} messages per second`,
      );
      return;
    }
    if (message.type === 'register') {
      this.fail('bad_message', 'a link registers once');
      return;
    }
    if (this.state === 'registering') this.early.push(message);
    else this.dispatch(message);
  }

  /** The link closed underneath (socket closed, consumer unregistered). */
  linkClosed(): void {
    this.end(this.limits.resumable);
  }

  /** Sends an error and closes; ends the session unless the code allows a resume. */
  fail(code: WireErrorCode, message: string, closeCode = closeCodeFor(code)): void {
    if (this.state === 'closed') return;
    try {
      this.link.send(encodeError(code, message));
    } catch {
      // the close below still ends the link
    }
    this.end(this.limits.resumable && closeCode === CLOSE_CODES.internal);
    this.link.close(closeCode, truncateUtf8(message));
    this.tell(new ParticleError(code, message));
  }

  // ---- Sink: what the session sends through this link ----------------------------------------

  send(frame: string, kind: 'delta' | 'control'): void {
    if (this.state === 'closed') return;
    const held = this.held;
    if (held) {
      held.frames.push(frame);
      held.bytes += frame.length;
      held.control ||= kind === 'control';
      // A mutation that runs long must not make the server buffer without bound either.
      if (held.bytes > this.limits.maxBufferedBytes) this.flush();
      return;
    }
    this.write(frame, kind);
  }

  get frameLimits(): { messagesPerSecond: number; burst: number } | undefined {
    const rate = this.limits.maxMessagesPerSecond;
    return Number.isFinite(rate) ? { messagesPerSecond: rate, burst: this.burst } : undefined;
  }

  hold(): void {
    this.held ??= { frames: [], bytes: 0, control: false };
  }

  release(last?: string): void {
    if (last !== undefined) {
      // An answer follows the deltas of the writes it answers, in the same frame.
      flushDeltas();
      this.send(last, 'control');
    }
    this.flush();
    this.held = null;
  }

  /** Sends what is held as one frame (a `batch` when there is more than one). */
  private flush(): void {
    const held = this.held;
    if (!held || held.frames.length === 0 || this.state === 'closed') return;
    this.held = { frames: [], bytes: 0, control: false };
    const frame = held.frames.length === 1 ? held.frames[0]! : encodeBatch(held.frames);
    this.write(frame, held.control ? 'control' : 'delta');
  }

  private write(frame: string, kind: 'delta' | 'control'): void {
    const buffered = this.link.bufferedAmount();
    if (kind === 'control') {
      this.link.send(frame);
      this.allowance = this.link.bufferedAmount();
      return;
    }
    this.allowance = Math.min(this.allowance, buffered);
    if (buffered - this.allowance > this.limits.maxBufferedBytes) {
      // A client that does not read would make the server buffer without bound: drop the link;
      // its session keeps a backlog and the client catches up by resume.
      this.end(true);
      this.link.close(CLOSE_CODES.slowConsumer, 'slow consumer');
      return;
    }
    this.link.send(frame);
  }

  close(code: number, reason: string): void {
    this.end(this.limits.resumable);
    this.link.close(code, reason);
  }

  /** Leaves the session (held for a resume with `hold`); nothing more is sent or received. */
  private end(hold: boolean): void {
    clearTimeout(this.timer);
    const held = this.session;
    this.session = null;
    this.state = 'closed';
    this.early = [];
    this.held = null;
    if (held) this.stream.detach(held, hold, this);
  }

  private tell(error: ParticleError | null): void {
    if (this.told) return;
    this.told = true;
    this.onRegistered?.(error);
  }

  // ---- internals ------------------------------------------------------------------------------

  private register(message: Extract<ClientMessage, { type: 'register' }>): void {
    clearTimeout(this.timer);
    this.state = 'registering';
    const request = this.request;
    this.request = undefined;
    this.stream.attach(message, this, request).then(
      (result) => {
        if (!result.ok) {
          this.fail(result.code, result.message);
          return;
        }
        if (this.state !== 'registering') {
          this.stream.detach(result.session, this.limits.resumable, this);
          return;
        }
        this.session = result.session;
        this.state = 'registered';
        this.tell(null);
        const early = this.early;
        this.early = [];
        for (const m of early) this.dispatch(m);
      },
      (error: unknown) => {
        // The cause may name hosts, ports or databases: it goes to onDebug, never to the client.
        // A ParticleError's text is Particle's own, written for the app's developer.
        this.stream.report('registration failed', error);
        this.fail(
          'internal',
          error instanceof ParticleError
            ? `registration failed: ${error.message}`
            : 'registration failed on the server',
        );
      },
    );
  }

  private dispatch(message: Exclude<ClientMessage, { type: 'register' }>): void {
    const session = this.session;
    if (!session || this.state !== 'registered') return;
    const done = this.stream.receive(session, message, this);
    done.catch((error: unknown) => {
      this.stream.report(`handling ${message.type} failed`, error);
      this.fail('internal', `handling ${message.type} failed on the server`);
    });
  }

  /** Takes one token from the bucket; `false` when the client sends faster than allowed. */
  private take(): boolean {
    const now = Date.now();
    const rate = this.limits.maxMessagesPerSecond;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) / 1000) * rate);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
