import { randomBytes } from 'node:crypto';
import { deltaPrefix, encodeDelta, encodePayload } from '../protocol/encode.js';
import { CLOSE_CODES } from '../protocol/errors.js';
import { Backlog, type DeltaEntry } from './backlog.js';
import type { Group } from './group.js';
import type { Resolution, SourceState, ViewMember } from './views.js';

/** What a subscription's root follows: a source, validated params, a window. */
export interface SubscriptionSpec {
  readonly source: SourceState;
  readonly params: Record<string, unknown>;
  /** Canonical params: the same `sub` must keep naming the same source and params. */
  readonly paramsKey: string;
  /** The window in force (clamped to the source's `max`); `undefined` without one. */
  readonly limit: number | undefined;
  /** A wildcard consumer of a produced source (`subscribe` with `all: true`). */
  readonly all?: boolean;
}

/** Where a session's frames go while its client is connected. */
export interface Sink {
  /** Sends one frame; `delta` frames may be refused by a slow-consumer policy. */
  send(frame: string, kind: 'delta' | 'control'): void;
  /** Closes the client's link with a WebSocket close code. */
  close(code: number, reason: string): void;
  /** Holds every frame from now on until {@link release} (a mutation is running). */
  hold(): void;
  /** Sends the held frames and `last` as one `batch` frame, and stops holding. */
  release(last?: string): void;
  /** The link's frame bound, told to the client in `registered`; `undefined` when unbounded. */
  readonly frameLimits?: { messagesPerSecond: number; burst: number } | undefined;
}

/** Per-session bounds of what is kept for a resume. */
export interface BacklogLimits {
  deltas: number;
  bytes: number;
}

export function newToken(): string {
  return randomBytes(9).toString('base64url');
}

let epochs = 0;

/**
 * A new epoch name, unique in this process. An epoch is only ever compared within the session
 * that holds it, and a session belongs to one process, so a short counter is enough.
 */
function newEpoch(): string {
  epochs++;
  return epochs.toString(36);
}

/** One root of one session: its history (epoch, version, backlog) and its current group. */
export class SessionRoot implements ViewMember {
  epoch = newEpoch();
  version = 0;
  readonly backlog: Backlog;
  group: Group | null = null;
  /** The resolution (criteria resolved for this identity) the root follows. */
  resolution: Resolution | null = null;
  private prefix: string;

  readonly name: string;
  /** Set for a subscription (`name` is then the client's `sub` id). */
  subscription: SubscriptionSpec | undefined;

  constructor(
    readonly session: Session,
    limits: BacklogLimits,
    root: { readonly name: string; readonly subscription?: SubscriptionSpec | undefined },
  ) {
    this.name = root.name;
    this.subscription = root.subscription;
    this.backlog = new Backlog(limits.deltas, limits.bytes, 0);
    this.prefix = this.makePrefix();
  }

  /** Starts a new unbroken history; the client will need a payload. */
  restart(): void {
    this.epoch = newEpoch();
    this.version = 0;
    this.backlog.reset(0);
    this.prefix = this.makePrefix();
  }

  deliver(entry: DeltaEntry): void {
    this.version++;
    this.backlog.push(entry);
    const sink = this.session.sink;
    if (!sink) return;
    try {
      sink.send(this.frame(this.version, entry), 'delta');
    } catch {
      // One consumer's failure is its own: its link is closed (which detaches it), and the rest
      // of its group carries on.
      try {
        sink.close(CLOSE_CODES.internal, 'the consumer failed to receive a delta');
      } catch {
        // nothing more to do for a link that fails even to close
      }
    }
  }

  /** The delta frame for `version`: a small header around the shared, serialized ops. */
  frame(version: number, entry: DeltaEntry): string {
    return encodeDelta(this.prefix, version, entry);
  }

  /** The root's current content as a `payload` frame, starting at the current version. */
  payloadFrame(): string {
    const group = this.group;
    // The payload holds the group's waiting ops: the other members get them as a delta now.
    group?.flush(this);
    const head = { root: this.name, epoch: this.epoch, version: this.version, more: group?.more };
    return encodePayload(head, group?.payload() ?? '[]');
  }

  private makePrefix(): string {
    return deltaPrefix(this.name, this.epoch);
  }
}

/** A registered client's server-side state, held for a while after its link closed. */
export class Session {
  readonly id = newToken();
  readonly roots = new Map<string, SessionRoot>();
  /** Live subscriptions by the client's `sub` id. */
  readonly subs = new Map<string, SessionRoot>();
  sink: Sink | null = null;
  graceTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    /** The identity references read (after `identityLookup`); `reauthorize` may replace it. */
    public identity: Record<string, unknown>,
    /** A canonical form of `identity`: a resume must present the same identity. */
    public identityKey: string,
    /** What `reauthorize` hands `identityLookup` again: the claim and its request's snapshot. */
    public credentials: Credentials,
  ) {}
}

/** The claimed identity (frozen, size-bounded) and a snapshot of the request it came with. */
export interface Credentials {
  readonly claimed: Record<string, unknown>;
  readonly request:
    | {
        headers: Record<string, string | string[] | undefined>;
        url?: string | undefined;
        remoteAddress?: string | undefined;
      }
    | undefined;
}
