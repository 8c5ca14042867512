// Erasure of personal data from sealed rows (audit-chain redact). The work and
// every check happen in audit_chain_redact() (drizzle/0016_erasure.sql), called
// as the redactor role: it erases actor_email, ip_address, user_agent and
// pii_salt, keeps pii_digest and the links, records the redaction marker and
// writes an audit row into the same chain saying who, what and why.
import type pg from 'pg';
import { withTransaction } from '@audit-chain/db';
import { LifecycleError } from '../errors.ts';
import { actAs } from '../roles.ts';

export const PERSONAL_FIELDS = ['actor_email', 'ip_address', 'user_agent'] as const;
export type PersonalField = (typeof PERSONAL_FIELDS)[number];

export interface RedactRequest {
  rowId: string;
  fields: readonly string[];
  reason?: string | null;
}

export interface RedactResult {
  rowId: string;
  chainSeq: string;
  orgId: string | null;
  /** The fields that held a value and were erased. */
  erased: PersonalField[];
  /** The audit row recording the redaction, in the same chain. */
  auditRowId: string;
  auditChainSeq: string;
}

/** Validates the field list: personal fields only, each once. */
export function parseFields(fields: readonly string[]): PersonalField[] {
  const known = new Set<string>(PERSONAL_FIELDS);
  const unknown = fields.filter((field) => !known.has(field));
  if (unknown.length > 0) {
    throw new LifecycleError(`--fields: got ${unknown.join(', ')}, want some of ${PERSONAL_FIELDS.join(', ')} (only personal fields can be erased; content stays covered by the checksum)`);
  }
  if (fields.length === 0) throw new LifecycleError(`--fields: got none, want some of ${PERSONAL_FIELDS.join(', ')}`);
  return [...new Set(fields)] as PersonalField[];
}

export async function redactRow(pool: pg.Pool, request: RedactRequest): Promise<RedactResult> {
  const fields = parseFields(request.fields);
  return withTransaction(pool, async (client) => {
    await actAs(client, 'redactor');
    const result = await client.query<{ chain_seq: string; org_id: string | null; erased: PersonalField[]; audit_row_id: string; audit_chain_seq: string }>(
      `select chain_seq::text, org_id::text, erased, audit_row_id::text, audit_chain_seq::text
         from audit_chain_redact($1::uuid, $2::text[], $3::text)`,
      [request.rowId, fields, request.reason ?? null],
    );
    const row = result.rows[0]!;
    return {
      rowId: request.rowId,
      chainSeq: row.chain_seq,
      orgId: row.org_id,
      erased: row.erased,
      auditRowId: row.audit_row_id,
      auditChainSeq: row.audit_chain_seq,
    };
  });
}
