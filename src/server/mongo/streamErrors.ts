import { ParticleError } from '../../protocol/errors.js';

/** The message of the error raised when the server cannot run change streams. */
export const REPLICA_SET_REQUIRED =
  'MongoAdapter needs change streams, and MongoDB only offers them on a replica set or a sharded ' +
  'cluster; this server is a standalone (error 40573). Start mongod as a one-node replica set ' +
  '(`mongod --replSet rs0`, then run `rs.initiate()` once in mongosh) or use a replica-set URL.';

/**
 * Server errors that retrying cannot cure (the deployment or the user's rights must change),
 * with what to do about each.
 */
const PERMANENT: Record<number, string> = {
  2: 'the server rejected an option of the change stream (BadValue)',
  13: 'the user lacks the `find` and `changeStream` actions on the database (grant `read`)',
  18: 'authentication failed: check the credentials in the connection string',
  59: 'the server does not know a command the adapter needs',
  115: 'the server does not support change streams here (CommandNotSupported)',
  40324: 'the server does not know the $changeStream stage (MongoDB 3.6 or later is needed)',
  40415: 'the server rejected an option of the $changeStream stage',
};

/** Turns a driver error into the error Particle reports (a config error when retrying is useless). */
export function explain(error: unknown): Error {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 40573 || /only supported on replica sets/i.test(message)) {
    return new ParticleError('config', REPLICA_SET_REQUIRED, { cause: error });
  }
  const advice = typeof code === 'number' ? PERMANENT[code] : undefined;
  if (typeof code === 'number' && advice !== undefined) {
    return new ParticleError(
      'config',
      `MongoAdapter cannot open its change stream (error ${code}: ${message}): ${advice}.`,
      { cause: error },
    );
  }
  return error instanceof Error ? error : new Error(message, { cause: error });
}
