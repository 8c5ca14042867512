// Verification of attached tables' chains (format v2): every row up to each
// chain's watermark is sealed, links to the previous row of its chain, and its
// checksum and personal digest recompute from the row's values under the
// covered column set of its revision; the head matches the chain's state; a
// row sealed above the watermark, or a chain whose table drifted, is reported.
// With a keyring, each chain is also checked against its trusted signed
// checkpoints (version 2, docs/chain-format.md section 7): a chain rewritten
// and recomputed end to end, or cut short at its tail, disagrees with them;
// a checkpoint whose signature does not hold is itself a break.
// A row with a redaction marker (audit_chain_table_redactions, drizzle/0051) is
// checked against its stored pii digest, its personal values and salt erased.
// A chain that retention cut (audit_chain_table_retention_cuts, drizzle/0052)
// starts after its latest cut: the first remaining row links to the cut's
// checksum, and a row still at or below the cut is reported; given a keyring,
// the signed checkpoint recorded with the cut must verify and say what the cut
// says, else the cut is reported (checkpoint_mismatch); signed checkpoints at or
// below the cut are vouched for by the cut (their rows were deleted by it).
// The rows are read in order on one connection; their content checks (the
// hashing) may run on worker threads (`threads`), batch by batch, ahead of the
// in-order walk that uses them: the report is the same.
import type pg from 'pg';
import Tinypool from 'tinypool';
import {
  GENESIS_PREV_CHECKSUM,
  checkRowV2,
  formatV2Layout,
  quoteIdent,
  selectListV2,
  valuesFromResult,
  verifyCheckpointSignature,
  type CheckpointPublicKey,
  type CoveredColumn,
  type FormatV2Layout,
  type ProblemV2,
  type StoredRowV2,
  type TableCheckpointBody,
} from '@audit-chain/chain';
import { withTransaction } from '@audit-chain/db';
import { chainLabel, listChainedTables, qualifiedName, type ChainedTable } from '@audit-chain/sealing';
import { gatherCheckpoints, tableChainId, type CheckpointEvidence, type CheckpointSources } from './checkpoint-evidence.ts';
import { TableCheckpointCheck } from './table-checkpoint-check.ts';
import { UnknownTableError } from './table-heads.ts';
import type { AttachedRowsTask } from './attached-rows-worker.ts';
import { PARALLEL_MIN_ROWS } from './verify-parallel.ts';

export interface AttachedBreak {
  /** "schema.table chain <key>" */
  chain: string;
  kind:
    | 'content_changed'
    | 'link_broken'
    | 'unsealed_below_watermark'
    | 'head_mismatch'
    | 'sealed_above_watermark'
    | 'drifted'
    | 'checkpoint_mismatch'
    | 'tail_truncated'
    | 'checkpoint_signature_invalid'
    | 'checkpoint_key_unknown'
    | 'row_below_cut';
  chainSeq: string | null;
  message: string;
}

export interface AttachedVerifyOptions {
  /** "schema.table" or a table name: only that table. */
  table?: string;
  /** Public keys that may sign checkpoints; null or absent: checkpoints are not read (links, content and state only). */
  keyring?: readonly CheckpointPublicKey[] | null;
  checkpointSources?: CheckpointSources;
  /** Also report checkpoint lines that name no chain at all (a torn line): set when audit_logs' verification, which reports them, does not run. */
  reportUnclaimed?: boolean;
  /** Check rows' content on this many worker threads (the report is the same); undefined or 1: on this thread. */
  threads?: number;
  /** Rows per FETCH, and per batch handed to a thread (default 2,000). */
  fetchSize?: number;
  /** Below this many rows (the tables' planner estimates) the threads are not started (default PARALLEL_MIN_ROWS; 0: always). */
  minRows?: number;
}

export interface AttachedChainReport {
  chain: string;
  rows: number;
  sealed: number;
  pending: number;
  /** Rows checked as redacted (personal values erased on purpose). */
  redacted: number;
  /** chain_seq of the latest retention cut the chain starts after; null when none. */
  cutSeq: string | null;
}

export interface AttachedVerifyReport {
  ok: boolean;
  chains: AttachedChainReport[];
  breaks: AttachedBreak[];
  checkpoints: { checked: boolean; trusted: number; sources: { source: string; read: number; trusted: number; rejected: number }[] };
  warnings: string[];
}

const NO_EVIDENCE: CheckpointEvidence = { trusted: new Map(), tables: new Map(), breaks: [], sources: [], warnings: [] };

