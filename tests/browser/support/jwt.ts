// Bearer tokens for test users, signed HS256 with the service's secret (node:crypto only).
import { createHmac } from 'node:crypto';

export type Role = 'viewer' | 'editor' | 'admin';

const SECRET = process.env.JWT_SECRET ?? 'dev-only-jwt-secret-change-me-0123456789';
const ISSUER = process.env.JWT_ISSUER ?? 'telemetry-platform';
const AUDIENCE = process.env.JWT_AUDIENCE ?? 'telemetry-api';

function base64url(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** A token for `subject` in `tenant` with `role`, expiring `lifetimeSeconds` from now. */
export function mintToken(
  tenant: string,
  role: Role,
  options: { subject?: string; lifetimeSeconds?: number } = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  const header = base64url({ alg: 'HS256', typ: 'JWT' });
  const claims = base64url({
    sub: options.subject ?? `${role}-user`,
    tenant,
    role,
    iss: ISSUER,
    aud: AUDIENCE,
    iat: now,
    exp: now + (options.lifetimeSeconds ?? 3600),
  });
  const signature = createHmac('sha256', SECRET).update(`${header}.${claims}`).digest('base64url');
  return `${header}.${claims}.${signature}`;
}
