'use client';
import { useParticle } from 'particle-sync/react';
import type { TeamMember } from '../lib/model';

/** Your account's people (the admin sees the whole organisation). */
export function Team() {
  const team = useParticle<readonly TeamMember[]>('team');
  return (
    <section className="card">
      <h2>Team</h2>
      <ul className="team">
        {team?.map((user) => (
          <li key={user._id}>
            {user.name}
            <small>{user.role === 'admin' ? 'admin' : user.accountId}</small>
          </li>
        ))}
      </ul>
    </section>
  );
}
