// Alerts: rules with field errors and version conflicts, roles, active alerts and history.
import type { Page } from '@playwright/test';
import { metricEvent } from '../support/events.ts';
import { expect, openPage, screenshot, signIn, test } from '../support/console.ts';
import type { Tenant } from '../support/tenant.ts';

const RULE = {
  aggregation: 'p95',
  window: '5m',
  comparator: '>',
  threshold: 800,
  channels: [{ url: 'https://hooks.example.com/alerts' }],
};

async function createRule(tenant: Tenant, rule: Record<string, unknown>): Promise<{ id: string }> {
  const created = await tenant.post('/alerts/rules', { ...RULE, ...rule });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body as { id: string };
}

function rulesTable(page: Page) {
  return page.getByRole('table', { name: 'Alert rules' });
}

test('an invalid rule shows each problem beside its field; a valid one joins the list', async ({ page, tenant }) => {
  await tenant.ingest([metricEvent({ service: 'checkout', name: 'http.request.duration', value: 120 })]);
  await signIn(page, 'API key', tenant.apiKey);
  await openPage(page, 'Alerts');
  await page.getByRole('button', { name: 'New rule' }).click();

  await page.getByLabel('Name', { exact: true }).fill('Slow checkout');
  await page.getByLabel('Metric', { exact: true }).fill('http.request.duration');
  await page.getByLabel('Window', { exact: true }).fill('5 minutes');
  await page.getByLabel('Threshold', { exact: true }).fill('250');
  await page.getByLabel('Webhook 1 URL').fill('ftp://hooks.example.com/alerts');
  await page.getByRole('button', { name: 'Create rule' }).click();

  await expect(page.getByRole('alert').filter({ hasText: 'The rule was not saved' })).toBeVisible();
  await expect(page.getByLabel('Window', { exact: true })).toHaveAccessibleDescription(
    /window must look like 30s, 5m, 2h or 1d/i,
  );
  await expect(page.getByLabel('Webhook 1 URL')).toHaveAccessibleDescription(/each channel needs a url/i);
  await expect(page.getByLabel('Name', { exact: true })).not.toHaveAttribute('aria-invalid', 'true');

  await page.getByLabel('Window', { exact: true }).fill('5m');
  await page.getByLabel('Webhook 1 URL').fill('https://hooks.example.com/alerts');
  await page.getByLabel('Severity').selectOption('critical');
  await page.getByRole('button', { name: 'Create rule' }).click();

  await expect(page.getByRole('status').filter({ hasText: 'Rule “Slow checkout” created.' })).toBeVisible();
  const row = rulesTable(page).getByRole('row', { name: /Slow checkout/ });
  await expect(row).toContainText('http.request.duration');
  await expect(row).toContainText('avg over 5m > 250');
  await expect(row).toContainText('critical');
  await expect(row).toContainText('Enabled');
});

