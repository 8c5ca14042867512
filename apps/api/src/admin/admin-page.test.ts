// The admin page in a real browser (headless Chromium from Debian's `chromium`
// package, driven by playwright-core): it loads from the API alone, asks for the
// token, shows the seeded organizations with the same figures as the JSON API,
// draws the chart and refreshes. Without /usr/bin/chromium this test FAILS on
// purpose: install it with `apt-get install -y chromium`.
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { HorizonTracker, advanceHorizonAndDiscover, sealOnce } from '@audit-chain/sealing';
import { connect, createTestDatabase } from '../../../../test/support/database.ts';
import { insertRows, newOrgId, waitFor } from '../../../../test/support/audit-rows.ts';
import { ADMIN, ADMIN_TOKEN, WRITE_TOKEN, adminServer } from './test-support.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
/** With AUDIT_CHAIN_UPDATE_SCREENSHOT=1 the screenshot replaces the one in docs/; otherwise it goes to a temporary directory. */
const SCREENSHOT = process.env.AUDIT_CHAIN_UPDATE_SCREENSHOT === '1'
  ? fileURLToPath(new URL('../../../../docs/admin-page.png', import.meta.url))
  : join(tmpdir(), 'audit-chain-admin-page.png');

const db = await createTestDatabase();
const app = adminServer(db.pool, {}, 200);
const orgs = Array.from({ length: 6 }, newOrgId);
const holder = await connect(db.url, 'nightly-import');
const tracker = new HorizonTracker();
let browser: Browser | undefined;
let base = '';

async function discover(): Promise<void> {
  await advanceHorizonAndDiscover(db.pool, tracker);
}

