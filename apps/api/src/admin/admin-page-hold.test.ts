/// <reference lib="dom" />
// The moment the admin page exists for, in headless Chromium: an open
// transaction holds the horizon while committed rows wait in three chains.
// The page shows those chains on top with their counts, the holder's pid and
// application, and a held time matching the transaction's age within a
// refresh; /metrics and the JSON API say the same. Then a tampered row, found
// by verification, shows as a red break on top with the command to
// investigate it. Needs /usr/bin/chromium (fails, never skips, without it).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { HorizonTracker, advanceHorizonAndDiscover, sealOnce } from '@audit-chain/sealing';
import { runVerification } from '@audit-chain/verification';
import { connect, createTestDatabase } from '../../../../test/support/database.ts';
import { insertRows, newOrgId } from '../../../../test/support/audit-rows.ts';
import { OTHER, TOTAL } from './prometheus.ts';
import { ADMIN, ADMIN_TOKEN, adminServer, parseExposition, series, valueOf } from './test-support.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** The page refreshes every 5 s (app.js REFRESH_MS). */
const REFRESH_SECONDS = 5;
/** With AUDIT_CHAIN_UPDATE_SCREENSHOT=1 the screenshot of the hold and the break replaces docs/admin-page-hold.png. */
const SCREENSHOT = fileURLToPath(new URL('../../../../docs/admin-page-hold.png', import.meta.url));

const db = await createTestDatabase();
const app = adminServer(db.pool, { AUDIT_CHAIN_METRICS_TOP_N: '3' });
const [quiet, a, b, c] = [newOrgId(), newOrgId(), newOrgId(), newOrgId()];
const holder = await connect(db.url, 'nightly-import');
let holderPid = 0;
let browser: Browser | undefined;
let base = '';

