// The SQL of parallel verification: where a chain's segments end, and the rows
// of one segment in chain order. A segment is the rows of one chain with
// chain_seq in (afterSeq, uptoSeq] (uptoSeq null: to the chain's end); the
// segments of a chain, read in order, are exactly the rows streamChainRows
// reads. Each row's content is read only in the format its checksum_version
// names (the v2 texts for a v2 row, the v1 members otherwise), which is all
// checkRowContent reads of it: rendering both cost PostgreSQL a third more.
import { AUDIT_LOGS_COLUMNS_V2, columnValueSql, valueSql } from '@audit-chain/chain';
import { CHAIN_COLUMNS } from '@audit-chain/sealing';

const V2_ROW = 'a.checksum_version = 2';

/** The v1 members of a row (packages/sealing/src/rows.ts, CANONICAL_COLUMNS) other than id, org_id and chain_seq. */
const V1_MEMBERS: readonly [expression: string, name: string][] = [
  [valueSql('a.occurred_at', 'timestamp with time zone'), 'occurred_at'],
  [valueSql('a.recorded_at', 'timestamp with time zone'), 'recorded_at'],
  ...['actor_type', 'actor_id', 'actor_email', 'action', 'resource_type', 'resource_id', 'resource_name'].map((name): [string, string] => [`a.${name}`, name]),
  ['a.details::text', 'details'],
  ...['ip_address', 'user_agent', 'result', 'error_message'].map((name): [string, string] => [`a.${name}`, name]),
];

/** What a segment reads of each row: the same names as CANONICAL_COLUMNS, the content under its own format only. */
export const SEGMENT_COLUMNS = [
  ...AUDIT_LOGS_COLUMNS_V2.map((column, index) => `case when ${V2_ROW} then ${columnValueSql(column, 'a')} end as v2_${index}`),
  'a.id::text as id',
  'a.org_id::text as org_id',
  'a.chain_seq',
  ...V1_MEMBERS.map(([expression, name]) => `case when not (${V2_ROW}) or a.checksum_version is null then ${expression} end as ${name}`),
].join(',\n  ');

export interface Query {
  text: string;
  values: unknown[];
}

export interface Segment {
  orgId: string | null;
  /** Decimal chain_seq the segment starts after. */
  afterSeq: string;
  /** Decimal chain_seq of the segment's last row; null: the rest of the chain. */
  uptoSeq: string | null;
}

function orgClause(orgId: string | null, values: unknown[]): string {
  if (orgId === null) return 'a.org_id is null';
  values.push(orgId);
  return `a.org_id = $${values.length}::uuid`;
}

/** chain_seq of the `rows`-th row of the chain after `afterSeq` (none: fewer rows are left). Walks the (org_id, chain_seq) index. */
export function segmentEnd(orgId: string | null, afterSeq: string, rows: number): Query {
  const values: unknown[] = [afterSeq, rows - 1];
  const org = orgClause(orgId, values);
  return {
    text: `select a.chain_seq from audit_logs a where ${org} and a.chain_seq > $1::bigint order by a.org_id, a.chain_seq offset $2 limit 1`,
    values,
  };
}

/** A no-scroll cursor over a segment's rows, in chain order, with what verification reads of each. */
export function declareSegmentCursor(cursor: string, segment: Segment): Query {
  const values: unknown[] = [segment.afterSeq];
  const org = orgClause(segment.orgId, values);
  let upto = '';
  if (segment.uptoSeq !== null) {
    values.push(segment.uptoSeq);
    upto = ` and a.chain_seq <= $${values.length}::bigint`;
  }
  return {
    text: `declare ${cursor} no scroll cursor for
           select ${SEGMENT_COLUMNS}, ${CHAIN_COLUMNS},
                  exists (select 1 from audit_chain_redactions r where r.chain_seq = a.chain_seq and r.row_id = a.id) as redacted
             from audit_logs a
            where ${org} and a.chain_seq > $1::bigint${upto}
            order by a.org_id, a.chain_seq`,
    values,
  };
}
