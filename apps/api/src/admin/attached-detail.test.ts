// One chain of an attached table, and attached tables' checkpoints, through
// `audit-chain lag --table --chain`, GET /admin/v1/lag/tables/:table/chains/:chain
// and GET /admin/v1/checkpoints?table=&chain=: they agree with the overview
// (whose attached chains carry their latest checkpoint), chain keys with a
// space, a slash and non-ASCII text are named URL-encoded, unknown tables and
// chains are a 404 / exit 2. Real PostgreSQL, real attach, sealer and signer;
// checkpoints signed at fixed instants.
import { spawn } from 'node:child_process';
import { Ajv } from 'ajv';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import type { ChainDetail, CheckpointRecord, CheckpointsPage, LagOverview } from '@audit-chain/lag';
import { attachTable } from '@audit-chain/lifecycle';
import { HorizonTracker, advanceHorizonAndDiscover, sealAttachedTables, sealOnce } from '@audit-chain/sealing';
import { generateSigningKeyPair, loadSigningKey, runCheckpointRound } from '@audit-chain/verification';
import { createTestDatabase } from '../../../../test/support/database.ts';
import { insertRows, newOrgId } from '../../../../test/support/audit-rows.ts';
import { OPENAPI_DOCUMENT } from '../openapi.ts';
import { ADMIN, adminServer, parseExposition, valueOf } from './test-support.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../../cli/bin/audit-chain.ts', import.meta.url));

const ajv = new Ajv({ strict: false, allErrors: true });
ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$/);
ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
ajv.addSchema({ $id: 'openapi.json', components: OPENAPI_DOCUMENT.components });

/** The OpenAPI document describes what is served (closed objects). */
function expectSchema(name: string, body: unknown): void {
  const validate = ajv.getSchema(`openapi.json#/components/schemas/${name}`)!;
  validate(body);
  expect(validate.errors ?? [], JSON.stringify(body).slice(0, 400)).toEqual([]);
}

const db = await createTestDatabase();
const app = adminServer(db.pool);
const ACTIVITY = 'public.activity_log';
const SECURITY = 'public.security_log';
const OWN = 'audit_chain.audit_logs';
const SPACED = 'team a/b c';
const UNICODE = 'ünïcode/ключ ✓';
const org = newOrgId();
const pair = generateSigningKeyPair('detail-1', new Date('2019-01-01T00:00:00Z'));
const signer = loadSigningKey({ pem: pair.privatePem, keyId: pair.keyId })!;

async function activity(tenant: string | null, rows: number): Promise<void> {
  await db.pool.query(`insert into public.activity_log (tenant, action) select $1, 'signed_in' from generate_series(1, $2::int)`, [tenant, rows]);
}

async function sealAll(): Promise<void> {
  await advanceHorizonAndDiscover(db.pool, new HorizonTracker());
  await sealOnce(db.pool, { batchSize: 100, waitMs: 500, pollMs: 20 });
  expect((await sealAttachedTables(db.pool, { batchSize: 100, waitMs: 2000 })).map((r) => r.status)).toEqual(['sealed', 'sealed']);
}

async function sign(at: string): Promise<void> {
  const round = await runCheckpointRound(db.pool, { signer, sinks: [], policy: 'requested', waitForLock: true, now: () => new Date(at) });
  expect(round.failures).toEqual([]);
  expect(round.skippedTables).toEqual([]);
}

beforeAll(async () => {
  await db.pool.query(`create table public.activity_log (id bigserial primary key, tenant text, action text not null, created_at timestamptz not null default now())`);
  await db.pool.query(`create table public.security_log (id bigserial primary key, what text not null, at timestamp not null default (now() at time zone 'UTC'))`);
  await activity('acme', 3);
  await activity(SPACED, 2);
  await activity(UNICODE, 1);
  await activity(null, 1);
  await db.pool.query(`insert into public.security_log (what) values ('login failed'), ('password changed')`);
  await attachTable(db.pool, { table: ACTIVITY, orgColumn: 'tenant', orderBy: ['created_at', 'id'] });
  await attachTable(db.pool, { table: SECURITY, orderBy: ['at', 'id'] });
  await insertRows(db.pool, org, 2);
  await sealAll();
  await sign('2020-06-01T00:00:00Z');
  // A second checkpoint of some chains, then rows sealed after it (rows_since), then rows still pending.
  await activity(SPACED, 3);
  await activity('acme', 1);
  await insertRows(db.pool, org, 1);
  await sealAll();
  await sign('2020-06-02T00:00:00Z');
  await activity(SPACED, 2);
  await activity(null, 1);
  await sealAll();
  await activity(SPACED, 1);
}, 60_000);

