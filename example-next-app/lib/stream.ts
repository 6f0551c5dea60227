import { Stream } from 'particle-sync/server';
import type {
  Adapter,
  AuthorizeContext,
  IdentityRequest,
  ProducedDataSource,
  PublishedDataSource,
  StandardSchema,
} from 'particle-sync/server';
import { mutators } from './mutators';
import { isRevoked, sessionFromCookieHeader } from './session';

/**
 * "The projects `@userId` is a member of": start at the user, follow `memberships.userId` into
 * the join collection, then `memberships.projectId` out to the projects (links declared in
 * `cacheConfig`). Reactive: a new membership row moves that project's records into view.
 */
const MY_PROJECT_IDS = '@userId|users._id>memberships._id>projects._id';

/**
 * `adminOrgId` is set by `identityLookup` for the organisation's admin only. For everyone else
 * it is missing, and a reference to a missing identity field matches nothing, so the admin
 * branch of each `$or` below is closed for them (deny by default).
 */
const ADMIN = { orgId: '@adminOrgId' };

/**
 * Finds the signed-in user from the session cookie of an upgrade (or page) request. Runs again
 * on `stream.reauthorize(...)` (a sign-out, a membership removed: lib/api.ts), with the same
 * cookie: a revoked session then throws, which ends that connection (`identity_rejected`).
 */
async function lookupIdentity(adapter: Adapter, request: IdentityRequest) {
  const session = sessionFromCookieHeader(request?.headers.cookie);
  if (!session) throw new Error('Not signed in: pick a user first.');
  if (isRevoked(session.sid)) throw new Error('Signed out: sign in again.');
  const { sid, userId } = session;
  const [user] = await adapter.find('users', { _id: userId });
  if (!user) throw new Error(`Unknown user ${userId}.`);
  // The client claims nothing: every field that criteria read comes from the server's records.
  // `name` is what others see while this user holds a task's lease (`lockOwner` below); `sid`
  // names the sign-in, so a sign-out can re-check exactly the connections that used it.
  return user.role === 'admin'
    ? { userId, name: user.name, sid, adminOrgId: user.orgId }
    : { userId, name: user.name, sid, accountId: user.accountId };
}

/**
 * The params of the per-project sources (`activity`, `viewers`, `projectStats`):
 * `{ projectId }`. Any Standard Schema fits (zod, valibot, ...); this one is written out so the
 * example needs no schema library.
 */
const PROJECT_PARAMS: StandardSchema<unknown, { projectId: string }> = {
  '~standard': {
    version: 1,
    vendor: 'particle-example',
    validate: (value) => {
      const projectId = (value as { projectId?: unknown } | null)?.projectId;
      return typeof projectId === 'string' && projectId.length > 0 && projectId.length <= 100
        ? { value: { projectId } }
        : { issues: [{ message: 'must be a non-empty string', path: ['projectId'] }] };
    },
  },
};

/**
 * Whether the identity may see the project named by the params: the organisation's admin, or a
 * member of it. The rule the `projects` source expresses in criteria, checked in code for the
 * sources that have none. A project that does not exist is refused like a foreign one.
 */
async function mayViewProject(
  adapter: Adapter,
  { identity, params }: AuthorizeContext,
): Promise<boolean> {
  const [project] = await adapter.find('projects', { _id: params.projectId });
  if (!project) return false;
  if (identity.adminOrgId !== undefined && project.orgId === identity.adminOrgId) return true;
  const memberships = await adapter.find('memberships', {
    userId: identity.userId,
    projectId: project._id,
  });
  return memberships.length > 0;
}

/** The example's Stream: which records and fields each signed-in user may see. */
export function createStream(adapter: Adapter): Stream {
  return new Stream({
    adapter,
    identityLookup: (_claimed, request) => lookupIdentity(adapter, request),
    mutators,
    // Tests shorten how long a closed tab's lease lives on (`EXAMPLE_LOCK_TTL_MS`).
    lockTtlMs: Number(process.env.EXAMPLE_LOCK_TTL_MS ?? 15_000),
    cacheConfig: { memberships: { userId: 'users._id', projectId: 'projects._id' } },
    dataSources: {
      me: {
        collection: 'users',
        criteria: { _id: '@userId' },
        manifest: { name: true, role: true, accountId: true },
      },
      account: {
        collection: 'accounts',
        criteria: { _id: '@accountId' },
        manifest: { name: true },
      },
      // Per-account visibility; `email` is not in the manifest, so it never leaves the server.
      team: {
        collection: 'users',
        criteria: { $or: [{ accountId: '@accountId' }, ADMIN] },
        manifest: { name: true, role: true, accountId: true },
        sort: { name: 1 },
      },
      projects: {
        collection: 'projects',
        criteria: { $or: [{ _id: MY_PROJECT_IDS }, ADMIN] },
        manifest: { name: true, accountId: true },
        sort: { name: 1 },
      },
      // Through the join collection; `internalNote` is not in the manifest.
      tasks: {
        collection: 'tasks',
        criteria: { $or: [{ projectId: MY_PROJECT_IDS }, ADMIN] },
        manifest: { title: true, done: true, projectId: true, createdAt: true },
        sort: { done: 1, title: 1 },
        // Ticking off is a direct write (`collector.update`); renaming takes the task's lease
        // so two people never rename it at once. What a user may write is what they may see.
        writable: { fields: { done: true }, lockOwner: (identity) => identity.name },
      },
      // One project's log at a time, as a chat opens one channel: subscribed on demand with
      // `{ projectId }`, a live window of the newest 20 that a page widens to page older ones in.
      // The param only chooses within what the identity may see: a project the user does not
      // work on yields nothing (and stays live: the day a membership is added, its log arrives).
      activity: {
        collection: 'activity',
        params: PROJECT_PARAMS,
        criteria: {
          $and: [{ projectId: '$projectId' }, { $or: [{ projectId: MY_PROJECT_IDS }, ADMIN] }],
        },
        manifest: { text: true, projectId: true, createdAt: true, authorName: true },
        sort: { createdAt: -1 },
        limit: { default: 20, max: 200 },
      },
      // Only the admin manages who works on what.
      memberships: { collection: 'memberships', criteria: ADMIN, manifest: true },
      // Presence: who has the project open. Each page publishes `{ here: true }`; `accept`
      // replaces it with the server's own identity fields, so nobody can appear as someone else.
      // A closed tab's document goes `goneAfterMs` after its socket closed (tests shorten it).
      viewers: {
        published: 'many',
        params: PROJECT_PARAMS,
        authorize: (context) => mayViewProject(adapter, context),
        accept: ({ identity }) => ({ userId: identity.userId, name: identity.name }),
        manifest: { userId: true, name: true },
        sort: { name: 1 },
        goneAfterMs: Number(process.env.EXAMPLE_PRESENCE_GONE_MS ?? 5000),
      } satisfies PublishedDataSource,
      // One object per project, made from its tasks and made again when they change. Shared by
      // everyone who may see the project (no `shareBy`): `produce` reads no identity.
      projectStats: {
        params: PROJECT_PARAMS,
        collections: ['tasks'],
        produce: async ({ params, find }) => {
          const tasks = await find('tasks', { projectId: params.projectId });
          return {
            _id: String(params.projectId),
            total: tasks.length,
            done: tasks.filter((task) => task.done === true).length,
          };
        },
        authorize: (context) => mayViewProject(adapter, context),
        manifest: true,
        // A burst of ticks gives one production; an instance outlives a reload by a second.
        debounceMs: 50,
        lingerMs: 1000,
      } satisfies ProducedDataSource,
    },
  });
}
