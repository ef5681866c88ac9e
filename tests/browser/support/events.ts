// Events as producers send them, with realistic content and timestamps in the recent past.
import { randomUUID } from 'node:crypto';

export interface IngestEvent {
  eventId: string;
  eventType: 'log' | 'metric' | 'trace';
  serviceName: string;
  timestamp: string;
  userId?: string;
  payload: Record<string, unknown>;
}

/** An instant `secondsAgo` before now, RFC 3339. */
export function ago(secondsAgo: number): string {
  return new Date(Date.now() - secondsAgo * 1000).toISOString();
}

export function logEvent(options: {
  service: string;
  message: string;
  level?: string;
  user?: string;
  secondsAgo?: number;
  id?: string;
  extra?: Record<string, unknown>;
}): IngestEvent {
  return {
    eventId: options.id ?? `log-${randomUUID()}`,
    eventType: 'log',
    serviceName: options.service,
    timestamp: ago(options.secondsAgo ?? 5),
    ...(options.user === undefined ? {} : { userId: options.user }),
    payload: { level: options.level ?? 'info', message: options.message, ...options.extra },
  };
}

export function metricEvent(options: {
  service: string;
  name: string;
  value: number;
  unit?: string;
  user?: string;
  secondsAgo?: number;
  /** Further payload fields: a declared `kind` and what it needs. */
  extra?: Record<string, unknown>;
}): IngestEvent {
  return {
    eventId: `metric-${randomUUID()}`,
    eventType: 'metric',
    serviceName: options.service,
    timestamp: ago(options.secondsAgo ?? 5),
    ...(options.user === undefined ? {} : { userId: options.user }),
    payload: { name: options.name, value: options.value, unit: options.unit ?? 'ms', ...options.extra },
  };
}

export function traceEvent(options: {
  service: string;
  durationMs: number;
  user?: string;
  secondsAgo?: number;
}): IngestEvent {
  return {
    eventId: `trace-${randomUUID()}`,
    eventType: 'trace',
    serviceName: options.service,
    timestamp: ago(options.secondsAgo ?? 5),
    ...(options.user === undefined ? {} : { userId: options.user }),
    payload: {
      traceId: randomUUID().replaceAll('-', ''),
      spanId: randomUUID().replaceAll('-', '').slice(0, 16),
      durationMs: options.durationMs,
      route: '/api/orders',
    },
  };
}

const SERVICES = ['api-gateway', 'checkout', 'payments', 'search'] as const;
const USERS = ['u-1042', 'u-2203', 'u-3117', 'u-4410', 'u-5873'] as const;
const MESSAGES = [
  'GET /api/orders 200',
  'POST /api/checkout 201',
  'payment authorised',
  'cache miss for catalog page',
  'retrying upstream call',
] as const;

/**
 * A believable mix over the last `minutes`: per half minute a log and three request
 * latencies, and a trace every minute and a half, from four services and five users.
 * Deterministic, so tests can count what they expect.
 */
export function realisticTraffic(minutes = 45): IngestEvent[] {
  const events: IngestEvent[] = [];
  for (let index = 0; index < minutes * 2; index++) {
    const secondsAgo = 30 + index * 30 + (index % 7);
    const service = SERVICES[index % SERVICES.length]!;
    const user = USERS[index % USERS.length]!;
    events.push(
      logEvent({
        service,
        user,
        secondsAgo,
        message: MESSAGES[index % MESSAGES.length]!,
        level: index % 11 === 0 ? 'warn' : 'info',
      }),
    );
    const latency = 40 + ((index * 37) % 160) + (index % 13 === 0 ? 400 : 0);
    for (const [offset, factor] of [
      [3, 1],
      [8, 0.7],
      [13, 1.9],
    ] as const) {
      const value = Math.round(latency * factor);
      events.push(
        metricEvent({ service, user, secondsAgo: secondsAgo + offset, name: 'http.request.duration', value }),
      );
    }
    if (index % 3 === 0)
      events.push(traceEvent({ service, user, secondsAgo: secondsAgo + 5, durationMs: latency + 12 }));
  }
  return events;
}
