'use client';
import { useParticleStatus } from 'particle-sync/react';

const LABELS = {
  waiting: 'connecting…',
  ready: 'live',
  reconnecting: 'reconnecting…',
  error: 'refused',
  closed: 'closed',
} as const;

export function StatusBadge() {
  const status = useParticleStatus();
  return (
    <span className={`badge badge-${status}`} data-status={status} title={`Particle: ${status}`}>
      {LABELS[status]}
    </span>
  );
}
