import { MutationError, type MutateMessage, type MutatedMessage } from '../protocol/index.js';
import { Pacer, type LinkLimits } from './pacer.js';
import { jsonCopy } from './jsonCopy.js';
import type { OptimisticRecipe } from './optimistic.js';

/** A mutation sent (or about to be) and not answered yet, as `collector.pending` lists it. */
export interface PendingMutation {
  /** `<client id>:<seq>`, unique per Collector. */
  readonly id: string;
  readonly name: string;
  readonly args: unknown;
}

/** Options of `collector.mutate(name, args, options)`. */
export interface MutateOptions {
  /**
   * Shows the mutation's expected effect at once: it runs on the confirmed data, and again on
   * each confirmed change, until the server answers (then the real data shows, in one step).
   */
  optimistic?: OptimisticRecipe | undefined;
  /** Give up after this long (`mutation_timeout`: outcome unknown). @default the Collector's `mutationTimeoutMs` */
  timeoutMs?: number | undefined;
}

/** What the pending list needs from its collector. */
export interface MutationsHost {
  /** Sends on the current registration (dropped while the link is down; sent again later). */
  send(message: MutateMessage): void;
  /** The pending list or its recipes changed outside a server message: show it. */
  changed(): void;
  readonly timeoutMs: number;
}

interface Entry extends PendingMutation {
  readonly recipe: OptimisticRecipe | undefined;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: MutationError) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

function randomId(): string {
  const bytes = new Uint8Array(9);
  globalThis.crypto.getRandomValues(bytes);
  let text = '';
  for (const b of bytes)
    text += 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[b & 63];
  return text;
}

/**
 * The collector's unanswered mutations, in the order they were made: sent when registered,
 * sent again in order after every new registration (the server answers a resent id with its
 * first outcome), settled by `mutated`, by a timeout, or by the collector ending.
 */
export class PendingMutations {
  readonly #host: MutationsHost;
  readonly #clientId = randomId();
  #seq = 0;
  #entries: Entry[] = [];
  #list: readonly PendingMutation[] = Object.freeze([]);
  #registered = false;
  #ended: MutationError | null = null;
  /** Sends within the server's frame bound; a settled entry still queued is skipped. */
  readonly #pacer = new Pacer<Entry>((entry) => {
    if (this.#entries.includes(entry)) this.#send(entry);
  });

  constructor(host: MutationsHost) {
    this.#host = host;
  }

  /** A frozen array, replaced whenever a mutation is added or settled. */
  get list(): readonly PendingMutation[] {
    return this.#list;
  }

  /** The recipes of every pending mutation, in order. */
  recipes(): OptimisticRecipe[] {
    const out: OptimisticRecipe[] = [];
    for (const entry of this.#entries) if (entry.recipe) out.push(entry.recipe);
    return out;
  }

  mutate(name: string, args: unknown, options: MutateOptions | undefined): Promise<unknown> {
    if (typeof name !== 'string' || name === '') {
      throw new TypeError('collector.mutate: name must be a mutator name such as "postMessage"');
    }
    const recipe = options?.optimistic;
    if (recipe !== undefined && typeof recipe !== 'function') {
      throw new TypeError('collector.mutate: optimistic must be a function (local) => void');
    }
    const timeoutMs = options?.timeoutMs ?? this.#host.timeoutMs;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new TypeError(
        `collector.mutate: timeoutMs must be a positive number, got ${String(timeoutMs)}`,
      );
    }
    const copy = jsonCopy(args, 'collector.mutate: args');
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => {
      const entry: Entry = {
        id: `${this.#clientId}:${++this.#seq}`,
        name,
        args: copy,
        recipe,
        resolve,
        reject,
        timer: undefined,
      };
      entry.timer = setTimeout(() => {
        if (!this.#remove(entry)) return;
        reject(
          new MutationError(
            'mutation_timeout',
            `mutation ${name} got no answer within ${timeoutMs} ms; its effect is unknown (a later change may still show it)`,
          ),
        );
        this.#host.changed();
      }, timeoutMs);
      this.#entries.push(entry);
      this.#relist();
      if (this.#registered) this.#pacer.push(entry);
      this.#host.changed();
    });
  }

  /** A registration was accepted: send every unanswered mutation, in order, paced by `limits`. */
  registered(limits?: LinkLimits): void {
    this.#registered = true;
    this.#pacer.reset(limits);
    for (const entry of this.#entries) this.#pacer.push(entry);
  }

  lost(): void {
    this.#registered = false;
    this.#pacer.clear();
  }

  /**
   * Settles mutation `id` (the caller applies this in the same step as the batch it came in).
   * Returns whether a pending mutation was settled; a repeated answer changes nothing.
   */
  answer(message: MutatedMessage): boolean {
    const entry = this.#entries.find((e) => e.id === message.id);
    if (entry === undefined || !this.#remove(entry)) return false;
    if ('error' in message) {
      entry.reject(new MutationError(message.error.code, message.error.message));
    } else entry.resolve(message.result);
    return true;
  }

  /** The collector ended (or cannot send): every pending mutation rejects with `code`. */
  end(why: string, code = 'disconnected'): void {
    if (this.#ended) return;
    this.#ended = new MutationError(code, why);
    const entries = this.#entries;
    this.#entries = [];
    this.#pacer.clear();
    this.#relist();
    for (const entry of entries) {
      clearTimeout(entry.timer);
      entry.reject(this.#ended);
    }
  }

  #send(entry: Entry): void {
    const message: MutateMessage = { type: 'mutate', id: entry.id, name: entry.name };
    if (entry.args !== undefined) message.args = entry.args;
    this.#host.send(message);
  }

  #remove(entry: Entry): boolean {
    const at = this.#entries.indexOf(entry);
    if (at < 0) return false;
    clearTimeout(entry.timer);
    this.#entries.splice(at, 1);
    this.#relist();
    return true;
  }

  #relist(): void {
    this.#list = Object.freeze(
      this.#entries.map(({ id, name, args }) => Object.freeze({ id, name, args })),
    );
  }
}
