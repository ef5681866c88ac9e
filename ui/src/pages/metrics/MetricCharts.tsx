// A metric over time, as its kind reads: a gauge's or histogram's average and percentiles on
// one chart and its samples (observations) below; a counter's rate per second on one chart and
// its increase per bucket below. Cursors move in step, so hovering shows a bucket's values.
import uPlot from 'uplot';
import { useMemo } from 'preact/hooks';
import { Chart, type ChartOptions } from '../../components/Chart.tsx';
import { TIME_AXIS, TIME_SERIES, valueAxis } from '../../components/chart-axes.ts';
import { formatCount, formatValue } from '../../lib/format.ts';
import { STATISTICS, type AlignedMetric, type Statistic } from './metric-series.ts';

const COLORS: Record<Statistic, string> = { avg: '#3b6fd8', p50: '#1f9d76', p95: '#d98a12', p99: '#c2410c' };
const SYNC_KEY = 'metric-charts';

export function MetricCharts({ aligned, metric, kind }: { aligned: AlignedMetric; metric: string; kind: string }) {
  return kind === 'counter' ? (
    <CounterCharts aligned={aligned} metric={metric} />
  ) : (
    <StatisticsCharts aligned={aligned} metric={metric} counted={kind === 'histogram' ? 'observations' : 'samples'} />
  );
}

function barsOptions(label: string): ChartOptions {
  return {
    cursor: { sync: { key: SYNC_KEY } },
    scales: { y: { range: (_plot, _min, max) => [0, Math.max(1, max)] } },
    axes: [TIME_AXIS, valueAxis((value) => (Number.isInteger(value) ? formatCount(value) : formatValue(value)))],
    series: [
      TIME_SERIES,
      {
        label,
        fill: '#8aa4dd',
        stroke: '#5b7fcc',
        width: 0,
        points: { show: false },
        paths: uPlot.paths.bars?.({ size: [0.8, 32], gap: 1 }),
        value: (_plot, value) => (value === null ? '—' : formatValue(value)),
      },
    ],
  };
}

function CounterCharts({ aligned, metric }: { aligned: AlignedMetric; metric: string }) {
  const rateOptions = useMemo(
    (): ChartOptions => ({
      cursor: { sync: { key: SYNC_KEY } },
      axes: [TIME_AXIS, valueAxis(formatValue)],
      series: [
        TIME_SERIES,
        {
          label: 'rate /s',
          stroke: COLORS.avg,
          width: 2,
          // A bucket without points had no increase to show: no line across it.
          spanGaps: false,
          points: { show: aligned.xs.length <= 120 },
          value: (_plot, value) => formatValue(value),
        },
      ],
    }),
    [aligned.xs.length <= 120],
  );
  const increaseOptions = useMemo(() => barsOptions('increase'), []);
  return (
    <>
      <section class="panel" aria-labelledby="statistics-title">
        <h2 id="statistics-title">{metric}: rate per second</h2>
        <Chart options={rateOptions} data={[aligned.xs, aligned.rates]} height={280} label={`${metric}: rate per second over time`} />
      </section>
      <section class="panel" aria-labelledby="count-title">
        <h2 id="count-title">{metric}: increase per bucket</h2>
        <Chart
          options={increaseOptions}
          data={[aligned.xs, aligned.increases]}
          height={140}
          label={`${metric}: increase per bucket over time`}
        />
      </section>
    </>
  );
}

function StatisticsCharts({ aligned, metric, counted }: { aligned: AlignedMetric; metric: string; counted: string }) {
  const statisticsOptions = useMemo(
    (): ChartOptions => ({
      cursor: { sync: { key: SYNC_KEY } },
      axes: [TIME_AXIS, valueAxis(formatValue)],
      series: [
        TIME_SERIES,
        ...STATISTICS.map((statistic): uPlot.Series => ({
          label: statistic,
          stroke: COLORS[statistic],
          width: 2,
          spanGaps: true,
          points: { show: aligned.xs.length <= 120 },
          value: (_plot, value) => formatValue(value),
        })),
      ],
    }),
    [aligned.xs.length <= 120],
  );
  const countOptions = useMemo(() => barsOptions(counted), [counted]);
  return (
    <>
      <section class="panel" aria-labelledby="statistics-title">
        <h2 id="statistics-title">{metric}: average and percentiles</h2>
        <Chart
          options={statisticsOptions}
          data={[aligned.xs, ...STATISTICS.map((statistic) => aligned.statistics[statistic])]}
          height={280}
          label={`${metric}: avg, p50, p95 and p99 over time`}
        />
      </section>
      <section class="panel" aria-labelledby="count-title">
        <h2 id="count-title">
          {metric}: {counted} per bucket
        </h2>
        <Chart
          options={countOptions}
          data={[aligned.xs, aligned.counts]}
          height={140}
          label={`${metric}: number of ${counted} over time`}
        />
      </section>
    </>
  );
}
