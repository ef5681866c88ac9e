// Which page to show: sign-in until a credential is verified, then the page of the address,
// inside the shell. A `401` anywhere signs out (api/client.ts) and lands back here.
import { useEffect } from 'preact/hooks';
import { hasPermission, signIn, signOut, signOutReason, type Credential } from './api/auth.ts';
import { call, clientFor } from './api/client.ts';
import { ApiError } from './api/errors.ts';
import type { Session } from './api/types.ts';
import { AppShell } from './components/AppShell.tsx';
import { Link } from './components/Link.tsx';
import { ResourceStatus } from './components/Notice.tsx';
import { hrefFor, isConsoleHref, navigate, useLocation, type Page } from './lib/router.ts';
import { useAuth } from './lib/use-auth.ts';
import { useResource } from './lib/use-resource.ts';
import { AdminPage } from './pages/admin/AdminPage.tsx';
import { AlertsPage } from './pages/alerts/AlertsPage.tsx';
import { ExplorerPage } from './pages/explorer/ExplorerPage.tsx';
import { MetricsPage } from './pages/metrics/MetricsPage.tsx';
import { OverviewPage } from './pages/overview/OverviewPage.tsx';
import { SignInPage } from './pages/sign-in/SignInPage.tsx';

const TITLES: Record<Page, string> = {
  overview: 'Overview',
  explorer: 'Explorer',
  metrics: 'Metrics',
  alerts: 'Alerts',
  admin: 'Administration',
  'sign-in': 'Sign in',
};

export function App() {
  const auth = useAuth();
  const location = useLocation();
  const redirect = redirectFor(auth.status, location.page, location.href);

  useEffect(() => {
    if (redirect !== null) navigate(redirect, { replace: true });
  }, [redirect]);

  useEffect(() => {
    document.title = `${location.page === null ? 'Not found' : TITLES[location.page]} · Telemetry console`;
    document.getElementById('main')?.focus({ preventScroll: true });
  }, [location.page]);

  if (redirect !== null) return null;
  if (auth.status === 'checking') return <SessionCheck credential={auth.credential} />;
  if (auth.status === 'signed-out') return <SignInPage reason={auth.reason} />;
  const page = location.page ?? 'overview';
  return (
    <AppShell session={auth.session} page={page}>
      {location.page === null ? <NotFound /> : <PageContent page={page} session={auth.session} />}
    </AppShell>
  );
}

/** Where the address must change first: to sign-in when signed out, away from it when not. */
function redirectFor(status: 'checking' | 'signed-out' | 'signed-in', page: Page | null, href: string): string | null {
  if (status === 'signed-out' && page !== 'sign-in') {
    return hrefFor('sign-in', page === 'overview' ? undefined : new URLSearchParams({ next: href }));
  }
  if (status === 'signed-in' && page === 'sign-in') {
    const next = new URLSearchParams(window.location.search).get('next');
    return next !== null && isConsoleHref(next) ? next : hrefFor('overview');
  }
  return null;
}

function PageContent({ page, session }: { page: Page; session: Session }) {
  switch (page) {
    case 'overview':
      return <OverviewPage session={session} />;
    case 'explorer':
      return <ExplorerPage />;
    case 'metrics':
      return <MetricsPage />;
    case 'alerts':
      return <AlertsPage session={session} />;
    case 'admin':
      return hasPermission(session, 'administer') ? (
        <AdminPage tenantId={session.tenantId} />
      ) : (
        <section class="page">
          <h1>Administration</h1>
          <p>Only administrators of the tenant can manage API keys and data retention and read the audit log.</p>
        </section>
      );
    case 'sign-in':
      return null;
  }
}

function NotFound() {
  return (
    <section class="page">
      <h1>Page not found</h1>
      <p>
        There is no console page at this address. Go to the <Link href={hrefFor('overview')}>overview</Link>.
      </p>
    </section>
  );
}

/** A credential kept from earlier in this tab: checked again before any page shows. */
function SessionCheck({ credential }: { credential: Credential }) {
  const check = useResource(
    async (signal) => {
      try {
        signIn(credential, await call(clientFor(credential).GET('/session', { signal })));
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) signOut(signOutReason(error.code));
        else throw error;
      }
    },
    [credential.secret],
  );
  return (
    <div class="center-screen">
      <ResourceStatus resource={check} loading="Checking your session…" />
    </div>
  );
}
