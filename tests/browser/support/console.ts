// What a person does in the console, step by step, and the fixtures every spec shares.
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test as base, expect, type Page } from '@playwright/test';
import { Tenant } from './tenant.ts';

const SCREENSHOTS = fileURLToPath(new URL('../../../target/ui-screenshots/', import.meta.url));

export const test = base.extend<{ tenant: Tenant; pageHealth: void }>({
  tenant: async ({ request }, use) => {
    await use(await Tenant.create(request));
  },
  // Every test also checks that the console broke no Content-Security-Policy rule and threw
  // no uncaught error.
  pageHealth: [
    async ({ page }, use) => {
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error' && message.text().includes('Content Security Policy'))
          problems.push(message.text());
      });
      await use();
      expect(problems).toEqual([]);
    },
    { auto: true },
  ],
});
export { expect };

/** Signs in on the sign-in page the console shows (opening it first in a fresh page). */
export async function signIn(page: Page, kind: 'API key' | 'Bearer token', secret: string): Promise<void> {
  if (page.url() === 'about:blank') await page.goto('/ui/sign-in');
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible();
  await page.getByRole('radio', { name: kind }).check();
  await page.getByLabel(kind === 'API key' ? 'Your API key' : 'Your bearer token').fill(secret);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('navigation', { name: 'Main' })).toBeVisible();
}

export async function openPage(
  page: Page,
  name: 'Overview' | 'Explorer' | 'Metrics' | 'Alerts' | 'Administration',
): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name }).click();
  await expect(page.getByRole('heading', { level: 1, name })).toBeVisible();
}

/** Saves what the person sees as target/ui-screenshots/<name>.png (the whole page, or the window). */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: options.fullPage ?? true });
}

/** True when the page is wider than the window (something would scroll sideways). */
export async function overflowsHorizontally(page: Page): Promise<boolean> {
  return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
}

/** Fails the test if the page ever opens a dialog (alert, confirm, prompt). */
export function forbidDialogs(page: Page): string[] {
  const opened: string[] = [];
  page.on('dialog', (dialog) => {
    opened.push(dialog.message());
    void dialog.dismiss();
  });
  return opened;
}
