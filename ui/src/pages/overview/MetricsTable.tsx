// Every metric of the window with its kind and the statistics of its kind (a counter's
// increase and rate, a histogram's percentiles from its buckets, a gauge's samples; the
// others show "—"); a name opens the metric's chart.
import type { MetricSummary } from '../../api/types.ts';
import { Link } from '../../components/Link.tsx';
import { formatCount, formatValue } from '../../lib/format.ts';
import { hrefFor } from '../../lib/router.ts';

const KINDS: Record<string, string> = {
  gauge: 'gauge',
  counter: 'counter',
  upDownCounter: 'up-down counter',
  histogram: 'histogram',
};

export function MetricsTable({ metrics, windowId }: { metrics: readonly MetricSummary[]; windowId: string }) {
  const range = windowId === '15m' ? '1h' : windowId;
  return (
    <section class="panel" aria-labelledby="metrics-table-title">
      <h2 id="metrics-table-title">Metrics</h2>
      {metrics.length === 0 ? (
        <p class="muted">No metric events in this window.</p>
      ) : (
        <div class="table-scroll">
          <table class="table" data-testid="metrics-table">
            <thead>
              <tr>
                <th scope="col">Metric</th>
                <th scope="col">Kind</th>
                <th scope="col" class="numeric">
                  Count
                </th>
                <th scope="col" class="numeric">
                  Min
                </th>
                <th scope="col" class="numeric">
                  Avg
                </th>
                <th scope="col" class="numeric">
                  p50
                </th>
                <th scope="col" class="numeric">
                  p95
                </th>
                <th scope="col" class="numeric">
                  p99
                </th>
                <th scope="col" class="numeric">
                  Max
                </th>
                <th scope="col" class="numeric">
                  Increase
                </th>
                <th scope="col" class="numeric">
                  Rate /s
                </th>
              </tr>
            </thead>
            <tbody>
              {metrics.map((metric) => (
                <tr key={metric.name}>
                  <th scope="row">
                    <Link href={hrefFor('metrics', new URLSearchParams({ metric: metric.name, range }))}>
                      {metric.name}
                    </Link>
                  </th>
                  <td title={metric.temporality ?? undefined}>
                    {KINDS[metric.kind] ?? metric.kind}
                    {metric.unit ? <span class="muted"> · {metric.unit}</span> : null}
                  </td>
                  <td class="numeric">{formatCount(metric.count)}</td>
                  <td class="numeric">{formatValue(metric.min)}</td>
                  <td class="numeric">{formatValue(metric.avg)}</td>
                  <td class="numeric">{formatValue(metric.p50)}</td>
                  <td class="numeric">{formatValue(metric.p95)}</td>
                  <td class="numeric">{formatValue(metric.p99)}</td>
                  <td class="numeric">{formatValue(metric.max)}</td>
                  <td class="numeric">{formatValue(metric.increase)}</td>
                  <td class="numeric">{formatValue(metric.ratePerSecond)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
