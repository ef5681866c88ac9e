// The metrics page: charts of an ingested metric, and a selection that survives a reload.
import { metricEvent, realisticTraffic } from '../support/events.ts';
import { expect, openPage, screenshot, signIn, test } from '../support/console.ts';

test('the metrics page charts an ingested metric, and hovering shows its values', async ({ page, tenant }) => {
  const traffic = realisticTraffic();
  const cartSizes = Array.from({ length: 12 }, (_, index) =>
    metricEvent({
      service: 'checkout',
      name: 'cart.items',
      value: 1 + (index % 5),
      unit: 'items',
      secondsAgo: 120 + index * 180,
    }),
  );
  await tenant.ingest([...traffic, ...cartSizes]);
  await tenant.waitForSummary(traffic.length + cartSizes.length, '1h');
  await signIn(page, 'API key', tenant.apiKey);
  await openPage(page, 'Metrics');

  await page.getByLabel('Metric', { exact: true }).selectOption('http.request.duration');
  await expect(page).toHaveURL(/metric=http\.request\.duration/);
  await expect(page.getByTestId('metric-samples')).toHaveText(/^270 samples · one point per 1 minute$/);
  const chart = page.getByRole('group', { name: /http\.request\.duration: avg, p50, p95 and p99/ });
  await expect(chart.locator('canvas')).toBeVisible();

  await page.getByLabel('Service', { exact: true }).selectOption('checkout');
  await expect(page).toHaveURL(/service=checkout/);
  await expect(page.getByTestId('metric-samples')).toHaveText(/^69 samples/);

  const box = await chart.locator('.u-over').boundingBox();
  expect(box).not.toBeNull();
  const legend = chart.locator('.u-legend');
  await expect(async () => {
    for (let x = 0.55; x < 0.99; x += 0.02) {
      await page.mouse.move(box!.x + box!.width * x, box!.y + box!.height / 2);
      if (/\d/.test((await legend.locator('.u-series').nth(1).locator('.u-value').textContent()) ?? '')) return;
    }
    throw new Error('no bucket with samples under the cursor');
  }).toPass();
  await expect(legend).toContainText('avg');
  await screenshot(page, 'metrics');
});

test('the chosen metric, service and range survive a reload', async ({ page, tenant }) => {
  await tenant.ingest([
    metricEvent({ service: 'payments', name: 'queue.depth', value: 4, secondsAgo: 300 }),
    metricEvent({ service: 'payments', name: 'queue.depth', value: 9, secondsAgo: 120 }),
  ]);
  await tenant.waitForSummary(2, '1h');
  await signIn(page, 'API key', tenant.apiKey);
  await openPage(page, 'Metrics');
  await page.getByLabel('Time range', { exact: true }).selectOption('24h');
  await page.getByLabel('Service', { exact: true }).selectOption('payments');
  await expect(page).toHaveURL(/metric=queue\.depth/);

  await page.reload();

  await expect(page.getByLabel('Metric', { exact: true })).toHaveValue('queue.depth');
  await expect(page.getByLabel('Service', { exact: true })).toHaveValue('payments');
  await expect(page.getByLabel('Time range', { exact: true })).toHaveValue('24h');
  await expect(page.getByTestId('metric-samples')).toHaveText(/^2 samples · one point per 1 hour$/);
});

test('counters and histograms show the statistics of their kind', async ({ page, tenant }) => {
  const orders = [2, 3, 5].map((value, index) =>
    metricEvent({
      service: 'shop',
      name: 'orders.placed',
      value,
      unit: '1',
      secondsAgo: 300 - index * 100,
      extra: { kind: 'counter', temporality: 'delta' },
    }),
  );
  // Two delta histogram points: 8 observations, 6 of them in (100, 250].
  const latency = [
    { counts: [1, 0, 3, 0], sum: 650 },
    { counts: [0, 1, 3, 0], sum: 700 },
  ].map(({ counts, sum }, index) =>
    metricEvent({
      service: 'shop',
      name: 'checkout.latency',
      value: 4,
      secondsAgo: 250 - index * 100,
      extra: { kind: 'histogram', temporality: 'delta', count: 4, sum, buckets: { bounds: [50, 100, 250], counts } },
    }),
  );
  await tenant.ingest([...orders, ...latency]);
  await tenant.waitForSummary(orders.length + latency.length, '1h', latency.length);
  await signIn(page, 'API key', tenant.apiKey);

  const table = page.getByTestId('metrics-table');
  const ordersRow = table.getByRole('row', { name: /orders\.placed/ });
  await expect(ordersRow).toContainText('counter');
  await expect(ordersRow.getByRole('cell').nth(8)).toHaveText('10');
  const latencyRow = table.getByRole('row', { name: /checkout\.latency/ });
  await expect(latencyRow).toContainText('histogram');
  await expect(latencyRow.getByRole('cell').nth(1)).toHaveText('8');

  await openPage(page, 'Metrics');
  // The picker says which metrics are not gauges.
  await expect(page.getByRole('option', { name: 'orders.placed (counter)' })).toHaveCount(1);
  await expect(page.getByRole('option', { name: 'checkout.latency (histogram)' })).toHaveCount(1);
  await page.getByLabel('Metric', { exact: true }).selectOption('orders.placed');
  await expect(page.getByTestId('metric-kind')).toHaveText('Counter · delta · unit 1');
  await expect(page.getByTestId('metric-samples')).toHaveText(/^3 data points · increase 10 · one point per 1 minute$/);
  await expect(page.getByRole('group', { name: /orders\.placed: rate per second/ }).locator('canvas')).toBeVisible();
  await screenshot(page, 'metrics-counter');

  await page.getByLabel('Metric', { exact: true }).selectOption('checkout.latency');
  await expect(page.getByTestId('metric-kind')).toHaveText('Histogram · delta · unit ms');
  await expect(page.getByTestId('metric-samples')).toHaveText(/^8 observations · one point per 1 minute$/);
  await expect(page.getByRole('group', { name: /checkout\.latency: avg, p50, p95 and p99/ })).toBeVisible();
});
