// The export query that docs/chain-format.md gives auditors ("Auditing an
// export without this project's code") must produce exactly the values the
// verifier hashes: run the query from the document itself and compare.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { AUDIT_LOGS_COLUMNS_V2, checkRowContent, type StoredRow } from '@audit-chain/chain';
import { streamChainRows } from '@audit-chain/sealing';
import { buildWorld, sealAll } from './support.ts';

const DOC = fileURLToPath(new URL('../../docs/chain-format.md', import.meta.url));

function documentedQuery(): string {
  const text = readFileSync(DOC, 'utf8');
  const section = text.slice(text.indexOf("### Auditing an export without this project's code"));
  const match = /```sql\n([\s\S]*?)```/.exec(section);
  if (!match) throw new Error('docs/chain-format.md: got no sql block in "Auditing an export", want the export query');
  return match[1]!.replace(/^ {3}/gm, '').trim().replace(/;$/, '');
}

interface Exported {
  id: string;
  org_id: string | null;
  chain_seq: string;
  occurred_at: string;
  recorded_at: string;
  actor_type: string;
  actor_id: string | null;
  actor_email: string | null;
  action: string;
  resource_type: string | null;
  resource_id: string | null;
  resource_name: string | null;
  details: string | null;
  ip_address: string | null;
  user_agent: string | null;
  result: string;
  error_message: string | null;
  prev_checksum: string | null;
  checksum: string | null;
  checksum_version: number | null;
  pii_digest: string | null;
  pii_salt: string | null;
  redacted: boolean;
}

describe('the auditor export query of the format document', () => {
  test('gives every row in the canonical text forms the verifier hashes, and those rows verify', async () => {
    const world = await buildWorld({ rows: 8 });
    await world.pool.query(`insert into audit_logs (org_id, actor_type, action, ip_address, details, error_message) values
      (null, 'api_key', 'odd.values', '2001:db8::/32', '{"n": 1.0, "big": 12345678901234567890, "s": "tab\\there \\\\ \\"q\\""}', '')`);
    // Sealed under v2, which v1 could not: a BC year, which the export must not write as a CE one.
    await world.pool.query(`insert into audit_logs (org_id, occurred_at, actor_type, action) values (null, '0001-01-01T00:00:00+15:00', 'user', 'bc.row')`);
    await sealAll(world.pool);
    const { rows } = await world.pool.query<{ json_build_object: Exported }>(documentedQuery());
    const exported = rows.map((row) => row.json_build_object);
    expect(exported.length).toBe(Number((await world.pool.query('select count(*) from audit_logs')).rows[0].count));

    const client = await world.pool.connect();
    try {
      let checked = 0;
      for (const chain of world.chains) {
        for await (const stored of streamChainRows(client, chain)) {
          const row = exported.find((e) => e.id === stored.id)!;
          const fromExport: StoredRow = {
            id: row.id,
            orgId: row.org_id,
            chainSeq: row.chain_seq,
            occurredAt: row.occurred_at,
            recordedAt: row.recorded_at,
            actorType: row.actor_type,
            actorId: row.actor_id,
            actorEmail: row.actor_email,
            action: row.action,
            resourceType: row.resource_type,
            resourceId: row.resource_id,
            resourceName: row.resource_name,
            details: row.details === null ? null : { json: JSON.parse(row.details) },
            ipAddress: row.ip_address,
            userAgent: row.user_agent,
            result: row.result,
            errorMessage: row.error_message,
            prevChecksum: row.prev_checksum,
            checksum: row.checksum,
            checksumVersion: row.checksum_version,
            piiDigest: row.pii_digest,
            piiSalt: row.pii_salt,
            redacted: row.redacted,
            v2Values: AUDIT_LOGS_COLUMNS_V2.map((column) => (row as unknown as Record<string, string | null>)[column.name]!),
          };
          expect(fromExport).toEqual(stored);
          if (stored.checksum !== null) {
            expect(checkRowContent(fromExport), `row ${stored.chainSeq}`).toBeNull();
            checked += 1;
          }
        }
      }
      const sealed = await world.pool.query<{ n: number }>('select count(*)::int as n from audit_logs where checksum is not null');
      expect(checked).toBe(sealed.rows[0]!.n);
      expect(checked).toBeGreaterThan(4 * 24);
    } finally {
      client.release();
    }
  });
});
