import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { Logo } from '../components/logo.js';

export function Login(props: { error: string | undefined; onLogin: (user: string, password: string) => Promise<void> }): JSX.Element {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setBusy(true);
    try {
      await props.onLogin(user, password);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="login-page">
      <form class="login-card" onSubmit={(e) => void submit(e)}>
        <div class="login-brand">
          <Logo />
          <div>
            <div class="login-title">Ferry</div>
            <div class="login-sub">Broker console</div>
          </div>
        </div>
        <h1>Log in</h1>
        <p class="muted">Use a Ferry user of this broker.</p>
        {props.error !== undefined && (
          <div class="banner banner-error" role="alert">
            <span class="banner-icon" aria-hidden="true">!</span>
            <span class="banner-text">{props.error}</span>
          </div>
        )}
        <label class="field">
          <span class="field-label">User</span>
          <input name="user" autocomplete="username" value={user} onInput={(e) => setUser(e.currentTarget.value)} required autofocus />
        </label>
        <label class="field">
          <span class="field-label">Password</span>
          <input name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
        </label>
        <button type="submit" class="btn btn-primary btn-block" disabled={busy || user === ''}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </div>
  );
}
