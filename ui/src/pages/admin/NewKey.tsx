// A key just issued: shown this once, with a copy button.
import { CopyButton } from '../../components/CopyButton.tsx';

interface NewKeyProps {
  keyId: string;
  secret: string;
  label: string;
  /** The key this one replaces, and whether revoking it worked. */
  replaced?: { keyId: string; revoked: boolean } | undefined;
  onDone(): void;
}

export function NewKey({ keyId, secret, label, replaced, onDone }: NewKeyProps) {
  return (
    <div class="notice notice-success new-key" role="status" aria-labelledby="new-key-title">
      <div class="new-key-body">
        <strong id="new-key-title">
          {replaced === undefined ? 'New key' : 'Replacement key'} “{label}” ({keyId})
        </strong>
        <p>
          Copy it now: it is not shown again.
          {replaced === undefined || !replaced.revoked ? '' : ` Key ${replaced.keyId} is revoked.`}
        </p>
        {replaced === undefined || replaced.revoked ? null : (
          <p class="notice notice-warning" role="alert">
            Key {replaced.keyId} could not be revoked and still works: revoke it from the list below.
          </p>
        )}
        <div class="snippet">
          <code class="secret" data-testid="new-key">
            {secret}
          </code>
          <CopyButton text={secret} label="Copy key" />
        </div>
      </div>
      <button type="button" class="button" onClick={onDone}>
        Done
      </button>
    </div>
  );
}
