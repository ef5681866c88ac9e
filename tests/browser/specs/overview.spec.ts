// The overview: the numbers of what was sent, the empty tenant, narrow windows.
import { logEvent, metricEvent, realisticTraffic, traceEvent } from '../support/events.ts';
import { expect, openPage, overflowsHorizontally, screenshot, signIn, test } from '../support/console.ts';

test('the overview shows exactly what was sent', async ({ page, tenant }) => {
  const events = [
    ...Array.from({ length: 12 }, (_, index) =>
      logEvent({
        service: index < 8 ? 'checkout' : 'search',
        user: `u-${index % 3}`,
        message: `order ${index}`,
        secondsAgo: 60 + index * 20,
      }),
    ),
    ...[120, 80, 200, 95, 150].map((value, index) =>
      metricEvent({ service: 'checkout', name: 'http.request.duration', value, secondsAgo: 90 + index * 30 }),
    ),
    ...Array.from({ length: 3 }, (_, index) =>
      traceEvent({ service: 'payments', durationMs: 30 + index, secondsAgo: 120 + index * 40 }),
    ),
  ];
  await tenant.ingest(events);
  await tenant.waitForSummary(20);

  await signIn(page, 'API key', tenant.apiKey);

  await expect(page.getByTestId('total-events')).toHaveText('20');
  await expect(page.getByTestId('events-log')).toHaveText('12');
  await expect(page.getByTestId('events-metric')).toHaveText('5');
  await expect(page.getByTestId('events-trace')).toHaveText('3');
  const services = page.getByRole('list', { name: 'Events per service' });
  await expect(services.getByRole('listitem').first()).toContainText('checkout');
  await expect(services.getByRole('listitem').first()).toContainText('13');
  const latency = page.getByRole('row', { name: /http\.request\.duration/ });
  await expect(latency.getByRole('cell').first()).toHaveText('gauge · ms');
  await expect(latency.getByRole('cell').nth(1)).toHaveText('5');
  await expect(page.getByRole('group', { name: 'Events per hour by type' }).locator('canvas')).toBeVisible();
  await expect(page.getByText(/^Updated /)).toBeVisible();
});

test('the overview on a busy tenant, at desktop and phone widths', async ({ page, tenant }) => {
  const traffic = realisticTraffic();
  await tenant.ingest(traffic);
  await tenant.waitForSummary(traffic.length, '1h');
  await signIn(page, 'API key', tenant.apiKey);
  await page.getByRole('button', { name: '1 hour' }).click();
  await expect(page).toHaveURL(/window=1h/);
  await expect(page.getByTestId('total-events')).toHaveText(traffic.length.toLocaleString('en-US'));
  await expect(page.getByRole('group', { name: /Events per minute by type/ }).locator('canvas')).toBeVisible();
  await screenshot(page, 'overview');

  await page.setViewportSize({ width: 400, height: 860 });
  await expect(page.getByTestId('total-events')).toBeVisible();
  // The chart follows the new width on its next resize event: wait for the layout to settle.
  await expect.poll(() => overflowsHorizontally(page)).toBe(false);
  await screenshot(page, 'overview-400px');
});

test('an empty tenant is told how to send its first events', async ({ page, tenant }) => {
  await signIn(page, 'API key', tenant.apiKey);

  const help = page.getByRole('region', { name: /No events in the last/ });
  await expect(help).toContainText(`curl -X POST ${new URL(page.url()).origin}/ingest`);
  await expect(help).toContainText('X-API-Key: $TELEMETRY_API_KEY');
  await expect(help).toContainText(`OTEL_EXPORTER_OTLP_ENDPOINT=${new URL(page.url()).origin}`);
  await expect(help).not.toContainText(tenant.apiKey);
});

test('every page fits a 400 px wide window without sideways scrolling', async ({ page, tenant }) => {
  const traffic = realisticTraffic(10);
  await tenant.ingest(traffic);
  await tenant.waitForEvents(traffic.length);
  await page.setViewportSize({ width: 400, height: 800 });
  await signIn(page, 'Bearer token', tenant.token('admin'));

  for (const name of ['Overview', 'Explorer', 'Metrics', 'Alerts', 'Administration'] as const) {
    await openPage(page, name);
    await expect(page.getByRole('status')).toHaveCount(0);
    await expect.poll(() => overflowsHorizontally(page), { message: `${name} scrolls sideways` }).toBe(false);
  }
  await openPage(page, 'Alerts');
  await page.getByRole('button', { name: 'New rule' }).click();
  await expect(page.getByRole('heading', { name: 'New alert rule' })).toBeVisible();
  await expect.poll(() => overflowsHorizontally(page), { message: 'the rule form scrolls sideways' }).toBe(false);
});
