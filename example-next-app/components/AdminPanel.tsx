'use client';
import { useParticle } from 'particle-sync/react';
import { membershipId } from '../lib/model';
import type { Me, Membership, ProjectRow, TeamMember } from '../lib/model';
import { useWrite } from './useWrite';

/**
 * Who works on what, for the admin only (the `memberships` source is empty for everyone else).
 * Ticking a box writes one row of the join collection; the member's page then gains or loses
 * that project and its tasks, because their criteria pipe through `memberships`.
 */
export function AdminPanel() {
  const me = useParticle<readonly Me[]>('me')?.[0];
  const memberships = useParticle<readonly Membership[]>('memberships');
  const people = useParticle<readonly TeamMember[]>('team');
  const projects = useParticle<readonly ProjectRow[]>('projects');
  const { write, error } = useWrite();
  if (me?.role !== 'admin' || !memberships || !people || !projects) return null;

  const members = people.filter((user) => user.role !== 'admin');
  const has = new Set(memberships.map((m) => m._id));
  const toggle = (userId: string, projectId: string) => {
    const id = membershipId(userId, projectId);
    void (has.has(id)
      ? write('DELETE', `/api/memberships/${encodeURIComponent(id)}`)
      : write('POST', '/api/memberships', { userId, projectId }));
  };
  return (
    <section className="card">
      <h2>Memberships</h2>
      <table className="memberships">
        <thead>
          <tr>
            <th />
            {projects.map((project) => (
              <th key={project._id}>{project.name}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {members.map((user) => (
            <tr key={user._id}>
              <th>{user.name}</th>
              {projects.map((project) => (
                <td key={project._id}>
                  <input
                    type="checkbox"
                    aria-label={`${user.name} works on ${project.name}`}
                    checked={has.has(membershipId(user._id, project._id))}
                    onChange={() => toggle(user._id, project._id)}
                  />
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
      {error && <p role="alert">{error}</p>}
    </section>
  );
}
