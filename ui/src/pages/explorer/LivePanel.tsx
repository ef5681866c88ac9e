// The live tail's rows and state: connected, reconnecting (and why), events dropped.
import type { LiveStatus } from '../../api/live.ts';
import { InfoNotice } from '../../components/Notice.tsx';
import { formatCount } from '../../lib/format.ts';
import { EventTable } from './EventTable.tsx';
import { LIVE_ROW_LIMIT, type LiveTail } from './use-live-tail.ts';

export function LivePanel({ tail }: { tail: LiveTail }) {
  return (
    <section class="panel live-panel" aria-labelledby="live-title">
      <div class="panel-header">
        <h2 id="live-title">Live tail</h2>
        <LiveState status={tail.status} />
      </div>
      {tail.dropped === 0 ? null : (
        <InfoNotice tone="warning">
          {formatCount(tail.dropped)} matching events were skipped: they arrived faster than the service sends a live
          tail (it caps each stream's rate) or than this browser read them. Narrow the filters to see every event, or
          find them in the table below.
        </InfoNotice>
      )}
      {tail.resetReason === null ? null : (
        <InfoNotice tone="warning">
          The stream could not resume where it stopped ({tail.resetReason}); some events may be missing.
        </InfoNotice>
      )}
      {tail.rows.length === 0 ? (
        <p class="empty">New matching events appear here as they arrive.</p>
      ) : (
        <>
          <EventTable
            label="Live events, newest first"
            rows={tail.rows.map((row) => ({ key: `live-${row.sequence}`, event: row.event, live: true }))}
          />
          {tail.rows.length === LIVE_ROW_LIMIT ? (
            <p class="muted">Showing the latest {LIVE_ROW_LIMIT} live events.</p>
          ) : null}
        </>
      )}
    </section>
  );
}

function LiveState({ status }: { status: LiveStatus | null }) {
  if (status === null) return null;
  switch (status.state) {
    case 'connecting':
      return (
        <span class="live-state" role="status">
          Connecting…
        </span>
      );
    case 'live':
      return (
        <span class="live-state live-state-on" role="status">
          <span class="live-dot" aria-hidden="true" />
          Streaming
        </span>
      );
    case 'waiting':
      return (
        <span class="live-state live-state-waiting" role="status">
          {status.reason} Reconnecting in {status.retryInSeconds} s.
        </span>
      );
    case 'failed':
      return (
        <span class="live-state live-state-failed" role="alert">
          Live tail stopped: {status.reason}
        </span>
      );
  }
}
