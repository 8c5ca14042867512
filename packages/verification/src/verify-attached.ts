// Verification of attached tables' chains (format v2): every row up to each
// chain's watermark is sealed, links to the previous row of its chain, and its
// checksum and personal digest recompute from the row's values under the
// covered column set of its revision; the head matches the chain's state; a
// row sealed above the watermark, or a chain whose table drifted, is reported.
import type pg from 'pg';
import Tinypool from 'tinypool';
import {
  GENESIS_PREV_CHECKSUM,
  checkRowV2,
  formatV2Layout,
  quoteIdent,
  selectListV2,
  valuesFromResult,
  type CoveredColumn,
  type FormatV2Layout,
  type ProblemV2,
  type StoredRowV2,
} from '@audit-chain/chain';
import type { AttachedRowsTask } from './attached-rows-worker.ts';
import { PARALLEL_MIN_ROWS } from './verify-parallel.ts';
import { withTransaction } from '@audit-chain/db';
import { chainLabel, listChainedTables, qualifiedName, type ChainedTable } from '@audit-chain/sealing';

export interface AttachedBreak {
  /** "schema.table chain <key>" */
  chain: string;
  kind: 'content_changed' | 'link_broken' | 'unsealed_below_watermark' | 'head_mismatch' | 'sealed_above_watermark' | 'drifted';
  chainSeq: string | null;
  message: string;
}

export interface AttachedChainReport {
  chain: string;
  rows: number;
  sealed: number;
  pending: number;
}

export interface AttachedVerifyReport {
  ok: boolean;
  chains: AttachedChainReport[];
  breaks: AttachedBreak[];
}

export interface AttachedVerifyOptions {
  table?: string;
  /** Check rows' content on this many worker threads (the report is the same); undefined or 1: on this thread. */
  threads?: number;
  /** Rows per FETCH, and per batch handed to a thread (default 2,000). */
  fetchSize?: number;
  /** Below this many rows (the tables' planner estimates) the threads are not started (default PARALLEL_MIN_ROWS; 0: always). */
  minRows?: number;
}

export async function verifyAttachedTables(pool: pg.Pool, options: AttachedVerifyOptions = {}): Promise<AttachedVerifyReport> {
  const report: AttachedVerifyReport = { ok: true, chains: [], breaks: [] };
  const tables = (await listChainedTables(pool)).filter((table) => !options.table || options.table === `${table.schema}.${table.table}` || options.table === table.table);
  const threaded = (options.threads ?? 1) > 1 && tables.length > 0 && (await estimatedRows(pool, tables)) >= (options.minRows ?? PARALLEL_MIN_ROWS);
  const checker = threaded ? threadChecker(options.threads!) : INLINE_CHECKER;
  try {
    for (const table of tables) {
      if (table.status === 'drifted') report.breaks.push({ chain: `${table.schema}.${table.table}`, kind: 'drifted', chainSeq: null, message: table.drift ?? 'the table drifted' });
      await verifyTable(pool, table, report, checker, options.fetchSize ?? FETCH);
    }
  } finally {
    await checker.close();
  }
  report.ok = report.breaks.length === 0;
  return report;
}

/** The planner's row estimate of the tables (pg_class.reltuples; -1, never analyzed, counts as 0). */
async function estimatedRows(pool: pg.Pool, tables: readonly ChainedTable[]): Promise<number> {
  const result = await pool.query<{ rows: number }>(
    'select coalesce(sum(greatest(c.reltuples, 0)), 0)::float8 as rows from pg_class c where c.oid = any($1::regclass[])',
    [tables.map(qualifiedName)],
  );
  return result.rows[0]!.rows;
}

type AttachedRow = Record<string, unknown> & { seq: string; chain_key: string | null; prev: string | null; checksum: string | null; digest: string | null; salt: string | null };

const FETCH = 2000;

/** Content checks of a batch of rows (null entries are not checked), and how many batches may run ahead of the one replayed. */
interface ContentChecker {
  ahead: number;
  check(covered: readonly CoveredColumn[], layout: FormatV2Layout, rows: (StoredRowV2 | null)[]): Promise<(ProblemV2 | null)[]>;
  close(): Promise<void>;
}

const INLINE_CHECKER: ContentChecker = {
  ahead: 0,
  check: async (_covered, layout, rows) => rows.map((row) => (row === null ? null : checkRowV2(layout, row))),
  close: async () => {},
};

function threadChecker(threads: number): ContentChecker {
  const pool = new Tinypool({ filename: new URL('./attached-rows-worker.ts', import.meta.url).href, minThreads: threads, maxThreads: threads });
  return {
    ahead: threads * 2,
    check: (covered, _layout, rows) => pool.run({ covered, rows } satisfies AttachedRowsTask) as Promise<(ProblemV2 | null)[]>,
    close: () => pool.destroy(),
  };
}

function storedRow(row: AttachedRow, columns: number): StoredRowV2 {
  return {
    chainKey: row.chain_key,
    chainSeq: row.seq,
    values: valuesFromResult(row, columns),
    prevChecksum: row.prev as string,
    checksum: row.checksum as string,
    piiDigest: row.digest,
    piiSalt: row.salt,
    redacted: false,
  };
}

