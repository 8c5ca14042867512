// The segments of parallel verification: where a chain's segments end. A
// segment is the rows of one chain with chain_seq in (afterSeq, uptoSeq]
// (uptoSeq null: to the chain's end); the segments of a chain, read in order,
// are exactly the rows streamChainRows reads (raw-segment.ts reads them).
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
