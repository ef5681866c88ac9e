// The metrics page's selection as it lives in the address. Pure.
import { RANGE_PRESETS, rangeFromSearch, rangeToSearch, type TimeRange } from '../../lib/time.ts';

export const METRIC_PRESETS = RANGE_PRESETS.filter((preset) => preset.id !== '15m');
const DEFAULT_RANGE = METRIC_PRESETS[0]!;

export interface MetricsView {
  metric: string | null;
  serviceName: string | null;
  range: TimeRange;
}

export function metricsViewFromSearch(search: URLSearchParams): MetricsView {
  return {
    metric: search.get('metric') || null,
    serviceName: search.get('service') || null,
    range: rangeFromSearch(search, DEFAULT_RANGE, METRIC_PRESETS),
  };
}

export function metricsViewToSearch(view: MetricsView): Record<string, string | null> {
  return { metric: view.metric, service: view.serviceName, ...rangeToSearch(view.range) };
}
