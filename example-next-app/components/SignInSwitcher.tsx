import { SIGN_IN_CHOICES } from '../lib/model';

/**
 * A plain form: the server sets the session cookie and sends the browser back to the page, which
 * then connects as the new user. The browser never says which account it belongs to.
 */
export function SignInSwitcher({ current }: { current?: string | undefined }) {
  return (
    <form className="switcher" method="post" action="/api/session">
      {SIGN_IN_CHOICES.map((choice) => (
        <button
          key={choice.userId}
          name="userId"
          value={choice.userId}
          aria-pressed={choice.userId === current}
        >
          {choice.label}
        </button>
      ))}
    </form>
  );
}

/**
 * A plain form as well: the server revokes the session, ends every connection that used it
 * (other tabs of this browser included) and clears the cookie.
 */
export function SignOutButton() {
  return (
    <form method="post" action="/api/signout">
      <button>Sign out</button>
    </form>
  );
}