afterAll(() => app.close());

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: db.url },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function get(url: string): Promise<{ status: number; body: any }> {
  const response = await app.inject({ method: 'GET', url, headers: ADMIN });
  return { status: response.statusCode, body: response.json() };
}

async function getOk<T>(url: string): Promise<T> {
  const response = await get(url);
  expect(response.status, JSON.stringify(response.body).slice(0, 300)).toBe(200);
  return response.body as T;
}

/** Drops what changes between two readings taken moments apart. */
function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([key]) => !/(^generated_at$|age_seconds$|^held_seconds$|^state_change$)/.test(key))
      .map(([key, inner]) => [key, stable(inner)]),
  );
}

const detailUrl = (table: string, chain: string) => `/admin/v1/lag/tables/${encodeURIComponent(table)}/chains/${encodeURIComponent(chain)}`;

/** The signed checkpoints of one attached chain, read from the record itself: highest chain_seq first. */
async function recorded(table: string, key: string | null): Promise<{ id: number; chain_seq: string; sealed_count: number }[]> {
  const rows = await db.pool.query<{ id: string; chain_seq: string; sealed_count: string }>(
    `select c.id::text, c.chain_seq::text, c.sealed_count::text from audit_chain_table_checkpoints c join audit_chain_tables t on t.id = c.table_id
      where t.schema_name || '.' || t.table_name = $1 and c.chain_key is not distinct from $2 order by c.chain_seq desc, c.id desc`,
    [table, key],
  );
  return rows.rows.map((row) => ({ id: Number(row.id), chain_seq: row.chain_seq, sealed_count: Number(row.sealed_count) }));
}

test("the overview's attached chains carry their latest checkpoint, with the rows sealed since", async () => {
  const overview = await getOk<LagOverview>('/admin/v1/lag?limit=500');
  expectSchema('LagOverview', overview);
  const spaced = overview.chains.find((c) => c.table === ACTIVITY && c.chain === SPACED)!;
  const cps = await recorded(ACTIVITY, SPACED);
  expect(cps).toHaveLength(2);
  // 2 rows, then 3 (second checkpoint at 5 sealed), then 2 more sealed, 1 pending.
  expect(spaced).toMatchObject({ chain_key: SPACED, sealed_rows: 7, pending_rows: 1 });
  expect(spaced.last_checkpoint).toEqual({
    id: cps[0]!.id,
    chain_seq: cps[0]!.chain_seq,
    sealed_count: 5,
    signed_at: '2020-06-02T00:00:00.000000Z',
    age_seconds: expect.any(Number),
    key_id: 'detail-1',
    rows_since: 2,
  });
  // A chain whose head did not move between the rounds (signed twice at the same chain_seq: the later record is its latest), the NULL key's, and a keyless table's.
  const unicode = overview.chains.find((c) => c.table === ACTIVITY && c.chain === UNICODE)!;
  const unicodeCps = await recorded(ACTIVITY, UNICODE);
  expect(unicodeCps.map((cp) => cp.chain_seq)).toEqual([unicodeCps[0]!.chain_seq, unicodeCps[0]!.chain_seq]);
  expect(unicode.last_checkpoint).toMatchObject({ id: Math.max(...unicodeCps.map((cp) => cp.id)), sealed_count: 1, rows_since: 0, signed_at: '2020-06-02T00:00:00.000000Z' });
  const nullKey = overview.chains.find((c) => c.table === ACTIVITY && c.chain === 'null')!;
  expect(nullKey).toMatchObject({ chain_key: null, sealed_rows: 2 });
  expect(nullKey.last_checkpoint).toMatchObject({ sealed_count: 1, rows_since: 1 });
  expect(overview.chains.find((c) => c.table === SECURITY)!.last_checkpoint).toMatchObject({ sealed_count: 2, rows_since: 0 });
  // Every attached chain's figure is its own latest record.
  for (const chain of overview.chains.filter((c) => c.table !== OWN)) {
    const latest = (await recorded(chain.table, chain.chain_key))[0];
    expect(chain.last_checkpoint?.id, `${chain.table}/${chain.chain}`).toBe(latest?.id);
  }
  // /metrics: rows since the latest checkpoint, not every sealed row, for an attached chain too.
  const metrics = parseExposition((await app.inject({ method: 'GET', url: '/metrics', headers: ADMIN })).body);
  expect(valueOf(metrics, 'audit_chain_rows_since_checkpoint', { table: ACTIVITY, org_id: SPACED })).toBe(2);
  expect(valueOf(metrics, 'audit_chain_last_checkpoint_age_seconds', { table: ACTIVITY, org_id: SPACED })).toBeGreaterThan(0);
  // Paged: a page holding only some chains fills just those.
  const first = await getOk<LagOverview>('/admin/v1/lag?limit=2');
  for (const chain of first.chains) {
    expect(stable(chain)).toEqual(stable(overview.chains.find((c) => c.table === chain.table && c.chain === chain.chain)));
  }
});

