import {
  MutationError,
  type PublishErrorMessage,
  type PublishMessage,
  type UnpublishMessage,
} from '../protocol/index.js';
import { jsonCopy } from './jsonCopy.js';

/**
 * A live publication into a published source (`collector.publish`): the server holds its value
 * as one document that subscribers see, until `stop()`, or until this client is gone.
 */
export interface Publication<TValue = Record<string, unknown>> {
  readonly source: string;
  readonly params: unknown;
  /** Why the server refused the last value (it then holds nothing for it); `null` otherwise. */
  readonly error: MutationError | null;
  /** Replaces the value; sent at most once per `publishIntervalMs`, the latest value winning. */
  update(value: TValue): void;
  /** Ends the publication: its document goes for everyone. */
  stop(): void;
}

/** What the publications need from their collector. */
export interface PublicationsHost {
  send(message: PublishMessage | UnpublishMessage): void;
  readonly intervalMs: number;
  /** A publication's error changed. */
  changed(): void;
}

/** What a publication publishes: into which source and instance, and the value. */
interface PublishedValue {
  readonly source: string;
  readonly params: unknown;
  readonly value: Record<string, unknown>;
}

class Entry implements Publication {
  error: MutationError | null = null;
  value: Record<string, unknown>;
  sentAt = -Infinity;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** The latest value has not been sent on the current registration. */
  dirty = true;
  live = true;

  readonly source: string;
  readonly params: unknown;

  constructor(
    private readonly book: Publications,
    readonly pub: string,
    what: PublishedValue,
  ) {
    this.source = what.source;
    this.params = what.params;
    this.value = what.value;
  }

  update(value: Record<string, unknown>): void {
    if (!this.live) throw new TypeError('publication.update: this publication was stopped');
    this.value = valueCopy(value, 'publication.update');
    this.dirty = true;
    if (this.error) this.book.retry(this);
    this.book.schedule(this);
  }

  stop(): void {
    this.book.stop(this);
  }
}

/**
 * This collector's publications: sent once registered and throttled while it is, sent again
 * after every new registration (a fresh session holds none; a resumed one may have let one go
 * after `goneAfterMs`, and sending it again costs subscribers nothing when nothing changed).
 */
export class Publications {
  readonly #host: PublicationsHost;
  readonly #live = new Map<string, Entry>();
  #next = 1;
  #registered = false;
  #ended: MutationError | null = null;

  constructor(host: PublicationsHost) {
    this.#host = host;
  }

  publish(source: string, params: unknown, value: unknown): Publication {
    if (typeof source !== 'string' || source === '') {
      throw new TypeError('collector.publish: source must be a published source name');
    }
    const copy = params === undefined ? undefined : jsonCopy(params, 'collector.publish: params');
    const entry = new Entry(this, `p${this.#next++}`, {
      source,
      params: copy,
      value: valueCopy(value, 'collector.publish'),
    });
    if (this.#ended) {
      entry.live = false;
      entry.error = this.#ended;
      return entry;
    }
    this.#live.set(entry.pub, entry);
    this.schedule(entry);
    return entry;
  }

  /** Sends the entry's value now, or once the interval since the last send has passed. */
  schedule(entry: Entry): void {
    if (!this.#registered || entry.timer || !entry.live) return;
    const wait = entry.sentAt + this.#host.intervalMs - Date.now();
    if (wait <= 0) {
      this.#send(entry);
      return;
    }
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      if (entry.dirty && this.#registered && entry.live) this.#send(entry);
    }, wait);
  }

  /** A refused publication got a new value: its error is over, the value is on its way. */
  retry(entry: Entry): void {
    entry.error = null;
    this.#host.changed();
  }

  stop(entry: Entry): void {
    if (!entry.live) return;
    entry.live = false;
    clearTimeout(entry.timer);
    entry.timer = undefined;
    this.#live.delete(entry.pub);
    if (this.#registered) this.#host.send({ type: 'unpublish', pub: entry.pub });
  }

  registered(): void {
    this.#registered = true;
    for (const entry of this.#live.values()) {
      entry.dirty ||= entry.error === null;
      if (entry.dirty) this.#send(entry);
    }
  }

  lost(): void {
    this.#registered = false;
    for (const entry of this.#live.values()) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
    }
  }

  receive(message: PublishErrorMessage): void {
    const entry = this.#live.get(message.pub);
    if (!entry) return;
    entry.error = new MutationError(message.code, message.message);
    this.#host.changed();
  }

  end(error: MutationError): void {
    this.#ended ??= error;
    for (const entry of this.#live.values()) {
      clearTimeout(entry.timer);
      entry.live = false;
    }
    this.#live.clear();
  }

  #send(entry: Entry): void {
    entry.dirty = false;
    entry.sentAt = Date.now();
    const message: PublishMessage = {
      type: 'publish',
      pub: entry.pub,
      source: entry.source,
      data: entry.value,
    };
    if (entry.params !== undefined) message.params = entry.params;
    this.#host.send(message);
  }
}

function valueCopy(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${where}: the value must be an object such as { name: 'Ann' }`);
  }
  return jsonCopy(value, `${where}: value`) as Record<string, unknown>;
}
