// The frame around every signed-in page: who is signed in, where they can go, sign out.
import type { ComponentChildren } from 'preact';
import { hasPermission, signOut } from '../api/auth.ts';
import type { Session } from '../api/types.ts';
import { hrefFor, type Page } from '../lib/router.ts';
import { LogoIcon } from './Icons.tsx';
import { Link } from './Link.tsx';

interface AppShellProps {
  session: Session;
  page: Page;
  children: ComponentChildren;
}

const NAVIGATION: { page: Page; label: string }[] = [
  { page: 'overview', label: 'Overview' },
  { page: 'explorer', label: 'Explorer' },
  { page: 'metrics', label: 'Metrics' },
  { page: 'alerts', label: 'Alerts' },
  { page: 'admin', label: 'Administration' },
];

export function AppShell({ session, page, children }: AppShellProps) {
  const items = NAVIGATION.filter((item) => item.page !== 'admin' || hasPermission(session, 'administer'));
  return (
    <div class="shell">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <Link href={hrefFor('overview')} class="brand">
          <LogoIcon />
          <span>Telemetry</span>
        </Link>
        <nav class="topnav" aria-label="Main">
          <ul>
            {items.map((item) => (
              <li key={item.page}>
                <Link href={hrefFor(item.page)} aria-current={item.page === page ? 'page' : undefined}>
                  {item.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div class="identity">
          <span class="identity-text">
            <span class="identity-who">{identityOf(session)}</span>
            <span class="identity-tenant">
              tenant <strong>{session.tenantId}</strong>
            </span>
          </span>
          <button type="button" class="button button-quiet" onClick={() => signOut(null)}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main" class="content" tabIndex={-1}>
        {children}
      </main>
    </div>
  );
}

function identityOf(session: Session): string {
  if (session.credential === 'api_key') return `API key ${session.keyId ?? ''}`.trim();
  return `${session.subject ?? 'user'} · ${session.role ?? 'no role'}`;
}
