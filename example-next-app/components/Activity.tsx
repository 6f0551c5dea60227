'use client';
import { useState } from 'react';
import type { FormEvent } from 'react';
import { useMutation, useParticle, useSubscription } from 'particle-sync/react';
import type { ActivityRow, Me, ProjectRow } from '../lib/model';

/** The window: the newest entries first, and this many more on each "Load older". */
const PAGE = 20;

/**
 * One project's activity at a time, as a chat shows one channel: pick another project and the
 * same hook switches its subscription (the old one ends, a new one starts, on the same
 * connection), while the rest of the page keeps showing what it shows.
 */
export function ActivityPanel() {
  const projects = useParticle<readonly ProjectRow[]>('projects');
  const [picked, setPicked] = useState<string>();
  // The pick, while it is still one of yours (a removed membership takes it away).
  const current = projects?.find((p) => p._id === picked) ?? projects?.[0];
  return (
    <section className="card activity" data-testid="activity">
      <h2>Activity</h2>
      {current ? (
        <>
          <div className="picker" role="group" aria-label="Project">
            {projects?.map((project) => (
              <button
                key={project._id}
                type="button"
                aria-pressed={project._id === current._id}
                onClick={() => setPicked(project._id)}
              >
                {project.name}
              </button>
            ))}
          </div>
          <Feed projectId={current._id} />
        </>
      ) : (
        <p className="empty">No projects yet.</p>
      )}
    </section>
  );
}

function Feed({ projectId }: { projectId: string }) {
  // A new `projectId` is a new subscription of the same hook: no re-registration, no remount.
  const { data, status, error, more, setLimit } = useSubscription<ActivityRow>(
    'activity',
    { projectId },
    { limit: PAGE },
  );
  return (
    <div data-activity-project={projectId} data-status={status}>
      <Composer projectId={projectId} />
      {error && <p role="alert">Activity unavailable: {error.message}</p>}
      {data === undefined ? (
        <p className="empty">Loading…</p>
      ) : (
        <ol className="entries">
          {data.map((entry) => (
            <li key={entry._id} data-activity={entry._id}>
              <span className="text">{entry.text}</span>
              <small>
                {entry.authorName} · {entry.createdAt.slice(0, 16).replace('T', ' ')}
              </small>
            </li>
          ))}
        </ol>
      )}
      {more && data && (
        // The window grows by a page: the older entries arrive as inserts, and stay live.
        <button type="button" onClick={() => setLimit(data.length + PAGE)}>
          Load older
        </button>
      )}
    </div>
  );
}

/** Posts through the `addActivity` mutator; the entry shows at the top at once. */
function Composer({ projectId }: { projectId: string }) {
  const post = useMutation<{ _id: string; projectId: string; text: string }, { _id: string }>(
    'addActivity',
  );
  const me = useParticle<readonly Me[]>('me')?.[0];
  const [error, setError] = useState<string>();
  const send = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const text = String(new FormData(form).get('text') ?? '').trim();
    const _id = `a-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const entry = {
      _id,
      projectId,
      text,
      authorName: me?.name ?? '…',
      createdAt: new Date().toISOString(),
    };
    setError(undefined);
    post(
      { _id, projectId, text },
      { optimistic: (local) => local.insert('activity', { projectId }, entry) },
    ).catch((refusal: Error) => setError(refusal.message));
    form.reset();
  };
  return (
    <form className="add" onSubmit={send}>
      <input name="text" placeholder="Write an update" aria-label="New activity entry" required />
      <button>Post</button>
      {error && <p role="alert">{error}</p>}
    </form>
  );
}
