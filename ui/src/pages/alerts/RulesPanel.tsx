// The tenant's alert rules; rule writers also create, edit, enable/disable and delete them.
import { useState } from 'preact/hooks';
import { api, call } from '../../api/client.ts';
import type { Rule } from '../../api/types.ts';
import { ErrorNotice, InfoNotice, ResourceStatus } from '../../components/Notice.tsx';
import { useResource } from '../../lib/use-resource.ts';
import {
  conditionOf,
  definitionOf,
  EMPTY_RULE_FORM,
  formFromRule,
  type RuleForm as RuleFormState,
} from './rule-form.ts';
import { RuleForm } from './RuleForm.tsx';
import {
  deleteRule,
  isVersionMismatch,
  listRules,
  readRule,
  replaceRule,
  ruleEtag,
  type VersionedRule,
} from './rules-api.ts';

interface Editor {
  initial: RuleFormState;
  editing: VersionedRule | null;
}

export function RulesPanel({ canEdit }: { canEdit: boolean }) {
  const rules = useResource((signal) => listRules(signal), []);
  const catalog = useResource(
    (signal) => (canEdit ? call(api.GET('/catalog', { signal })) : Promise.resolve(null)),
    [canEdit],
  );
  const [editor, setEditor] = useState<Editor | null>(null);
  const [confirming, setConfirming] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [failure, setFailure] = useState<{ error: unknown; rule: string } | null>(null);
  const [saved, setSaved] = useState<string | null>(null);

  const act = async (rule: Rule, action: () => Promise<void>): Promise<void> => {
    setBusy(rule.id);
    setFailure(null);
    setSaved(null);
    try {
      await action();
    } catch (error) {
      setFailure({ error, rule: rule.name });
      if (isVersionMismatch(error)) rules.reload();
    } finally {
      setBusy(null);
      setConfirming(null);
    }
  };
  const edit = (rule: Rule): Promise<void> =>
    act(rule, async () => {
      const current = await readRule(rule.id);
      setEditor({ initial: formFromRule(current.rule), editing: current });
    });
  const toggle = (rule: Rule): Promise<void> =>
    act(rule, async () =>
      showWhenListed(await replaceRule(rule.id, ruleEtag(rule), { ...definitionOf(rule), enabled: !rule.enabled })),
    );
  const remove = (rule: Rule): Promise<void> =>
    act(rule, async () => {
      await deleteRule(rule);
      rules.reloadUntil((listed) => !listed.some((candidate) => candidate.id === rule.id));
    });

  /** Reads the list until it shows the rule as the service last answered it. */
  const showWhenListed = (changed: Rule): void =>
    rules.reloadUntil((listed) =>
      listed.some((candidate) => candidate.id === changed.id && candidate.version >= changed.version),
    );

  const metrics = catalog.data?.metrics.map((metric) => metric.name) ?? [];
  const services = catalog.data?.services.map((service) => service.name) ?? [];

  return (
    <section class="panel" aria-labelledby="rules-title">
      <div class="panel-header">
        <h2 id="rules-title">Rules</h2>
        {canEdit && editor === null ? (
          <button
            type="button"
            class="button button-primary"
            onClick={() => setEditor({ initial: EMPTY_RULE_FORM, editing: null })}
          >
            New rule
          </button>
        ) : null}
      </div>
      {saved === null ? null : <InfoNotice tone="success">{saved}</InfoNotice>}
      {failure === null ? null : isVersionMismatch(failure.error) ? (
        <InfoNotice tone="warning">
          Someone else changed “{failure.rule}” meanwhile, so nothing was changed. The list now shows the current rule;
          try again.
        </InfoNotice>
      ) : (
        <ErrorNotice error={failure.error} />
      )}
      {editor === null ? null : (
        <RuleForm
          key={editor.editing?.etag ?? 'new'}
          initial={editor.initial}
          editing={editor.editing}
          metricSuggestions={metrics}
          serviceSuggestions={services}
          onCancel={() => setEditor(null)}
          onSaved={(rule) => {
            setSaved(editor.editing === null ? `Rule “${rule.name}” created.` : `Rule “${rule.name}” saved.`);
            setEditor(null);
            showWhenListed(rule);
          }}
        />
      )}
      <ResourceStatus resource={rules} loading="Loading rules…" />
      {rules.data === undefined ? null : rules.data.length === 0 ? (
        <p class="empty">
          No alert rules yet.
          {canEdit ? ' A rule watches a metric and calls webhooks when it crosses a threshold or stops arriving.' : ''}
        </p>
      ) : (
        <div class="table-scroll">
          <table class="table" aria-label="Alert rules">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Metric</th>
                <th scope="col">Condition</th>
                <th scope="col">Severity</th>
                <th scope="col">State</th>
                {canEdit ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {rules.data.map((rule) => (
                <tr key={rule.id} data-rule-id={rule.id}>
                  <th scope="row" class="cell-text">
                    {rule.name}
                  </th>
                  <td class="cell-text">
                    {rule.metric}
                    {rule.serviceName ? <span class="muted"> · {rule.serviceName}</span> : null}
                  </td>
                  <td class="nowrap">{conditionOf(rule)}</td>
                  <td>
                    <span class={`badge badge-${rule.severity ?? 'warning'}`}>{rule.severity ?? 'warning'}</span>
                  </td>
                  <td>{rule.enabled ? 'Enabled' : <span class="muted">Disabled</span>}</td>
                  {canEdit ? (
                    <td class="row-actions">
                      {confirming === rule.id ? (
                        <span class="confirm" role="group" aria-label={`Delete ${rule.name}?`}>
                          <span>Delete this rule?</span>
                          <button
                            type="button"
                            class="button button-danger button-small"
                            disabled={busy === rule.id}
                            onClick={() => void remove(rule)}
                          >
                            Delete
                          </button>
                          <button type="button" class="button button-small" onClick={() => setConfirming(null)}>
                            Cancel
                          </button>
                        </span>
                      ) : (
                        <>
                          <button
                            type="button"
                            class="button button-small"
                            disabled={busy === rule.id}
                            onClick={() => void edit(rule)}
                          >
                            Edit<span class="visually-hidden"> {rule.name}</span>
                          </button>
                          <button
                            type="button"
                            class="button button-small"
                            disabled={busy === rule.id}
                            onClick={() => void toggle(rule)}
                          >
                            {rule.enabled ? 'Disable' : 'Enable'}
                            <span class="visually-hidden"> {rule.name}</span>
                          </button>
                          <button
                            type="button"
                            class="button button-small button-quiet-danger"
                            onClick={() => setConfirming(rule.id)}
                          >
                            Delete<span class="visually-hidden"> {rule.name}</span>
                          </button>
                        </>
                      )}
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
