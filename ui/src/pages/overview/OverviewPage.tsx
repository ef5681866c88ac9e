// The tenant at a glance for a window: totals, events over time by type, top services and
// users, and every metric's statistics. Refreshes itself while the tab is visible.
import { api, call } from '../../api/client.ts';
import type { GroupCount, Session, SummaryWindow } from '../../api/types.ts';
import { BarList } from '../../components/BarList.tsx';
import { GettingStarted } from '../../components/GettingStarted.tsx';
import { CoverageNotice, ResourceStatus } from '../../components/Notice.tsx';
import { RefreshIcon } from '../../components/Icons.tsx';
import { formatCount, formatTime } from '../../lib/format.ts';
import { updateSearch, useLocation } from '../../lib/router.ts';
import { useResource } from '../../lib/use-resource.ts';
import { EventsChart } from './EventsChart.tsx';
import { MetricsTable } from './MetricsTable.tsx';

/** The summary's windows (a Record over the spec's union: a new window fails to compile). */
const WINDOW_MINUTES: Record<SummaryWindow, number> = { '15m': 15, '1h': 60, '24h': 1440, '7d': 10080 };
const WINDOW_LABELS: Record<SummaryWindow, string> = {
  '15m': '15 min',
  '1h': '1 hour',
  '24h': '24 hours',
  '7d': '7 days',
};
const OVERVIEW_WINDOWS = (Object.keys(WINDOW_MINUTES) as SummaryWindow[]).map((id) => ({
  id,
  label: WINDOW_LABELS[id],
  minutes: WINDOW_MINUTES[id],
}));

const REFRESH_SECONDS = 10;
const EVENT_TYPES = [
  { id: 'log', label: 'Logs' },
  { id: 'metric', label: 'Metrics' },
  { id: 'trace', label: 'Traces' },
] as const;

export function OverviewPage({ session }: { session: Session }) {
  const { search } = useLocation();
  const selected =
    OVERVIEW_WINDOWS.find((candidate) => candidate.id === search.get('window')) ??
    OVERVIEW_WINDOWS.find((candidate) => candidate.id === '24h')!;
  const summary = useResource(
    (signal) =>
      call(
        api.GET('/accounts/{accountId}/summary', {
          params: { path: { accountId: session.tenantId }, query: { window: selected.id } },
          signal,
        }),
      ),
    [session.tenantId, selected.id],
    REFRESH_SECONDS,
  );
  const data = summary.data;

  return (
    <section class="page" aria-labelledby="overview-title">
      <header class="page-header">
        <h1 id="overview-title">Overview</h1>
        <div class="page-actions">
          <div class="segmented-buttons" role="group" aria-label="Window">
            {OVERVIEW_WINDOWS.map((option) => (
              <button
                key={option.id}
                type="button"
                class="segment-button"
                aria-pressed={option.id === selected.id}
                onClick={() => updateSearch({ window: option.id })}
              >
                {option.label}
              </button>
            ))}
          </div>
          <span class="updated" aria-live="polite">
            {summary.loading
              ? 'Updating…'
              : summary.updatedAt === null
                ? ''
                : `Updated ${formatTime(summary.updatedAt)}`}
          </span>
          <button type="button" class="button button-icon" onClick={summary.reload} aria-label="Refresh now">
            <RefreshIcon />
          </button>
        </div>
      </header>

      <ResourceStatus resource={summary} loading="Loading the summary…" />
      {data === undefined ? null : (
        <>
          <CoverageNotice coverage={data.coverage} />
          <ul class="stat-tiles" aria-label="Events in the window">
            <li class="stat-tile">
              <span class="stat-label">Total events</span>
              <span class="stat-value" data-testid="total-events">
                {formatCount(data.totalEvents)}
              </span>
            </li>
            {EVENT_TYPES.map((type) => (
              <li class="stat-tile" key={type.id}>
                <span class="stat-label">{type.label}</span>
                <span class="stat-value" data-testid={`events-${type.id}`}>
                  {formatCount(data.byType[type.id] ?? 0)}
                </span>
              </li>
            ))}
          </ul>
          {data.totalEvents === 0 ? (
            <GettingStarted title={`No events in the last ${selected.label}`} />
          ) : (
            <>
              <EventsChart windowMinutes={selected.minutes} windowId={selected.id} />
              <div class="grid-2">
                <section class="panel" aria-labelledby="top-services-title">
                  <h2 id="top-services-title">Top services</h2>
                  <BarList
                    bars={bars(data.topServices, '(none)')}
                    label="Events per service"
                    emptyText="No services."
                  />
                </section>
                <section class="panel" aria-labelledby="top-users-title">
                  <h2 id="top-users-title">Top users</h2>
                  <BarList
                    bars={bars(data.topUsers, '(no user)')}
                    label="Events per user"
                    emptyText="No events name a user."
                  />
                </section>
              </div>
              <MetricsTable metrics={data.metrics} windowId={selected.id} />
            </>
          )}
        </>
      )}
    </section>
  );
}

function bars(groups: readonly GroupCount[], nullLabel: string): { label: string; count: number }[] {
  return groups.map((group) => ({ label: group.key ?? nullLabel, count: group.count }));
}
