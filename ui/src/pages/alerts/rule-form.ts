// An alert rule as its form holds it (text as typed), and the conversions to and from the
// API's definition. Pure.
import { sentence, type FieldProblem } from '../../api/errors.ts';
import type { Aggregation, ChannelFormat, Comparator, RuleDefinition, RuleKind, Severity } from '../../api/types.ts';
import { choicesOf } from '../../lib/choices.ts';

export const AGGREGATIONS = choicesOf<Aggregation>({
  count: 'count',
  sum: 'sum',
  min: 'min',
  max: 'max',
  avg: 'avg',
  p50: 'p50',
  p90: 'p90',
  p95: 'p95',
  p99: 'p99',
  rate: 'rate (counters, per second)',
  increase: 'increase (counters)',
});
export const COMPARATORS = choicesOf<Comparator>({ '>': '>', '>=': '≥', '<': '<', '<=': '≤' });
export const SEVERITIES = choicesOf<Severity>({ info: 'info', warning: 'warning', critical: 'critical' });
export const CHANNEL_FORMATS = choicesOf<ChannelFormat>({ json: 'JSON', slack: 'Slack' });
export const RULE_KINDS = choicesOf<RuleKind>({ threshold: 'Crosses a threshold', absence: 'Stops arriving' });

export interface RuleForm {
  name: string;
  kind: RuleKind;
  metric: string;
  serviceName: string;
  attributes: { key: string; value: string }[];
  aggregation: Aggregation;
  window: string;
  comparator: Comparator;
  /** As typed; a number when sent. */
  threshold: string;
  forDuration: string;
  severity: Severity;
  channels: { url: string; format: ChannelFormat }[];
  enabled: boolean;
}

export const EMPTY_RULE_FORM: RuleForm = {
  name: '',
  kind: 'threshold',
  metric: '',
  serviceName: '',
  attributes: [],
  aggregation: 'avg',
  window: '5m',
  comparator: '>',
  threshold: '',
  forDuration: '0s',
  severity: 'warning',
  channels: [{ url: '', format: 'json' }],
  enabled: true,
};

export function formFromRule(rule: RuleDefinition): RuleForm {
  return {
    name: rule.name,
    kind: rule.kind === 'absence' ? 'absence' : 'threshold',
    metric: rule.metric,
    serviceName: rule.serviceName ?? '',
    attributes: Object.entries(rule.attributes ?? {}).map(([key, value]) => ({ key, value })),
    aggregation: rule.aggregation ?? EMPTY_RULE_FORM.aggregation,
    window: rule.window,
    comparator: rule.comparator ?? EMPTY_RULE_FORM.comparator,
    threshold: rule.threshold === null || rule.threshold === undefined ? '' : String(rule.threshold),
    forDuration: rule.for ?? EMPTY_RULE_FORM.forDuration,
    severity: rule.severity ?? EMPTY_RULE_FORM.severity,
    channels: rule.channels.map((channel) => ({ url: channel.url, format: channel.format ?? 'json' })),
    enabled: rule.enabled ?? true,
  };
}

/** The definition to send, or the problems the form can tell without asking the server. */
export function ruleFromForm(form: RuleForm): { rule: RuleDefinition } | { problems: FieldProblem[] } {
  const threshold = form.threshold.trim() === '' ? null : Number(form.threshold);
  if (form.kind === 'threshold' && threshold !== null && !Number.isFinite(threshold)) {
    return { problems: [{ field: 'threshold', code: 'invalid_type', message: 'threshold must be a number' }] };
  }
  const common = {
    name: form.name,
    kind: form.kind,
    metric: form.metric,
    serviceName: form.serviceName.trim() === '' ? null : form.serviceName,
    attributes: Object.fromEntries(
      form.attributes
        .filter((attribute) => attribute.key.trim() !== '')
        .map((attribute) => [attribute.key, attribute.value]),
    ),
    window: form.window,
    severity: form.severity,
    channels: form.channels.map((channel) => ({ url: channel.url, format: channel.format })),
    enabled: form.enabled,
  };
  if (form.kind === 'absence') return { rule: common };
  return {
    rule: {
      ...common,
      aggregation: form.aggregation,
      comparator: form.comparator,
      threshold,
      for: form.forDuration.trim() === '' ? null : form.forDuration,
    },
  };
}

/** The server's problems by field (`name`, `channels[0].url`, ...), as sentences. */
export function problemsByField(problems: readonly FieldProblem[]): Map<string, string> {
  const byField = new Map<string, string>();
  for (const problem of problems) {
    const field = problem.field.startsWith('attributes') ? 'attributes' : problem.field;
    const earlier = byField.get(field);
    const message = sentence(problem.message);
    byField.set(field, earlier === undefined ? message : `${earlier} ${message}`);
  }
  return byField;
}

/** The fields a form shows a control for; problems of any other field are listed above it. */
export function fieldsOf(form: RuleForm): string[] {
  const common = ['name', 'kind', 'metric', 'serviceName', 'attributes', 'window', 'severity', 'channels', 'enabled'];
  const threshold = form.kind === 'threshold' ? ['aggregation', 'comparator', 'threshold', 'for'] : [];
  const channels = form.channels.flatMap((_, index) => [`channels[${index}].url`, `channels[${index}].format`]);
  return [...common, ...threshold, ...channels];
}

/** What a rule watches, in words: `avg over 5m > 100 for 2m`, `no samples for 10m`. */
export function conditionOf(rule: RuleDefinition): string {
  if (rule.kind === 'absence') return `no samples for ${rule.window}`;
  const holding = rule.for !== null && rule.for !== undefined && rule.for !== '0s' ? ` for ${rule.for}` : '';
  return `${rule.aggregation ?? 'avg'} over ${rule.window} ${rule.comparator ?? '>'} ${rule.threshold ?? '?'}${holding}`;
}

export function definitionOf(rule: RuleDefinition): RuleDefinition {
  return {
    name: rule.name,
    kind: rule.kind ?? null,
    metric: rule.metric,
    serviceName: rule.serviceName ?? null,
    attributes: rule.attributes ?? null,
    aggregation: rule.aggregation ?? null,
    window: rule.window,
    comparator: rule.comparator ?? null,
    threshold: rule.threshold ?? null,
    for: rule.for ?? null,
    severity: rule.severity ?? null,
    channels: rule.channels,
    enabled: rule.enabled ?? null,
  };
}
