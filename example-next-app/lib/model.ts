/**
 * The example's data model: one organisation, two customer accounts, their users, projects,
 * tasks, and `memberships`, the join collection that says who works on which project.
 * Ids are plain strings so the same documents work in memory and in MongoDB. They are `type`
 * aliases, not interfaces, so they fit the adapters' `Record<string, unknown>` documents.
 */

export type Account = {
  _id: string;
  orgId: string;
  name: string;
};

export type User = {
  _id: string;
  orgId: string;
  /** Missing for the organisation's admin, who belongs to no single account. */
  accountId?: string;
  name: string;
  role: 'member' | 'admin';
  /** Never listed in a manifest: stays on the server. */
  email: string;
};

export type Project = {
  _id: string;
  orgId: string;
  accountId: string;
  name: string;
};

export type Membership = {
  _id: string;
  orgId: string;
  userId: string;
  projectId: string;
};

export type Task = {
  _id: string;
  orgId: string;
  accountId: string;
  projectId: string;
  title: string;
  done: boolean;
  createdAt: string;
  /** Never listed in a manifest: stays on the server. */
  internalNote: string;
};

/** One entry of a project's activity log: what a chat channel's message would be. */
export type Activity = {
  _id: string;
  orgId: string;
  accountId: string;
  projectId: string;
  text: string;
  /** Who wrote it, stamped by the server from the writer's identity. */
  authorName: string;
  /** Never listed in a manifest: stays on the server. */
  authorId: string;
  createdAt: string;
};

/** The collections the example uses, in seeding order. */
export type Collections = {
  accounts: Account[];
  users: User[];
  projects: Project[];
  memberships: Membership[];
  tasks: Task[];
  activity: Activity[];
};

export const ORG_ID = 'org-1';

/** The sign-in switcher's choices. */
export const SIGN_IN_CHOICES = [
  { userId: 'ann', label: 'Ann (account A)' },
  { userId: 'ben', label: 'Ben (account B)' },
  { userId: 'admin', label: 'admin' },
] as const;

/** A membership's id is derived from its pair, so joining twice is a no-op. */
export const membershipId = (userId: string, projectId: string): string =>
  `m:${userId}:${projectId}`;

const member = (userId: string, projectId: string): Membership => ({
  _id: membershipId(userId, projectId),
  orgId: ORG_ID,
  userId,
  projectId,
});

const task = (
  _id: string,
  projectId: string,
  accountId: string,
  title: string,
  done = false,
): Task => ({
  _id,
  orgId: ORG_ID,
  accountId,
  projectId,
  title,
  done,
  createdAt: new Date(Date.UTC(2026, 0, 5, 9, Number(_id.slice(2)))).toISOString(),
  internalNote: `internal: billing code for ${_id}`,
});

const entry = (
  _id: string,
  projectId: string,
  accountId: string,
  author: { _id: string; name: string },
  text: string,
  minute: number,
): Activity => ({
  _id,
  orgId: ORG_ID,
  accountId,
  projectId,
  text,
  authorName: author.name,
  authorId: author._id,
  createdAt: new Date(Date.UTC(2025, 0, 6, 9, minute)).toISOString(),
});

const ANN = { _id: 'ann', name: 'Ann' };
const BEN = { _id: 'ben', name: 'Ben' };
const BEA = { _id: 'bea', name: 'Bea' };

/** Number of entries seeded into the shared project's log: more than one window of 20. */
export const LAUNCH_NOTES = 30;

/**
 * The activity logs: a long one in the shared project (Ann and Ben take turns), so its window
 * of the newest 20 has older entries to page in, and a short one in each other project.
 */
