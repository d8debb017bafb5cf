import './styles.css';
import { render, type JSX } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { Api, ApiError, errorText, type WhoAmI } from './api.js';
import { Ctx, type ConsoleContext } from './context.js';
import { Shell } from './shell.js';
import { Login } from './pages/login.js';

type State = { phase: 'checking' } | { phase: 'login'; error?: string } | { phase: 'in'; me: WhoAmI };

function App(): JSX.Element {
  const api = useMemo(() => new Api(), []);
  const [state, setState] = useState<State>({ phase: 'checking' });
  const [note, setNote] = useState<{ text: string; n: number } | undefined>(undefined);
  const loggedIn = useRef(false);
  loggedIn.current = state.phase === 'in';

  // Ask who we are: with stored credentials, or anonymously where the broker admits anonymous users.
  const check = async (): Promise<void> => {
    const withCredentials = api.hasCredentials;
    try {
      const me = await api.whoami();
      if (!me.monitor) {
        setState({ phase: 'login', error: `${me.user ?? 'This user'} may not use the console (no monitor permission).` });
        api.forget();
        return;
      }
      setState({ phase: 'in', me });
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) {
        api.forget();
        // no credentials yet: the broker wants a login, which is no error
        setState(withCredentials ? { phase: 'login', error: `Not logged in: ${err.message}` } : { phase: 'login' });
        return;
      }
      setState({ phase: 'login', error: errorText(err) });
    }
  };

  useEffect(() => {
    api.onUnauthorized = () => {
      if (!loggedIn.current) return;
      api.forget();
      setState({ phase: 'login', error: 'The broker no longer accepts these credentials. Log in again.' });
    };
    void check();
  }, []);

  useEffect(() => {
    if (note === undefined) return;
    const t = setTimeout(() => setNote(undefined), 4000);
    return () => clearTimeout(t);
  }, [note]);

  if (state.phase === 'checking') return <div class="boot" />;
  if (state.phase === 'login') {
    return (
      <Login
        error={state.error}
        onLogin={async (user, password) => {
          api.setCredentials(user, password);
          await check();
        }}
      />
    );
  }
  const context: ConsoleContext = { api, me: state.me, notify: (text) => setNote({ text, n: (note?.n ?? 0) + 1 }) };
  return (
    <Ctx.Provider value={context}>
      <Shell
        onLogout={() => {
          api.forget();
          setState({ phase: 'login' });
        }}
      />
      {note !== undefined && (
        <div class="toast" role="status" key={note.n}>
          {note.text}
        </div>
      )}
    </Ctx.Provider>
  );
}

render(<App />, document.getElementById('app')!);
