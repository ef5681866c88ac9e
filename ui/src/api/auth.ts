// Who is signed in. The credential lives only in sessionStorage (gone with the tab) and in
// memory; it never goes into a URL, localStorage or the console.
import type { Permission, Session } from './types.ts';

export type CredentialKind = 'api_key' | 'token';

export interface Credential {
  kind: CredentialKind;
  secret: string;
}

export type AuthState =
  | { status: 'checking'; credential: Credential }
  | { status: 'signed-out'; reason: string | null }
  | { status: 'signed-in'; credential: Credential; session: Session };

const STORAGE_KEY = 'telemetry-console.credential';

export function credentialHeaders(credential: Credential): Record<string, string> {
  return credential.kind === 'api_key'
    ? { 'X-API-Key': credential.secret }
    : { Authorization: `Bearer ${credential.secret}` };
}

function readStoredCredential(): Credential | null {
  const stored = sessionStorage.getItem(STORAGE_KEY);
  if (stored === null) return null;
  try {
    const parsed: unknown = JSON.parse(stored);
    if (
      typeof parsed === 'object' &&
      parsed !== null &&
      'kind' in parsed &&
      'secret' in parsed &&
      (parsed.kind === 'api_key' || parsed.kind === 'token') &&
      typeof parsed.secret === 'string'
    ) {
      return { kind: parsed.kind, secret: parsed.secret };
    }
  } catch {
    // Not ours or damaged: treat as signed out.
  }
  sessionStorage.removeItem(STORAGE_KEY);
  return null;
}

type Listener = (state: AuthState) => void;
const listeners = new Set<Listener>();
const initialCredential = readStoredCredential();
let state: AuthState =
  initialCredential === null
    ? { status: 'signed-out', reason: null }
    : { status: 'checking', credential: initialCredential };
let expiryTimer: number | undefined;

function setState(next: AuthState): void {
  state = next;
  for (const listener of listeners) listener(next);
}

export function authState(): AuthState {
  return state;
}

export function subscribeAuth(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** The credential requests should carry, or null when nobody is signed in. */
export function currentCredential(): Credential | null {
  return state.status === 'signed-out' ? null : state.credential;
}

export function signIn(credential: Credential, session: Session): void {
  sessionStorage.setItem(STORAGE_KEY, JSON.stringify(credential));
  window.clearTimeout(expiryTimer);
  const expiresAt = session.expiresAt ? Date.parse(session.expiresAt) : Number.NaN;
  if (Number.isFinite(expiresAt)) {
    // Timers fire early past ~24.8 days; such a token is re-checked by the server anyway.
    const delay = Math.min(expiresAt - Date.now(), 2_000_000_000);
    expiryTimer = window.setTimeout(() => signOut(signOutReason('token_expired')), Math.max(0, delay));
  }
  setState({ status: 'signed-in', credential, session });
}

export function signOut(reason: string | null): void {
  sessionStorage.removeItem(STORAGE_KEY);
  window.clearTimeout(expiryTimer);
  setState({ status: 'signed-out', reason });
}

/** Why a `401` ends the session, in words for the sign-in page. */
export function signOutReason(code: string): string {
  switch (code) {
    case 'token_expired':
      return 'Your session token has expired. Sign in again with a new token.';
    case 'invalid_api_key':
      return 'The API key is no longer accepted: it may have been revoked. Sign in with a valid key.';
    case 'invalid_token':
      return 'Your token is no longer accepted: it may have been revoked or its signing key changed. Sign in again.';
    case 'bearer_not_configured':
      return 'This service does not accept bearer tokens. Sign in with an API key.';
    default:
      return `The service no longer accepts your credential (${code}). Sign in again.`;
  }
}

/** Ends the session after a `401` with this error code. */
export function expireSession(code: string): void {
  if (state.status === 'signed-out') return;
  signOut(signOutReason(code));
}

export function hasPermission(session: Session, permission: Permission): boolean {
  return session.permissions.includes(permission);
}
