// One metric over a range, optionally of one service; the selection lives in the address.
import { useMemo } from 'preact/hooks';
import { api, call } from '../../api/client.ts';
import type { Catalog } from '../../api/types.ts';
import { GettingStarted } from '../../components/GettingStarted.tsx';
import { RefreshIcon } from '../../components/Icons.tsx';
import { ResourceStatus } from '../../components/Notice.tsx';
import { RangePicker } from '../../components/RangePicker.tsx';
import { formatCount, formatTime, formatValue } from '../../lib/format.ts';
import { updateSearch, useLocation } from '../../lib/router.ts';
import { isStep, resolveRange, stepFor } from '../../lib/time.ts';
import { useResource } from '../../lib/use-resource.ts';
import { MetricCharts } from './MetricCharts.tsx';
import { alignMetric } from './metric-series.ts';
import { METRIC_PRESETS, metricsViewFromSearch, metricsViewToSearch, type MetricsView } from './metrics-state.ts';

const REFRESH_SECONDS = 30;
const STEP_NAMES: Record<string, string> = { '1m': '1 minute', '1h': '1 hour', '1d': '1 day' };

export function MetricsPage() {
  const { search } = useLocation();
  const key = search.toString();
  const requested = useMemo(() => metricsViewFromSearch(search), [key]);
  const customRange = requested.range.kind === 'custom' ? requested.range : null;
  const rangeKey =
    customRange === null ? 'recent' : `${customRange.from.toISOString()}/${customRange.to.toISOString()}`;

  const catalog = useResource(
    (signal) =>
      call(
        api.GET('/catalog', {
          params: {
            query:
              customRange === null ? {} : { from: customRange.from.toISOString(), to: customRange.to.toISOString() },
          },
          signal,
        }),
      ),
    [rangeKey],
  );
  const metrics = catalog.data?.metrics ?? [];
  // Without a metric in the address, the first one the tenant has.
  const view = { ...requested, metric: requested.metric ?? metrics[0]?.name ?? null };
  const change = (next: Partial<MetricsView>): void => updateSearch(metricsViewToSearch({ ...view, ...next }));

  const series = useResource(
    async (signal) => {
      if (view.metric === null) return null;
      const { from, to } = resolveRange(view.range, new Date());
      const step = stepFor(from, to);
      const query = {
        metric: view.metric,
        from: from.toISOString(),
        to: to.toISOString(),
        step,
        serviceName: view.serviceName ?? undefined,
      };
      const data = await call(api.GET('/timeseries', { params: { query }, signal }));
      const answeredStep = isStep(data.step) ? data.step : step;
      return {
        step: answeredStep,
        kind: data.kind,
        unit: data.unit,
        temporality: data.temporality,
        aligned: alignMetric(data.points, new Date(data.from), new Date(data.to), answeredStep),
      };
    },
    [view.metric, view.serviceName, key],
    view.range.kind === 'preset' ? REFRESH_SECONDS : null,
  );
  const aligned = series.data?.aligned;
  const samples = aligned?.counts.reduce((sum, count) => sum + count, 0) ?? 0;
  const increase = aligned?.increases.reduce((sum, value) => sum + value, 0) ?? 0;

  return (
    <section class="page" aria-labelledby="metrics-title">
      <header class="page-header">
        <h1 id="metrics-title">Metrics</h1>
        <div class="page-actions">
          <span class="updated" aria-live="polite">
            {series.loading ? 'Updating…' : series.updatedAt === null ? '' : `Updated ${formatTime(series.updatedAt)}`}
          </span>
          <button type="button" class="button button-icon" onClick={series.reload} aria-label="Refresh now">
            <RefreshIcon />
          </button>
        </div>
      </header>

      <div class="filters" role="group" aria-label="Metric selection">
        <MetricPicker view={view} catalog={catalog.data} onChange={change} />
        <RangePicker
          id="metrics-range"
          range={view.range}
          presets={METRIC_PRESETS}
          onChange={(range) => change({ range })}
        />
      </div>

      <ResourceStatus resource={catalog} loading="Loading metric names…" />
      {catalog.data !== undefined && metrics.length === 0 && view.metric === null ? (
        <GettingStarted title="No metrics in this range" example="metric" />
      ) : null}
      {view.metric === null ? null : <ResourceStatus resource={series} loading="Loading the metric…" />}
      {view.metric === null || series.data === undefined || series.data === null ? null : (
        <>
          <p class="muted" data-testid="metric-kind">
            {describeKind(series.data.kind, series.data.temporality, series.data.unit)}
          </p>
          <p class="muted" data-testid="metric-samples">
            {series.data.kind === 'counter'
              ? `${formatCount(samples)} data points · increase ${formatValue(increase)}`
              : `${formatCount(samples)} ${series.data.kind === 'histogram' ? 'observations' : 'samples'}`}{' '}
            · one point per {STEP_NAMES[series.data.step] ?? series.data.step}
          </p>
          <MetricCharts aligned={series.data.aligned} metric={view.metric} kind={series.data.kind} />
        </>
      )}
    </section>
  );
}

const KIND_NAMES: Record<string, string> = {
  gauge: 'Gauge',
  counter: 'Counter',
  upDownCounter: 'Up-down counter',
  histogram: 'Histogram',
};

/** "Counter · cumulative · unit 1". */
export function describeKind(kind: string, temporality: string | null, unit: string | null): string {
  const parts = [KIND_NAMES[kind] ?? kind];
  if (temporality !== null) parts.push(temporality);
  if (unit !== null && unit !== '') parts.push(`unit ${unit}`);
  return parts.join(' · ');
}

function MetricPicker({
  view,
  catalog,
  onChange,
}: {
  view: MetricsView;
  catalog: Catalog | undefined;
  onChange(next: Partial<MetricsView>): void;
}) {
  const names = (catalog?.metrics ?? []).map((metric) => metric.name);
  const kinds = new Map((catalog?.metrics ?? []).map((metric) => [metric.name, metric.kind]));
  if (view.metric !== null && !names.includes(view.metric)) names.unshift(view.metric);
  const services =
    catalog?.metrics.find((metric) => metric.name === view.metric)?.services.map((service) => service.name) ?? [];
  if (view.serviceName !== null && !services.includes(view.serviceName)) services.unshift(view.serviceName);
  return (
    <>
      <div class="field">
        <label class="field-label" for="metrics-metric">
          Metric
        </label>
        <select
          id="metrics-metric"
          value={view.metric ?? ''}
          disabled={names.length === 0}
          onChange={(event) => onChange({ metric: event.currentTarget.value, serviceName: null })}
        >
          {names.length === 0 ? <option value="">No metrics</option> : null}
          {names.map((name) => {
            const kind = kinds.get(name);
            return (
              <option key={name} value={name}>
                {kind === undefined || kind === 'gauge' ? name : `${name} (${KIND_NAMES[kind]?.toLowerCase() ?? kind})`}
              </option>
            );
          })}
        </select>
      </div>
      <div class="field">
        <label class="field-label" for="metrics-service">
          Service
        </label>
        <select
          id="metrics-service"
          value={view.serviceName ?? ''}
          onChange={(event) => onChange({ serviceName: event.currentTarget.value || null })}
        >
          <option value="">All services</option>
          {services.map((name) => (
            <option key={name} value={name}>
              {name}
            </option>
          ))}
        </select>
      </div>
    </>
  );
}
