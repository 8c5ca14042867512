// The worker's checkpoint loop and scheduled verification, in a real worker:
// heads are signed when enough rows were sealed and exported to the directory
// and a webhook (a failing webhook gets them later); without a key the worker
// warns once and signs nothing; the verification schedule is registered and a
// queued run is recorded.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { PgBoss } from 'pg-boss';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, test } from 'vitest';
import { loadConfig, type Config } from '@audit-chain/config';
import { attachTable } from '@audit-chain/lifecycle';
import { generateSigningKeyPair, writeSigningKeyPair } from '@audit-chain/verification';
import { insertRows, newOrgId, waitFor } from '../../../test/support/audit-rows.ts';
import { createTestDatabase } from '../../../test/support/database.ts';
import { VERIFY_QUEUE } from './verify-job.ts';
import { startWorker, type RunningWorker } from './worker.ts';

const db = await createTestDatabase();
const dir = mkdtempSync(join(tmpdir(), 'audit-chain-worker-checkpoints-'));
const key = writeSigningKeyPair(join(dir, 'keys'), generateSigningKeyPair('worker-test', new Date('2026-01-01T00:00:00Z')));
const running: RunningWorker[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((worker) => worker.stop()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Log lines of a worker, parsed. */
function capture(): { logger: pino.Logger; lines: { level: number; msg: string }[] } {
  const lines: { level: number; msg: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as { level: number; msg: string });
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

function config(env: Record<string, string>): Config {
  return { ...loadConfig({ AUDIT_CHAIN_DATA_DIR: dir, ...env }), sealing: { pollMs: 50, batchSize: 500, concurrency: 2 } };
}

async function start(env: Record<string, string>, logger = pino({ level: 'silent' })): Promise<RunningWorker> {
  const worker = await startWorker({ databaseUrl: db.url, config: config(env), logger, heartbeatMs: 500 });
  running.push(worker);
  return worker;
}

async function checkpointsOf(orgId: string): Promise<{ sealed_count: string; exported_to: Record<string, string | null> }[]> {
  return (await db.pool.query('select sealed_count::text, exported_to from audit_chain_checkpoints where org_id = $1::uuid order by id', [orgId])).rows;
}

describe('checkpoints in the worker', () => {
  test('signs a head once enough rows were sealed, exports it to the directory and to a webhook that was down at first', async () => {
    const received: string[] = [];
    let up = false;
    const webhook = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        if (up) received.push(body);
        response.statusCode = up ? 200 : 502;
        response.end();
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    try {
      const checkpointDir = join(dir, 'exported');
      await start({
        AUDIT_CHAIN_SIGNING_KEY_FILE: key.privateKeyFile,
        AUDIT_CHAIN_SIGNING_KEY_ID: 'worker-test',
        AUDIT_CHAIN_CHECKPOINT_EVERY_ROWS: '20',
        AUDIT_CHAIN_CHECKPOINT_INTERVAL_SECONDS: '3600',
        AUDIT_CHAIN_CHECKPOINT_DIR: checkpointDir,
        AUDIT_CHAIN_CHECKPOINT_WEBHOOK_URL: `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hook`,
        AUDIT_CHAIN_VERIFY_CRON: 'off',
      });
      const org = newOrgId();
      await insertRows(db.pool, org, 5);
      // Recorded first, then exported: wait for the directory's answer.
      await waitFor('the first head signed and written to the directory', async () => typeof (await checkpointsOf(org))[0]?.exported_to.directory === 'string');
      expect((await checkpointsOf(org))[0]).toEqual({ sealed_count: '5', exported_to: { directory: expect.any(String), webhook: null } });

      // 10 more rows: fewer than 20 since the last checkpoint, and the interval is an hour: not due.
      await insertRows(db.pool, org, 10);
      await insertRows(db.pool, org, 15);
      await waitFor('the second head signed', async () => (await checkpointsOf(org)).length === 2);
      expect((await checkpointsOf(org)).map((c) => c.sealed_count)).toEqual(['5', '30']);

      up = true;
      await waitFor('both exported to the webhook', async () => (await checkpointsOf(org)).every((c) => typeof c.exported_to.webhook === 'string'), 20_000);
      const lines = readdirSync(checkpointDir).flatMap((file) => readFileSync(join(checkpointDir, file), 'utf8').split('\n').filter(Boolean));
      const ours = lines.filter((line) => line.includes(org));
      expect(ours).toHaveLength(2);
      expect(received.filter((body) => body.includes(org))).toEqual(ours);
    } finally {
      await new Promise((resolve) => webhook.close(resolve));
    }
  });

  test('without a signing key: one clear warning, no checkpoints, sealing unaffected', async () => {
    const { logger, lines } = capture();
    const before = Number((await db.pool.query('select count(*) from audit_chain_checkpoints')).rows[0].count);
    await start({ AUDIT_CHAIN_VERIFY_CRON: 'off' }, logger);
    const org = newOrgId();
    await insertRows(db.pool, org, 3);
    await waitFor('rows sealed', async () => {
      const state = await db.pool.query('select sealed_count from audit_chain_state where org_id = $1::uuid', [org]);
      return Number(state.rows[0]?.sealed_count ?? 0) === 3;
    });
    const warnings = lines.filter((line) => line.level === 40 && line.msg.startsWith('no checkpoint signing key configured'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(/AUDIT_CHAIN_SIGNING_KEY_FILE or AUDIT_CHAIN_SIGNING_KEY, with AUDIT_CHAIN_SIGNING_KEY_ID/);
    expect(Number((await db.pool.query('select count(*) from audit_chain_checkpoints')).rows[0].count)).toBe(before);
  });

  test('a configured key that cannot be read, or a schedule that is not a cron expression, stops the worker from starting', async () => {
    await expect(start({ AUDIT_CHAIN_SIGNING_KEY_FILE: join(dir, 'absent.pem'), AUDIT_CHAIN_SIGNING_KEY_ID: 'x', AUDIT_CHAIN_VERIFY_CRON: 'off' })).rejects.toThrow(
      /cannot read the signing key file .*absent\.pem: no such file/,
    );
    await expect(start({ AUDIT_CHAIN_VERIFY_CRON: 'every day' })).rejects.toThrow(/AUDIT_CHAIN_VERIFY_CRON "every day": cannot schedule the verification/);
  });
});

describe('scheduled verification', () => {
  test('the cron schedule is registered, and a queued run verifies every chain and is recorded', async () => {
    const keyring = key.keyringFile;
    await start({
      AUDIT_CHAIN_SIGNING_KEY_FILE: key.privateKeyFile,
      AUDIT_CHAIN_SIGNING_KEY_ID: 'worker-test',
      AUDIT_CHAIN_CHECKPOINT_DIR: join(dir, 'scheduled'),
      AUDIT_CHAIN_KEYRING_FILE: keyring,
      AUDIT_CHAIN_VERIFY_CRON: '17 4 * * *',
    });
    const schedules = await db.pool.query('select name, cron, timezone from audit_chain_boss.schedule where name = $1', [VERIFY_QUEUE]);
    expect(schedules.rows).toEqual([{ name: VERIFY_QUEUE, cron: '17 4 * * *', timezone: 'UTC' }]);

    await insertRows(db.pool, null, 4);
    await insertRows(db.pool, newOrgId(), 4);
    await waitFor('rows sealed', async () => {
      const pending = await db.pool.query(
        `select count(*)::int as n from audit_logs a where a.chain_seq > coalesce((select watermark_seq from audit_chain_state s where s.org_id is not distinct from a.org_id), 0)`,
      );
      return pending.rows[0].n === 0;
    });
    const boss = new PgBoss({ connectionString: db.url, schema: 'audit_chain_boss', max: 1 });
    await boss.start();
    try {
      await boss.send(VERIFY_QUEUE, {});
    } finally {
      await boss.stop({ graceful: false });
    }
    await waitFor('a scheduled run recorded', async () => {
      const runs = await db.pool.query("select status from audit_chain_verifications where trigger = 'schedule' and finished_at is not null");
      return runs.rows.length > 0;
    }, 30_000);
    const run = (await db.pool.query("select scope, status, chains_checked, breaks_found from audit_chain_verifications where trigger = 'schedule'")).rows[0];
    const chains = Number((await db.pool.query('select count(*) from audit_chain_state')).rows[0].count);
    expect(run).toEqual({ scope: null, status: 'clean', chains_checked: chains, breaks_found: 0 });
    const status = await db.pool.query('select count(*)::int as n from audit_chain_verify_status where org_id is null');
    expect(status.rows[0].n).toBe(1);
  });

  test('a scheduled run also verifies attached tables: a rewritten row of one is logged as a break, naming the table and the chain', async () => {
    await db.pool.query(`create table public.activity (id bigint generated always as identity primary key, tenant text not null, what text not null);
      insert into public.activity (tenant, what) values ('t1', 'a'), ('t2', 'b'), ('t1', 'c')`);
    await attachTable(db.pool, { table: 'public.activity', orgColumn: 'tenant', orderBy: ['id'], lockTimeoutMs: 2000 });
    const { logger, lines } = capture();
    await start({ AUDIT_CHAIN_KEYRING_FILE: key.keyringFile, AUDIT_CHAIN_VERIFY_CRON: '17 4 * * *' }, logger);
    await waitFor('the attached rows sealed', async () => {
      const left = await db.pool.query('select count(*)::int as n from public.activity where audit_chain_checksum is null');
      return left.rows[0].n === 0;
    });
    await db.pool.query("update public.activity set what = 'rewritten' where what = 'c'");
    const boss = new PgBoss({ connectionString: db.url, schema: 'audit_chain_boss', max: 1 });
    await boss.start();
    try {
      await boss.send(VERIFY_QUEUE, {});
    } finally {
      await boss.stop({ graceful: false });
    }
    await waitFor('the attached tables verified', async () => lines.some((line) => line.msg.startsWith('scheduled verification of attached tables')), 30_000);
    const found = lines.find((line) => line.msg === 'scheduled verification of attached tables FOUND BREAKS') as unknown as { breaks: number; first: { chain: string; kind: string }[] } | undefined;
    expect(found).toBeDefined();
    expect(found!.breaks).toBe(1);
    expect(found!.first).toEqual([expect.objectContaining({ chain: 'public.activity chain t1', kind: 'content_changed' })]);
  });
});
