import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * A deliberately small session scheme: the cookie holds `userId.signature`, signed with a
 * server-side secret, so a browser can't claim to be someone else and a session survives a
 * server restart (the live connection reconnects with the same cookie).
 */
export const SESSION_COOKIE = 'particle_example_session';

const secret = process.env.SESSION_SECRET ?? 'particle-example-not-a-secret';

const sign = (userId: string): string =>
  createHmac('sha256', secret).update(userId).digest('base64url');

/** The cookie value for a signed-in user. */
export function createSession(userId: string): string {
  return `${userId}.${sign(userId)}`;
}

/** The user id of a cookie value, or `undefined` when it is missing or forged. */
export function readSession(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const dot = value.lastIndexOf('.');
  const userId = value.slice(0, dot);
  if (dot <= 0) return undefined;
  const given = Buffer.from(value.slice(dot + 1));
  const expected = Buffer.from(sign(userId));
  return given.length === expected.length && timingSafeEqual(given, expected) ? userId : undefined;
}

/** The session's user id, read from a `Cookie` request header. */
export function sessionFromCookieHeader(header: string | undefined): string | undefined {
  for (const part of header?.split(';') ?? []) {
    const eq = part.indexOf('=');
    if (part.slice(0, eq).trim() === SESSION_COOKIE) {
      return readSession(decodeURIComponent(part.slice(eq + 1).trim()));
    }
  }
  return undefined;
}
