// A metric over time: avg and percentiles on one chart, the sample count on its own below,
// with cursors in step so hovering shows every value of a bucket.
import uPlot from 'uplot';
import { useMemo } from 'preact/hooks';
import { Chart, type ChartOptions } from '../../components/Chart.tsx';
import { TIME_AXIS, TIME_SERIES, valueAxis } from '../../components/chart-axes.ts';
import { formatCount, formatValue } from '../../lib/format.ts';
import { STATISTICS, type AlignedMetric, type Statistic } from './metric-series.ts';

const COLORS: Record<Statistic, string> = { avg: '#3b6fd8', p50: '#1f9d76', p95: '#d98a12', p99: '#c2410c' };
const SYNC_KEY = 'metric-charts';

export function MetricCharts({ aligned, metric }: { aligned: AlignedMetric; metric: string }) {
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
  const countOptions = useMemo(
    (): ChartOptions => ({
      cursor: { sync: { key: SYNC_KEY } },
      scales: { y: { range: (_plot, _min, max) => [0, Math.max(1, max)] } },
      axes: [TIME_AXIS, valueAxis((value) => (Number.isInteger(value) ? formatCount(value) : ''))],
      series: [
        TIME_SERIES,
        {
          label: 'samples',
          fill: '#8aa4dd',
          stroke: '#5b7fcc',
          width: 0,
          points: { show: false },
          paths: uPlot.paths.bars?.({ size: [0.8, 32], gap: 1 }),
          value: (_plot, value) => (value === null ? '—' : formatCount(value)),
        },
      ],
    }),
    [],
  );
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
        <h2 id="count-title">{metric}: samples per bucket</h2>
        <Chart
          options={countOptions}
          data={[aligned.xs, aligned.counts]}
          height={140}
          label={`${metric}: number of samples over time`}
        />
      </section>
    </>
  );
}
