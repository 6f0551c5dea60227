'use client';
import { usePublish, useSubscription } from 'particle-sync/react';
import type { ProjectStats, Viewer } from '../lib/model';

/** Published while the card is shown; the server replaces it with who you are (`accept`). */
const HERE = { here: true };

/**
 * Who has this project open right now, this page included. The page publishes itself into the
 * `viewers` source while mounted; a closed tab leaves the list after the server's `goneAfterMs`.
 */
export function Viewers({ projectId }: { projectId: string }) {
  const params = { projectId };
  const published = usePublish('viewers', params, HERE);
  const { data, error } = useSubscription<Viewer>('viewers', params);
  // One document per open page: someone with two tabs open is listed once.
  const names = [...new Map((data ?? []).map((v) => [v.userId, v.name])).values()];
  const problem = error ?? published.error;
  return (
    <p className="viewers" data-testid="viewers">
      {problem
        ? `Presence unavailable: ${problem.message}`
        : data
          ? `Viewing now: ${names.join(', ') || 'nobody'}`
          : 'Viewing now: …'}
    </p>
  );
}

/** The project's progress, produced on the server from its tasks and made again as they change. */
export function Progress({ projectId }: { projectId: string }) {
  const { data, error } = useSubscription<ProjectStats>('projectStats', { projectId });
  const stats = data?.[0];
  return (
    <p className="progress" data-testid="project-stats">
      {error && !stats
        ? `Progress unavailable: ${error.message}`
        : stats
          ? `${stats.done} of ${stats.total} done`
          : '… of … done'}
    </p>
  );
}
