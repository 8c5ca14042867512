// Lists one chain's events, newest first, a page at a time. Walks the
// (org_id, chain_seq) index backwards from the cursor.
import { parse } from 'lossless-json';
import type { Pool } from '@audit-chain/db';
import { isoTimestamp, type Statement } from './sql.ts';

export interface ListedEvent {
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
  details: unknown;
  ip_address: string | null;
  user_agent: string | null;
  result: string;
  error_message: string | null;
  /** The row is at or below its chain's watermark: the sealer has linked it. */
  sealed: boolean;
}

export interface ListQuery {
  /** null is the system chain. */
  orgId: string | null;
  /** Only rows with a lower chain_seq (the previous page's last row). */
  beforeSeq: string | undefined;
  limit: number;
}

/**
 * `sealed` compares chain_seq with the chain's watermark and deliberately
 * ignores the row's checksum column: a privileged connection can write a
 * checksum, but only sealing moves the watermark. The watermark is read in the
 * same statement, hence the same snapshot, as the rows. Fetches one row more
 * than the page to know whether another page follows.
 *
 * ip_address is left to inet's output function (node-pg passes it through as
 * text); a ::text cast would append "/32". Ordering by org_id too changes
 * nothing within one chain, but lets the planner serve `org_id is null` (which
 * it does not treat as an equality for ordering) from a backward index scan
 * instead of sorting the whole system chain.
 */
export function listAuditEventsStatement(query: ListQuery): Statement {
  const values: unknown[] = query.orgId === null ? [] : [query.orgId];
  // `org_id = $1` cannot match NULL, and `is not distinct from` cannot use the index: two spellings.
  const chain = (column: string) => (query.orgId === null ? `${column} is null` : `${column} = $1`);
  let before = '';
  if (query.beforeSeq !== undefined) {
    values.push(query.beforeSeq);
    before = ` and l.chain_seq < $${values.length}::bigint`;
  }
  values.push(query.limit + 1);
  const limit = `$${values.length}`;
  return {
    text: `with state as (select watermark_seq from audit_chain_state where ${chain('org_id')})
select l.id, l.org_id, l.chain_seq,
  ${isoTimestamp('l.occurred_at')} as occurred_at, ${isoTimestamp('l.recorded_at')} as recorded_at,
  l.actor_type, l.actor_id, l.actor_email, l.action, l.resource_type, l.resource_id, l.resource_name,
  l.details::text as details, l.ip_address, l.user_agent, l.result, l.error_message,
  l.chain_seq <= coalesce((select watermark_seq from state), 0) as sealed
from audit_logs l
where ${chain('l.org_id')}${before}
order by l.org_id desc, l.chain_seq desc
limit ${limit}`,
    values,
  };
}

export interface EventPage {
  events: ListedEvent[];
  /** chain_seq of the page's last row when more rows follow, else undefined. */
  lastSeq: string | undefined;
}

export async function listAuditEvents(pool: Pool, query: ListQuery): Promise<EventPage> {
  const result = await pool.query<Omit<ListedEvent, 'details'> & { details: string | null }>(listAuditEventsStatement(query));
  // details as jsonb's text, parsed losslessly: numbers keep every digit and their
  // scale (9007199254740993, 1.0), as stored and as hashed; the route writes them back as they are.
  const rows: ListedEvent[] = result.rows.map((row) => ({ ...row, details: row.details === null ? null : parse(row.details) }));
  const more = rows.length > query.limit;
  const events = more ? rows.slice(0, query.limit) : rows;
  return { events, lastSeq: more ? events[events.length - 1]?.chain_seq : undefined };
}
