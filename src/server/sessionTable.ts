import type { Session } from './session.js';

/**
 * The sessions one process holds, live or waiting for a resume, bounded: at the bound a new
 * session takes the place of the one that has waited longest without a link, and when every
 * session has a link there is no room.
 */
export class SessionTable {
  private readonly byId = new Map<string, Session>();
  /** Sessions without a link, the longest waiting first. */
  private readonly idle = new Set<Session>();

  constructor(readonly max: number) {}

  get size(): number {
    return this.byId.size;
  }

  get(id: string): Session | undefined {
    return this.byId.get(id);
  }

  /** Whether `session` is (still) one of the table's. */
  holds(session: Session): boolean {
    return this.byId.get(session.id) === session;
  }

  values(): IterableIterator<Session> {
    return this.byId.values();
  }

  add(session: Session): void {
    this.byId.set(session.id, session);
    if (!session.sink) this.idle.add(session);
  }

  delete(session: Session): void {
    if (this.byId.get(session.id) === session) this.byId.delete(session.id);
    this.idle.delete(session);
  }

  /** The session's link changed (`session.sink` is already set or cleared). */
  linkChanged(session: Session): void {
    if (session.sink || !this.holds(session)) this.idle.delete(session);
    else this.idle.add(session);
  }

  /** At the bound: the session to drop to make room (the longest idle), or `null` when full. */
  victim(): Session | null | undefined {
    if (this.byId.size < this.max) return undefined;
    for (const session of this.idle) return session;
    return null;
  }

  clear(): void {
    this.byId.clear();
    this.idle.clear();
  }
}
