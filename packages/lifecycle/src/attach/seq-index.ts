// The index attach gives an attached table's chain_seq. The sealer reads each
// chain's pending rows as `chain_seq > watermark and chain_seq <= horizon` (and
// the chain key), retention deletes `chain_seq <= cut`, redaction finds a row by
// chain_seq; without an index each of them reads the whole table, every round.
// chain_seq comes from an identity sequence, so new rows arrive in chain_seq
// order and a BRIN index (min/max per block range) describes them almost
// exactly, at a fraction of a B-tree's cost to every insert (DESIGN.md: "a BRIN
// index on chain_seq is nearly free to maintain"; docs/benchmarks.md,
// attach-insert, measures it). A (chain key, chain_seq) B-tree would find one
// chain's rows more precisely, but the sealer's chain filter
// (`key::text is not distinct from $n`) cannot use one, and its cost is paid by
// every writer of the product. Built CONCURRENTLY, so the product's inserts
// never wait for it; an attempt that was interrupted leaves an INVALID index,
// which is dropped and built again.
import type pg from 'pg';
import { quoteIdent } from '../roles.ts';
import { quoteQualified } from './inspect.ts';

const PAGES_PER_RANGE = 16;

/** Our index on the table's chain_seq: named after the registry id, so no product name can collide with it. */
export function seqIndexName(tableId: number): string {
  return `audit_chain_${tableId}_seq_brin`;
}

/** Creates the index unless a valid one exists; returns what it did, as lines for the operator. */
export async function createSeqIndex(pool: pg.Pool, tableId: number, schema: string, table: string, seqColumn: string): Promise<string[]> {
  const name = seqIndexName(tableId);
  const qualified = quoteQualified(schema, name);
  const existing = await pool.query<{ valid: boolean }>('select i.indisvalid as valid from pg_index i where i.indexrelid = to_regclass($1)', [qualified]);
  if (existing.rows[0]?.valid) return [];
  const lines: string[] = [];
  if (existing.rows[0]) {
    await pool.query(`drop index concurrently if exists ${qualified}`);
    lines.push(`dropped the invalid index ${schema}.${name} an interrupted build left`);
  }
  // autosummarize: block ranges are summarized as they fill, not only by VACUUM.
  // pages_per_range 16 (not 128): measured, the sealer's batch read 2,160 buffers
  // against 3,342 with 128 (a B-tree: 1,978), and the range left partly filled at
  // build time, whose summary every insert widens (WAL), is 8 times shorter.
  await pool.query(
    `create index concurrently if not exists ${quoteIdent(name)} on ${quoteQualified(schema, table)} using brin (${quoteIdent(seqColumn)}) with (autosummarize = on, pages_per_range = ${PAGES_PER_RANGE})`,
  );
  lines.push(`created the BRIN index ${schema}.${name} on ${seqColumn} (concurrently)`);
  return lines;
}