function activity(): Activity[] {
  const launch = Array.from({ length: LAUNCH_NOTES }, (_, i) =>
    entry(
      `a-launch-${String(i + 1).padStart(2, '0')}`,
      'p-launch',
      'acct-a',
      i % 2 === 0 ? ANN : BEN,
      `Launch note ${i + 1}`,
      i,
    ),
  );
  return [
    ...launch,
    entry('a-web-1', 'p-web', 'acct-a', ANN, 'Kick-off for the relaunch', 0),
    entry('a-web-2', 'p-web', 'acct-a', ANN, 'Home page wireframes shared', 5),
    entry('a-ops-1', 'p-ops', 'acct-b', BEN, 'Stocktake moved to Friday', 0),
    entry('a-ops-2', 'p-ops', 'acct-b', BEA, 'Forklift inspection booked', 5),
  ];
}

/** The demo data: fresh on every start of the embedded store, inserted once into an empty MongoDB. */
export function seed(): Collections {
  return {
    accounts: [
      { _id: 'acct-a', orgId: ORG_ID, name: 'Account A · Acme Design' },
      { _id: 'acct-b', orgId: ORG_ID, name: 'Account B · Beta Logistics' },
    ],
    users: [
      {
        _id: 'ann',
        orgId: ORG_ID,
        accountId: 'acct-a',
        name: 'Ann',
        role: 'member',
        email: 'ann@acme.test',
      },
      {
        _id: 'amy',
        orgId: ORG_ID,
        accountId: 'acct-a',
        name: 'Amy',
        role: 'member',
        email: 'amy@acme.test',
      },
      {
        _id: 'ben',
        orgId: ORG_ID,
        accountId: 'acct-b',
        name: 'Ben',
        role: 'member',
        email: 'ben@beta.test',
      },
      {
        _id: 'bea',
        orgId: ORG_ID,
        accountId: 'acct-b',
        name: 'Bea',
        role: 'member',
        email: 'bea@beta.test',
      },
      { _id: 'admin', orgId: ORG_ID, name: 'Admin', role: 'admin', email: 'admin@org.test' },
    ],
    projects: [
      { _id: 'p-web', orgId: ORG_ID, accountId: 'acct-a', name: 'Website relaunch' },
      // Owned by account A, shared with Ben from account B through a membership.
      { _id: 'p-launch', orgId: ORG_ID, accountId: 'acct-a', name: 'Spring launch (shared)' },
      { _id: 'p-ops', orgId: ORG_ID, accountId: 'acct-b', name: 'Warehouse ops' },
    ],
    memberships: [
      member('ann', 'p-web'),
      member('ann', 'p-launch'),
      member('amy', 'p-web'),
      member('ben', 'p-launch'),
      member('ben', 'p-ops'),
      member('bea', 'p-ops'),
    ],
    tasks: [
      task('t-1', 'p-web', 'acct-a', 'Draft the new home page'),
      task('t-2', 'p-web', 'acct-a', 'Pick a colour palette', true),
      task('t-3', 'p-launch', 'acct-a', 'Book the launch venue'),
      task('t-4', 'p-launch', 'acct-a', 'Write the press release'),
      task('t-5', 'p-ops', 'acct-b', 'Count the pallets'),
      task('t-6', 'p-ops', 'acct-b', 'Renew the forklift licence'),
    ],
    activity: activity(),
  };
}

/*
 * What the pages receive: the fields each data source's manifest lists (see lib/stream.ts),
 * plus the id. `email` and `internalNote` are never among them.
 */
export type Me = Pick<User, '_id' | 'name' | 'role' | 'accountId'>;
export type TeamMember = Pick<User, '_id' | 'name' | 'role' | 'accountId'>;
export type ProjectRow = Pick<Project, '_id' | 'name' | 'accountId'>;
export type TaskRow = Pick<Task, '_id' | 'title' | 'done' | 'projectId' | 'createdAt'>;
export type ActivityRow = Pick<Activity, '_id' | 'text' | 'projectId' | 'createdAt' | 'authorName'>;
/** One open page in a project's `viewers` (published source): who, stamped by the server. */
export type Viewer = { _id: string; userId: string; name: string };
/** A project's `projectStats` (produced source): made from its tasks. */
export type ProjectStats = { _id: string; total: number; done: number };
