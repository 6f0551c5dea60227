import {
  MutationError,
  type Id,
  type LeaseMessage,
  type LockErrorMessage,
  type LockMessage,
  type LockedMessage,
  type UnlockMessage,
} from '../protocol/index.js';

/** A granted lease: exclusive write rights on one document until `release()`. */
export interface Lease {
  readonly root: string;
  readonly id: Id;
  /** The fencing token: larger with every grant of this document's lease. */
  readonly token: number;
  /** When the server lets it go if this client stays away (it renews while connected). */
  readonly expiresAt: string;
  /** Gives the lease up (the next waiter gets it). Only the holder can. */
  release(): void;
}

/** Who holds a document's lease, as this client was last told. */
export interface LeaseState {
  /** Someone holds it. */
  readonly held: boolean;
  /** This collector holds it. */
  readonly mine: boolean;
  /** The holder as the source's `lockOwner` names it (another client's), when it does. */
  readonly owner: unknown;
}

/** What the lease book needs from its collector. */
export interface LeasesHost {
  send(message: LockMessage | UnlockMessage): void;
  /** A document's lease state changed (`root` as the wire names it). */
  changed(root: string, id: Id): void;
}

/** The document a lease is asked for: its source, its id and the view's params. */
export interface LeaseTarget {
  readonly root: string;
  readonly id: Id;
  readonly params: unknown;
}

interface Pending {
  readonly lockId: string;
  readonly root: string;
  readonly params: unknown;
  readonly id: Id;
  readonly wait: boolean;
  resolve(lease: Lease): void;
  reject(error: MutationError): void;
  lease: MutableLease | null;
}

interface MutableLease extends Lease {
  token: number;
  expiresAt: string;
}

const NOBODY: LeaseState = Object.freeze({ held: false, mine: false, owner: undefined });

/**
 * This collector's locks and what it was told of others' leases. Locks are sent once
 * registered, and again after a new registration (a lease of an ended session is gone, so a
 * held one is asked for again and gets a new token); `lease` frames say who holds what.
 */
export class LeaseBook {
  readonly #host: LeasesHost;
  readonly #locks = new Map<string, Pending>();
  /** By wire root, then by `String(id)`: the last `lease` frame. */
  readonly #told = new Map<string, Map<string, { owner: unknown }>>();
  #next = 1;
  #registered = false;
  /** Released while the link was down: unlocked once a resume shows the server still holds them. */
  readonly #unlockLater = new Set<string>();
  #ended: MutationError | null = null;

  constructor(host: LeasesHost) {
    this.#host = host;
  }

  /** `lock` (`wait: true`) or `request` (`wait: false`) of one document. */
  ask({ root, id, params }: LeaseTarget, wait: boolean): Promise<Lease> {
    if (typeof root !== 'string' || root === '')
      throw new TypeError('lock: root must be a source name');
    if (typeof id !== 'string' && typeof id !== 'number')
      throw new TypeError('lock: id must be a string or number');
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => {
      const pending: Pending = {
        lockId: `l${this.#next++}`,
        root,
        params,
        id,
        wait,
        resolve,
        reject,
        lease: null,
      };
      this.#locks.set(pending.lockId, pending);
      if (this.#registered) this.#send(pending);
    });
  }

  /** Whether this collector holds (or re-asks for) the lease of (root, id). */
  mine(root: string, id: Id): boolean {
    for (const p of this.#locks.values())
      if (p.lease && p.root === root && p.id === id) return true;
    return false;
  }

  /** What the frames of wire root `wireRoot` said about `id`. */
  state(wireRoot: string, root: string, id: Id): LeaseState {
    const told = this.#told.get(wireRoot)?.get(String(id));
    const mine = this.mine(root, id);
    if (!told && !mine) return NOBODY;
    return { held: true, mine, owner: mine ? undefined : told?.owner };
  }

  registered(fresh: boolean): void {
    this.#registered = true;
    if (!fresh)
      for (const lockId of this.#unlockLater) this.#host.send({ type: 'unlock', id: lockId });
    this.#unlockLater.clear();
    for (const p of this.#locks.values()) {
      // A resumed session keeps its leases; a fresh one lost them: ask again, waiting.
      if (p.lease && !fresh) continue;
      this.#send(p);
    }
  }

  lost(): void {
    this.#registered = false;
  }

  /** A payload or `resumed` for `wireRoot`: its lease frames follow afresh. */
  reset(wireRoot: string): void {
    const told = this.#told.get(wireRoot);
    if (!told) return;
    this.#told.delete(wireRoot);
    for (const key of told.keys()) this.#host.changed(wireRoot, key);
  }

  receive(message: LockedMessage | LockErrorMessage | LeaseMessage): void {
    if (message.type === 'lease') {
      let told = this.#told.get(message.root);
      if (message.held) {
        if (!told) this.#told.set(message.root, (told = new Map<string, { owner: unknown }>()));
        told.set(String(message.doc), { owner: message.owner });
      } else told?.delete(String(message.doc));
      this.#host.changed(message.root, message.doc);
      return;
    }
    const pending = this.#locks.get(message.id);
    if (!pending) return;
    if (message.type === 'locked') {
      if (pending.lease) {
        pending.lease.token = message.token;
        pending.lease.expiresAt = message.expiresAt;
        return;
      }
      const lease: MutableLease = {
        root: pending.root,
        id: pending.id,
        token: message.token,
        expiresAt: message.expiresAt,
        release: () => this.#release(pending),
      };
      pending.lease = lease;
      pending.resolve(lease);
      this.#host.changed(pending.root, pending.id);
      return;
    }
    this.#locks.delete(pending.lockId);
    const error = new MutationError(message.code, message.message);
    if (message.owner !== undefined) Object.assign(error, { owner: message.owner });
    if (!pending.lease) pending.reject(error);
    else this.#host.changed(pending.root, pending.id);
  }

  end(why: string): void {
    if (this.#ended) return;
    this.#ended = new MutationError('disconnected', why);
    for (const p of this.#locks.values()) if (!p.lease) p.reject(this.#ended);
    this.#locks.clear();
  }

  #release(pending: Pending): void {
    if (this.#locks.get(pending.lockId) !== pending) return;
    this.#locks.delete(pending.lockId);
    if (this.#registered) this.#host.send({ type: 'unlock', id: pending.lockId });
    else this.#unlockLater.add(pending.lockId);
    this.#host.changed(pending.root, pending.id);
  }

  #send(p: Pending): void {
    const message: LockMessage = {
      type: 'lock',
      id: p.lockId,
      root: p.root,
      doc: p.id,
      wait: p.wait || p.lease !== null,
    };
    if (p.params !== undefined) message.params = p.params;
    this.#host.send(message);
  }
}
