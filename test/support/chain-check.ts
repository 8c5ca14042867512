// An independent check of every chain in a test database, used by tests until
// (and beside) the verifier: links hold, checksums recompute, and the watermark
// matches the sealed rows.
import type pg from 'pg';
import { AUDIT_LOGS_V2, GENESIS_PREV_CHECKSUM, personalDigest, rowChecksum } from '@audit-chain/chain';
import { CANONICAL_COLUMNS, toRowContent, v2ValuesOf, type CanonicalRow } from '@audit-chain/sealing';

export interface ChainCheck {
  rows: number;
  sealed: number;
  pending: number;
  chains: number;
  problems: string[];
}

export async function checkAllChains(pool: pg.Pool): Promise<ChainCheck> {
  const rows = (
    await pool.query<CanonicalRow & { prev_checksum: string | null; checksum: string | null; pii_digest: string | null; pii_salt: string | null; checksum_version: number | null; watermark_seq: string | null }>(
      `select ${CANONICAL_COLUMNS}, a.prev_checksum, a.checksum, a.pii_digest, a.pii_salt, a.checksum_version, s.watermark_seq::text
         from audit_logs a
         left join audit_chain_state s
           on coalesce(s.org_id, '00000000-0000-0000-0000-000000000000'::uuid) = coalesce(a.org_id, '00000000-0000-0000-0000-000000000000'::uuid)
        order by a.org_id nulls first, a.chain_seq`,
    )
  ).rows;
  const problems: string[] = [];
  const heads = new Map<string, string>();
  let sealed = 0;
  for (const row of rows) {
    const key = row.org_id ?? 'system';
    const watermark = BigInt(row.watermark_seq ?? '0');
    const isSealed = BigInt(row.chain_seq) <= watermark;
    if (!isSealed) continue;
    sealed += 1;
    if (row.checksum === null || row.prev_checksum === null || row.pii_salt === null || row.pii_digest === null) {
      problems.push(`${key} #${row.chain_seq}: below the watermark without links`);
      continue;
    }
    const expectedPrev = heads.get(key) ?? GENESIS_PREV_CHECKSUM;
    if (row.prev_checksum !== expectedPrev) problems.push(`${key} #${row.chain_seq}: prev_checksum got ${row.prev_checksum}, want ${expectedPrev}`);
    let digest: string;
    let checksum: string;
    if (row.checksum_version === 2) {
      const values = v2ValuesOf(row);
      digest = AUDIT_LOGS_V2.personalDigest(values, row.pii_salt);
      checksum = AUDIT_LOGS_V2.checksum({ chainKey: row.org_id, chainSeq: row.chain_seq, values }, { prevChecksum: row.prev_checksum, piiDigest: digest });
    } else {
      const content = toRowContent(row);
      digest = personalDigest(content, row.pii_salt);
      checksum = rowChecksum(content, row.prev_checksum, digest);
    }
    if (digest !== row.pii_digest) problems.push(`${key} #${row.chain_seq}: pii_digest got ${row.pii_digest}, want ${digest}`);
    if (checksum !== row.checksum) problems.push(`${key} #${row.chain_seq}: checksum got ${row.checksum}, want ${checksum}`);
    heads.set(key, row.checksum);
  }
  const states = (await pool.query<{ org_id: string | null; head_checksum: string | null; sealed_count: string }>(
    'select org_id::text, head_checksum, sealed_count::text from audit_chain_state',
  )).rows;
  for (const state of states) {
    const key = state.org_id ?? 'system';
    if ((heads.get(key) ?? null) !== state.head_checksum) problems.push(`${key}: state head ${state.head_checksum}, rows end at ${heads.get(key) ?? null}`);
  }
  const chains = new Set(rows.map((row) => row.org_id ?? 'system')).size;
  return { rows: rows.length, sealed, pending: rows.length - sealed, chains, problems };
}

/** Rows above their chain's watermark (pending), counted from the rows themselves. */
export async function pendingCount(pool: pg.Pool): Promise<number> {
  const result = await pool.query<{ n: number }>(
    `select count(*)::int as n from audit_logs a
      where a.chain_seq > coalesce((select s.watermark_seq from audit_chain_state s
             where coalesce(s.org_id, '00000000-0000-0000-0000-000000000000'::uuid)
                 = coalesce(a.org_id, '00000000-0000-0000-0000-000000000000'::uuid)), 0)`,
  );
  return result.rows[0]!.n;
}