beforeAll(async () => {
  for (const org of [quiet, a, b, c]) await insertRows(db.pool, org, 6);
  await sealOnce(db.pool, { batchSize: 500, waitMs: 500, pollMs: 20 });
  // A quiet hour before the hold: the horizon last moved an hour ago.
  await db.pool.query(`update audit_chain_progress set horizon_at = now() - interval '1 hour' where id = 1`);
  holderPid = (await holder.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
  await holder.query('begin');
  await insertRows(holder, quiet, 1, 'import.batch');
  await insertRows(db.pool, a, 7);
  await insertRows(db.pool, b, 4);
  await insertRows(db.pool, c, 2);
  await advanceHorizonAndDiscover(db.pool, new HorizonTracker());
  base = `${await app.listen({ host: '127.0.0.1', port: 0 })}/admin/`;
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await holder.query('rollback').catch(() => {});
  await holder.end();
  await app.close();
});

const xactAge = async () =>
  (await db.pool.query<{ age: number }>(`select extract(epoch from now() - xact_start)::float8 as age from pg_stat_activity where pid = $1`, [holderPid])).rows[0]!.age;

test('a held horizon: the waiting chains on top with their counts, the holder, the held time; then a break in red on top', async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const consoleErrors: string[] = [];
  page.on('console', (message) => void (message.type() === 'error' && consoleErrors.push(message.text())));
  try {
    await page.goto(`${base}#token=${ADMIN_TOKEN}`);
    await page.waitForSelector('body[data-loaded]');
    const loadedAt = await xactAge();

    const rows = await page.$$eval('#chains tr[data-chain]', (trs) =>
      trs.map((tr) => ({
        table: tr.querySelector('[data-field="table"]')?.textContent,
        chain: tr.getAttribute('data-chain'),
        pending: Number(tr.querySelector('[data-field="pending_rows"]')?.getAttribute('data-value')),
        held: Number(tr.querySelector('[data-field="held_rows"]')?.getAttribute('data-value')),
      })),
    );
    expect(rows.slice(0, 3)).toEqual([
      { table: 'audit_chain.audit_logs', chain: a, pending: 7, held: 7 },
      { table: 'audit_chain.audit_logs', chain: b, pending: 4, held: 4 },
      { table: 'audit_chain.audit_logs', chain: c, pending: 2, held: 2 },
    ]);
    // The chained tables, each with its own figures: here only audit_logs, holding 13 rows behind its horizon.
    expect(await page.$$eval('#tables tr[data-table]', (trs) => trs.map((tr) => [tr.getAttribute('data-table'), tr.querySelector('[data-field="held_rows"]')?.getAttribute('data-value')]))).toEqual([
      ['audit_chain.audit_logs', '13'],
    ]);
    await expect.poll(() => page.locator(`#holders tr[data-pid="${holderPid}"]`).textContent()).toContain('nightly-import');
    // The held time is the transaction's age when the page read it (not the quiet hour before it).
    const held = Number(await page.locator('[data-field="held-seconds"]').getAttribute('data-value'));
    expect(held).toBeLessThanOrEqual(loadedAt);
    expect(loadedAt - held).toBeLessThan(REFRESH_SECONDS);
    expect(await page.textContent('[data-field="horizon-state"]')).toMatch(/rows waiting \d+(\.\d)?s: open writers/);
    expect(await page.textContent('[data-field="total-pending-detail"]')).toBe('13 in 3 chains (13 held) + 1 in no chain yet (open transactions or rolled back)');

    // The same figures from the JSON API and /metrics.
    const lag = (await app.inject({ method: 'GET', url: '/admin/v1/lag', headers: ADMIN })).json() as {
      chains: { chain: string; pending_rows: number; held_rows: number }[];
      totals: { pending_rows: number };
    };
    expect(lag.chains.slice(0, 3).map((ch) => [ch.chain, ch.pending_rows, ch.held_rows])).toEqual([[a, 7, 7], [b, 4, 4], [c, 2, 2]]);
    const metrics = parseExposition((await app.inject({ method: 'GET', url: '/metrics', headers: ADMIN })).body);
    expect(series(metrics, 'audit_chain_pending_rows').map((s) => [s.labels.org_id, s.value])).toEqual([[a, 7], [b, 4], [c, 2], [OTHER, 1], [TOTAL, 14]]);
    expect(lag.totals.pending_rows).toBe(14);
    expect(valueOf(metrics, 'audit_chain_horizon_holders')).toBe(1);
    expect(valueOf(metrics, 'audit_chain_horizon_held_seconds')).toBeLessThan(await xactAge() + 0.001);

    // A row of the quiet chain is tampered with; verification finds it.
    const attacker = await connect(db.url, 'admin-page attacker');
    try {
      await attacker.query('begin');
      await attacker.query('set local session_replication_role = replica');
      await attacker.query(
        `update audit_logs set action = 'tampered' where org_id = $1 and chain_seq = (select min(chain_seq) + 2 from audit_logs where org_id = $1)`,
        [quiet],
      );
      await attacker.query('commit');
    } finally {
      await attacker.end();
    }
    const report = await runVerification(db.pool, { orgId: quiet, keyring: null, checkpointSources: { directories: [], table: false }, record: { trigger: 'cli', orgId: quiet } });
    expect(report.ok).toBe(false);
    const brokenRow = page.locator('#chains tr[data-chain]').first();
    await expect.poll(() => brokenRow.getAttribute('data-chain'), { timeout: (REFRESH_SECONDS + 5) * 1000 }).toBe(quiet);
    expect(await brokenRow.getAttribute('class')).toBe('attention');
    expect(await brokenRow.locator('[data-field="verified"]').textContent()).toBe('BROKEN: 1 break');
    expect(await brokenRow.locator('td').first().evaluate((td) => (globalThis as unknown as { getComputedStyle(e: unknown): { color: string } }).getComputedStyle(td).color)).toBe('rgb(180, 35, 24)');
    const detail = await page.locator(`#chains tr[data-detail-of="${quiet}"]`).textContent();
    expect(detail).toContain(`investigate: npx audit-chain verify --org ${quiet}`);
    expect(detail).toMatch(/first break: \w+ at row #\d+/);
    // The held chains follow it, in the same order.
    const after = await page.$$eval('#chains tr[data-chain]', (trs) => trs.map((tr) => tr.getAttribute('data-chain')));
    expect(after.slice(0, 4)).toEqual([quiet, a, b, c]);

    if (process.env.AUDIT_CHAIN_UPDATE_SCREENSHOT === '1') await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(consoleErrors).toEqual([]);
  } finally {
    await page.close();
  }
}, 60_000);
