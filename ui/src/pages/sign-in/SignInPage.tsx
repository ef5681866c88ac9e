// Signing in with a tenant API key or a user's bearer token, checked with `GET /session`.
import { useState } from 'preact/hooks';
import { signIn, type CredentialKind } from '../../api/auth.ts';
import { call, clientFor } from '../../api/client.ts';
import { explain } from '../../api/errors.ts';
import { LogoIcon } from '../../components/Icons.tsx';
import { InfoNotice } from '../../components/Notice.tsx';

const KINDS: { kind: CredentialKind; label: string; fieldLabel: string; placeholder: string; hint: string }[] = [
  {
    kind: 'api_key',
    label: 'API key',
    fieldLabel: 'Your API key',
    placeholder: 'tk_…',
    hint: 'A tenant key: reads data and edits alert rules.',
  },
  {
    kind: 'token',
    label: 'Bearer token',
    fieldLabel: 'Your bearer token',
    placeholder: 'eyJhbGciOi…',
    hint: 'A user token (JWT): what you may do depends on its role.',
  },
];

export function SignInPage({ reason }: { reason: string | null }) {
  const [kind, setKind] = useState<CredentialKind>('api_key');
  const [secret, setSecret] = useState('');
  const [problem, setProblem] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);
  const selected = KINDS.find((candidate) => candidate.kind === kind) ?? KINDS[0]!;

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const trimmed = secret.trim();
    if (trimmed === '') {
      setProblem(`Enter your ${selected.label.toLowerCase()}.`);
      return;
    }
    setChecking(true);
    setProblem(null);
    const credential = { kind, secret: trimmed };
    try {
      signIn(credential, await call(clientFor(credential).GET('/session')));
    } catch (error) {
      setProblem(explain(error).message);
      setChecking(false);
    }
  };

  return (
    <main class="sign-in" id="main" tabIndex={-1}>
      <form class="sign-in-card" onSubmit={(event) => void submit(event)} noValidate>
        <div class="sign-in-brand">
          <LogoIcon width="28" height="28" />
          <span>Telemetry console</span>
        </div>
        <h1>Sign in</h1>
        {reason === null ? null : <InfoNotice tone="warning">{reason}</InfoNotice>}
        <fieldset class="segmented">
          <legend>Sign in with</legend>
          {KINDS.map((option) => (
            <label key={option.kind} class={option.kind === kind ? 'segment segment-selected' : 'segment'}>
              <input
                type="radio"
                name="credential-kind"
                value={option.kind}
                checked={option.kind === kind}
                onChange={() => {
                  setKind(option.kind);
                  setProblem(null);
                }}
              />
              {option.label}
            </label>
          ))}
        </fieldset>
        <div class={`field${problem === null ? '' : ' field-invalid'}`}>
          <label class="field-label" for="credential-secret">
            {selected.fieldLabel}
          </label>
          <input
            id="credential-secret"
            type="password"
            autoComplete="off"
            spellcheck={false}
            placeholder={selected.placeholder}
            value={secret}
            aria-invalid={problem === null ? undefined : 'true'}
            aria-describedby={problem === null ? 'credential-hint' : 'credential-hint credential-error'}
            onInput={(event) => setSecret(event.currentTarget.value)}
          />
          <span class="field-hint" id="credential-hint">
            {selected.hint} It is kept only in this browser tab.
          </span>
          {problem === null ? null : (
            <span class="field-error" id="credential-error" role="alert">
              {problem}
            </span>
          )}
        </div>
        <button type="submit" class="button button-primary button-block" disabled={checking}>
          {checking ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
