// Events per bucket by type, with empty buckets as 0, stacked for a bar chart. Pure.
import type { EventCountPoint } from '../../api/types.ts';
import { alignToBuckets, bucketStarts, type Step } from '../../lib/time.ts';

export const STACK_ORDER = ['trace', 'metric', 'log'] as const;
export type StackedType = (typeof STACK_ORDER)[number];

export interface StackedEvents {
  /** Bucket starts in epoch seconds (uPlot's x values). */
  xs: number[];
  /** Events per bucket of each type, in STACK_ORDER. */
  counts: number[][];
  /**
   * Bar tops in STACK_ORDER: trace's bar reaches the total, metric's log + metric, log's
   * log. Drawn in that order each bar covers the lower part of the one before.
   */
  tops: number[][];
}

export function stackEvents(points: readonly EventCountPoint[], from: Date, to: Date, step: Step): StackedEvents {
  const starts = bucketStarts(from, to, step);
  const counts = STACK_ORDER.map((type) =>
    alignToBuckets(
      starts,
      points,
      (point) => point.t,
      (point) => point[type],
      0,
    ),
  );
  const [trace = [], metric = [], log = []] = counts;
  const tops = [
    log.map((value, index) => value + (metric[index] ?? 0) + (trace[index] ?? 0)),
    log.map((value, index) => value + (metric[index] ?? 0)),
    log,
  ];
  return { xs: starts.map((start) => start / 1000), counts, tops };
}