export async function verifyAttachedTables(pool: pg.Pool, options: AttachedVerifyOptions = {}): Promise<AttachedVerifyReport> {
  const report: AttachedVerifyReport = { ok: true, chains: [], breaks: [], checkpoints: { checked: Boolean(options.keyring), trusted: 0, sources: [] }, warnings: [] };
  const named = (schema: string | null, table: string | null) =>
    options.table === undefined || schema === null || table === null || options.table === `${schema}.${table}` || options.table === table;
  const tables = (await listChainedTables(pool)).filter((table) => named(table.schema, table.table));
  if (options.table !== undefined && tables.length === 0) throw new UnknownTableError(`no attached table ${options.table} (audit_chain_tables): see \`audit-chain status\``);
  // A checkpoint names a chain by its key's text; whether the table has a key column at all comes from the registry.
  const labelOf = (schema: string, table: string, chainKey: string | null) => {
    const attached = tables.find((found) => found.schema === schema && found.table === table);
    return chainLabel({ schema, table }, chainKey, attached ? attached.chainKey !== null : chainKey !== null);
  };
  let evidence = NO_EVIDENCE;
  if (options.keyring) {
    evidence = await gatherCheckpoints(pool, options.keyring, options.checkpointSources ?? { directories: [], table: true }, undefined, 'table', options.reportUnclaimed ?? false);
    report.checkpoints.sources = evidence.sources;
    report.warnings.push(...evidence.warnings);
    for (const untrusted of evidence.breaks) {
      const claim = untrusted.tableClaim;
      if (!named(claim?.schema ?? null, claim?.table ?? null)) continue;
      const chain = claim?.schema != null && claim.table !== null ? labelOf(claim.schema, claim.table, claim.chainKey ?? null) : (untrusted.source ?? 'checkpoint');
      report.breaks.push({ chain, kind: untrusted.kind as AttachedBreak['kind'], chainSeq: untrusted.chainSeq, message: untrusted.message });
    }
  } else if (options.keyring === null) {
    report.warnings.push('no keyring: attached tables\' chains are not checked against signed checkpoints, so a chain recomputed end to end or a deleted tail with its chain state rewritten would go unnoticed');
  }
  const verified = new Set<string>();
  const threaded = (options.threads ?? 1) > 1 && tables.length > 0 && (await estimatedRows(pool, tables)) >= (options.minRows ?? PARALLEL_MIN_ROWS);
  const checker = threaded ? threadChecker(options.threads!) : INLINE_CHECKER;
  try {
    for (const table of tables) {
      if (table.status === 'drifted') report.breaks.push({ chain: `${table.schema}.${table.table}`, kind: 'drifted', chainSeq: null, message: table.drift ?? 'the table drifted' });
      const checkpointsOf = (chainKey: string | null) => {
        const id = tableChainId(table.schema, table.table, chainKey);
        verified.add(id);
        return evidence.tables.get(id) ?? [];
      };
      await verifyTable(pool, table, report, checkpointsOf, options.keyring ?? null, checker, options.fetchSize ?? FETCH);
    }
  } finally {
    await checker.close();
  }
  // Trusted checkpoints of a chain no table or state row has any more: all of it is gone.
  for (const [id, list] of evidence.tables) {
    if (verified.has(id)) continue;
    const latest = list.at(-1)!;
    if (!named(latest.schema, latest.table)) continue;
    const attached = tables.some((table) => table.schema === latest.schema && table.table === latest.table);
    report.breaks.push({
      chain: labelOf(latest.schema, latest.table, latest.chain_key),
      kind: 'tail_truncated',
      chainSeq: latest.chain_seq,
      message: attached
        ? `no row and no chain state of this chain, but ${list.length} signed checkpoint(s) up to chain_seq ${latest.chain_seq} with sealed_count ${latest.sealed_count} (signed ${latest.signed_at} by ${latest.key_id}): the chain's rows were deleted`
        : `${latest.schema}.${latest.table} is not an attached table (audit_chain_tables), but ${list.length} signed checkpoint(s) of this chain up to chain_seq ${latest.chain_seq} (signed ${latest.signed_at} by ${latest.key_id}) exist: the table or its registry row was removed`,
    });
  }
  report.checkpoints.trusted = [...evidence.tables.values()].reduce((sum, list) => sum + list.length, 0);
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

/** Content checks of a batch of rows (null entries are not checked), and how many batches may run ahead of the one walked. */
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
  const pool = new Tinypool({
    filename: new URL('./attached-rows-worker.ts', import.meta.url).href,
    minThreads: threads,
    maxThreads: threads,
    resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 },
  });
  return {
    ahead: threads * 2,
    check: (covered, _layout, rows) => pool.run({ covered, rows } satisfies AttachedRowsTask) as Promise<(ProblemV2 | null)[]>,
    close: () => pool.destroy(),
  };
}

