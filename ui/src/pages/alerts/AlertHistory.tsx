// Every alert transition as a timeline, newest first, filtered by rule, transition and
// severity (in the address), continued with "Load more".
import { api, call } from '../../api/client.ts';
import type { Rule, Transition, TransitionKind } from '../../api/types.ts';
import { ChoiceSelect } from '../../components/ChoiceSelect.tsx';
import { LoadMore } from '../../components/LoadMore.tsx';
import { ResourceStatus } from '../../components/Notice.tsx';
import { choiceFrom, choicesOf } from '../../lib/choices.ts';
import { formatDateTime, formatValue } from '../../lib/format.ts';
import { updateSearch, useLocation } from '../../lib/router.ts';
import { useCursorPages, type CursorPage } from '../../lib/use-cursor-pages.ts';
import { SEVERITIES } from './rule-form.ts';

const TRANSITIONS = choicesOf<TransitionKind>({
  triggered: 'triggered',
  resolved: 'resolved',
  pending: 'pending',
  cleared: 'cleared',
});
const PAGE_SIZE = 50;

export function AlertHistory({ rules }: { rules: readonly Rule[] }) {
  const { search } = useLocation();
  const filters = {
    ruleId: search.get('rule') || undefined,
    transition: choiceFrom(TRANSITIONS, search.get('transition') ?? '') ?? undefined,
    severity: choiceFrom(SEVERITIES, search.get('severity') ?? '') ?? undefined,
  };
  const history = useCursorPages(
    async (signal): Promise<CursorPage<Transition>> => {
      const page = await call(
        api.GET('/alerts/history', { params: { query: { ...filters, limit: PAGE_SIZE } }, signal }),
      );
      return { items: page.data, cursor: page.nextCursor ?? null };
    },
    async (_first, cursor) => {
      const page = await call(
        api.GET('/alerts/history', { params: { query: { ...filters, limit: PAGE_SIZE, cursor } } }),
      );
      return { items: page.data, cursor: page.nextCursor ?? null };
    },
    [filters.ruleId, filters.transition, filters.severity],
  );
  const entries = history.items;

  return (
    <section class="panel" aria-labelledby="history-title">
      <h2 id="history-title">History</h2>
      <div class="filters" role="group" aria-label="History filters">
        <div class="field">
          <label class="field-label" for="history-rule">
            Rule
          </label>
          <select
            id="history-rule"
            value={filters.ruleId ?? ''}
            onChange={(event) => updateSearch({ rule: event.currentTarget.value })}
          >
            <option value="">All rules</option>
            {rules.map((rule) => (
              <option key={rule.id} value={rule.id}>
                {rule.name}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label class="field-label" for="history-transition">
            Transition
          </label>
          <ChoiceSelect
            id="history-transition"
            choices={TRANSITIONS}
            value={filters.transition ?? null}
            anyLabel="All transitions"
            onChoose={(transition) => updateSearch({ transition })}
          />
        </div>
        <div class="field">
          <label class="field-label" for="history-severity">
            Severity
          </label>
          <ChoiceSelect
            id="history-severity"
            choices={SEVERITIES}
            value={filters.severity ?? null}
            anyLabel="All severities"
            onChoose={(severity) => updateSearch({ severity })}
          />
        </div>
      </div>
      <ResourceStatus resource={history.first} loading="Loading history…" />
      {history.first.data === undefined ? null : entries.length === 0 ? (
        <p class="empty">No alert transitions match.</p>
      ) : (
        <>
          <ol class="timeline" aria-label="Alert transitions, newest first">
            {entries.map((entry, index) => (
              <li key={`${index}-${entry.ruleId}-${entry.at}`} class={`timeline-item timeline-${entry.transition}`}>
                <time dateTime={entry.at} class="timeline-time">
                  {formatDateTime(entry.at)}
                </time>
                <div class="timeline-body">
                  <span class={`badge badge-transition-${entry.transition}`}>{entry.transition}</span>{' '}
                  <strong class="cell-text">{entry.ruleName}</strong>
                  <span class="muted cell-text"> · {entry.series}</span>
                  <span class="muted">
                    {' '}
                    · value {formatValue(entry.value)} · episode {entry.episode} · {entry.severity}
                  </span>
                  {entry.reason === '' ? null : <p class="timeline-reason cell-text">{entry.reason}</p>}
                </div>
              </li>
            ))}
          </ol>
          <LoadMore pages={history} doneText="The whole history is shown." />
        </>
      )}
    </section>
  );
}
