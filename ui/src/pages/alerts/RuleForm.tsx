// Creating or editing an alert rule. The server's `invalid_rule` problems appear beside the
// field they name; a `412` says someone else changed the rule and offers to reload it.
import { useState } from 'preact/hooks';
import { ApiError, type FieldProblem } from '../../api/errors.ts';
import type { Rule } from '../../api/types.ts';
import { ChoiceSelect } from '../../components/ChoiceSelect.tsx';
import { describedBy, Field } from '../../components/Field.tsx';
import { ErrorNotice } from '../../components/Notice.tsx';
import { ChannelsEditor } from './ChannelsEditor.tsx';
import { AttributesEditor } from './AttributesEditor.tsx';
import {
  createRule,
  currentVersionOf,
  isVersionMismatch,
  readRule,
  replaceRule,
  type VersionedRule,
} from './rules-api.ts';
import {
  AGGREGATIONS,
  COMPARATORS,
  fieldsOf,
  formFromRule,
  problemsByField,
  ruleFromForm,
  RULE_KINDS,
  SEVERITIES,
  type RuleForm as RuleFormState,
} from './rule-form.ts';

type TextField = 'name' | 'metric' | 'serviceName' | 'window' | 'threshold' | 'forDuration';
/** Where the form's name for a field differs from the API's. */
const API_FIELDS: Partial<Record<keyof RuleFormState, string>> = { forDuration: 'for' };

interface RuleFormProps {
  initial: RuleFormState;
  /** The rule being edited and the version the form started from; null for a new rule. */
  editing: VersionedRule | null;
  metricSuggestions: readonly string[];
  serviceSuggestions: readonly string[];
  onSaved(rule: Rule): void;
  onCancel(): void;
}

