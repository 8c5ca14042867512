// Erasure of personal columns from sealed rows of an attached table
// (audit-chain redact --table T). The personal columns are those `attach --pii`
// named, as recorded in the covered-column revision of the row; they are
// committed through the row's salted pii digest, so erasing them with the salt
// leaves the checksum and the links intact. The work and every check happen in
// audit_chain_redact_attached() (drizzle/0051_attached_redaction.sql), called
// as the redactor role: it refuses pending rows, rows already redacted and
// non-personal columns, records the redaction marker and an audit row in our
// audit_logs' system chain.
import type pg from 'pg';
import { withTransaction } from '@audit-chain/db';
import { LifecycleError } from '../errors.ts';
import { actAs } from '../roles.ts';
import { findAttachedTable } from '../attached-table.ts';

export interface RedactAttachedRequest {
  /** The attached table: "schema.table" or a name the search path finds. */
  table: string;
  /** The row: its chain_seq, or the value of its one-column primary key. */
  row: { chainSeq: string } | { id: string };
  /** Personal columns to erase; empty: every personal column of the row's revision. */
  fields: readonly string[];
  reason?: string | null;
}

export interface RedactAttachedResult {
  table: string;
  chainKey: string | null;
  chainSeq: string;
  /** The personal columns that held a value and were erased. */
  erased: string[];
  /** The audit row recording the redaction, in audit_logs' system chain. */
  auditRowId: string;
  auditChainSeq: string;
}

export async function redactAttachedRow(pool: pg.Pool, request: RedactAttachedRequest): Promise<RedactAttachedResult> {
  const table = await findAttachedTable(pool, request.table);
  const [by, value] = 'chainSeq' in request.row ? ['chain_seq', request.row.chainSeq] : ['id', request.row.id];
  if (by === 'chain_seq' && !/^[1-9]\d{0,18}$/.test(value)) throw new LifecycleError(`--seq: got ${JSON.stringify(value)}, want a positive integer`);
  return withTransaction(pool, async (client) => {
    await actAs(client, 'redactor');
    const result = await client.query<{ chain_seq: string; chain_key: string | null; erased: string[]; audit_row_id: string; audit_chain_seq: string }>(
      `select chain_seq::text, chain_key, erased, audit_row_id::text, audit_chain_seq::text
         from audit_chain_redact_attached($1::integer, $2, $3, $4::text[], $5)`,
      [table.id, by, value, [...new Set(request.fields)], request.reason ?? null],
    );
    const row = result.rows[0]!;
    return {
      table: `${table.schema}.${table.table}`,
      chainKey: row.chain_key,
      chainSeq: row.chain_seq,
      erased: row.erased,
      auditRowId: row.audit_row_id,
      auditChainSeq: row.audit_chain_seq,
    };
  });
}
