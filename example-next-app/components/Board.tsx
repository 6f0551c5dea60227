'use client';
import type { ComponentProps } from 'react';
import {
  ParticleProvider,
  useCollector,
  useParticle,
  useParticleStatus,
} from 'particle-sync/react';
import type { Me } from '../lib/model';
import { ActivityPanel } from './Activity';
import { AdminPanel } from './AdminPanel';
import { Projects } from './Projects';
import { SignInSwitcher, SignOutButton } from './SignInSwitcher';
import { StatusBadge } from './StatusBadge';
import { Team } from './Team';

type InitialData = ComponentProps<typeof ParticleProvider>['initialData'];

// The browser claims nothing about itself: the server finds the user from the session cookie
// that travels with the WebSocket upgrade, and decides the account from its own records.
const NO_CLAIM = {};

export function Board({ initialData }: { initialData: InitialData }) {
  return (
    <ParticleProvider url="/particle" identity={NO_CLAIM} initialData={initialData}>
      <Header />
      <Content />
    </ParticleProvider>
  );
}

/**
 * The board, until the server ends this page's connection: then why (signed out in another
 * tab, say), and none of the data the page may no longer see. The collector keeps its last
 * data on an error; it is this page that stops showing it.
 */
function Content() {
  const status = useParticleStatus();
  const error = useCollector()?.error;
  if (status === 'error') {
    return (
      <main className="signed-out">
        <p role="alert" data-testid="ended">
          {error?.message ?? 'The server ended this connection.'}
        </p>
      </main>
    );
  }
  return (
    <main className="layout">
      <Projects />
      <aside>
        <ActivityPanel />
        <Team />
        <AdminPanel />
        <section className="card hint">
          <h2>How this page stays live</h2>
          <p>
            Every list here is read with <code>useParticle</code>; each project&apos;s progress and
            who is viewing it with <code>useSubscription</code>, and this page joins those viewers
            with <code>usePublish</code>; the activity of one project at a time, a live window of
            the newest entries, with <code>useSubscription</code> and params. The server pushes
            every change to each page allowed to see it. Sign in as someone else in a second window
            and watch.
          </p>
        </section>
      </aside>
    </main>
  );
}

function Header() {
  const ended = useParticleStatus() === 'error';
  const me = useParticle<readonly Me[]>('me')?.[0];
  const account = useParticle<readonly { name: string }[]>('account')?.[0];
  return (
    <header className="top">
      <h1>Particle example</h1>
      <p className="who">
        {ended
          ? 'not signed in'
          : me
            ? `${me.name} · ${account?.name ?? 'whole organisation'}`
            : 'signed in'}{' '}
        <StatusBadge />
      </p>
      <SignInSwitcher current={ended ? undefined : me?._id} />
      {ended ? null : <SignOutButton />}
    </header>
  );
}
