// The lag views must never scan audit_logs: on a table of realistic shape
// (many rows, several chains, analyzed), every query that touches it is planned
// as index probes, by the planner's own choice.
import { beforeAll, expect, test } from 'vitest';
import { sealOnce } from '@audit-chain/sealing';
import { createTestDatabase } from '../../../test/support/database.ts';
import { insertRows, newOrgId } from '../../../test/support/audit-rows.ts';
import {
  ABOVE_DISCOVERED_PLANNER,
  NO_CHAIN_INPUTS,
  readChain,
  readChainPage,
  readFirstRowAbove,
  readFirstRowOfChain,
  readOldestPendingOfChains,
} from './chain-queries.ts';
import { DEFAULT_ABOVE_DISCOVERED_WINDOW } from './options.ts';
import { readHeldRowsPerChain } from './held-rows.ts';
import { withPlannerSettings } from './snapshot.ts';
import type { Query } from './sql.ts';

const db = await createTestDatabase();
const orgs = Array.from({ length: 40 }, newOrgId);

beforeAll(async () => {
  // 40 chains x 1,000 rows, interleaved like concurrent tenants; most sealed,
  // then a pending tail in every chain.
  for (let round = 0; round < 10; round += 1) {
    for (const org of orgs) await insertRows(db.pool, org, 100);
  }
  await insertRows(db.pool, null, 200);
  await sealOnce(db.pool, { batchSize: 5000, waitMs: 1000, pollMs: 20 });
  for (const org of orgs) await insertRows(db.pool, org, 20);
  await db.pool.query('analyze');
}, 180_000);

/** The plan, under the planner settings the lag views use for that query (none unless given). */
async function plan(query: Query, settings: Record<string, 'on' | 'off'> = {}): Promise<string> {
  const client = await db.pool.connect();
  try {
    await client.query('begin');
    const result = await withPlannerSettings(client, settings, () =>
      client.query<{ 'QUERY PLAN': string }>({ text: `explain ${query.text}`, values: query.values }),
    );
    return result.rows.map((row) => row['QUERY PLAN']).join('\n');
  } finally {
    await client.query('rollback');
    client.release();
  }
}

/** Every node that reads audit_logs, e.g. "Index Scan using audit_logs_org_chain_seq_idx on audit_logs a". */
function auditLogsAccess(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => / on audit_logs\b/.test(line))
    .map((line) => line.trim().replace(/^->\s*/, '').replace(/\s+\(cost=.*$/, ''));
}

function expectOnlyIndexProbes(text: string): void {
  const access = auditLogsAccess(text);
  expect(access.length, text).toBeGreaterThan(0);
  for (const node of access) {
    expect(node, text).not.toMatch(/Seq Scan/);
    expect(node, text).toMatch(/^(Index Scan|Index Only Scan|Bitmap Heap Scan)/);
  }
  // The (org_id, chain_seq) index bounded by chain_seq alone would be read whole.
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (!/(Index Scan|Index Only Scan|Bitmap Index Scan)( using| on) audit_logs_org_chain_seq_idx/.test(line)) return;
    const cond = lines.slice(i + 1).find((next) => /Index Cond:/.test(next)) ?? '';
    expect(cond, text).toMatch(/org_id (=|IS NULL)/);
  });
}

/**
 * A probe must stop at its first row: a Sort directly over an audit_logs scan
 * means every pending row of a chain is read to find the first one.
 */
function expectNoSortOverAuditLogs(text: string): void {
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    if (!/ on audit_logs\b/.test(line)) return;
    const parent = lines.slice(0, i).reverse().find((above) => above.trim().startsWith('->') && indent(above) < indent(line));
    const grandparent = parent && lines.slice(0, lines.indexOf(parent)).reverse().find((above) => indent(above) < indent(parent));
    expect(`${parent ?? ''} / ${grandparent ?? ''}`, text).not.toMatch(/Sort {2}\(/);
  });
}

const indent = (line: string) => line.length - line.trimStart().length;

test('the overview page probes audit_logs through the (org_id, chain_seq) index, once per chain shown', async () => {
  const text = await plan(readChainPage(50, NO_CHAIN_INPUTS));
  expectOnlyIndexProbes(text);
  expect(text).toMatch(/Index (Only )?Scan using audit_logs_org_chain_seq_idx on audit_logs/);
  expect(text).toMatch(/Index Cond: \(\(org_id = \w+\.org_id\) AND \(chain_seq > \w+\.watermark_seq\)\)/);
  expect(text).toMatch(/Index Cond: \(\(org_id IS NULL\) AND \(chain_seq > \w+\.watermark_seq\)\)/);
  expectNoSortOverAuditLogs(text);
});

test('one chain, and a chain not discovered yet, are index probes too', async () => {
  expectOnlyIndexProbes(await plan(readChain(orgs[3]!, { held: [[orgs[3]!], ['2'], ['2026-01-01T00:00:00Z']], broken: [] })));
  expectOnlyIndexProbes(await plan(readChain(null, NO_CHAIN_INPUTS)));
  const first = await plan(readFirstRowOfChain(orgs[5]!));
  expectOnlyIndexProbes(first);
  expect(first).toMatch(/Index Cond: \(org_id = '/);
});

test('the overall oldest pending row: one probe per candidate chain and a bounded range above the discovered position', async () => {
  const candidates = await plan(readOldestPendingOfChains(100));
  expectOnlyIndexProbes(candidates);
  expect(candidates).toMatch(/Index Cond: \(\(org_id = \w+\.org_id\) AND \(chain_seq > \w+\.watermark_seq\)\)/);
  expectNoSortOverAuditLogs(candidates);

  const discovered = (await db.pool.query<{ d: string }>('select discovered_seq::text as d from audit_chain_progress')).rows[0]!.d;
  for (const query of [
    readFirstRowAbove(BigInt(discovered), DEFAULT_ABOVE_DISCOVERED_WINDOW),
    readHeldRowsPerChain(BigInt(discovered), BigInt(discovered) + DEFAULT_ABOVE_DISCOVERED_WINDOW),
  ]) {
    const above = await plan(query, ABOVE_DISCOVERED_PLANNER);
    expectOnlyIndexProbes(above);
    expect(above).toMatch(/Bitmap Index Scan on audit_logs_chain_seq_brin/);
    expect(above).not.toMatch(/audit_logs_org_chain_seq_idx/);
  }
});
