// Administration: API keys (issue, show once, rotate, revoke) and the audit log.
import { logEvent, realisticTraffic } from '../support/events.ts';
import { expect, openPage, screenshot, signIn, test } from '../support/console.ts';

test('an admin issues a key, sees it once, rotates and revokes keys, and reads the audit log', async ({
  page,
  tenant,
  request,
}) => {
  await tenant.ingest(realisticTraffic(5));
  await signIn(page, 'Bearer token', tenant.token('admin'));
  await openPage(page, 'Administration');
  const keys = page.getByRole('table', { name: 'API keys' });
  await expect(keys.getByRole('row', { name: new RegExp(tenant.keyId) })).toContainText('producer');

  await page.getByLabel('Label of a new key').fill('checkout producer');
  await page.getByRole('button', { name: 'Issue key' }).click();
  const shown = page.getByTestId('new-key');
  await expect(shown).toHaveText(/^tk_/);
  const secret = (await shown.textContent()) ?? '';
  await expect(page.getByRole('button', { name: 'Copy key' })).toBeVisible();
  const issued = keys.getByRole('row', { name: /checkout producer/ });
  await expect(issued).toContainText('active');
  expect((await request.get('/session', { headers: { 'X-API-Key': secret } })).status()).toBe(200);
  await page.getByRole('button', { name: 'Done' }).click();
  await expect(page.getByTestId('new-key')).toHaveCount(0);

  await issued.getByRole('button', { name: /^Rotate/ }).click();
  await issued.getByRole('button', { name: 'Rotate', exact: true }).click();
  await expect(page.getByTestId('new-key')).toHaveText(/^tk_/);
  const replacement = (await page.getByTestId('new-key').textContent()) ?? '';
  expect(replacement).not.toBe(secret);
  await expect(page.getByRole('status').filter({ hasText: 'Replacement key' })).toContainText('is revoked');
  await expect(keys.getByRole('row', { name: /checkout producer/ })).toHaveCount(2);
  await expect
    .poll(async () => (await request.get('/session', { headers: { 'X-API-Key': secret } })).status(), {
      timeout: 40_000,
    })
    .toBe(401);
  await page.getByRole('button', { name: 'Done' }).click();

  const producer = keys.getByRole('row', { name: new RegExp(tenant.keyId) });
  await producer.getByRole('button', { name: /^Revoke/ }).click();
  await producer.getByRole('button', { name: 'Revoke', exact: true }).click();
  await expect(producer).toContainText('revoked');
  await expect
    .poll(async () => (await request.get('/session', { headers: { 'X-API-Key': tenant.apiKey } })).status(), {
      timeout: 40_000,
    })
    .toBe(401);

  const audit = page.getByRole('table', { name: 'Audit log, newest first' });
  await page.getByLabel('Action', { exact: true }).selectOption('api_key.issued');
  await expect(page).toHaveURL(/action=api_key\.issued/);
  await expect(audit.getByRole('row')).toHaveCount(4);
  await page.getByLabel('Action', { exact: true }).selectOption('');
  await expect(audit).toContainText('api_key.revoked');
  await screenshot(page, 'admin');
});

test('only admins see Administration', async ({ page, tenant }) => {
  await signIn(page, 'Bearer token', tenant.token('editor'));
  await expect(page.getByRole('link', { name: 'Administration' })).toHaveCount(0);
  await page.goto('/ui/admin');
  await expect(page.getByText('Only administrators of the tenant can manage API keys')).toBeVisible();
});

test('an admin shortens data retention and older events leave every read at once', async ({
  page,
  tenant,
  request,
}) => {
  const threeDays = 3 * 24 * 3600;
  await tenant.ingest([
    ...Array.from({ length: 4 }, (_, index) =>
      logEvent({ service: 'billing', message: `old ${index}`, secondsAgo: threeDays }),
    ),
    ...Array.from({ length: 3 }, (_, index) => logEvent({ service: 'billing', message: `new ${index}` })),
  ]);
  const lastSixDays = async (): Promise<number> => {
    const response = await request.post('/query', {
      headers: tenant.headers(),
      data: {
        startTime: new Date(Date.now() - 6 * 24 * 3600_000).toISOString(),
        endTime: new Date(Date.now() + 3600_000).toISOString(),
        groupBy: 'type',
      },
    });
    return ((await response.json()) as { total: number }).total;
  };
  await expect.poll(lastSixDays, { timeout: 30_000 }).toBe(7);

  await signIn(page, 'Bearer token', tenant.token('admin'));
  await openPage(page, 'Administration');
  const form = page.getByRole('form', { name: 'Data retention' });
  const raw = form.getByLabel('Raw events');
  await expect(raw).toHaveValue('');
  await expect(raw).toHaveAttribute('placeholder', '30');
  await expect(page.getByTestId('quota')).toContainText('No daily quota');

  await raw.fill('0');
  await form.getByRole('button', { name: 'Save retention' }).click();
  await expect(form.getByText('A whole number of days, 1 to 36,500')).toBeVisible();
  await raw.fill('2');
  for (const rollup of ['Minute rollups', 'Hour rollups', 'Day rollups']) await form.getByLabel(rollup).fill('2');
  await form.getByRole('button', { name: 'Save retention' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Retention saved' })).toBeVisible();
  await expect(form.getByText(/in force: 2 days$/)).toHaveCount(4);
  await expect(form.getByText('in force: 365 days (default)')).toHaveCount(2);
  await expect.poll(lastSixDays, { timeout: 10_000 }).toBe(3);

  await page.getByLabel('Action', { exact: true }).selectOption('tenant.retention_set');
  const audit = page.getByRole('table', { name: 'Audit log, newest first' });
  await expect(audit.getByRole('row')).toHaveCount(2);
  await expect(audit).toContainText('tenant.retention_set');
  await screenshot(page, 'admin-retention', { fullPage: true });

  // The overview's week says which part of it the tenant still keeps.
  await openPage(page, 'Overview');
  await page.getByRole('button', { name: '7 days' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'past this tenant’s retention' })).toBeVisible();
  await expect(page.getByTestId('total-events')).toHaveText('3');
  await screenshot(page, 'overview-retention');
});
