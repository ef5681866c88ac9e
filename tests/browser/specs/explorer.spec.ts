// The explorer: filters and paging, shared addresses, text-only rendering, the live tail.
import { randomUUID } from 'node:crypto';
import type { Page } from '@playwright/test';
import { logEvent, metricEvent, realisticTraffic } from '../support/events.ts';
import { expect, forbidDialogs, openPage, screenshot, signIn, test } from '../support/console.ts';

function eventIdsShown(page: Page, table = 'Events, newest first'): Promise<string[]> {
  return page.getByRole('table', { name: table }).locator('td.event-id').allTextContents();
}

test('filters and "Load more" reach every matching event exactly once', async ({ page, tenant }) => {
  const wanted = Array.from({ length: 250 }, (_, index) =>
    logEvent({
      service: 'checkout',
      user: `u-${index % 9}`,
      message: `checkout step ${index}`,
      secondsAgo: 30 + index * 10,
    }),
  );
  const others = [
    ...Array.from({ length: 30 }, (_, index) =>
      logEvent({ service: 'api-gateway', message: `GET /health ${index}`, secondsAgo: 40 + index }),
    ),
    ...Array.from({ length: 20 }, (_, index) =>
      metricEvent({ service: 'checkout', name: 'cart.size', value: index, secondsAgo: 50 + index }),
    ),
  ];
  await tenant.ingest([...wanted, ...others]);
  await tenant.waitForEvents(300);
  await signIn(page, 'API key', tenant.apiKey);
  await openPage(page, 'Explorer');

  await page.getByLabel('Type', { exact: true }).selectOption('log');
  await page.getByLabel('Service', { exact: true }).fill('checkout');
  await page.getByRole('button', { name: 'Apply' }).click();
  await expect(page.getByTestId('events-shown')).toHaveText('100 of 250 shown');
  await page.getByRole('button', { name: 'Load more' }).click();
  await expect(page.getByTestId('events-shown')).toHaveText('200 of 250 shown');
  await page.getByRole('button', { name: 'Load more' }).click();
  await expect(page.getByTestId('events-shown')).toHaveText('250 of 250 shown');
  await expect(page.getByText('All matching events are shown.')).toBeVisible();

  const shown = await eventIdsShown(page);
  expect(shown).toHaveLength(250);
  expect(new Set(shown)).toEqual(new Set(wanted.map((event) => event.eventId)));
  expect(shown[0]).toBe(wanted[0]!.eventId);
});

test('a shared address reopens the same view, and back goes to the previous one', async ({ page, tenant, browser }) => {
  await tenant.ingest([
    ...Array.from({ length: 6 }, (_, index) =>
      logEvent({ service: 'checkout', user: 'u-7', message: `paid ${index}`, secondsAgo: 60 + index }),
    ),
    ...Array.from({ length: 4 }, (_, index) =>
      logEvent({ service: 'checkout', user: 'u-8', message: `browsed ${index}`, secondsAgo: 90 + index }),
    ),
    ...Array.from({ length: 5 }, (_, index) =>
      metricEvent({ service: 'checkout', user: 'u-7', name: 'latency', value: 10 + index }),
    ),
  ]);
  await tenant.waitForEvents(15);
  await signIn(page, 'API key', tenant.apiKey);
  await openPage(page, 'Explorer');
  await page.getByLabel('Time range', { exact: true }).selectOption('6h');
  await page.getByLabel('Type', { exact: true }).selectOption('log');
  await page.getByLabel('Service', { exact: true }).fill('checkout');
  await page.getByLabel('User', { exact: true }).fill('u-7');
  await page.getByLabel('User', { exact: true }).press('Enter');
  await page.getByLabel('Group by', { exact: true }).selectOption('user');
  await expect(page.getByTestId('events-shown')).toHaveText('6 of 6 shown');
  await expect(page.getByRole('list', { name: 'Events by user' })).toContainText('u-7');
  const shared = page.url();
  expect(shared).toMatch(/range=6h/);
  const ids = await eventIdsShown(page);

  const elsewhere = await browser.newContext();
  const colleague = await elsewhere.newPage();
  await colleague.goto(shared);
  await signIn(colleague, 'API key', tenant.apiKey);
  await expect(colleague).toHaveURL(shared);
  await expect(colleague.getByLabel('Time range', { exact: true })).toHaveValue('6h');
  await expect(colleague.getByLabel('Type', { exact: true })).toHaveValue('log');
  await expect(colleague.getByLabel('Service', { exact: true })).toHaveValue('checkout');
  await expect(colleague.getByLabel('User', { exact: true })).toHaveValue('u-7');
  await expect(colleague.getByLabel('Group by', { exact: true })).toHaveValue('user');
  await expect(colleague.getByTestId('events-shown')).toHaveText('6 of 6 shown');
  expect(new Set(await eventIdsShown(colleague))).toEqual(new Set(ids));
  await elsewhere.close();

  await page.getByLabel('Type', { exact: true }).selectOption('metric');
  await expect(page.getByTestId('events-shown')).toHaveText('5 of 5 shown');
  await page.goBack();
  await expect(page.getByLabel('Type', { exact: true })).toHaveValue('log');
  await expect(page.getByTestId('events-shown')).toHaveText('6 of 6 shown');
  await page.goForward();
  await expect(page.getByLabel('Type', { exact: true })).toHaveValue('metric');
});

