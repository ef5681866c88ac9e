// The live tail: `GET /live/events` read with fetch and a streamed body (EventSource cannot
// send credential headers, and credentials never go into a URL), reconnecting with
// `Last-Event-ID` after a drop.
import { credentialHeaders, currentCredential, expireSession } from './auth.ts';
import { ApiError, apiErrorFrom, explain, isAbort, NetworkError } from './errors.ts';
import type { EventRecord, EventType } from './types.ts';
import { SseParser, type SseMessage } from '../lib/sse.ts';

export interface LiveFilters {
  eventType?: EventType | undefined;
  serviceName?: string | undefined;
  userId?: string | undefined;
}

export type LiveStatus =
  | { state: 'connecting' }
  | { state: 'live' }
  | { state: 'waiting'; reason: string; retryInSeconds: number }
  | { state: 'failed'; reason: string };

export type LiveNotice = { kind: 'dropped'; count: number } | { kind: 'reset'; reason: string };

export interface LiveHandlers {
  /** New events, oldest first, as they arrive (batched per chunk read). */
  onEvents(events: EventRecord[]): void;
  onNotice(notice: LiveNotice): void;
  onStatus(status: LiveStatus): void;
}

const MAX_BACKOFF_SECONDS = 30;

/** Starts streaming; the returned function stops it. */
export function startLiveTail(filters: LiveFilters, handlers: LiveHandlers): () => void {
  const controller = new AbortController();
  void follow(filters, handlers, controller.signal);
  return () => controller.abort();
}

async function follow(filters: LiveFilters, handlers: LiveHandlers, signal: AbortSignal): Promise<void> {
  const position = { lastEventId: '', failures: 0 };
  while (!signal.aborted) {
    handlers.onStatus({ state: 'connecting' });
    let reason: string;
    let retryInSeconds: number;
    try {
      const retryMs = await streamOnce(filters, handlers, signal, position);
      reason = 'The server ended the live stream.';
      retryInSeconds = retryMs === null ? 1 : Math.max(1, Math.ceil(retryMs / 1000));
    } catch (error) {
      if (signal.aborted || isAbort(error)) return;
      if (error instanceof CredentialRefused) {
        expireSession(error.code);
        return;
      }
      position.failures += 1;
      const backoff = Math.min(MAX_BACKOFF_SECONDS, 2 ** (position.failures - 1));
      if (error instanceof StreamInterrupted) {
        handlers.onStatus({
          state: 'waiting',
          reason: `The live stream was interrupted (${error.message}).`,
          retryInSeconds: backoff,
        });
        await sleep(backoff * 1000, signal);
        continue;
      }
      const failure = error instanceof ApiError ? error : new NetworkError();
      if (failure instanceof ApiError && failure.status === 401) {
        expireSession(failure.code);
        return;
      }
      const explanation = explain(failure);
      if (failure instanceof ApiError && explanation.retryInSeconds === null) {
        handlers.onStatus({ state: 'failed', reason: explanation.message });
        return;
      }
      reason = explanation.message;
      retryInSeconds = Math.max(explanation.retryInSeconds ?? 1, backoff);
    }
    handlers.onStatus({ state: 'waiting', reason, retryInSeconds });
    await sleep(retryInSeconds * 1000, signal);
  }
}

