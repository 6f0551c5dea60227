import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A deliberately small session scheme. The cookie holds `sid.userId.signature`: a random
 * session id and the user, signed with a server-side secret, so a browser can't claim to be
 * someone else and a session survives a server restart (the live connection reconnects with
 * the same cookie). Signing out revokes the session id on the server: `identityLookup` (and
 * the REST API) refuse a revoked one, and `stream.reauthorize` asks the lookup again at once.
 */
export const SESSION_COOKIE = 'particle_example_session';

export interface Session {
  /** Random, one per sign-in: every tab of that sign-in shares it (same cookie). */
  sid: string;
  userId: string;
}

const secret = process.env.SESSION_SECRET ?? 'particle-example-not-a-secret';

const sign = (payload: string): string =>
  createHmac('sha256', secret).update(payload).digest('base64url');

/*
 * The revoked session ids. Kept in this process only, so a revocation lasts until the server
 * restarts (the embedded store forgets everything then too). A real app keeps its sessions or
 * revocations in its database, where every server instance reads them. On `globalThis`
 * because Next bundles the pages apart from server.ts: two copies of this module must share
 * one set (see streamHandle.ts).
 */
const REVOKED = Symbol.for('particle-example.revoked-sessions');
const revoked = ((globalThis as { [REVOKED]?: Set<string> })[REVOKED] ??= new Set<string>());

/** The cookie value for a new sign-in of `userId`. */
export function createSession(userId: string): string {
  const payload = `${randomBytes(16).toString('base64url')}.${userId}`;
  return `${payload}.${sign(payload)}`;
}

/** The session of a cookie value, or `undefined` when it is missing or forged. */
export function readSession(value: string | undefined): Session | undefined {
  if (!value) return undefined;
  const first = value.indexOf('.');
  const last = value.lastIndexOf('.');
  if (first <= 0 || last <= first + 1) return undefined;
  const payload = value.slice(0, last);
  const given = Buffer.from(value.slice(last + 1));
  const expected = Buffer.from(sign(payload));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  return { sid: value.slice(0, first), userId: value.slice(first + 1, last) };
}

/** The session of a `Cookie` request header (revoked or not: see `isRevoked`). */
export function sessionFromCookieHeader(header: string | undefined): Session | undefined {
  for (const part of header?.split(';') ?? []) {
    const eq = part.indexOf('=');
    if (part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    try {
      return readSession(decodeURIComponent(part.slice(eq + 1).trim()));
    } catch {
      return undefined; // not valid percent-encoding: not a cookie this server set
    }
  }
  return undefined;
}

/** Signs the session out everywhere its cookie went: every later check refuses it. */
export function revokeSession(sid: string): void {
  revoked.add(sid);
}

export function isRevoked(sid: string): boolean {
  return revoked.has(sid);
}

/** The signed-in session of a `Cookie` header: missing, forged and revoked ones are not. */
export function activeSession(header: string | undefined): Session | undefined {
  const session = sessionFromCookieHeader(header);
  return session && !isRevoked(session.sid) ? session : undefined;
}
