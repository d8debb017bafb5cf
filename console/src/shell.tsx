import type { JSX } from 'preact';
import { Logo } from './components/logo.js';
import { Link } from './components/ui.js';
import { useConsole } from './context.js';
import { match, useLocation } from './router.js';
import { Overview } from './pages/overview.js';
import { Destinations } from './pages/destinations.js';
import { QueuePage } from './pages/queue.js';
import { TopicPage } from './pages/topic.js';
import { SendPage } from './pages/send.js';
import { DeadLetters } from './pages/dead-letters.js';
import { Connections } from './pages/connections.js';
import { Subscriptions } from './pages/subscriptions.js';
import { ScheduledPage } from './pages/scheduled.js';
import { StorePage } from './pages/store.js';
import { Empty } from './components/ui.js';

interface NavItem {
  readonly path: string;
  readonly label: string;
  readonly icon: string;
  readonly manage?: boolean;
}

const NAV: readonly NavItem[] = [
  { path: '/', label: 'Overview', icon: 'M3 13h8V3H3zm0 8h8v-6H3zm10 0h8V11h-8zm0-18v6h8V3z' },
  { path: '/destinations', label: 'Destinations', icon: 'M4 6h16v3H4zm0 5h16v3H4zm0 5h16v3H4z' },
  { path: '/dead-letters', label: 'Dead letters', icon: 'M12 2 1 21h22zm1 14h-2v2h2zm0-6h-2v5h2z' },
  { path: '/send', label: 'Send message', icon: 'M2 21 23 12 2 3v7l15 2-15 2z', manage: true },
  { path: '/connections', label: 'Connections', icon: 'M7 7h4v2H7a3 3 0 0 0 0 6h4v2H7A5 5 0 0 1 7 7zm6 0h4a5 5 0 0 1 0 10h-4v-2h4a3 3 0 0 0 0-6h-4zm-5 4h8v2H8z' },
  { path: '/subscriptions', label: 'Subscriptions', icon: 'M4 4h16v4H4zm2 6h12v4H6zm2 6h8v4H8z' },
  { path: '/scheduled', label: 'Scheduled', icon: 'M12 2a10 10 0 1 0 0 20 10 10 0 0 0 0-20zm1 11h-5v-2h3V6h2z' },
  { path: '/store', label: 'Store', icon: 'M4 4h16v5H4zm0 6h16v5H4zm0 6h16v4H4zm12-10h2V6h-2zm0 6h2v-1h-2z' },
];

function active(item: NavItem, path: string): boolean {
  if (item.path === '/') return path === '/';
  if (item.path === '/destinations') return path.startsWith('/destinations') || path.startsWith('/queues/') || path.startsWith('/topics/');
  return path.startsWith(item.path);
}

function Page(props: { path: string; query: URLSearchParams }): JSX.Element {
  const { me } = useConsole();
  const { path, query } = props;
  if (path === '/') return <Overview />;
  if (path === '/destinations') return <Destinations query={query} />;
  let m = match('/queues/:name', path);
  if (m !== null) return <QueuePage name={m['name']!} />;
  m = match('/topics/:name', path);
  if (m !== null) return <TopicPage name={m['name']!} />;
  if (path === '/send' && me.manage) return <SendPage to={query.get('to') ?? ''} />;
  if (path === '/dead-letters') return <DeadLetters />;
  if (path === '/connections') return <Connections />;
  if (path === '/subscriptions') return <Subscriptions />;
  if (path === '/scheduled') return <ScheduledPage />;
  if (path === '/store') return <StorePage />;
  return (
    <div class="page">
      <Empty title="Nothing here">
        There is no page at <code>{path}</code>. <Link href="/">Back to the overview</Link>
      </Empty>
    </div>
  );
}

export function Shell(props: { onLogout: () => void }): JSX.Element {
  const { me } = useConsole();
  const { path, query } = useLocation();
  return (
    <div class="shell">
      <nav class="sidebar" aria-label="Main">
        <div class="brand">
          <Logo />
          <span>Ferry</span>
        </div>
        <ul>
          {NAV.filter((item) => item.manage !== true || me.manage).map((item) => (
            <li>
              <Link href={item.path} class={`nav-link${active(item, path) ? ' active' : ''}`}>
                <svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true">
                  <path d={item.icon} />
                </svg>
                {item.label}
              </Link>
            </li>
          ))}
        </ul>
        <div class="sidebar-footer">
          <div class="who">
            <span class="avatar" aria-hidden="true">
              {(me.user ?? 'a').slice(0, 1).toUpperCase()}
            </span>
            <div>
              <div class="who-name">{me.user ?? 'anonymous'}</div>
              <div class="who-role">{me.manage ? 'can manage' : 'read only'}</div>
            </div>
          </div>
          {me.user !== null && (
            <button type="button" class="btn btn-ghost btn-small logout" onClick={props.onLogout}>
              Log out
            </button>
          )}
        </div>
      </nav>
      <main class="main">
        <Page path={path} query={query} key={path} />
      </main>
    </div>
  );
}