/** Reads one connection until it ends; answers the `retry:` delay the server asked for. */
async function streamOnce(
  filters: LiveFilters,
  handlers: LiveHandlers,
  signal: AbortSignal,
  position: { lastEventId: string; failures: number },
): Promise<number | null> {
  const credential = currentCredential();
  if (credential === null) throw new DOMException('signed out', 'AbortError');
  const headers: Record<string, string> = { Accept: 'text/event-stream', ...credentialHeaders(credential) };
  if (position.lastEventId !== '') headers['Last-Event-ID'] = position.lastEventId;
  const response = await fetch(liveUrl(filters), { headers, signal, cache: 'no-store' });
  if (!response.ok || response.body === null) {
    throw apiErrorFrom(response, await response.json().catch(() => null));
  }

  let batch: EventRecord[] = [];
  let refusedCode: string | null = null;
  let streamError: string | null = null;
  const parser = new SseParser((message) => {
    // Frames without an id (`ready`, notices) keep the last one: it is where to resume.
    if (message.lastEventId !== '') position.lastEventId = message.lastEventId;
    const frame = frameOf(message);
    switch (frame.kind) {
      case 'event':
        batch.push(frame.event);
        break;
      case 'ready':
        position.failures = 0;
        handlers.onStatus({ state: 'live' });
        break;
      case 'notice':
        handlers.onNotice(frame.notice);
        break;
      case 'credential-refused':
        refusedCode = frame.code;
        break;
      case 'stream-error':
        streamError = frame.message;
        break;
      case 'ignored':
        break;
    }
  });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return parser.retryMs;
    parser.push(value);
    if (batch.length > 0) {
      handlers.onEvents(batch);
      batch = [];
    }
    if (refusedCode !== null) {
      await reader.cancel();
      throw new CredentialRefused(refusedCode);
    }
    if (streamError !== null) {
      // The server ends the stream after this (a store it could not read): reconnect.
      await reader.cancel();
      throw new StreamInterrupted(streamError);
    }
  }
}

/** The server ended the stream for a reason a reconnection may not have. */
class StreamInterrupted extends Error {}

/** The codes of an `error` frame that mean the credential stopped working (as a `401`). */
const CREDENTIAL_CODES = new Set(['token_expired', 'invalid_api_key', 'invalid_token', 'bearer_not_configured']);

/** The stream ended because the credential stopped working (revoked key, expired token). */
class CredentialRefused extends Error {
  constructor(readonly code: string) {
    super(code);
  }
}

function liveUrl(filters: LiveFilters): string {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) {
    if (typeof value === 'string' && value !== '') query.set(name, value);
  }
  const search = query.toString();
  return `${window.location.origin}/live/events${search === '' ? '' : `?${search}`}`;
}

type Frame =
  | { kind: 'event'; event: EventRecord }
  | { kind: 'ready' }
  | { kind: 'notice'; notice: LiveNotice }
  | { kind: 'credential-refused'; code: string }
  | { kind: 'stream-error'; message: string }
  | { kind: 'ignored' };

/**
 * The frames' data are described in prose by the spec (`GET /live/events`: an SSE body has
 * no schema in OpenAPI 3.1); `event` frames carry the spec's EventDto. Each is checked
 * before use.
 */
function frameOf(message: SseMessage): Frame {
  const data = parseJson(message.data);
  switch (message.type) {
    case 'event':
      return isEventRecord(data) ? { kind: 'event', event: data } : { kind: 'ignored' };
    case 'ready':
      return { kind: 'ready' };
    case 'dropped':
      return isObject(data) && typeof data['dropped'] === 'number'
        ? { kind: 'notice', notice: { kind: 'dropped', count: data['dropped'] } }
        : { kind: 'ignored' };
    case 'reset':
      return {
        kind: 'notice',
        notice: {
          kind: 'reset',
          reason: isObject(data) && typeof data['reason'] === 'string' ? data['reason'] : 'resume position lost',
        },
      };
    case 'error': {
      const code = isObject(data) && typeof data['code'] === 'string' ? data['code'] : '';
      if (CREDENTIAL_CODES.has(code)) return { kind: 'credential-refused', code };
      const message = isObject(data) && typeof data['message'] === 'string' ? data['message'] : code;
      return { kind: 'stream-error', message: message || 'the live stream was interrupted' };
    }
    default:
      return { kind: 'ignored' };
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isEventRecord(value: unknown): value is EventRecord {
  return (
    isObject(value) &&
    typeof value['eventId'] === 'string' &&
    typeof value['eventType'] === 'string' &&
    typeof value['serviceName'] === 'string' &&
    typeof value['timestamp'] === 'string' &&
    isObject(value['payload'])
  );
}

function sleep(milliseconds: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = window.setTimeout(done, milliseconds);
    signal.addEventListener('abort', done, { once: true });
    function done(): void {
      window.clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}