beforeAll(async () => {
  for (const [i, org] of orgs.entries()) await insertRows(db.pool, org, 20 + i * 7);
  await insertRows(db.pool, null, 12);
  await sealOnce(db.pool, { batchSize: 500, waitMs: 500, pollMs: 20 });
  await db.pool.query(
    `insert into audit_chain_checkpoints (org_id, chain_seq, sealed_count, checksum, signed_at, key_id, signature, body)
     select org_id, watermark_seq, sealed_count, head_checksum, now() - interval '4 minutes', 'ed25519:2026-11', 's', '{}'
       from audit_chain_state`,
  );
  const run = await db.pool.query<{ id: string }>(
    `insert into audit_chain_verifications (trigger, started_at, finished_at, status, chains_checked, rows_checked, breaks_found)
     select 'schedule', now() - interval '21 minutes', now() - interval '20 minutes', 'clean', count(*), sum(sealed_count), 0
       from audit_chain_state returning id`,
  );
  await db.pool.query(
    `insert into audit_chain_verify_status (org_id, verification_id, verified_at, rows_checked, breaks_found)
     select org_id, $1, now() - interval '20 minutes', sealed_count, 0 from audit_chain_state`,
    [run.rows[0]!.id],
  );
  await db.pool.query(`update audit_chain_state set halted_at = now(), halted_reason = 'row below the watermark without links' where org_id = $1`, [orgs[5]]);
  await db.pool.query(
    `insert into audit_chain_workers (worker_id, hostname, pid, heartbeat_at, sealed_rows, sealed_batches, errors, seal_latency)
     values ('4f1c9a2e-demo', 'worker-1', 4242, now(), 177, 12, 0, '{"le":[10,25,50,100,250,500,1000],"counts":[20,80,50,20,5,2,0,0],"sum_ms":6000,"count":177}')`,
  );
  const address = await app.listen({ host: '127.0.0.1', port: 0 });
  base = `${address}/admin/`;

  // A growing backlog while the API samples, so the chart has a shape: each
  // round adds rows that discovery counts but nobody seals.
  for (let round = 0; round < 6; round += 1) {
    for (const [i, org] of orgs.entries()) await insertRows(db.pool, org, (i + 1) * (round + 1));
    await discover();
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  // Then a transaction that wrote an audit row stays open: the horizon is held.
  await holder.query('begin');
  await insertRows(holder, orgs[2]!, 1, 'import.batch');
  await insertRows(db.pool, orgs[0]!, 5);
  await discover();
  await waitFor('samples with the holder', async () => {
    const history = await app.inject({ method: 'GET', url: '/admin/v1/history', headers: ADMIN });
    return history.json().samples.length >= 10;
  });

}, 120_000);

afterAll(async () => {
  await browser?.close();
  await holder.query('rollback').catch(() => {});
  await holder.end();
  await app.close();
});

interface ChainRow {
  chain: string;
  pending_rows: number;
  watermark_seq: string;
  head_seq: string;
  sealed_rows: number;
}

async function openWithToken(page: Page, token: string): Promise<void> {
  await page.goto(base);
  await page.locator('#token-form').waitFor({ state: 'visible' });
  await page.fill('#token', token);
  await page.click('#token-form button[type=submit]');
}

async function tableRows(page: Page): Promise<ChainRow[]> {
  return page.$$eval('#chains tr[data-chain]', (rows) =>
    rows.map((row) => {
      const value = (name: string): string => row.querySelector(`[data-field="${name}"]`)?.getAttribute('data-value') ?? '';
      return {
        chain: row.getAttribute('data-chain') ?? '',
        pending_rows: Number(value('pending_rows')),
        watermark_seq: value('watermark_seq'),
        head_seq: value('head_seq'),
        sealed_rows: Number(value('sealed_rows')),
      };
    }),
  );
}

test('the page asks for the token, then shows the seeded organizations with the JSON API\'s figures', async () => {
  // In the test, not in a hook: a missing browser must fail this test, never skip it.
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  const page = await browser!.newPage({ viewport: { width: 1280, height: 1000 } });
  const requests: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  const consoleErrors: string[] = [];
  page.on('console', (message) => void (message.type() === 'error' && consoleErrors.push(message.text())));
  try {
    await openWithToken(page, WRITE_TOKEN);
    await expect.poll(() => page.textContent('#token-error')).toMatch(/does not grant access/);

    // The refused token's requests logged their 403s; from here on, nothing may fail.
    consoleErrors.length = 0;
    await page.fill('#token', ADMIN_TOKEN);
    await page.click('#token-form button[type=submit]');
    await page.waitForSelector('body[data-loaded]');
    await page.waitForSelector('#chart polyline[data-series="pending"]');

    const api = (await app.inject({ method: 'GET', url: '/admin/v1/lag', headers: ADMIN })).json() as {
      chains: ChainRow[];
      totals: { pending_rows: number; sealed_rows: number };
      horizon: { holders: { pid: number; application_name: string }[] };
    };
    const shown = await tableRows(page);
    expect(shown).toEqual(
      api.chains.map((c) => ({ chain: c.chain, pending_rows: c.pending_rows, watermark_seq: c.watermark_seq, head_seq: c.head_seq, sealed_rows: c.sealed_rows })),
    );
    expect(shown.map((row) => row.chain)).toEqual(expect.arrayContaining([...orgs, 'system']));
    // Worst first: the organization that got the most rows per round leads.
    expect(shown[0]!.chain).toBe(orgs[5]);
    const text = (selector: string) => page.locator(selector).getAttribute('data-value');
    expect(Number(await text('[data-field="total-pending"]'))).toBe(api.totals.pending_rows);
    expect(Number(await text('[data-field="sealed-rows"]'))).toBe(api.totals.sealed_rows);
    expect(await text('[data-field="halted"]')).toBe('1');
    expect(await page.locator('#chains tr.attention').getAttribute('data-chain')).toBe(orgs[5]);
    const holderPid = api.horizon.holders.find((h) => h.application_name === 'nightly-import')!.pid;
    await expect.poll(() => page.locator(`#holders tr[data-pid="${holderPid}"]`).textContent()).toContain('nightly-import');

    // It refreshes on its own: new rows show up without a reload.
    const before = Number(await text('[data-field="total-pending"]'));
    await insertRows(db.pool, orgs[1]!, 9);
    await discover();
    await expect.poll(async () => Number(await text('[data-field="total-pending"]')), { timeout: 15_000 }).toBe(before + 9);

    mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // Everything came from the API itself: no CDN, so the page works offline.
    const origin = new URL(base).origin;
    expect(requests.filter((url) => !url.startsWith(origin))).toEqual([]);
    expect(consoleErrors).toEqual([]);
  } finally {
    await page.close();
  }
});
