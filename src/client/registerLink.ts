import { parseServerMessage, type ServerMessage } from '../protocol/index.js';
import type { Link, LinkMessage } from './link.js';
import type { RegisterTransport } from './types.js';

type Unregister = Exclude<ReturnType<RegisterTransport>, void>;

export interface RegisterLinkHandlers {
  message(message: ServerMessage): void;
  /** A message that is not a valid server message (the owner decides; it registers again). */
  invalid(reason: string, detail: unknown): void;
  /** `done(error)` reported a failed registration. */
  refused(error: unknown): void;
  /** Messages sent before the transport returned, which it turned out cannot carry them. */
  unsendable(messages: readonly LinkMessage[]): void;
  debug(message: string, detail?: unknown): void;
}

/**
 * A link over a socketless `register(identity, receive, done)` transport. Messages are passed
 * through JSON, as a socket would: the collector then sees exactly what travels (ObjectIds and
 * Dates as strings) and owns, and freezes, its own copies. A restart registers again from
 * scratch, since such a transport has no way to carry a resume point.
 */
export class RegisterLink implements Link {
  readonly #register: RegisterTransport;
  readonly #identity: Record<string, unknown>;
  readonly #handlers: RegisterLinkHandlers;
  #generation = 0;
  #unregister: Unregister | null = null;
  /** Sent while `register` had not returned yet (it may deliver `registered` synchronously). */
  #early: LinkMessage[] | null = null;
  #stopped = false;

  constructor(
    register: RegisterTransport,
    identity: Record<string, unknown>,
    handlers: RegisterLinkHandlers,
  ) {
    this.#register = register;
    this.#identity = identity;
    this.#handlers = handlers;
  }

  start(): void {
    if (this.#stopped) return;
    const generation = ++this.#generation;
    const current = (): boolean => generation === this.#generation && !this.#stopped;
    const receive = (type: string, message: unknown): void => {
      if (!current()) return;
      let copy: unknown;
      try {
        copy = JSON.parse(JSON.stringify(message));
      } catch (error) {
        this.#handlers.invalid(`a ${type} message that is not JSON`, error);
        return;
      }
      const parsed = parseServerMessage(copy);
      if (!parsed.ok) {
        this.#handlers.invalid(`invalid message from the transport: ${parsed.error}`, message);
        return;
      }
      this.#handlers.message(parsed.message);
    };
    const done = (error?: unknown): void => {
      if (current() && error !== undefined && error !== null) this.#handlers.refused(error);
    };
    let unregister: Unregister | undefined;
    this.#early = [];
    try {
      unregister = this.#register(this.#identity, receive, done) ?? undefined;
    } catch (error) {
      this.#early = null;
      done(error ?? new Error('register threw'));
      return;
    }
    const early = this.#early;
    this.#early = null;
    if (typeof unregister !== 'function') unregister = undefined;
    if (!current()) {
      unregister?.();
      return;
    }
    this.#unregister = unregister ?? null;
    if (early.length === 0) return;
    if (typeof unregister?.send === 'function') for (const message of early) this.send(message);
    else this.#handlers.unsendable(early);
  }

  send(message: LinkMessage): boolean {
    if (this.#stopped) return true;
    if (this.#early !== null) {
      this.#early.push(message);
      return true;
    }
    const unregister = this.#unregister;
    if (unregister === null) return true;
    if (typeof unregister.send !== 'function') return false;
    try {
      // A copy: the transport may keep or change what it is given.
      unregister.send({ ...message });
    } catch (error) {
      this.#handlers.debug(`the transport's send threw on a ${message.type}`, error);
    }
    return true;
  }

  restart(reason: string, minDelayMs = 0): void {
    if (this.#stopped) return;
    this.#handlers.debug(`registering again: ${reason}`);
    this.#drop();
    const generation = this.#generation;
    const again = (): void => {
      if (generation === this.#generation) this.start();
    };
    // Not from inside `receive`: the transport may deliver the new registration synchronously.
    if (minDelayMs > 0) setTimeout(again, minDelayMs);
    else queueMicrotask(again);
  }

  registered(): void {}

  stop(): void {
    this.#stopped = true;
    this.#drop();
  }

  #drop(): void {
    this.#generation++;
    const unregister = this.#unregister;
    this.#unregister = null;
    try {
      unregister?.();
    } catch (error) {
      this.#handlers.debug('unregister threw', error);
    }
  }
}
