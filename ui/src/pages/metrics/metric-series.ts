// A metric's points lined up with every bucket of the range: statistics and rates leave gaps
// where there were no points, counts and increases are 0 there. Pure.
import type { MetricPoint } from '../../api/types.ts';
import { alignToBuckets, bucketStarts, type Step } from '../../lib/time.ts';

export const STATISTICS = ['avg', 'p50', 'p95', 'p99'] as const;
export type Statistic = (typeof STATISTICS)[number];

export interface AlignedMetric {
  /** Bucket starts in epoch seconds. */
  xs: number[];
  statistics: Record<Statistic, (number | null)[]>;
  /** Samples (gauges), data points (counters) or observations (histograms). */
  counts: number[];
  /** Counters: the increase in each bucket (0 where there were no points) and per second. */
  increases: number[];
  rates: (number | null)[];
}

export function alignMetric(points: readonly MetricPoint[], from: Date, to: Date, step: Step): AlignedMetric {
  const starts = bucketStarts(from, to, step);
  const column = (statistic: Statistic): (number | null)[] =>
    alignToBuckets<MetricPoint, number | null>(
      starts,
      points,
      (point) => point.t,
      (point) => point[statistic],
      null,
    );
  return {
    xs: starts.map((start) => start / 1000),
    statistics: { avg: column('avg'), p50: column('p50'), p95: column('p95'), p99: column('p99') },
    counts: alignToBuckets(
      starts,
      points,
      (point) => point.t,
      (point) => point.count,
      0,
    ),
    increases: alignToBuckets(
      starts,
      points,
      (point) => point.t,
      (point) => point.increase ?? 0,
      0,
    ),
    rates: alignToBuckets<MetricPoint, number | null>(
      starts,
      points,
      (point) => point.t,
      (point) => point.ratePerSecond,
      null,
    ),
  };
}
