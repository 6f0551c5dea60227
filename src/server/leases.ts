import { encodeLease, encodeLocked, encodeLockError } from '../protocol/encode.js';
import { MutationError } from '../protocol/errors.js';
import type { Id } from '../protocol/messages.js';
import type { LeaseCheck } from './directWrites.js';
import { idKey, wireId } from './ids.js';
import type { Session, SessionRoot } from './session.js';

/** What a lease is on: a document of a collection, and what others see as its holder. */
export interface LeaseTarget {
  readonly collection: string;
  /** The stored id. */
  readonly native: unknown;
  readonly owner: unknown;
}

interface Claim extends LeaseTarget {
  readonly key: string;
  readonly session: Session;
  readonly lockId: string;
}

interface Lease extends Claim {
  readonly token: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/** What {@link Leases} needs from its Stream. */
export interface LeaseHost {
  readonly ttlMs: number;
  readonly maxLeases: number;
  /** Every live session (to tell who sees a document that its lease changed). */
  sessions(): Iterable<Session>;
  /** Whether the root shows a writable source (only those hear of leases). */
  writable(root: SessionRoot): boolean;
}

/** One `lock` as the lease book takes it: the client's lock id, the document, whether to wait. */
export interface LockAsk {
  readonly lockId: string;
  readonly target: LeaseTarget;
  readonly wait: boolean;
}

/**
 * The leases of one Stream (Facsimile's locks, made safe): one holder per document at most,
 * waiting locks served in arrival order, a fencing token that grows with every grant of a
 * document, and an expiry `ttlMs` after the holder's link closed without a resume. Every client
 * whose view of a writable source shows the document is told who holds it.
 */
export class Leases implements LeaseCheck {
  private readonly held = new Map<string, Lease>();
  private readonly queues = new Map<string, Claim[]>();
  private readonly tokens = new Map<string, number>();
  private readonly claims = new Map<Session, Set<Claim>>();
  private readonly perCollection = new Map<string, number>();

  constructor(private readonly host: LeaseHost) {}

  /** Answers one `lock` for a document already checked to be in the session's view. */
  lock(session: Session, { lockId, target, wait }: LockAsk): void {
    const mine = this.claims.get(session) ?? new Set<Claim>();
    if ([...mine].some((c) => c.lockId === lockId)) {
      this.send(
        session,
        encodeLockError(lockId, { code: 'bad_message', message: `lock id ${lockId} is in use` }),
      );
      return;
    }
    if (mine.size >= this.host.maxLeases) {
      this.send(
        session,
        encodeLockError(lockId, {
          code: 'too_many_leases',
          message: `a session holds at most ${this.host.maxLeases} leases and waiting locks`,
        }),
      );
      return;
    }
    const key = docKey(target.collection, target.native);
    const claim: Claim = { ...target, key, session, lockId };
    const holder = this.held.get(key);
    if (!holder) {
      this.add(claim);
      this.grant(claim);
      return;
    }
    if (!wait || holder.session === session) {
      const who = holder.session === session ? 'you already hold it' : 'another client holds it';
      this.send(
        session,
        encodeLockError(lockId, {
          code: 'locked',
          message: `the document is locked: ${who}`,
          owner: holder.owner,
        }),
      );
      return;
    }
    this.add(claim);
    const queue = this.queues.get(key) ?? [];
    queue.push(claim);
    this.queues.set(key, queue);
  }

  /** `unlock`: ends the session's lease or waiting lock `lockId`; anything else is ignored. */
  unlock(session: Session, lockId: string): void {
    for (const claim of this.claims.get(session) ?? []) {
      if (claim.lockId === lockId) {
        this.end(claim);
        return;
      }
    }
  }

  /** The session's link closed: its waiting locks are cancelled, its leases expire in `ttlMs`. */
  linkClosed(session: Session): void {
    for (const claim of [...(this.claims.get(session) ?? [])]) {
      const lease = this.held.get(claim.key);
      if (lease?.session !== session || lease.lockId !== claim.lockId) {
        this.end(claim);
        continue;
      }
      clearTimeout(lease.timer);
      lease.timer = setTimeout(() => this.end(lease), this.host.ttlMs);
      lease.timer.unref?.();
    }
  }

  /** The session resumed on a new link: its leases live on. */
  linkOpened(session: Session): void {
    for (const claim of this.claims.get(session) ?? []) {
      const lease = this.held.get(claim.key);
      if (lease?.session === session) {
        clearTimeout(lease.timer);
        lease.timer = undefined;
      }
    }
  }

  /**
   * After a resume's `registered`: each held lease is told again (same token), with the time it
   * would now end if this link went away too.
   */
  resumed(session: Session): void {
    const expiresAt = new Date(Date.now() + this.host.ttlMs).toISOString();
    for (const claim of this.claims.get(session) ?? []) {
      const lease = this.held.get(claim.key);
      if (lease?.session === session && lease.lockId === claim.lockId) {
        this.send(session, encodeLocked(lease.lockId, lease.token, expiresAt));
      }
    }
  }

  /** The session ended: everything it held or waited for ends now. */
  release(session: Session): void {
    for (const claim of [...(this.claims.get(session) ?? [])]) this.end(claim);
  }

