// A fresh tenant per test: an admin token, an API key issued through the API, and helpers
// that ingest with that key and wait (by polling, never sleeping) until reads see the data.
import { randomBytes } from 'node:crypto';
import { expect, type APIRequestContext } from '@playwright/test';
import type { IngestEvent } from './events.ts';
import { mintToken, type Role } from './jwt.ts';

export interface QueryFilters {
  eventType?: string;
  serviceName?: string;
  userId?: string;
}

export class Tenant {
  private constructor(
    private readonly request: APIRequestContext,
    readonly id: string,
    readonly apiKey: string,
    readonly keyId: string,
  ) {}

  static async create(request: APIRequestContext): Promise<Tenant> {
    const id = `t${randomBytes(6).toString('hex')}`;
    const issued = await request.post('/admin/api-keys', {
      headers: { Authorization: `Bearer ${mintToken(id, 'admin')}` },
      data: { label: 'producer' },
    });
    expect(issued.status(), await issued.text()).toBe(201);
    const body = (await issued.json()) as { key: string; keyId: string };
    return new Tenant(request, id, body.key, body.keyId);
  }

  token(role: Role, options: { lifetimeSeconds?: number } = {}): string {
    return mintToken(this.id, role, options);
  }

  /** Headers of this tenant's API key (or of a token, when given). */
  headers(token?: string): Record<string, string> {
    return token === undefined ? { 'X-API-Key': this.apiKey } : { Authorization: `Bearer ${token}` };
  }

  async ingest(events: readonly IngestEvent[]): Promise<void> {
    for (let start = 0; start < events.length; start += 1000) {
      const response = await this.request.post('/ingest', {
        headers: this.headers(),
        data: events.slice(start, start + 1000),
      });
      expect(response.status(), await response.text()).toBe(202);
    }
  }

  /** Matching events of the last two hours, as `/query` counts them. */
  async countEvents(filters: QueryFilters = {}): Promise<number> {
    const response = await this.request.post('/query', {
      headers: this.headers(),
      data: {
        startTime: new Date(Date.now() - 2 * 3600_000).toISOString(),
        endTime: new Date(Date.now() + 3600_000).toISOString(),
        limit: 1,
        ...filters,
      },
    });
    expect(response.status()).toBe(200);
    const body = (await response.json()) as { pagination: { total: number } };
    return body.pagination.total;
  }

  /** Waits until `/query` finds `count` matching events. */
  async waitForEvents(count: number, filters: QueryFilters = {}): Promise<void> {
    await expect.poll(() => this.countEvents(filters), { timeout: 30_000 }).toBe(count);
  }

  /** Waits until the summary of `window` counts `count` events. */
  /**
   * Waits until the summary the console will be given (cached like any reader's, so no
   * `Cache-Control: no-cache`) is complete: `count` events, and every metric sample in the
   * metric statistics. One ClickHouse insert fills the rollups one after another, and an
   * answer computed in between is cached until the next invalidation.
   */
  /**
   * Waits until the summary counts `count` events, its metric statistics agree with its
   * event counts (the rollups are written one after another), and so on. Histograms count
   * observations, not events: `histogramPoints` says how many of the metric events are
   * histogram points.
   */
  async waitForSummary(count: number, window = '24h', histogramPoints = 0): Promise<void> {
    await expect
      .poll(
        async () => {
          const response = await this.request.get(`/accounts/${this.id}/summary?window=${window}`, {
            headers: this.headers(),
          });
          const summary = (await response.json()) as {
            totalEvents: number;
            byType: Record<string, number>;
            metrics: { count: number; kind: string }[];
          };
          const samples = summary.metrics
            .filter((metric) => metric.kind !== 'histogram')
            .reduce((sum, metric) => sum + metric.count, histogramPoints);
          return samples === (summary.byType['metric'] ?? 0) ? summary.totalEvents : -1;
        },
        { timeout: 30_000 },
      )
      .toBe(count);
  }

  async post(path: string, data: unknown, token?: string): Promise<{ status: number; body: unknown }> {
    const response = await this.request.post(path, { headers: this.headers(token), data });
    return { status: response.status(), body: await response.json().catch(() => null) };
  }

  async put(
    path: string,
    data: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: unknown }> {
    const response = await this.request.put(path, { headers: { ...this.headers(), ...headers }, data });
    return { status: response.status(), body: await response.json().catch(() => null) };
  }

  async revokeKey(keyId: string): Promise<void> {
    const response = await this.request.delete(`/admin/api-keys/${keyId}`, {
      headers: this.headers(this.token('admin')),
    });
    expect(response.status()).toBe(204);
  }

  async issueKey(label: string): Promise<{ key: string; keyId: string }> {
    const response = await this.request.post('/admin/api-keys', {
      headers: this.headers(this.token('admin')),
      data: { label },
    });
    expect(response.status()).toBe(201);
    return (await response.json()) as { key: string; keyId: string };
  }
}
