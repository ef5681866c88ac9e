// What can go wrong talking to the service, and how to say it to a person.

/** One problem with one field of a request (`invalid_rule`, `invalid_events`). */
export interface FieldProblem {
  field: string;
  code: string;
  message: string;
}

/** The service answered with its error body. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly problems: FieldProblem[],
    readonly retryAfterSeconds: number | null,
    readonly details: unknown[],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The request never got an answer (offline, server down, DNS, CORS). */
export class NetworkError extends Error {
  constructor() {
    super('cannot reach the server');
    this.name = 'NetworkError';
  }
}

export function isAbort(error: unknown): boolean {
  return error instanceof DOMException && error.name === 'AbortError';
}

/** Builds the error for a failed answer from its body (when it is the service's error body). */
export function apiErrorFrom(response: Response, body: unknown): ApiError {
  const error = isRecord(body) && isRecord(body['error']) ? body['error'] : {};
  const code = typeof error['code'] === 'string' ? error['code'] : `http_${response.status}`;
  const message =
    typeof error['message'] === 'string' ? error['message'] : `${response.status} ${response.statusText}`.trim();
  // The spec types `details` as an untyped array: keep the entries that have the documented shape.
  const details = Array.isArray(error['details']) ? (error['details'] as unknown[]) : [];
  const problems = details.filter(isFieldProblem);
  return new ApiError(response.status, code, message, problems, retryAfter(response), details);
}

function retryAfter(response: Response): number | null {
  const header = response.headers.get('Retry-After');
  if (header === null) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const date = Date.parse(header);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFieldProblem(value: unknown): value is FieldProblem {
  return (
    isRecord(value) &&
    typeof value['field'] === 'string' &&
    typeof value['code'] === 'string' &&
    typeof value['message'] === 'string'
  );
}

/** How a failure reads on screen, and whether (and when) trying again may help. */
export interface Explanation {
  title: string;
  message: string;
  /** Seconds after which trying again may succeed; null: trying again will not help. */
  retryInSeconds: number | null;
}

const DEFAULT_RETRY_SECONDS = 5;

export function explain(error: unknown): Explanation {
  if (error instanceof NetworkError) {
    return {
      title: 'Cannot reach the server',
      message: `No answer from ${window.location.origin}. Check your connection.`,
      retryInSeconds: DEFAULT_RETRY_SECONDS,
    };
  }
  if (!(error instanceof ApiError)) {
    return { title: 'Something went wrong', message: String(error), retryInSeconds: null };
  }
  const retryInSeconds = error.retryAfterSeconds ?? DEFAULT_RETRY_SECONDS;
  switch (error.status) {
    case 429:
      return {
        title: 'Too many requests',
        message: `${sentence(error.message)} Wait ${retryInSeconds} s before trying again.`,
        retryInSeconds,
      };
    case 503:
      return {
        title: 'Temporarily unavailable',
        message: `The service or one of its stores is unavailable: ${sentence(error.message)}`,
        retryInSeconds,
      };
    case 403:
      return { title: 'Not allowed', message: sentence(error.message), retryInSeconds: null };
    case 404:
      return { title: 'Not found', message: sentence(error.message), retryInSeconds: null };
    default:
      return {
        title: error.status >= 500 ? 'Server error' : 'Request refused',
        message: sentence(error.message),
        retryInSeconds: null,
      };
  }
}

/** The service's messages are lowercase without a final period; on screen they are sentences. */
export function sentence(message: string): string {
  const trimmed = message.trim();
  if (trimmed === '') return trimmed;
  const capitalised = trimmed[0]!.toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}
