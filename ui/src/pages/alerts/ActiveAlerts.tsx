// Alerts firing now.
import { api, call } from '../../api/client.ts';
import { ResourceStatus } from '../../components/Notice.tsx';
import { formatDateTime, formatValue } from '../../lib/format.ts';
import { useResource } from '../../lib/use-resource.ts';

const REFRESH_SECONDS = 15;

export function ActiveAlerts() {
  const active = useResource((signal) => call(api.GET('/alerts/active', { signal })), [], REFRESH_SECONDS);
  return (
    <section class="panel" aria-labelledby="active-title">
      <h2 id="active-title">Firing now</h2>
      <ResourceStatus resource={active} loading="Loading active alerts…" />
      {active.data === undefined ? null : active.data.data.length === 0 ? (
        <p class="empty">No alert is firing.</p>
      ) : (
        <div class="table-scroll">
          <table class="table" aria-label="Active alerts">
            <thead>
              <tr>
                <th scope="col">Rule</th>
                <th scope="col">Series</th>
                <th scope="col">Severity</th>
                <th scope="col" class="numeric">
                  Value
                </th>
                <th scope="col">Since</th>
                <th scope="col" class="numeric">
                  Episode
                </th>
              </tr>
            </thead>
            <tbody>
              {active.data.data.map((alert) => (
                <tr key={`${alert.ruleId}/${alert.series}`}>
                  <th scope="row" class="cell-text">
                    {alert.ruleName}
                  </th>
                  <td class="cell-text">{alert.series}</td>
                  <td>
                    <span class={`badge badge-${alert.severity}`}>{alert.severity}</span>
                  </td>
                  <td class="numeric">{formatValue(alert.value)}</td>
                  <td class="nowrap">
                    <time dateTime={alert.at}>{formatDateTime(alert.at)}</time>
                  </td>
                  <td class="numeric">{alert.episode}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
