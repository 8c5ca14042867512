// /docs in a real browser (headless Chromium, as admin-page.test.ts): the page
// renders every route group from the API alone, with every request to another
// origin refused, and without Content-Security-Policy violations.
import { chromium, type Browser } from 'playwright-core';
import { afterAll, expect, test } from 'vitest';
import { createTestDatabase } from '../../../test/support/database.ts';
import { testServer } from './test-support.ts';

const CHROMIUM = '/usr/bin/chromium';
const db = await createTestDatabase();
const app = testServer(db.pool, { AUDIT_CHAIN_ADMIN_TOKEN: 'test-admin-token-docs-page' });
let browser: Browser | undefined;
afterAll(async () => {
  await browser?.close();
  await app.close();
});

test('the docs page renders the write, read and admin routes offline', { timeout: 120_000 }, async () => {
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'] });
  const page = await browser.newPage();
  const elsewhere: string[] = [];
  const problems: string[] = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(address)) return route.continue();
    elsewhere.push(url);
    return route.abort();
  });
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));

  await page.goto(`${address}/docs`);
  await page.locator('.opblock-summary-path', { hasText: '/v1/audit-events' }).first().waitFor({ timeout: 60_000 });
  const paths = await page.locator('.opblock-summary-path').allTextContents();
  const shown = paths.map((path) => path.replace(/\u200b/g, ''));
  expect(shown).toEqual(expect.arrayContaining(['/v1/audit-events', '/v1/orgs/{orgId}/audit-events', '/admin/v1/lag', '/metrics', '/healthz']));
  expect(await page.locator('.info .title').textContent()).toContain('audit-chain API');
  expect(elsewhere).toEqual([]);
  expect(problems).toEqual([]);
});
