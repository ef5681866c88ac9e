// The tenant's audit log, newest first, filtered by action (in the address), continued by
// cursor with "Load more".
import { api, call } from '../../api/client.ts';
import type { AuditEntry } from '../../api/types.ts';
import { LoadMore } from '../../components/LoadMore.tsx';
import { ResourceStatus } from '../../components/Notice.tsx';
import { formatDateTime } from '../../lib/format.ts';
import { updateSearch, useLocation } from '../../lib/router.ts';
import { useCursorPages, type CursorPage } from '../../lib/use-cursor-pages.ts';

const PAGE_SIZE = 50;
const ACTIONS = [
  'ingest.batch',
  'api_key.issued',
  'api_key.revoked',
  'alert_rule.created',
  'alert_rule.updated',
  'alert_rule.enabled',
  'alert_rule.disabled',
  'alert_rule.deleted',
  'alert.pending',
  'alert.cleared',
  'alert.triggered',
  'alert.resolved',
  'notification.redelivered',
  'read_model.rebuild_requested',
  'tenant.retention_set',
  'tenant.quota_set',
];

export function AuditLog() {
  const { search } = useLocation();
  const action = search.get('action') || undefined;
  const audit = useCursorPages(
    async (signal): Promise<CursorPage<AuditEntry>> => {
      const page = await call(api.GET('/audit', { params: { query: { action, limit: PAGE_SIZE } }, signal }));
      return { items: page.data, cursor: page.nextCursor ?? null };
    },
    async (_first, cursor) => {
      const page = await call(api.GET('/audit', { params: { query: { action, limit: PAGE_SIZE, cursor } } }));
      return { items: page.data, cursor: page.nextCursor ?? null };
    },
    [action],
  );
  const entries = audit.items;

  return (
    <section class="panel" aria-labelledby="audit-title">
      <div class="panel-header">
        <h2 id="audit-title">Audit log</h2>
        <div class="field field-inline">
          <label class="field-label" for="audit-action">
            Action
          </label>
          <select
            id="audit-action"
            value={action ?? ''}
            onChange={(event) => updateSearch({ action: event.currentTarget.value })}
          >
            <option value="">All actions</option>
            {ACTIONS.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </div>
      </div>
      <ResourceStatus resource={audit.first} loading="Loading the audit log…" />
      {audit.first.data === undefined ? null : entries.length === 0 ? (
        <p class="empty">No audit entries{action === undefined ? '' : ` for ${action}`}.</p>
      ) : (
        <>
          <div class="table-scroll">
            <table class="table" aria-label="Audit log, newest first">
              <thead>
                <tr>
                  <th scope="col">When</th>
                  <th scope="col">Action</th>
                  <th scope="col">Actor</th>
                  <th scope="col">Subject</th>
                  <th scope="col">Details</th>
                </tr>
              </thead>
              <tbody>
                {entries.map((entry, index) => (
                  <tr key={`${index}-${entry.occurredAt}-${entry.subject}`}>
                    <td class="nowrap">
                      <time dateTime={entry.occurredAt}>{formatDateTime(entry.occurredAt)}</time>
                    </td>
                    <td class="mono nowrap">{entry.action}</td>
                    <td class="cell-text mono">{entry.actor}</td>
                    <td class="cell-text mono">{entry.subject}</td>
                    <td class="payload-preview">{JSON.stringify(entry.details)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <LoadMore pages={audit} doneText="The whole log is shown." />
        </>
      )}
    </section>
  );
}