interface RetentionCut {
  chain_key: string | null;
  cut_seq: string;
  checksum: string;
  sealed_count: string;
  checkpoint: unknown;
}

async function verifyTable(
  pool: pg.Pool,
  table: ChainedTable,
  report: AttachedVerifyReport,
  checkpointsOf: (chainKey: string | null) => TableCheckpointBody[],
  keyring: readonly CheckpointPublicKey[] | null,
  checker: ContentChecker,
  fetchSize: number,
): Promise<void> {
  const seq = quoteIdent(table.seqColumn);
  const keyed = table.chainKey !== null;
  const key = keyed ? `t.${quoteIdent(table.chainKey!)}::text` : 'null::text';
  const states = new Map(
    (await pool.query<{ chain_key: string | null; watermark_seq: string; head_checksum: string | null; sealed_rows: string }>(
      'select chain_key, watermark_seq::text, head_checksum, sealed_rows::text from audit_chain_table_state where table_id = $1',
      [table.id],
    )).rows.map((row) => [row.chain_key, row]),
  );
  const redacted = new Set(
    (await pool.query<{ chain_seq: string }>('select chain_seq::text from audit_chain_table_redactions where table_id = $1', [table.id])).rows.map((row) => row.chain_seq),
  );
  const cuts = new Map(
    (await pool.query<RetentionCut>(
      // Ordered by the bigint column (c.cut_seq), not the text output column of the same name.
      `select distinct on (c.chain_key) c.chain_key, c.cut_seq::text as cut_seq, c.checksum, c.sealed_count::text as sealed_count, c.checkpoint
         from audit_chain_table_retention_cuts c where c.table_id = $1 order by c.chain_key, c.cut_seq desc, c.id desc`,
      [table.id],
    )).rows.map((row) => [row.chain_key, row]),
  );
  // One pass per revision, in chain order, streamed through a cursor; the chains' heads carried across.
  const heads = new Map<string | null, { checksum: string; report: AttachedChainReport; watermark: bigint; checkpoints: TableCheckpointCheck; cut: bigint | null }>();
  const chainOf = (chainKey: string | null) => {
    let head = heads.get(chainKey);
    if (!head) {
      const label = chainLabel(table, chainKey, keyed);
      const cut = cuts.get(chainKey);
      const checkpoints = new TableCheckpointCheck(
        checkpointsOf(chainKey),
        (kind, chainSeq, message) => report.breaks.push({ chain: label, kind, chainSeq, message }),
        cut ? { seq: BigInt(cut.cut_seq), sealedCount: BigInt(cut.sealed_count) } : null,
      );
      head = {
        checksum: cut?.checksum ?? GENESIS_PREV_CHECKSUM,
        report: { chain: label, rows: 0, sealed: 0, pending: 0, redacted: 0, cutSeq: cut?.cut_seq ?? null },
        watermark: BigInt(states.get(chainKey)?.watermark_seq ?? '0'),
        checkpoints,
        cut: cut ? BigInt(cut.cut_seq) : null,
      };
      heads.set(chainKey, head);
      report.chains.push(head.report);
      if (cut && keyring) {
        const problem = cutProblem(table, chainKey, cut, keyring);
        if (problem) report.breaks.push({ chain: label, kind: 'checkpoint_mismatch', chainSeq: cut.cut_seq, message: problem });
      }
    }
    return head;
  };
  // One row in chain order, with its content check (computed ahead, possibly on a thread).
  const step = (row: AttachedRow, problem: ProblemV2 | null) => {
    const head = chainOf(row.chain_key);
    head.report.rows += 1;
    const s = BigInt(row.seq);
    const label = head.report.chain;
    if (head.cut !== null && s <= head.cut) {
      report.breaks.push({ chain: label, kind: 'row_below_cut', chainSeq: row.seq, message: `row ${row.seq} is at or below the chain's retention cut at chain_seq ${head.cut}: a cut must not hide rows` });
      return;
    }
    head.checkpoints.row(s, row.checksum);
    if (row.checksum === null || row.prev === null) {
      if (s <= head.watermark) report.breaks.push({ chain: label, kind: 'unsealed_below_watermark', chainSeq: row.seq, message: `row ${row.seq} is at or below the watermark ${head.watermark} but not sealed` });
      else head.report.pending += 1;
      return;
    }
    head.report.sealed += 1;
    if (s > head.watermark) report.breaks.push({ chain: label, kind: 'sealed_above_watermark', chainSeq: row.seq, message: `row ${row.seq} carries chain values above the watermark ${head.watermark}` });
    if (row.prev !== head.checksum) report.breaks.push({ chain: label, kind: 'link_broken', chainSeq: row.seq, message: `prev_checksum ${row.prev} is not the previous row's checksum ${head.checksum}` });
    if (redacted.has(row.seq)) head.report.redacted += 1;
    if (problem) report.breaks.push({ chain: label, kind: 'content_changed', chainSeq: row.seq, message: problem.message });
    head.checksum = row.checksum;
  };
  /** The row as checkRowV2 takes it, or null when the walk does not check its content (below a cut, or unsealed). */
  const toCheck = (row: AttachedRow, columns: number): StoredRowV2 | null => {
    const cut = cuts.get(row.chain_key);
    if ((cut && BigInt(row.seq) <= BigInt(cut.cut_seq)) || row.checksum === null || row.prev === null) return null;
    return {
      chainKey: row.chain_key,
      chainSeq: row.seq,
      values: valuesFromResult(row, columns),
      prevChecksum: row.prev,
      checksum: row.checksum,
      piiDigest: row.digest,
      piiSalt: row.salt,
      redacted: redacted.has(row.seq),
    };
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
      const checks: { rows: AttachedRow[]; problems: Promise<(ProblemV2 | null)[]> }[] = [];
      const walk = async (batch: (typeof checks)[number]) => {
        const problems = await batch.problems;
        for (const [at, row] of batch.rows.entries()) step(row, problems[at] ?? null);
      };
      for (;;) {
        const batch = await client.query<AttachedRow>(`fetch ${fetchSize} from verify_attached`);
        const problems = checker.check(revision.covered, layout, batch.rows.map((row) => toCheck(row, revision.covered.length)));
        problems.catch(() => {});
        checks.push({ rows: batch.rows, problems });
        if (checks.length > checker.ahead) await walk(checks.shift()!);
        if (batch.rows.length < fetchSize) break;
      }
      for (const batch of checks.splice(0)) await walk(batch);
    });
  }
  for (const [chainKey, state] of states) {
    const head = chainOf(chainKey);
    if (state.head_checksum !== null && BigInt(state.watermark_seq) > 0n && head.checksum !== state.head_checksum) {
      report.breaks.push({ chain: head.report.chain, kind: 'head_mismatch', chainSeq: state.watermark_seq, message: `the chain state's head ${state.head_checksum} is not the last sealed row's checksum ${head.checksum} (rows deleted or rewritten)` });
    }
  }
  // Every chain with rows, a state row or (through checkpointsOf, called for each) trusted checkpoints.
  for (const [chainKey, head] of heads) {
    const state = states.get(chainKey);
    head.checkpoints.end(state ? { watermarkSeq: BigInt(state.watermark_seq), sealedCount: BigInt(state.sealed_rows) } : null);
  }
}