export function RuleForm({
  initial,
  editing,
  metricSuggestions,
  serviceSuggestions,
  onSaved,
  onCancel,
}: RuleFormProps) {
  const [form, setForm] = useState(initial);
  const [base, setBase] = useState(editing);
  const [problems, setProblems] = useState<FieldProblem[]>([]);
  const [failure, setFailure] = useState<unknown>(null);
  const [conflict, setConflict] = useState<ApiError | null>(null);
  const [saving, setSaving] = useState(false);
  const errors = problemsByField(problems);
  const shown = new Set(fieldsOf(form));
  const unplaced = [...errors.entries()].filter(([field]) => !shown.has(field));
  const update = (changes: Partial<RuleFormState>): void => setForm((current) => ({ ...current, ...changes }));

  const save = async (event: Event): Promise<void> => {
    event.preventDefault();
    const built = ruleFromForm(form);
    if ('problems' in built) {
      setProblems(built.problems);
      return;
    }
    setSaving(true);
    setFailure(null);
    setProblems([]);
    try {
      onSaved(base === null ? await createRule(built.rule) : await replaceRule(base.rule.id, base.etag, built.rule));
    } catch (error) {
      if (isVersionMismatch(error)) setConflict(error);
      else if (error instanceof ApiError && error.problems.length > 0) setProblems(error.problems);
      else setFailure(error);
    } finally {
      setSaving(false);
    }
  };

  const reload = async (): Promise<void> => {
    if (base === null) return;
    try {
      const fresh = await readRule(base.rule.id);
      setBase(fresh);
      setForm(formFromRule(fresh.rule));
      setConflict(null);
      setProblems([]);
    } catch (error) {
      setFailure(error);
    }
  };

  /** How a control is tied to its field's hint and error. */
  const wiring = (field: keyof RuleFormState, id: string, hasHint = false) => {
    const error = errors.get(API_FIELDS[field] ?? field);
    return {
      id,
      'aria-invalid': error === undefined ? undefined : ('true' as const),
      'aria-describedby': describedBy(id, hasHint, error),
    };
  };
  const textControl = (field: TextField, id: string, hasHint = false) => ({
    ...wiring(field, id, hasHint),
    value: form[field],
    onInput: (event: Event) => update({ [field]: (event.currentTarget as HTMLInputElement).value }),
  });

  return (
    <form class="panel rule-form" onSubmit={(event) => void save(event)} noValidate aria-labelledby="rule-form-title">
      <h2 id="rule-form-title">{base === null ? 'New alert rule' : `Edit “${initial.name}”`}</h2>
      {conflict === null ? null : (
        <div class="notice notice-warning" role="alert">
          <div>
            <strong>Someone else changed this rule</strong>
            <p>
              It is now at version {currentVersionOf(conflict) ?? 'newer'}; your changes were not saved. Reload it to
              see the current rule, then make your change again.
            </p>
          </div>
          <button type="button" class="button" onClick={() => void reload()}>
            Reload rule
          </button>
        </div>
      )}
      {failure === null ? null : <ErrorNotice error={failure} />}
      {problems.length === 0 ? null : (
        <div class="notice notice-error" role="alert">
          <div>
            <strong>The rule was not saved</strong>
            <p>Fix the fields marked below.</p>
            {unplaced.length === 0 ? null : (
              <ul>
                {unplaced.map(([field, message]) => (
                  <li key={field}>
                    {field}: {message}
                  </li>
                ))}
              </ul>
            )}
          </div>
        </div>
      )}

      <fieldset class="form-section">
        <legend>What to watch</legend>
        <div class="form-grid">
          <Field label="Name" htmlFor="rule-name" error={errors.get('name')}>
            <input type="text" {...textControl('name', 'rule-name')} />
          </Field>
          <Field
            label="Metric"
            htmlFor="rule-metric"
            error={errors.get('metric')}
            hint="The metric events' payload.name"
          >
            <input type="text" list="rule-metric-suggestions" {...textControl('metric', 'rule-metric', true)} />
          </Field>
          <datalist id="rule-metric-suggestions">
            {metricSuggestions.map((name) => (
              <option key={name} value={name} />
            ))}
          </datalist>
          <Field
            label="Service (optional)"
            htmlFor="rule-service"
            error={errors.get('serviceName')}
            hint="Empty: one alert per service"
          >
            <input type="text" list="rule-service-suggestions" {...textControl('serviceName', 'rule-service', true)} />
          </Field>
          <datalist id="rule-service-suggestions">
            {serviceSuggestions.map((name) => (
              <option key={name} value={name} />
            ))}
          </datalist>
        </div>
        <AttributesEditor
          attributes={form.attributes}
          error={errors.get('attributes')}
          onChange={(attributes) => update({ attributes })}
        />
      </fieldset>

      <fieldset class="form-section">
        <legend>Condition</legend>
        <div class="segmented" role="radiogroup" aria-label="Kind of rule">
          {RULE_KINDS.map(({ value: kind, label }) => (
            <label key={kind} class={form.kind === kind ? 'segment segment-selected' : 'segment'}>
              <input
                type="radio"
                name="rule-kind"
                value={kind}
                checked={form.kind === kind}
                onChange={() => update({ kind })}
              />
              {label}
            </label>
          ))}
        </div>
        {errors.has('kind') ? <p class="field-error">{errors.get('kind')}</p> : null}
        <div class="form-grid">
          {form.kind === 'threshold' ? (
            <Field label="Aggregation" htmlFor="rule-aggregation" error={errors.get('aggregation')}>
              <ChoiceSelect
                {...wiring('aggregation', 'rule-aggregation')}
                choices={AGGREGATIONS}
                value={form.aggregation}
                onChoose={(aggregation) => update({ aggregation: aggregation ?? form.aggregation })}
              />
            </Field>
          ) : null}
          <Field
            label="Window"
            htmlFor="rule-window"
            error={errors.get('window')}
            hint={
              form.kind === 'threshold' ? 'Samples of the last 1m to 24h' : 'Fires when no sample arrived for this long'
            }
          >
            <input type="text" {...textControl('window', 'rule-window', true)} />
          </Field>
          {form.kind === 'threshold' ? (
            <>
              <Field label="Comparator" htmlFor="rule-comparator" error={errors.get('comparator')}>
                <ChoiceSelect
                  {...wiring('comparator', 'rule-comparator')}
                  choices={COMPARATORS}
                  value={form.comparator}
                  onChoose={(comparator) => update({ comparator: comparator ?? form.comparator })}
                />
              </Field>
              <Field label="Threshold" htmlFor="rule-threshold" error={errors.get('threshold')}>
                <input type="text" inputMode="decimal" {...textControl('threshold', 'rule-threshold')} />
              </Field>
              <Field
                label="For"
                htmlFor="rule-for"
                error={errors.get('for')}
                hint="How long it must hold before firing"
              >
                <input type="text" {...textControl('forDuration', 'rule-for', true)} />
              </Field>
            </>
          ) : null}
        </div>
      </fieldset>

      <fieldset class="form-section">
        <legend>Notify</legend>
        <div class="form-grid">
          <Field label="Severity" htmlFor="rule-severity" error={errors.get('severity')}>
            <ChoiceSelect
              {...wiring('severity', 'rule-severity')}
              choices={SEVERITIES}
              value={form.severity}
              onChoose={(severity) => update({ severity: severity ?? form.severity })}
            />
          </Field>
        </div>
        <ChannelsEditor channels={form.channels} errors={errors} onChange={(channels) => update({ channels })} />
        <label class="checkbox">
          <input
            type="checkbox"
            checked={form.enabled}
            onChange={(event) => update({ enabled: event.currentTarget.checked })}
          />
          Enabled
        </label>
      </fieldset>

      <div class="form-actions">
        <button type="submit" class="button button-primary" disabled={saving}>
          {saving ? 'Saving…' : base === null ? 'Create rule' : 'Save changes'}
        </button>
        <button type="button" class="button" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