async function verifyTable(pool: pg.Pool, table: ChainedTable, report: AttachedVerifyReport, checker: ContentChecker, fetchSize: number): Promise<void> {
  const seq = quoteIdent(table.seqColumn);
  const keyed = table.chainKey !== null;
  const key = keyed ? `t.${quoteIdent(table.chainKey!)}::text` : 'null::text';
  const states = new Map(
    (await pool.query<{ chain_key: string | null; watermark_seq: string; head_checksum: string | null }>(
      'select chain_key, watermark_seq::text, head_checksum from audit_chain_table_state where table_id = $1',
      [table.id],
    )).rows.map((row) => [row.chain_key, row]),
  );
  // One pass per revision, in chain order, streamed through a cursor; the chains' heads carried across.
  const heads = new Map<string | null, { checksum: string; report: AttachedChainReport; watermark: bigint }>();
  const chainOf = (chainKey: string | null) => {
    let head = heads.get(chainKey);
    if (!head) {
      const label = chainLabel(table, chainKey, keyed);
      head = { checksum: GENESIS_PREV_CHECKSUM, report: { chain: label, rows: 0, sealed: 0, pending: 0 }, watermark: BigInt(states.get(chainKey)?.watermark_seq ?? '0') };
      heads.set(chainKey, head);
      report.chains.push(head.report);
    }
    return head;
  };
  const step = (row: AttachedRow, problem: ProblemV2 | null) => {
    const head = chainOf(row.chain_key);
    head.report.rows += 1;
    const s = BigInt(row.seq);
    const label = head.report.chain;
    if (row.checksum === null || row.prev === null) {
      if (s <= head.watermark) report.breaks.push({ chain: label, kind: 'unsealed_below_watermark', chainSeq: row.seq, message: `row ${row.seq} is at or below the watermark ${head.watermark} but not sealed` });
      else head.report.pending += 1;
      return;
    }
    head.report.sealed += 1;
    if (s > head.watermark) report.breaks.push({ chain: label, kind: 'sealed_above_watermark', chainSeq: row.seq, message: `row ${row.seq} carries chain values above the watermark ${head.watermark}` });
    if (row.prev !== head.checksum) report.breaks.push({ chain: label, kind: 'link_broken', chainSeq: row.seq, message: `prev_checksum ${row.prev} is not the previous row's checksum ${head.checksum}` });
    if (problem) report.breaks.push({ chain: label, kind: 'content_changed', chainSeq: row.seq, message: problem.message });
    head.checksum = row.checksum;
  };
  for (const [index, revision] of table.revisions.entries()) {
    const next = table.revisions[index + 1];
    const layout = formatV2Layout(revision.covered);
    await withTransaction(pool, async (client) => {
      await client.query(
        `declare verify_attached no scroll cursor for
           select t.${seq}::text as seq, ${key} as chain_key, t.${quoteIdent(table.prevColumn)} as prev, t.${quoteIdent(table.checksumColumn)} as checksum,
                  t.${quoteIdent(table.piiDigestColumn)} as digest, t.${quoteIdent(table.piiSaltColumn)} as salt, ${selectListV2(revision.covered, 't')}
             from ${qualifiedName(table)} t
            where t.${seq} >= $1 ${next ? 'and t.' + seq + ' < $2' : 'and $2::bigint is null'}
            order by t.${seq}`,
        [revision.effectiveFromSeq.toString(), next ? next.effectiveFromSeq.toString() : null],
      );
      // Batches are read in order; their content checks run ahead (on worker threads when given), and are replayed in order.
      const checks: { rows: AttachedRow[]; problems: Promise<(ProblemV2 | null)[]> }[] = [];
      const replay = async (batch: (typeof checks)[number]) => {
        const problems = await batch.problems;
        for (const [at, row] of batch.rows.entries()) step(row, problems[at] ?? null);
      };
      for (;;) {
        const batch = await client.query<AttachedRow>(`fetch ${fetchSize} from verify_attached`);
        const rows = batch.rows.map((row) => (row.checksum === null || row.prev === null ? null : storedRow(row, revision.covered.length)));
        const problems = checker.check(revision.covered, layout, rows);
        problems.catch(() => {});
        checks.push({ rows: batch.rows, problems });
        if (checks.length > checker.ahead) await replay(checks.shift()!);
        if (batch.rows.length < fetchSize) break;
      }
      for (const batch of checks.splice(0)) await replay(batch);
    });
  }
  for (const [chainKey, state] of states) {
    const head = chainOf(chainKey);
    if (state.head_checksum !== null && BigInt(state.watermark_seq) > 0n && head.checksum !== state.head_checksum) {
      report.breaks.push({ chain: head.report.chain, kind: 'head_mismatch', chainSeq: state.watermark_seq, message: `the chain state's head ${state.head_checksum} is not the last sealed row's checksum ${head.checksum} (rows deleted or rewritten)` });
    }
  }
}
