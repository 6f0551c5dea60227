import { randomUUID } from 'node:crypto';
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import type { Stream } from 'particle-sync/server';
import { membershipId, SIGN_IN_CHOICES } from './model';
import { activeSession, createSession, revokeSession, SESSION_COOKIE } from './session';
import type { Store } from './store';

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Doc = Record<string, unknown>;

function text(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > 200) {
    throw new HttpError(400, `${field} must be a non-empty string of at most 200 characters`);
  }
  return value.trim();
}

/**
 * The example's writes: plain REST endpoints, called by the pages' forms. They never answer with
 * data for the page to show; the change reaches every page that may see it through Particle.
 * Each checks the same rule the data sources express: you may touch a project's tasks when you
 * are a member of the project, or the organisation's admin. `stream` is told when a write
 * changes what an open connection was allowed (`stream.reauthorize`).
 */
export function apiRouter(store: Store, stream: Stream): express.Router {
  const api = express.Router();
  api.use(express.json(), express.urlencoded({ extended: false }));

  const one = async (collection: 'users' | 'projects' | 'tasks' | 'activity', id: unknown) => {
    const [doc] = typeof id === 'string' ? await store.find(collection, { _id: id }) : [];
    if (!doc) throw new HttpError(404, `no such ${collection.replace(/s$/, '')}: ${String(id)}`);
    return doc;
  };

  const signedIn = async (req: Request) => {
    const session = activeSession(req.headers.cookie);
    if (!session) throw new HttpError(401, 'sign in first');
    return one('users', session.userId);
  };

  /** The project, when `user` may work on it. */
  const workableProject = async (user: Doc, projectId: unknown) => {
    const project = await one('projects', projectId);
    const isAdmin = user.role === 'admin' && user.orgId === project.orgId;
    if (
      !isAdmin &&
      (await store.find('memberships', { userId: user._id, projectId })).length === 0
    ) {
      throw new HttpError(403, `${String(user.name)} is not a member of ${String(project.name)}`);
    }
    return project;
  };

  const admin = async (req: Request) => {
    const user = await signedIn(req);
    if (user.role !== 'admin') throw new HttpError(403, 'only the admin manages memberships');
    return user;
  };

  /**
   * What the `viewers` and `projectStats` sources' `authorize` read changed for `userId`: ask
   * again for each of that user's connections, so a removed member's open subscriptions and
   * publications of the project end (`forbidden`). The criteria-based sources (`projects`,
   * `tasks`) follow the `memberships` rows by themselves.
   */
  const membershipChanged = (userId: unknown) =>
    stream.reauthorize((identity) => identity.userId === userId);

  const cookieOptions = { httpOnly: true, sameSite: 'lax', path: '/' } as const;

  // The sign-in switcher posts a plain form here: set the session cookie, then back to the page.
  api.post('/session', (req, res) => {
    const choice = SIGN_IN_CHOICES.find((c) => c.userId === req.body?.userId);
    if (!choice) throw new HttpError(400, 'unknown user');
    res.cookie(SESSION_COOKIE, createSession(choice.userId), cookieOptions);
    res.redirect(303, '/');
  });

  // Signing out ends the session everywhere its cookie went: this tab, and every other tab of
  // the browser that still holds a live connection with it (they show the refusal at once).
  api.post('/signout', async (req, res) => {
    const session = activeSession(req.headers.cookie);
    if (session) {
      revokeSession(session.sid);
      await stream.reauthorize((identity) => identity.sid === session.sid);
    }
    res.clearCookie(SESSION_COOKIE, cookieOptions);
    res.redirect(303, '/');
  });

  api.post('/tasks', async (req, res) => {
    const user = await signedIn(req);
    const title = text(req.body?.title, 'title');
    const project = await workableProject(user, req.body?.projectId);
    const _id = `t-${randomUUID().slice(0, 8)}`;
    await store.insert('tasks', {
      _id,
      orgId: project.orgId,
      accountId: project.accountId,
      projectId: project._id,
      title,
      done: false,
      createdAt: new Date().toISOString(),
      internalNote: `internal: created by ${String(user._id)}`,
    });
    res.status(201).json({ _id });
  });

  // Rename, tick off and move a task: one endpoint, any subset of the three fields.
  api.patch('/tasks/:id', async (req, res) => {
    const user = await signedIn(req);
    const task = await one('tasks', req.params.id);
    await workableProject(user, task.projectId);
    const fields: Doc = {};
    if (req.body?.title !== undefined) fields.title = text(req.body.title, 'title');
    if (req.body?.done !== undefined) fields.done = req.body.done === true;
    if (req.body?.projectId !== undefined) {
      const target = await workableProject(user, req.body.projectId);
      fields.projectId = target._id;
      fields.accountId = target.accountId;
    }
    await store.set('tasks', String(task._id), fields);
    res.json({ _id: task._id });
  });

  api.delete('/tasks/:id', async (req, res) => {
    const user = await signedIn(req);
    const task = await one('tasks', req.params.id);
    await workableProject(user, task.projectId);
    await store.remove('tasks', String(task._id));
    res.status(204).end();
  });

  // Corrects an activity entry's text, however old: every page showing it follows, one that
  // paged it in with "Load older" included.
  api.patch('/activity/:id', async (req, res) => {
    const user = await signedIn(req);
    const entry = await one('activity', req.params.id);
    await workableProject(user, entry.projectId);
    await store.set('activity', String(entry._id), { text: text(req.body?.text, 'text') });
    res.json({ _id: entry._id });
  });

  api.post('/memberships', async (req, res) => {
    const user = await admin(req);
    const member = await one('users', req.body?.userId);
    const project = await workableProject(user, req.body?.projectId);
    const _id = membershipId(String(member._id), String(project._id));
    if ((await store.find('memberships', { _id })).length === 0) {
      await store.insert('memberships', {
        _id,
        orgId: project.orgId,
        userId: member._id,
        projectId: project._id,
      });
      await membershipChanged(member._id);
    }
    res.status(201).json({ _id });
  });

  api.delete('/memberships/:id', async (req, res) => {
    await admin(req);
    const [membership] = await store.find('memberships', { _id: req.params.id });
    if (membership && (await store.remove('memberships', req.params.id))) {
      await membershipChanged(membership.userId);
    }
    res.status(204).end();
  });

  api.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (!(error instanceof HttpError)) return next(error);
    res.status(error.status).json({ error: error.message });
  });
  return api;
}
