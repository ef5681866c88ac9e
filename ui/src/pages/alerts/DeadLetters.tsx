// Notifications given up after every retry; rule writers can queue one again.
import { useState } from 'preact/hooks';
import { api, call, callWithoutBody } from '../../api/client.ts';
import type { DeadLetter } from '../../api/types.ts';
import { ErrorNotice, InfoNotice, ResourceStatus } from '../../components/Notice.tsx';
import { formatDateTime } from '../../lib/format.ts';
import { useResource } from '../../lib/use-resource.ts';

export function DeadLetters({ canRedeliver }: { canRedeliver: boolean }) {
  const letters = useResource((signal) => call(api.GET('/alerts/dead-letters', { signal })), []);
  const [busy, setBusy] = useState<string | null>(null);
  const [outcome, setOutcome] = useState<{ error: unknown } | { queued: string } | null>(null);

  const redeliver = async (letter: DeadLetter): Promise<void> => {
    setBusy(letter.id);
    setOutcome(null);
    try {
      await callWithoutBody(
        api.POST('/alerts/dead-letters/{deliveryId}/redeliver', { params: { path: { deliveryId: letter.id } } }),
      );
      setOutcome({ queued: letter.url });
      letters.reload();
    } catch (error) {
      setOutcome({ error });
    } finally {
      setBusy(null);
    }
  };

  return (
    <section class="panel" aria-labelledby="dead-letters-title">
      <h2 id="dead-letters-title">Dead letters</h2>
      <p class="muted">Notifications that failed every attempt (the latest 1,000).</p>
      {outcome === null ? null : 'error' in outcome ? (
        <ErrorNotice error={outcome.error} />
      ) : (
        <InfoNotice tone="success">Queued again for {outcome.queued}.</InfoNotice>
      )}
      <ResourceStatus resource={letters} loading="Loading dead letters…" />
      {letters.data === undefined ? null : letters.data.data.length === 0 ? (
        <p class="empty">No dead letters: every notification was delivered.</p>
      ) : (
        <div class="table-scroll">
          <table class="table" aria-label="Dead letters">
            <thead>
              <tr>
                <th scope="col">Failed</th>
                <th scope="col">Webhook</th>
                <th scope="col" class="numeric">
                  Attempts
                </th>
                <th scope="col">Last error</th>
                <th scope="col">Notification</th>
                {canRedeliver ? <th scope="col">Actions</th> : null}
              </tr>
            </thead>
            <tbody>
              {letters.data.data.map((letter) => (
                <tr key={letter.id}>
                  <td class="nowrap">
                    <time dateTime={letter.failedAt}>{formatDateTime(letter.failedAt)}</time>
                  </td>
                  <td class="cell-text">{letter.url}</td>
                  <td class="numeric">{letter.attempts}</td>
                  <td class="cell-text">{letter.lastError ?? '—'}</td>
                  <td>
                    <details>
                      <summary>Body</summary>
                      <pre class="json">{JSON.stringify(letter.body, null, 2)}</pre>
                    </details>
                  </td>
                  {canRedeliver ? (
                    <td>
                      <button
                        type="button"
                        class="button button-small"
                        disabled={busy === letter.id}
                        onClick={() => void redeliver(letter)}
                      >
                        Redeliver
                      </button>
                    </td>
                  ) : null}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
