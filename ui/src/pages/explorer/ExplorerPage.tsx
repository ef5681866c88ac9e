// Searching events: range and filters in the address, newest first, "Load more" by cursor,
// counts per group, and a live tail of new matching events on top.
import { useMemo, useState } from 'preact/hooks';
import { api, call } from '../../api/client.ts';
import { BarList } from '../../components/BarList.tsx';
import { GettingStarted } from '../../components/GettingStarted.tsx';
import { RefreshIcon } from '../../components/Icons.tsx';
import { LoadMore } from '../../components/LoadMore.tsx';
import { ResourceStatus } from '../../components/Notice.tsx';
import { formatCount } from '../../lib/format.ts';
import { updateSearch, useLocation } from '../../lib/router.ts';
import { useResource } from '../../lib/use-resource.ts';
import { EventTable } from './EventTable.tsx';
import { viewFromSearch, viewToSearch, type ExplorerView } from './explorer-state.ts';
import { Filters } from './Filters.tsx';
import { LivePanel } from './LivePanel.tsx';
import { useEvents, useGroups } from './use-events.ts';
import { useLiveTail } from './use-live-tail.ts';

export function ExplorerPage() {
  const { search } = useLocation();
  const key = search.toString();
  const view = useMemo(() => viewFromSearch(search), [key]);
  // Grouping changes the counts, not the events: the list stays when only it changes.
  const eventsKey = JSON.stringify({ ...viewToSearch(view), group: null });
  const events = useEvents(view, eventsKey);
  const groups = useGroups(view, key);
  const [live, setLive] = useState(false);
  const liveTail = useLiveTail(live, view);
  const catalog = useResource((signal) => call(api.GET('/catalog', { signal })), []);
  const apply = (next: ExplorerView): void => updateSearch(viewToSearch(next));
  const refresh = (): void => {
    events.first.reload();
    groups?.reload();
  };

  return (
    <section class="page" aria-labelledby="explorer-title">
      <header class="page-header">
        <h1 id="explorer-title">Explorer</h1>
        <div class="page-actions">
          <label class="switch">
            <input
              type="checkbox"
              role="switch"
              checked={live}
              onChange={(event) => setLive(event.currentTarget.checked)}
            />
            <span class="switch-track" aria-hidden="true" />
            Live tail
          </label>
          <button type="button" class="button" onClick={refresh}>
            <RefreshIcon /> Refresh
          </button>
        </div>
      </header>

      <Filters key={key} view={view} catalog={catalog.data} catalogError={catalog.error} onChange={apply} />

      {groups === null || view.groupBy === null ? null : (
        <section class="panel" aria-labelledby="groups-title">
          <h2 id="groups-title">Events by {view.groupBy}</h2>
          <ResourceStatus resource={groups} loading="Counting…" />
          {groups.data === undefined ? null : (
            <>
              <p class="muted">{formatCount(groups.data.total)} matching events</p>
              <BarList
                bars={groups.data.groups.map((group) => ({ label: group.key ?? '(no user)', count: group.count }))}
                label={`Events by ${view.groupBy}`}
                emptyText="No events match."
              />
            </>
          )}
        </section>
      )}

      {live ? <LivePanel tail={liveTail} /> : null}

      <section class="panel" aria-labelledby="events-title">
        <div class="panel-header">
          <h2 id="events-title">Events</h2>
          {events.first.data === undefined ? null : (
            <span class="muted" data-testid="events-shown">
              {events.first.data.total === null
                ? `${formatCount(events.items.length)} shown`
                : `${formatCount(events.items.length)} of ${formatCount(events.first.data.total)} shown`}
            </span>
          )}
        </div>
        <ResourceStatus resource={events.first} loading="Searching…" />
        {events.first.data === undefined ? null : events.items.length === 0 ? (
          catalog.data !== undefined && catalog.data.services.length === 0 ? (
            <GettingStarted />
          ) : (
            <p class="empty">No events match these filters in this time range.</p>
          )
        ) : (
          <>
            <EventTable
              label="Events, newest first"
              rows={events.items.map((event) => ({ key: `q-${event.eventId}`, event }))}
            />
            <LoadMore pages={events} doneText="All matching events are shown." />
          </>
        )}
      </section>
    </section>
  );
}
