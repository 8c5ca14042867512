// The SQL of parallel verification: where a chain's segments end, and the rows
// of one segment in chain order. A segment is the rows of one chain with
// chain_seq in (afterSeq, uptoSeq] (uptoSeq null: to the chain's end); the
// segments of a chain, read in order, are exactly the rows streamChainRows
// reads, with the same columns.
import { CANONICAL_COLUMNS, CHAIN_COLUMNS } from '@audit-chain/sealing';

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
           select ${CANONICAL_COLUMNS}, ${CHAIN_COLUMNS},
                  exists (select 1 from audit_chain_redactions r where r.chain_seq = a.chain_seq and r.row_id = a.id) as redacted
             from audit_logs a
            where ${org} and a.chain_seq > $1::bigint${upto}
            order by a.org_id, a.chain_seq`,
    values,
  };
}
