// The typed API client (openapi-fetch over the generated paths) and the helpers that turn
// its answers into data or errors.
import createClient, { type Client, type Middleware } from 'openapi-fetch';
import { credentialHeaders, currentCredential, expireSession, type Credential } from './auth.ts';
import { apiErrorFrom, isAbort, NetworkError } from './errors.ts';
import type { paths } from './schema.d.ts';

export type ApiClient = Client<paths>;

const carryCurrentCredential: Middleware = {
  onRequest({ request }) {
    const credential = currentCredential();
    if (credential !== null) setHeaders(request.headers, credentialHeaders(credential));
    return request;
  },
  async onResponse({ response }) {
    if (response.status === 401) {
      const error = apiErrorFrom(
        response,
        await response
          .clone()
          .json()
          .catch(() => null),
      );
      expireSession(error.code);
    }
    return response;
  },
};

/** The client of the signed-in console: a `401` on any request ends the session. */
export const api: ApiClient = createClient<paths>({ baseUrl: window.location.origin });
api.use(carryCurrentCredential);

/** A client for one credential that leaves the session alone (checking it at sign-in). */
export function clientFor(credential: Credential): ApiClient {
  return createClient<paths>({ baseUrl: window.location.origin, headers: credentialHeaders(credential) });
}

function setHeaders(headers: Headers, values: Record<string, string>): void {
  for (const [name, value] of Object.entries(values)) headers.set(name, value);
}

interface Outcome<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

async function send<T>(request: Promise<Outcome<T>>): Promise<Outcome<T>> {
  try {
    return await request;
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new NetworkError();
  }
}

/** The answer's body, or an ApiError / NetworkError. */
export async function call<T>(request: Promise<Outcome<T>>): Promise<T> {
  const { data, error, response } = await send(request);
  if (response.ok && data !== undefined) return data;
  throw apiErrorFrom(response, error);
}

/** The answer's body and headers, or an ApiError / NetworkError. */
export async function callWithHeaders<T>(request: Promise<Outcome<T>>): Promise<{ data: T; headers: Headers }> {
  const { data, error, response } = await send(request);
  if (response.ok && data !== undefined) return { data, headers: response.headers };
  throw apiErrorFrom(response, error);
}

/** For answers without a body (`204`, `202`). */
export async function callWithoutBody(request: Promise<Outcome<unknown>>): Promise<void> {
  const { error, response } = await send(request);
  if (!response.ok) throw apiErrorFrom(response, error);
}
