import { encodeError, encodeResumed } from '../protocol/encode.js';
import { closeCodeFor } from '../protocol/errors.js';
import { truncateUtf8 } from '../protocol/closeReason.js';
import type { RegisterMessage, WireErrorCode } from '../protocol/messages.js';
import { freezeCopy, type IdentityCheck } from './identity.js';
import {
  Session,
  SessionRoot,
  type BacklogLimits,
  type Credentials,
  type Sink,
} from './session.js';
import type { SessionTable } from './sessionTable.js';
import type { IdentityRequest } from './streamOptions.js';
import type { Subscriptions } from './subscriptions.js';
import type { Views } from './views.js';
import type { Writes } from './writes.js';

/** What a session's life touches: the Stream's parts. */
export interface SessionParts {
  readonly views: Views;
  readonly subscriptions: Subscriptions;
  readonly writes: Writes;
  readonly sessions: SessionTable;
  readonly identities: IdentityCheck;
  readonly limits: BacklogLimits;
  /** Whether the Stream has an `identityLookup` (without one, `reauthorize` changes nothing). */
  readonly hasLookup: boolean;
  debug(message: string, details?: unknown): void;
}

/**
 * A session from its creation to its end: its eager roots joined, its credentials kept for
 * `reauthorize`, its views followed again after a changed identity, and everything it holds
 * released when it ends or is dropped.
 */
export class SessionLifecycle {
  constructor(private readonly parts: SessionParts) {}

  async create(
    identity: Record<string, unknown>,
    identityKey: string,
    credentials: Credentials,
  ): Promise<Session> {
    const { views, limits, sessions } = this.parts;
    const session = new Session(identity, identityKey, credentials);
    for (const source of views.eagerSources) {
      const root = new SessionRoot(session, limits, { name: source.name });
      await views.join(root, { source, identity });
      session.roots.set(source.name, root);
    }
    sessions.add(session);
    return session;
  }

  /**
   * What `reauthorize` needs to run `identityLookup` again. Without a lookup nothing can change,
   * so nothing is kept; with one, the claim (already bounded by `maxIdentityBytes`) and the
   * request's headers, url and address, not the request object.
   */
  credentialsOf(claimed: Record<string, unknown>, request: IdentityRequest): Credentials {
    if (!this.parts.hasLookup) return { claimed: {}, request: undefined };
    const snapshot = request && {
      headers: { ...request.headers },
      url: request.url,
      remoteAddress: 'socket' in request ? request.socket.remoteAddress : undefined,
    };
    return { claimed: freezeCopy(claimed), request: snapshot };
  }

  /** Ends a session at once (a refused re-check): error, close, views released. */
  end(session: Session, code: WireErrorCode, message: string): void {
    const sink = session.sink;
    session.sink = null;
    clearTimeout(session.graceTimer);
    this.release(session);
    if (sink) {
      try {
        sink.send(encodeError(code, message), 'control');
        sink.close(closeCodeFor(code), truncateUtf8(message));
      } catch {
        // a link that fails to take its last words is closed by its transport anyway
      }
    }
    this.parts.debug('session ended', { session: session.id, code });
  }

  /**
   * Each root of a session that just got a link: the deltas it missed when `resume` names its
   * epoch and the backlog still holds them, else a payload (a resumed root in a new epoch).
   */
  sendRoots(session: Session, sink: Sink, resume: RegisterMessage['resume']): void {
    for (const root of session.roots.values()) {
      const position = resume?.roots[root.name];
      const missed =
        position && position.epoch === root.epoch && position.version <= root.version
          ? root.backlog.since(position.version)
          : undefined;
      if (position && missed) {
        const { epoch, version } = position;
        sink.send(encodeResumed(root.name, epoch, version), 'control');
        missed.forEach((entry, i) => sink.send(root.frame(version + i + 1, entry), 'control'));
      } else {
        if (resume) root.restart();
        sink.send(root.payloadFrame(), 'control');
      }
      this.parts.writes.payloadSent(root, sink);
    }
  }

  /** A changed identity: every root follows the views of the new one, from a fresh payload. */
  async reresolve(session: Session, identity: Record<string, unknown>): Promise<void> {
    const { views, writes, subscriptions } = this.parts;
    session.identity = identity;
    session.identityKey = this.parts.identities.key(identity);
    for (const root of session.roots.values()) {
      const source = views.sources.get(root.name);
      if (!source) continue;
      views.leave(root);
      root.restart();
      await views.join(root, { source, identity });
      session.sink?.send(root.payloadFrame(), 'control');
      if (session.sink) writes.payloadSent(root, session.sink);
    }
    await subscriptions.reresolve(session);
    await views.publications.reauthorize(session);
    writes.leases.prune(session);
  }

  /** Drops a session no link holds (its grace ran out, or it was never to be resumed). */
  drop(session: Session): void {
    if (!this.parts.sessions.holds(session) || session.sink) return;
    clearTimeout(session.graceTimer);
    this.release(session);
    this.parts.debug('session dropped', { session: session.id });
  }

  private release(session: Session): void {
    const { views, subscriptions, writes, sessions } = this.parts;
    sessions.delete(session);
    for (const root of session.roots.values()) views.leave(root);
    subscriptions.release(session);
    writes.leases.release(session);
    views.publications.release(session);
  }
}