test('one attached chain through the API and the command line agrees with the overview', async () => {
  const overview = await getOk<LagOverview>('/admin/v1/lag?limit=500');
  for (const [table, chain, argv] of [
    [ACTIVITY, SPACED, ['--chain', SPACED]],
    [ACTIVITY, UNICODE, ['--chain', UNICODE]],
    [ACTIVITY, 'null', ['--chain', 'null']],
    [ACTIVITY, 'acme', ['--chain', 'acme']],
    [SECURITY, 'all', []],
  ] as const) {
    const api = await getOk<ChainDetail>(detailUrl(table, chain));
    expectSchema('ChainDetail', api);
    const run = await cli(['lag', '--table', table, ...argv, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const fromCli = JSON.parse(run.stdout) as ChainDetail;
    expect(stable(fromCli)).toEqual(stable(api));
    expect(stable(api.chain)).toEqual(stable(overview.chains.find((c) => c.table === table && c.chain === chain)));
    expect(stable(api.table_lag)).toEqual(stable(overview.tables.find((t) => t.table === table)));
    // Its checkpoints, highest chain_seq first, from its own table's record.
    const cps = await recorded(table, api.chain.chain_key);
    expect(api.recent_checkpoints.map((cp) => cp.id)).toEqual(cps.map((cp) => cp.id));
    for (const cp of api.recent_checkpoints) expect(cp).toMatchObject({ table, chain, chain_key: api.chain.chain_key, org_id: null, key_id: 'detail-1' });
  }
  const spaced = await getOk<ChainDetail>(detailUrl(ACTIVITY, SPACED));
  expect(spaced.chain).toMatchObject({ table: ACTIVITY, chain: SPACED, pending_rows: 1, held_rows: expect.any(Number), sealed_rows: 7 });
  expect(spaced.chain.oldest_pending).toMatchObject({ chain_seq: expect.stringMatching(/^[0-9]+$/) });
  expect(spaced.recent_checkpoints.map((cp) => cp.sealed_count)).toEqual([5, 2]);
  // Text: the table and chain named, the checkpoint line, the table's horizon.
  const text = await cli(['lag', '--table', ACTIVITY, '--chain', SPACED]);
  expect(text.code).toBe(0);
  expect(text.stdout).toContain(`chain           ${ACTIVITY} ${SPACED}`);
  expect(text.stdout).toMatch(/checkpoint +#\d+ signed 2020-06-02T00:00:00\.000000Z .*2 rows sealed since/);
  expect(text.stdout).toContain(`${ACTIVITY}:`);
});

test("audit_logs named as a table gives the same detail as /admin/v1/lag/:orgId", async () => {
  const byOrg = await getOk<ChainDetail>(`/admin/v1/lag/${org}`);
  const byTable = await getOk<ChainDetail>(detailUrl(OWN, org));
  expectSchema('ChainDetail', byTable);
  expect(stable(byTable)).toEqual(stable(byOrg));
  expect(byTable.table_lag).toBeNull();
  expect(byTable.recent_checkpoints.length).toBeGreaterThan(0);
  for (const cp of byTable.recent_checkpoints) expect(cp).toMatchObject({ table: OWN, chain: org, chain_key: org, org_id: org });
  const run = await cli(['lag', '--table', OWN, '--chain', org, '--json']);
  expect(run.code).toBe(0);
  expect(stable(JSON.parse(run.stdout))).toEqual(stable(byOrg));
});

test('unknown tables and chains: 404 with the error body, exit 2 with one line', async () => {
  for (const [url, code] of [
    [detailUrl('public.nope', 'acme'), 'table_not_found'],
    [detailUrl('public.activity_log ', 'acme'), 'table_not_found'],
    [detailUrl(ACTIVITY, 'team a/b'), 'chain_not_found'],
    [detailUrl(ACTIVITY, 'all'), 'chain_not_found'],
    [detailUrl(SECURITY, 'acme'), 'chain_not_found'],
    [detailUrl(OWN, 'not-a-uuid'), 'chain_not_found'],
    [detailUrl(OWN, newOrgId()), 'chain_not_found'],
  ] as const) {
    const response = await get(url);
    expect(response.status, url).toBe(404);
    expect(response.body, url).toMatchObject({ error: code, message: expect.any(String) });
  }
  for (const [args, message] of [
    [['--table', 'public.nope'], /^.*no chained table public\.nope.*$/],
    [['--table', ACTIVITY, '--chain', 'team a/b'], /^.*no chain "team a\/b" in public\.activity_log.*$/],
    [['--table', ACTIVITY], /^.*no chain "all" in public\.activity_log \(give --chain <key>.*$/],
    [['--chain', 'acme'], /^.*--chain needs --table.*$/],
    [['--table', ACTIVITY, '--org', org], /^.*cannot be combined.*$/],
  ] as const) {
    const run = await cli(['lag', ...args]);
    expect(run.code, args.join(' ')).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(run.stderr.trimEnd()).toMatch(message);
  }
});

test('checkpoints of an attached table, and of one of its chains, newest first and paged', async () => {
  const all = await recorded(ACTIVITY, SPACED);
  const table = await getOk<CheckpointsPage>(`/admin/v1/checkpoints?table=${encodeURIComponent(ACTIVITY)}`);
  expectSchema('CheckpointsPage', table);
  const ids = (await db.pool.query<{ id: string }>(`select c.id::text from audit_chain_table_checkpoints c join audit_chain_tables t on t.id = c.table_id where t.table_name = 'activity_log' order by c.id desc`)).rows.map((r) => Number(r.id));
  expect(ids.length).toBeGreaterThanOrEqual(6);
  expect(table.checkpoints.map((cp) => cp.id)).toEqual(ids);
  expect(table.next_cursor).toBeNull();
  for (const cp of table.checkpoints) expect(cp).toMatchObject({ table: ACTIVITY, org_id: null, chain: cp.chain_key ?? 'null' });
  // Paged two at a time: the same rows, in the same order, no overlap.
  const paged: CheckpointRecord[] = [];
  let cursor: string | null = null;
  do {
    const page: CheckpointsPage = await getOk(`/admin/v1/checkpoints?table=${encodeURIComponent(ACTIVITY)}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
    paged.push(...page.checkpoints);
    cursor = page.next_cursor;
  } while (cursor);
  expect(paged.map((cp) => cp.id)).toEqual(ids);
  // One chain (a key with a space and a slash), in chain_seq order, paged one at a time.
  const chain = `/admin/v1/checkpoints?table=${encodeURIComponent(ACTIVITY)}&chain=${encodeURIComponent(SPACED)}`;
  const one = await getOk<CheckpointsPage>(chain);
  expect(one.checkpoints.map((cp) => cp.id)).toEqual(all.map((cp) => cp.id));
  expect(one.checkpoints.every((cp) => cp.chain_key === SPACED && cp.chain === SPACED)).toBe(true);
  const first = await getOk<CheckpointsPage>(`${chain}&limit=1`);
  expect(first.checkpoints.map((cp) => cp.id)).toEqual([all[0]!.id]);
  const second = await getOk<CheckpointsPage>(`${chain}&limit=1&cursor=${first.next_cursor}`);
  expect(second.checkpoints.map((cp) => cp.id)).toEqual([all[1]!.id]);
  expect(second.next_cursor).toBeNull();
  // The NULL key's chain, the keyless table's chain, a chain without checkpoints.
  const nullKey = await getOk<CheckpointsPage>(`/admin/v1/checkpoints?table=${ACTIVITY}&chain=null`);
  expect(nullKey.checkpoints.map((cp) => cp.id)).toEqual((await recorded(ACTIVITY, null)).map((cp) => cp.id));
  expect(nullKey.checkpoints.every((cp) => cp.chain_key === null)).toBe(true);
  const keyless = await getOk<CheckpointsPage>(`/admin/v1/checkpoints?table=${SECURITY}&chain=all`);
  expect(keyless.checkpoints.map((cp) => cp.id)).toEqual((await recorded(SECURITY, null)).map((cp) => cp.id));
  expect((await getOk<CheckpointsPage>(`/admin/v1/checkpoints?table=${ACTIVITY}&chain=nobody`)).checkpoints).toEqual([]);
});

test("the checkpoint listing without table is audit_logs' as before; bad filters are refused", async () => {
  const own = await getOk<CheckpointsPage>('/admin/v1/checkpoints');
  expectSchema('CheckpointsPage', own);
  const ownIds = (await db.pool.query<{ id: string }>('select id::text from audit_chain_checkpoints order by id desc')).rows.map((r) => Number(r.id));
  expect(own.checkpoints.map((cp) => cp.id)).toEqual(ownIds);
  for (const cp of own.checkpoints) expect(cp).toMatchObject({ table: OWN, chain_key: cp.org_id });
  const byOrg = await getOk<CheckpointsPage>(`/admin/v1/checkpoints?org=${org}`);
  expect(stable(await getOk(`/admin/v1/checkpoints?table=${OWN}&chain=${org}`))).toEqual(stable(byOrg));
  expect(byOrg.checkpoints.length).toBe(2);

  for (const [query, status, field] of [
    [`chain=acme`, 400, 'chain'],
    [`table=${ACTIVITY}&org=${org}`, 400, 'org'],
    [`table=`, 400, 'table'],
    [`table=public.nope`, 404, null],
    [`table=${SECURITY}&chain=acme`, 404, null],
    [`table=${OWN}&chain=acme`, 404, null],
  ] as const) {
    const response = await get(`/admin/v1/checkpoints?${query}`);
    expect(response.status, query).toBe(status);
    if (field) expect(response.body.details, query).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
    else expect(response.body.error, query).toMatch(/^(table|chain)_not_found$/);
  }
});

test("'null' names the NULL key's chain until the table has a chain whose key is the text 'null' (documented)", async () => {
  const before = await getOk<ChainDetail>(detailUrl(ACTIVITY, 'null'));
  expect(before.chain.chain_key).toBeNull();
  await activity('null', 2);
  await sealAll();
  const after = await getOk<ChainDetail>(detailUrl(ACTIVITY, 'null'));
  expect(after.chain).toMatchObject({ chain_key: 'null', sealed_rows: 2 });
  const listed = await getOk<CheckpointsPage>(`/admin/v1/checkpoints?table=${ACTIVITY}&chain=null`);
  expect(listed.checkpoints).toEqual([]);
});
