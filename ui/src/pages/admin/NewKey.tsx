// A key just issued: shown this once, with a copy button.
import { CopyButton } from '../../components/CopyButton.tsx';

interface NewKeyProps {
  keyId: string;
  secret: string;
  label: string;
  replacedKeyId?: string | undefined;
  onDone(): void;
}

export function NewKey({ keyId, secret, label, replacedKeyId, onDone }: NewKeyProps) {
  return (
    <div class="notice notice-success new-key" role="status" aria-labelledby="new-key-title">
      <div class="new-key-body">
        <strong id="new-key-title">
          {replacedKeyId === undefined ? 'New key' : 'Replacement key'} “{label}” ({keyId})
        </strong>
        <p>
          Copy it now: it is not shown again.
          {replacedKeyId === undefined ? '' : ` Key ${replacedKeyId} is revoked.`}
        </p>
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
