// Events per interval by type as stacked bars; the legend shows each type's own count.
import uPlot from 'uplot';
import { useMemo, useRef } from 'preact/hooks';
import { api, call } from '../../api/client.ts';
import { Chart, type ChartOptions } from '../../components/Chart.tsx';
import { TIME_AXIS, TIME_SERIES, valueAxis } from '../../components/chart-axes.ts';
import { ResourceStatus } from '../../components/Notice.tsx';
import { formatCount } from '../../lib/format.ts';
import { isStep, stepFor } from '../../lib/time.ts';
import { useResource } from '../../lib/use-resource.ts';
import { STACK_ORDER, stackEvents, type StackedType } from './event-series.ts';

const COLORS: Record<StackedType, string> = { log: '#3b6fd8', metric: '#1f9d76', trace: '#d98a12' };
const LABELS: Record<StackedType, string> = { log: 'Logs', metric: 'Metrics', trace: 'Traces' };
const STEP_LABELS: Record<string, string> = { '1m': 'minute', '1h': 'hour', '1d': 'day' };
const REFRESH_SECONDS = 10;

export function EventsChart({ windowMinutes, windowId }: { windowMinutes: number; windowId: string }) {
  const series = useResource(
    (signal) => {
      const to = new Date(Math.floor(Date.now() / 60_000) * 60_000 + 60_000);
      const from = new Date(to.getTime() - windowMinutes * 60_000);
      return call(
        api.GET('/timeseries/events', {
          params: { query: { from: from.toISOString(), to: to.toISOString() } },
          signal,
        }),
      );
    },
    [windowId],
    REFRESH_SECONDS,
  );
  const counts = useRef<number[][]>([]);
  const stacked = useMemo(() => {
    if (series.data === undefined) return null;
    const from = new Date(series.data.from);
    const to = new Date(series.data.to);
    const step = isStep(series.data.step) ? series.data.step : stepFor(from, to);
    return { step, ...stackEvents(series.data.points, from, to, step) };
  }, [series.data]);
  counts.current = stacked?.counts ?? [];
  const options = useMemo(() => stackedBarOptions(counts), []);

  return (
    <section class="panel" aria-labelledby="events-chart-title">
      <h2 id="events-chart-title">
        Events per {stacked === null ? 'interval' : (STEP_LABELS[stacked.step] ?? stacked.step)}
      </h2>
      <ResourceStatus resource={series} loading="Loading the chart…" />
      {stacked === null ? null : (
        <Chart
          options={options}
          data={[stacked.xs, ...stacked.tops]}
          height={220}
          label={`Events per ${STEP_LABELS[stacked.step] ?? stacked.step} by type`}
        />
      )}
    </section>
  );
}

function stackedBarOptions(counts: { current: number[][] }): ChartOptions {
  const bars = uPlot.paths.bars?.({ size: [0.8, 48], gap: 1 });
  return {
    cursor: { points: { show: false } },
    scales: { y: { range: (_plot, _min, max) => [0, Math.max(1, max)] } },
    axes: [TIME_AXIS, valueAxis((value) => (Number.isInteger(value) ? formatCount(value) : ''))],
    series: [
      TIME_SERIES,
      ...STACK_ORDER.map((type, index): uPlot.Series => ({
        label: LABELS[type],
        fill: COLORS[type],
        stroke: COLORS[type],
        width: 0,
        paths: bars,
        points: { show: false },
        value: (_plot, _top, _series, bucket) =>
          bucket === null ? '—' : formatCount(counts.current[index]?.[bucket] ?? 0),
      })),
    ],
  };
}
