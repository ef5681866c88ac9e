// How long the tenant's data is kept, per store (editable by its admins), and its daily
// event quota (set by the platform's operators, shown here).
import { useEffect, useState } from 'preact/hooks';
import { api, call } from '../../api/client.ts';
import type { RetentionDays } from '../../api/types.ts';
import { ErrorNotice, InfoNotice, ResourceStatus } from '../../components/Notice.tsx';
import { formatCount } from '../../lib/format.ts';
import { useResource } from '../../lib/use-resource.ts';

type Store = keyof RetentionDays;

const STORES: { store: Store; label: string; hint: string }[] = [
  { store: 'events', label: 'Raw events', hint: 'Explorer and /query' },
  { store: 'minuteRollups', label: 'Minute rollups', hint: 'Charts at minute steps, the edges of summaries' },
  { store: 'hourRollups', label: 'Hour rollups', hint: 'Charts at hour steps' },
  { store: 'dayRollups', label: 'Day rollups', hint: 'Charts at day steps, long summaries' },
  { store: 'auditLog', label: 'Audit log', hint: 'This page’s audit log' },
  { store: 'alertHistory', label: 'Alert history', hint: 'Alert transitions' },
];
const MAX_DAYS = 36_500;

type Draft = Partial<Record<Store, string>>;

function draftOf(chosen: RetentionDays): Draft {
  const draft: Draft = {};
  for (const { store } of STORES) {
    const days = chosen[store];
    draft[store] = days === undefined || days === null ? '' : String(days);
  }
  return draft;
}

/** The days asked for per store, or the stores whose value is not 1 to 36,500 days. */
function choiceOf(draft: Draft): { days: RetentionDays } | { invalid: Store[] } {
  const days: RetentionDays = {};
  const invalid: Store[] = [];
  for (const { store } of STORES) {
    const text = (draft[store] ?? '').trim();
    if (text === '') continue;
    const value = Number(text);
    if (!Number.isInteger(value) || value < 1 || value > MAX_DAYS) invalid.push(store);
    else days[store] = value;
  }
  return invalid.length > 0 ? { invalid } : { days };
}

export function Retention({ tenantId }: { tenantId: string }) {
  const path = { params: { path: { tenant: tenantId } } };
  const retention = useResource(
    (signal) => call(api.GET('/admin/tenants/{tenant}/retention', { ...path, signal })),
    [tenantId],
  );
  const quota = useResource((signal) => call(api.GET('/admin/tenants/{tenant}/quota', { ...path, signal })), [tenantId]);
  const [draft, setDraft] = useState<Draft>({});
  const [invalid, setInvalid] = useState<Store[]>([]);
  const [failure, setFailure] = useState<unknown>(null);
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    if (retention.data !== undefined) setDraft(draftOf(retention.data.chosen));
  }, [retention.data]);

  const save = (event: Event): void => {
    event.preventDefault();
    const choice = choiceOf(draft);
    setSaved(false);
    if ('invalid' in choice) {
      setInvalid(choice.invalid);
      return;
    }
    setInvalid([]);
    setFailure(null);
    setSaving(true);
    call(api.PUT('/admin/tenants/{tenant}/retention', { ...path, body: { retentionDays: choice.days } }))
      .then(
        () => {
          setSaved(true);
          retention.reload();
        },
        (error: unknown) => setFailure(error),
      )
      .finally(() => setSaving(false));
  };

  const data = retention.data;
  return (
    <section class="panel" aria-labelledby="retention-title">
      <h2 id="retention-title">Data retention</h2>
      <p class="muted">
        How many whole days each store keeps this tenant’s data. Older data disappears from every view at once and
        from storage within the hour. Leave a store empty to follow the service’s default.
      </p>
      <ResourceStatus resource={retention} loading="Loading retention…" />
      {data === undefined ? null : (
        <form onSubmit={save} aria-label="Data retention" noValidate>
          <div class="retention-grid">
            {STORES.map(({ store, label, hint }) => {
              const id = `retention-${store}`;
              const wrong = invalid.includes(store);
              return (
                <div class="field" key={store}>
                  <label class="field-label" for={id}>
                    {label}
                  </label>
                  <div class="input-with-unit">
                    <input
                      id={id}
                      type="number"
                      inputMode="numeric"
                      min={1}
                      max={MAX_DAYS}
                      step={1}
                      value={draft[store] ?? ''}
                      placeholder={String(data.defaults[store] ?? '')}
                      aria-invalid={wrong}
                      aria-describedby={`${id}-hint`}
                      onInput={(event) => {
                        const value = event.currentTarget.value;
                        setDraft((current) => ({ ...current, [store]: value }));
                        setSaved(false);
                      }}
                    />
                    <span class="unit">days</span>
                  </div>
                  <span class={wrong ? 'field-error' : 'field-hint'} id={`${id}-hint`}>
                    {wrong
                      ? `A whole number of days, 1 to ${formatCount(MAX_DAYS)}`
                      : `${hint} · in force: ${formatCount(data.retentionDays[store] ?? 0)} days${
                          data.chosen[store] === undefined || data.chosen[store] === null ? ' (default)' : ''
                        }`}
                  </span>
                </div>
              );
            })}
          </div>
          <div class="form-actions">
            <button type="submit" class="button button-primary" disabled={saving}>
              {saving ? 'Saving…' : 'Save retention'}
            </button>
            <button
              type="button"
              class="button"
              disabled={saving}
              onClick={() => {
                setDraft({});
                setInvalid([]);
                setSaved(false);
              }}
            >
              Use the defaults
            </button>
          </div>
        </form>
      )}
      {saved ? <InfoNotice tone="success">Retention saved. It is in the audit log.</InfoNotice> : null}
      {failure === null ? null : <ErrorNotice error={failure} />}
      <h3>Daily event quota</h3>
      <ResourceStatus resource={quota} loading="Loading quota…" />
      {quota.data === undefined ? null : (
        <p data-testid="quota">
          {quota.data.dailyEvents === null || quota.data.dailyEvents === undefined
            ? 'No daily quota: every event sent is accepted.'
            : `${formatCount(quota.data.dailyEvents)} events per UTC day${
                quota.data.source === 'default' ? ' (from the service’s configuration)' : ' (set by the operators)'
              }; past it, ingestion answers 429 quota_exceeded until midnight UTC.`}{' '}
          The platform’s operators set quotas.
        </p>
      )}
    </section>
  );
}
