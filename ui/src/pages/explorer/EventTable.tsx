// Events as rows, newest first; each row opens to its payload as formatted JSON (text).
import { useState } from 'preact/hooks';
import type { EventRecord } from '../../api/types.ts';
import { ChevronIcon } from '../../components/Icons.tsx';

const PREVIEW_CHARACTERS = 140;
const eventTimeFormat = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  fractionalSecondDigits: 3,
  hourCycle: 'h23',
});

export interface EventRowData {
  key: string;
  event: EventRecord;
  live?: boolean;
}

export function EventTable({ rows, label }: { rows: readonly EventRowData[]; label: string }) {
  return (
    <div class="table-scroll">
      <table class="table events-table" aria-label={label}>
        <thead>
          <tr>
            <th scope="col" class="expand-column">
              <span class="visually-hidden">Details</span>
            </th>
            <th scope="col">Time</th>
            <th scope="col">Type</th>
            <th scope="col">Service</th>
            <th scope="col">User</th>
            <th scope="col">Event ID</th>
            <th scope="col">Payload</th>
          </tr>
        </thead>
        {rows.map((row) => (
          <EventRow key={row.key} row={row} />
        ))}
      </table>
    </div>
  );
}

function EventRow({ row }: { row: EventRowData }) {
  const [open, setOpen] = useState(false);
  const { event } = row;
  const detailsId = `event-${row.key}`;
  const payload = JSON.stringify(event.payload);
  return (
    <tbody class={row.live === true ? 'event live-event' : 'event'} data-event-id={event.eventId}>
      <tr>
        <td class="expand-column">
          <button
            type="button"
            class="button button-icon expand-button"
            aria-expanded={open}
            aria-controls={detailsId}
            onClick={() => setOpen(!open)}
          >
            <ChevronIcon />
            <span class="visually-hidden">
              {open ? 'Hide' : 'Show'} payload of event {event.eventId}
            </span>
          </button>
        </td>
        <td class="nowrap">
          <time dateTime={event.timestamp}>{formatEventTime(event.timestamp)}</time>
          {row.live === true ? <span class="badge badge-live">live</span> : null}
        </td>
        <td>
          <span class={`badge badge-${event.eventType}`}>{event.eventType}</span>
        </td>
        <td class="cell-line" title={event.serviceName}>
          {event.serviceName}
        </td>
        <td class="cell-line" title={event.userId ?? undefined}>
          {event.userId ?? <span class="muted">—</span>}
        </td>
        <td class="event-id">{event.eventId}</td>
        <td class="payload-preview">
          {payload.length > PREVIEW_CHARACTERS ? `${payload.slice(0, PREVIEW_CHARACTERS)}…` : payload}
        </td>
      </tr>
      {open ? (
        <tr class="event-details" id={detailsId}>
          <td colSpan={7}>
            <dl class="details-list">
              <dt>Event ID</dt>
              <dd>{event.eventId}</dd>
              <dt>Timestamp (UTC)</dt>
              <dd>{event.timestamp}</dd>
            </dl>
            <pre class="json">{JSON.stringify(event.payload, null, 2)}</pre>
          </td>
        </tr>
      ) : null}
    </tbody>
  );
}

function formatEventTime(timestamp: string): string {
  const date = new Date(timestamp);
  return Number.isNaN(date.getTime()) ? timestamp : eventTimeFormat.format(date);
}
