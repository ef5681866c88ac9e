// The tenant's API keys: list, issue (the key is shown once), rotate and revoke.
import { useState } from 'preact/hooks';
import { api, call, callWithoutBody } from '../../api/client.ts';
import type { ApiKey, ApiKeyList } from '../../api/types.ts';
import { ErrorNotice, ResourceStatus } from '../../components/Notice.tsx';
import { formatDateTime } from '../../lib/format.ts';
import { useResource } from '../../lib/use-resource.ts';
import { NewKey } from './NewKey.tsx';

interface Shown {
  keyId: string;
  secret: string;
  label: string;
  replaced?: { keyId: string; revoked: boolean };
}

export function ApiKeys() {
  const keys = useResource((signal) => call(api.GET('/admin/api-keys', { signal })), []);
  const [label, setLabel] = useState('');
  const [shown, setShown] = useState<Shown | null>(null);
  const [failure, setFailure] = useState<unknown>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [confirming, setConfirming] = useState<{ keyId: string; action: 'revoke' | 'rotate' } | null>(null);

  const run = async (id: string, action: () => Promise<void>): Promise<void> => {
    setBusy(id);
    setFailure(null);
    try {
      await action();
    } catch (error) {
      setFailure(error);
    } finally {
      setBusy(null);
      setConfirming(null);
    }
  };
  const statusOf = (list: ApiKeyList, keyId: string): ApiKey['status'] | undefined =>
    list.data.find((key) => key.keyId === keyId)?.status;
  const issue = (event: Event): void => {
    event.preventDefault();
    void run('issue', async () => {
      const issued = await call(api.POST('/admin/api-keys', { body: { label: label.trim() } }));
      setShown({ keyId: issued.keyId, secret: issued.key, label: issued.label });
      setLabel('');
      keys.reloadUntil((list) => statusOf(list, issued.keyId) === 'active');
    });
  };
  const rotate = (key: ApiKey): Promise<void> =>
    run(key.keyId, async () => {
      const rotated = await call(
        api.POST('/admin/api-keys/{keyId}/rotate', { params: { path: { keyId: key.keyId } } }),
      );
      setShown({
        keyId: rotated.keyId,
        secret: rotated.key,
        label: rotated.label,
        replaced: { keyId: rotated.replacedKeyId, revoked: rotated.replacedKeyRevoked },
      });
      const replacedStatus = rotated.replacedKeyRevoked ? 'revoked' : 'active';
      keys.reloadUntil(
        (list) => statusOf(list, rotated.keyId) === 'active' && statusOf(list, key.keyId) === replacedStatus,
      );
    });
  const revoke = (key: ApiKey): Promise<void> =>
    run(key.keyId, async () => {
      await callWithoutBody(api.DELETE('/admin/api-keys/{keyId}', { params: { path: { keyId: key.keyId } } }));
      keys.reloadUntil((list) => statusOf(list, key.keyId) === 'revoked');
    });

  return (
    <section class="panel" aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <form class="inline-form" onSubmit={issue}>
        <div class="field">
          <label class="field-label" for="new-key-label">
            Label of a new key
          </label>
          <input
            id="new-key-label"
            type="text"
            value={label}
            maxLength={200}
            placeholder="e.g. checkout producer"
            onInput={(event) => setLabel(event.currentTarget.value)}
          />
        </div>
        <button type="submit" class="button button-primary" disabled={busy === 'issue'}>
          {busy === 'issue' ? 'Issuing…' : 'Issue key'}
        </button>
      </form>
      {shown === null ? null : <NewKey {...shown} onDone={() => setShown(null)} />}
      {failure === null ? null : <ErrorNotice error={failure} />}
      <ResourceStatus resource={keys} loading="Loading keys…" />
      {keys.data === undefined ? null : keys.data.data.length === 0 ? (
        <p class="empty">No API keys yet.</p>
      ) : (
        <div class="table-scroll">
          <table class="table" aria-label="API keys">
            <thead>
              <tr>
                <th scope="col">Key ID</th>
                <th scope="col">Label</th>
                <th scope="col">Status</th>
                <th scope="col">Issued</th>
                <th scope="col">By</th>
                <th scope="col">Revoked</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {keys.data.data.map((key) => (
                <tr key={key.keyId} data-key-id={key.keyId}>
                  <th scope="row" class="mono">
                    {key.keyId}
                  </th>
                  <td class="cell-text">{key.label}</td>
                  <td>
                    <span class={`badge badge-key-${key.status}`}>{key.status}</span>
                  </td>
                  <td class="nowrap">{formatDateTime(key.issuedAt)}</td>
                  <td class="cell-text mono">{key.issuedBy}</td>
                  <td class="nowrap">{key.revokedAt ? formatDateTime(key.revokedAt) : '—'}</td>
                  <td class="row-actions">
                    {key.status !== 'active' ? null : confirming?.keyId === key.keyId ? (
                      <span class="confirm" role="group" aria-label={`Confirm ${confirming.action}`}>
                        <span>{confirming.action === 'revoke' ? 'Revoke this key?' : 'Replace this key?'}</span>
                        <button
                          type="button"
                          class={`button button-small${confirming.action === 'revoke' ? ' button-danger' : ' button-primary'}`}
                          disabled={busy === key.keyId}
                          onClick={() => void (confirming.action === 'revoke' ? revoke(key) : rotate(key))}
                        >
                          {confirming.action === 'revoke' ? 'Revoke' : 'Rotate'}
                        </button>
                        <button type="button" class="button button-small" onClick={() => setConfirming(null)}>
                          Cancel
                        </button>
                      </span>
                    ) : (
                      <>
                        <button
                          type="button"
                          class="button button-small"
                          onClick={() => setConfirming({ keyId: key.keyId, action: 'rotate' })}
                        >
                          Rotate<span class="visually-hidden"> key {key.keyId}</span>
                        </button>
                        <button
                          type="button"
                          class="button button-small button-quiet-danger"
                          onClick={() => setConfirming({ keyId: key.keyId, action: 'revoke' })}
                        >
                          Revoke<span class="visually-hidden"> key {key.keyId}</span>
                        </button>
                      </>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
