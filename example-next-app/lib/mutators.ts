import { randomUUID } from 'node:crypto';
import { MutationError, mutator } from 'particle-sync/server';
import type { Db, Mutator } from 'particle-sync/server';

type Doc = Record<string, unknown>;

function text(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > 200) {
    throw new MutationError(
      'bad_args',
      `${field} must be a non-empty string of at most 200 characters`,
    );
  }
  return value.trim();
}

function record(args: unknown): Doc {
  if (typeof args !== 'object' || args === null)
    throw new MutationError('bad_args', 'args must be an object');
  return args as Doc;
}

/**
 * The project, when the signed-in user may work on it: a member of it, or the organisation's
 * admin. The same rule the `tasks` data source expresses, checked again for writes.
 * A project the user may not see is refused the same way as one that does not exist.
 */
async function workableProject(db: Db, identity: Readonly<Doc>, projectId: unknown): Promise<Doc> {
  const [project] =
    typeof projectId === 'string' ? await db.find('projects', { _id: projectId }) : [];
  const allowed =
    project !== undefined &&
    (project.orgId === identity.adminOrgId ||
      (await db.find('memberships', { userId: identity.userId, projectId })).length > 0);
  if (!project || !allowed) throw new MutationError('forbidden', 'you do not work on that project');
  return project;
}

async function workableTask(db: Db, identity: Readonly<Doc>, taskId: unknown): Promise<Doc> {
  const [task] = typeof taskId === 'string' ? await db.find('tasks', { _id: taskId }) : [];
  if (!task) throw new MutationError('forbidden', 'you do not work on that task');
  await workableProject(db, identity, task.projectId);
  return task;
}

/**
 * Tests and demos set `EXAMPLE_WRITE_DELAY_MS` to see optimistic updates at work: the server
 * then takes that long to answer every mutation.
 */
const delayMs = Number(process.env.EXAMPLE_WRITE_DELAY_MS ?? 0);
const slow = () => (delayMs > 0 ? new Promise((r) => setTimeout(r, delayMs)) : undefined);

/** The writes the pages make through Particle (the REST routes in `api.ts` remain for others). */
export const mutators: Record<string, Mutator> = {
  /** The client picks the id, so the optimistic task and the real one are the same document. */
  addTask: mutator({
    run: async ({ identity, args, db }) => {
      await slow();
      const { _id, projectId, title } = record(args);
      const project = await workableProject(db, identity, projectId);
      const id =
        typeof _id === 'string' && /^t-[a-z0-9-]{4,40}$/.test(_id) ? _id : `t-${randomUUID()}`;
      await db.insert('tasks', {
        _id: id,
        orgId: project.orgId,
        accountId: project.accountId,
        projectId: project._id,
        title: text(title, 'title'),
        done: false,
        createdAt: new Date().toISOString(),
        internalNote: `internal: created by ${String(identity.userId)}`,
      });
      return { _id: id };
    },
  }),
  /**
   * Posts to a project's activity log. The author is the signed-in user, whatever the page
   * sends; the client picks the id, so its optimistic entry is the one the server confirms.
   */
  addActivity: mutator({
    run: async ({ identity, args, db }) => {
      await slow();
      const { _id, projectId, text: body } = record(args);
      const project = await workableProject(db, identity, projectId);
      const id =
        typeof _id === 'string' && /^a-[a-z0-9-]{4,40}$/.test(_id) ? _id : `a-${randomUUID()}`;
      await db.insert('activity', {
        _id: id,
        orgId: project.orgId,
        accountId: project.accountId,
        projectId: project._id,
        text: text(body, 'text'),
        authorName: identity.name,
        authorId: identity.userId,
        createdAt: new Date().toISOString(),
      });
      return { _id: id };
    },
  }),
  renameTask: mutator({
    run: async ({ identity, args, db }) => {
      await slow();
      const { id, title } = record(args);
      const task = await workableTask(db, identity, id);
      await db.update('tasks', { _id: task._id }, { $set: { title: text(title, 'title') } });
    },
  }),
};
