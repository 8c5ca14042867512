// Inserts audit events: plain multi-row INSERTs that compute no hash, read no
// other row and take no lock of their own (DESIGN.md, "Insert path"). The
// database assigns chain_seq and recorded_at; chain columns stay NULL until the
// sealer fills them.
import { randomUUID } from 'node:crypto';
import { withTransaction, type Pool } from '@audit-chain/db';
import type { AuditEventInput } from '../event-schema.ts';
import { stringifyJson } from '../json-body.ts';
import type { Statement } from './sql.ts';

export interface CreatedEvent {
  id: string;
  /** A string: bigint exceeds JavaScript's safe integers. */
  chain_seq: string;
  recorded_at: string;
}

const COLUMNS = [
  'id', 'org_id', 'occurred_at', 'actor_type', 'actor_id', 'actor_email', 'action', 'resource_type',
  'resource_id', 'resource_name', 'details', 'ip_address', 'user_agent', 'result', 'error_message',
] as const;

/** Columns whose default applies when the client leaves them out (occurred_at = now(), result = 'success'). */
const DEFAULTED = new Set<string>(['occurred_at', 'result']);

/** 15 parameters a row: stays well under PostgreSQL's 65,535 bind parameters. */
export const ROWS_PER_STATEMENT = 2000;

/**
 * Every event gets its id here (the client's, or a new v4 UUID like the column
 * default would give) so the created rows can be returned in request order
 * without relying on the order of RETURNING.
 */
export function withIds(events: AuditEventInput[]): (AuditEventInput & { id: string })[] {
  return events.map((event) => ({ ...event, id: event.id?.toLowerCase() ?? randomUUID() }));
}

export function insertAuditEventsStatement(events: (AuditEventInput & { id: string })[]): Statement {
  const values: unknown[] = [];
  const rows = events.map((event) => {
    const cells = COLUMNS.map((column) => {
      const value = event[column];
      if (value === undefined && DEFAULTED.has(column)) return 'DEFAULT';
      values.push(column === 'details' && value != null ? stringifyJson(value) : (value ?? null));
      return `$${values.length}`;
    });
    return `(${cells.join(', ')})`;
  });
  return {
    text:
      `insert into audit_logs (${COLUMNS.join(', ')}) values ${rows.join(', ')} ` +
      // Only immutable expressions in RETURNING (Citus refuses others on a distributed
      // table, and to_char is not): recorded_at as epoch microseconds, formatted here.
      `returning id, chain_seq::text as chain_seq, (extract(epoch from recorded_at - timestamptz 'epoch') * 1000000)::bigint::text as recorded_us`,
    values,
  };
}

/**
 * All rows or none: one statement when the batch fits in one, otherwise one
 * transaction. Resolves only after COMMIT, so a created event is durable.
 */
export async function insertAuditEvents(pool: Pool, events: AuditEventInput[]): Promise<CreatedEvent[]> {
  const identified = withIds(events);
  const chunks: (typeof identified)[] = [];
  for (let i = 0; i < identified.length; i += ROWS_PER_STATEMENT) chunks.push(identified.slice(i, i + ROWS_PER_STATEMENT));

  const created: CreatedEvent[] =
    chunks.length === 1
      ? (await pool.query<InsertedRow>(insertAuditEventsStatement(chunks[0]!))).rows.map(toCreatedEvent)
      : await withTransaction(pool, async (client) => {
          const rows: CreatedEvent[] = [];
          for (const chunk of chunks) rows.push(...(await client.query<InsertedRow>(insertAuditEventsStatement(chunk))).rows.map(toCreatedEvent));
          return rows;
        });

  const byId = new Map(created.map((row) => [row.id, row]));
  return identified.map((event) => {
    const row = byId.get(event.id);
    if (!row) throw new Error(`insert returned no row for id ${event.id}: got ${created.length} rows, want ${identified.length}`);
    return row;
  });
}

interface InsertedRow {
  id: string;
  chain_seq: string;
  recorded_us: string;
}

/** recorded_at as ISO 8601 with microseconds, UTC (the listing's format: isoTimestamp). */
export function isoFromEpochMicros(micros: bigint): string {
  const millis = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
  const rest = micros - millis * 1000n;
  return new Date(Number(millis)).toISOString().replace(/Z$/, `${rest.toString().padStart(3, '0')}Z`);
}

function toCreatedEvent(row: InsertedRow): CreatedEvent {
  return { id: row.id, chain_seq: row.chain_seq, recorded_at: isoFromEpochMicros(BigInt(row.recorded_us)) };
}