test('rules can be disabled, edited and deleted; a stale edit is caught', async ({ page, tenant }) => {
  const rule = await createRule(tenant, {
    name: 'Payment errors',
    metric: 'payment.errors',
    aggregation: 'count',
    threshold: 5,
  });
  await createRule(tenant, {
    name: 'Queue stalled',
    metric: 'queue.depth',
    kind: 'absence',
    window: '10m',
    aggregation: null,
    comparator: null,
    threshold: null,
  });
  await createRule(tenant, {
    name: 'Slow search',
    metric: 'http.request.duration',
    serviceName: 'search',
    severity: 'info',
  });
  await signIn(page, 'API key', tenant.apiKey);
  await openPage(page, 'Alerts');
  const row = rulesTable(page).getByRole('row', { name: /Payment errors/ });

  await row.getByRole('button', { name: 'Disable Payment errors' }).click();
  await expect(row).toContainText('Disabled');
  await row.getByRole('button', { name: 'Enable Payment errors' }).click();
  await expect(row).toContainText('Enabled');
  await expect(rulesTable(page).getByRole('row', { name: /Queue stalled/ })).toContainText('no samples for 10m');
  await screenshot(page, 'alerts');

  await row.getByRole('button', { name: 'Edit Payment errors' }).click();
  await page.getByLabel('Threshold', { exact: true }).fill('10');
  const changed = await tenant.put(`/alerts/rules/${rule.id}`, {
    ...RULE,
    name: 'Payment errors (renamed)',
    metric: 'payment.errors',
  });
  expect(changed.status).toBe(200);
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'Someone else changed this rule' })).toBeVisible();
  await page.getByRole('button', { name: 'Reload rule' }).click();
  await expect(page.getByLabel('Name', { exact: true })).toHaveValue('Payment errors (renamed)');
  await page.getByLabel('Threshold', { exact: true }).fill('10');
  await page.getByRole('button', { name: 'Save changes' }).click();
  const renamed = rulesTable(page).getByRole('row', { name: /Payment errors \(renamed\)/ });
  await expect(renamed).toContainText('p95 over 5m > 10');

  await renamed.getByRole('button', { name: /^Delete/ }).click();
  await renamed.getByRole('button', { name: 'Delete', exact: true }).click();
  await expect(renamed).toHaveCount(0);
  await expect(rulesTable(page).getByRole('row')).toHaveCount(3);
});

test('a viewer reads rules but cannot change them, and the API agrees', async ({ page, tenant }) => {
  await createRule(tenant, { name: 'Slow checkout', metric: 'http.request.duration', serviceName: 'checkout' });
  const viewer = tenant.token('viewer');
  await signIn(page, 'Bearer token', viewer);
  await expect(page.getByRole('banner')).toContainText('viewer');
  await openPage(page, 'Alerts');

  await expect(rulesTable(page).getByRole('row', { name: /Slow checkout/ })).toBeVisible();
  await expect(page.getByRole('button', { name: 'New rule' })).toHaveCount(0);
  await expect(page.getByRole('button', { name: /^(Edit|Disable|Enable|Delete)/ })).toHaveCount(0);
  await page.getByRole('link', { name: 'Dead letters' }).click();
  await expect(page.getByRole('heading', { name: 'Dead letters' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'Redeliver' })).toHaveCount(0);
  await expect(page.getByRole('link', { name: 'Administration' })).toHaveCount(0);

  const refused = await tenant.post('/alerts/rules', { ...RULE, name: 'sneaky', metric: 'x' }, viewer);
  expect(refused.status).toBe(403);
});

test('active alerts and their history', async ({ page, tenant }) => {
  await createRule(tenant, {
    name: 'Hot checkout',
    metric: 'http.request.duration',
    aggregation: 'max',
    window: '1m',
    threshold: 100,
  });
  await signIn(page, 'API key', tenant.apiKey);
  await openPage(page, 'Alerts');
  await expect(rulesTable(page).getByRole('row', { name: /Hot checkout/ })).toBeVisible();

  await expect(async () => {
    await tenant.ingest([
      metricEvent({ service: 'checkout', name: 'http.request.duration', value: 950, secondsAgo: 0 }),
    ]);
    await page.getByRole('link', { name: 'Active' }).click();
    await expect(page.getByRole('table', { name: 'Active alerts' })).toContainText('Hot checkout', { timeout: 2_000 });
  }).toPass({ timeout: 30_000 });
  await expect(page.getByRole('table', { name: 'Active alerts' })).toContainText('checkout');

  await page.getByRole('link', { name: 'History' }).click();
  const timeline = page.getByRole('list', { name: 'Alert transitions, newest first' });
  await expect(timeline.getByRole('listitem').first()).toContainText('triggered');
  await page.getByLabel('Transition', { exact: true }).selectOption('triggered');
  await expect(page).toHaveURL(/transition=triggered/);
  await expect(timeline.getByRole('listitem')).toHaveCount(1);
});
