import { headers } from 'next/headers';
import { Board } from '../components/Board';
import { SignInSwitcher } from '../components/SignInSwitcher';
import { activeSession } from '../lib/session';
import { getStream } from '../lib/streamHandle';

export default async function Home() {
  const cookie = (await headers()).get('cookie') ?? undefined;
  // A revoked cookie (signed out in another tab) is no session either.
  if (!activeSession(cookie)) {
    return (
      <main className="signed-out">
        <h1>Particle example</h1>
        <p>Sign in as one of the demo users. Each sees only what the server lets them see.</p>
        <SignInSwitcher />
      </main>
    );
  }
  // The first render comes from the server: the same records, with the same identity check
  // (identityLookup reads the session cookie), as the live connection will hold once ready.
  // identityLookup reads only the request's headers, which is all a server component has.
  const initialData = await getStream().snapshot({}, { headers: { cookie } });
  return <Board initialData={initialData} />;
}