  /** After a changed identity: leases whose document left every view of the session end. */
  prune(session: Session): void {
    for (const claim of [...(this.claims.get(session) ?? [])]) {
      const key = idKey(claim.native);
      const seen = [...session.roots.values(), ...session.subs.values()].some(
        (root) =>
          root.group?.source.collection === claim.collection &&
          root.group.docs.has(key) &&
          this.host.writable(root),
      );
      if (!seen) {
        this.send(
          session,
          encodeLockError(claim.lockId, {
            code: 'cancelled',
            message: 'the document left your view',
          }),
        );
        this.end(claim);
      }
    }
  }

  /** The lease frames a root's client needs after its payload (held leases of its documents). */
  framesFor(root: SessionRoot): string[] {
    const group = root.group;
    if (!group || !this.perCollection.get(group.source.collection) || !this.host.writable(root)) {
      return [];
    }
    const frames: string[] = [];
    for (const lease of this.held.values()) {
      if (lease.collection === group.source.collection && group.docs.has(idKey(lease.native))) {
        frames.push(encodeLease(root.name, wireId(lease.native), lease));
      }
    }
    return frames;
  }

  assertFree(session: Session, collection: string, ids: readonly unknown[]): void {
    if (!this.perCollection.get(collection)) return;
    for (const id of ids) {
      const lease = this.held.get(docKey(collection, id));
      if (lease && lease.session !== session) {
        throw new MutationError(
          'locked',
          `${collection} ${String(wireId(id))} is locked by another client`,
        );
      }
    }
  }

  holds(session: Session, collection: string, id: unknown): boolean {
    return this.held.get(docKey(collection, id))?.session === session;
  }

  /** Whether any lease is held on `collection` (writes elsewhere skip the check). */
  any(collection: string): boolean {
    return (this.perCollection.get(collection) ?? 0) > 0;
  }

  close(): void {
    for (const lease of this.held.values()) clearTimeout(lease.timer);
    this.held.clear();
    this.queues.clear();
    this.claims.clear();
  }

  // ---- internals ---------------------------------------------------------------------------

  private add(claim: Claim): void {
    let mine = this.claims.get(claim.session);
    if (!mine) this.claims.set(claim.session, (mine = new Set()));
    mine.add(claim);
  }

  private grant(claim: Claim): void {
    const token = (this.tokens.get(claim.key) ?? 0) + 1;
    this.tokens.set(claim.key, token);
    const lease: Lease = { ...claim, token, timer: undefined };
    // The claim object in the session's set becomes the lease.
    const mine = this.claims.get(claim.session);
    mine?.delete(claim);
    mine?.add(lease);
    this.held.set(claim.key, lease);
    this.perCollection.set(claim.collection, (this.perCollection.get(claim.collection) ?? 0) + 1);
    const expiresAt = new Date(Date.now() + this.host.ttlMs).toISOString();
    if (!claim.session.sink) this.linkClosed(claim.session);
    this.send(claim.session, encodeLocked(claim.lockId, token, expiresAt));
    this.broadcast(lease, true);
  }

  /** Ends a lease or a waiting lock; the next waiter of that document gets the lease. */
  private end(claim: Claim): void {
    const mine = this.claims.get(claim.session);
    mine?.delete(claim);
    if (mine?.size === 0) this.claims.delete(claim.session);
    const lease = this.held.get(claim.key);
    if (lease !== claim) {
      const queue = this.queues.get(claim.key);
      const at = queue?.indexOf(claim) ?? -1;
      if (queue && at >= 0) queue.splice(at, 1);
      if (queue?.length === 0) this.queues.delete(claim.key);
      return;
    }
    clearTimeout(lease.timer);
    this.held.delete(claim.key);
    const count = (this.perCollection.get(claim.collection) ?? 1) - 1;
    if (count > 0) this.perCollection.set(claim.collection, count);
    else this.perCollection.delete(claim.collection);
    const next = this.queues.get(claim.key)?.shift();
    if (this.queues.get(claim.key)?.length === 0) this.queues.delete(claim.key);
    if (next) this.grant(next);
    else this.broadcast(lease, false);
  }

  /** Tells every session whose view of a writable source shows the document who holds it. */
  private broadcast(lease: Lease, held: boolean): void {
    const key = idKey(lease.native);
    const doc: Id = wireId(lease.native);
    for (const session of this.host.sessions()) {
      const sink = session.sink;
      if (!sink) continue;
      for (const root of [...session.roots.values(), ...session.subs.values()]) {
        const group = root.group;
        if (!group || group.source.collection !== lease.collection || !group.docs.has(key))
          continue;
        if (!this.host.writable(root)) continue;
        try {
          sink.send(encodeLease(root.name, doc, held ? lease : null), 'control');
        } catch {
          // a failing link is closed by its transport
        }
      }
    }
  }

  private send(session: Session, frame: string): void {
    try {
      session.sink?.send(frame, 'control');
    } catch {
      // a failing link is closed by its transport
    }
  }
}

function docKey(collection: string, id: unknown): string {
  return `${collection}\n${idKey(id)}`;
}