test('markup in events, services and rule names stays text', async ({ page, tenant }) => {
  const attack = '<img src=x onerror=alert(1)>';
  const event = logEvent({
    service: attack,
    user: attack,
    message: attack,
    extra: { note: '<script>alert(2)</script>' },
  });
  await tenant.ingest([event]);
  await tenant.waitForEvents(1);
  const rule = await tenant.post('/alerts/rules', {
    name: attack,
    metric: 'latency',
    aggregation: 'avg',
    window: '5m',
    comparator: '>',
    threshold: 1,
    channels: [{ url: 'https://hooks.example.com/x' }],
  });
  expect(rule.status).toBe(201);
  const dialogs = forbidDialogs(page);

  await signIn(page, 'API key', tenant.apiKey);
  await expect(page.getByRole('list', { name: 'Events per service' })).toContainText(attack);
  await openPage(page, 'Explorer');
  const row = page.getByRole('table', { name: 'Events, newest first' }).locator('tbody').first();
  await expect(row).toContainText(attack);
  await row.getByRole('button', { name: /Show payload/ }).click();
  await expect(row.locator('pre')).toContainText(`"message": "${attack}"`);
  await expect(row.locator('pre')).toContainText('<script>alert(2)</script>');
  await openPage(page, 'Alerts');
  await expect(page.getByRole('table', { name: 'Alert rules' })).toContainText(attack);

  expect(await page.locator('img[src="x"]').count()).toBe(0);
  expect(dialogs).toEqual([]);
});

test('the live tail shows new matching events within seconds, without reloading', async ({ page, tenant }) => {
  const traffic = realisticTraffic(20);
  await tenant.ingest(traffic);
  await tenant.waitForEvents(traffic.length);
  await signIn(page, 'API key', tenant.apiKey);
  await openPage(page, 'Explorer');
  await page.getByLabel('Service', { exact: true }).fill('checkout');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.getByRole('switch', { name: 'Live tail' }).check();
  await expect(page.getByText('Streaming')).toBeVisible();

  const elsewhere = logEvent({ service: 'search', message: 'not for this view', secondsAgo: 0 });
  const sentinel = logEvent({
    service: 'checkout',
    user: 'u-2203',
    message: 'payment captured',
    secondsAgo: 0,
    id: `live-${randomUUID()}`,
  });
  await tenant.ingest([elsewhere]);
  await tenant.ingest([sentinel]);
  const live = page.getByRole('table', { name: 'Live events, newest first' });
  await expect(live.getByRole('cell', { name: sentinel.eventId, exact: true })).toBeVisible({ timeout: 5_000 });
  await expect(live.getByRole('cell', { name: elsewhere.eventId, exact: true })).toHaveCount(0);

  const more = [
    metricEvent({ service: 'checkout', user: 'u-4410', name: 'http.request.duration', value: 87, secondsAgo: 0 }),
    logEvent({ service: 'checkout', user: 'u-1042', message: 'POST /api/checkout 201', secondsAgo: 0 }),
    logEvent({ service: 'checkout', user: 'u-3117', level: 'warn', message: 'retrying upstream call', secondsAgo: 0 }),
  ];
  for (const event of more) await tenant.ingest([event]);
  await expect(live.locator('td.event-id')).toHaveCount(4);
  expect(await live.locator('td.event-id').first().textContent()).toBe(more[2]!.eventId);
  await screenshot(page, 'explorer-live');
});

test('the explorer on a busy tenant', async ({ page, tenant }) => {
  const traffic = realisticTraffic();
  await tenant.ingest(traffic);
  await tenant.waitForEvents(traffic.length);
  await signIn(page, 'API key', tenant.apiKey);
  await openPage(page, 'Explorer');
  await page.getByLabel('Group by', { exact: true }).selectOption('service');
  await expect(page.getByRole('list', { name: 'Events by service' }).getByRole('listitem')).toHaveCount(4);
  await page
    .getByRole('button', { name: /Show payload/ })
    .nth(1)
    .click();
  await expect(page.locator('pre.json')).toBeVisible();
  await screenshot(page, 'explorer', { fullPage: false });
});