/** Why a retention cut is not vouched for by its signed checkpoint under the keyring; null when it is. */
function cutProblem(table: Pick<ChainedTable, 'schema' | 'table'>, chainKey: string | null, cut: RetentionCut, keyring: readonly CheckpointPublicKey[]): string | null {
  const verdict = verifyCheckpointSignature(cut.checkpoint, keyring);
  if (!verdict.ok) return `the retention cut at chain_seq ${cut.cut_seq} is not vouched for by a trusted checkpoint: ${verdict.reason}`;
  const signed = verdict.checkpoint;
  if (signed.v !== 2) return `the retention cut at chain_seq ${cut.cut_seq} carries a version ${signed.v} checkpoint, which names no attached chain`;
  if (signed.schema !== table.schema || signed.table !== table.table || signed.chain_key !== chainKey || signed.chain_seq !== cut.cut_seq || signed.checksum !== cut.checksum || signed.sealed_count !== cut.sealed_count) {
    return `the retention cut at chain_seq ${cut.cut_seq} (checksum ${cut.checksum}, sealed_count ${cut.sealed_count}) is not what its signed checkpoint says (${signed.schema}.${signed.table} chain ${signed.chain_key ?? '(null)'} chain_seq ${signed.chain_seq}, checksum ${signed.checksum}, sealed_count ${signed.sealed_count})`;
  }
  return null;
}
