// Verification of attached tables' chains (format v2): every row up to each
// chain's watermark is sealed, links to the previous row of its chain, and its
// checksum and personal digest recompute from the row's values under the
// covered column set of its revision; the head matches the chain's state; a
// row sealed above the watermark, or a chain whose table drifted, is reported.
// A row with a redaction marker (audit_chain_table_redactions, drizzle/0024) is
// checked against its stored pii digest, its personal values and salt erased.
// A chain that retention cut (audit_chain_table_retention_cuts, drizzle/0025)
// starts after its latest cut: the first remaining row links to the cut's
// checksum, and a row still at or below the cut is reported; given a keyring,
// the signed checkpoint recorded with the cut must verify and say what the cut
// says, else the cut is reported (checkpoint_mismatch).
import type pg from 'pg';
import { GENESIS_PREV_CHECKSUM, checkRowV2, formatV2Layout, selectListV2, valuesFromResult, quoteIdent, verifyAttachedCheckpoint, type CheckpointPublicKey } from '@audit-chain/chain';
import { withTransaction } from '@audit-chain/db';
import { chainLabel, listChainedTables, qualifiedName, type ChainedTable } from '@audit-chain/sealing';

export interface AttachedBreak {
  /** "schema.table chain <key>" */
  chain: string;
  kind: 'content_changed' | 'link_broken' | 'unsealed_below_watermark' | 'head_mismatch' | 'sealed_above_watermark' | 'drifted' | 'row_below_cut' | 'checkpoint_mismatch';
  chainSeq: string | null;
  message: string;
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
}

export interface VerifyAttachedOptions {
  table?: string;
  /** When given, each retention cut's signed checkpoint must verify under it. */
  keyring?: readonly CheckpointPublicKey[] | null;
}

export async function verifyAttachedTables(pool: pg.Pool, options: VerifyAttachedOptions = {}): Promise<AttachedVerifyReport> {
  const report: AttachedVerifyReport = { ok: true, chains: [], breaks: [] };
  for (const table of await listChainedTables(pool)) {
    if (options.table && options.table !== `${table.schema}.${table.table}` && options.table !== table.table) continue;
    if (table.status === 'drifted') report.breaks.push({ chain: `${table.schema}.${table.table}`, kind: 'drifted', chainSeq: null, message: table.drift ?? 'the table drifted' });
    await verifyTable(pool, table, report, options.keyring ?? null);
  }
  report.ok = report.breaks.length === 0;
  return report;
}

interface RetentionCut {
  chain_key: string | null;
  cut_seq: string;
  checksum: string;
  sealed_count: string;
  checkpoint: unknown;
}

async function verifyTable(pool: pg.Pool, table: ChainedTable, report: AttachedVerifyReport, keyring: readonly CheckpointPublicKey[] | null): Promise<void> {
  const seq = quoteIdent(table.seqColumn);
  const keyed = table.chainKey !== null;
  const key = keyed ? `t.${quoteIdent(table.chainKey!)}::text` : 'null::text';
  const states = new Map(
    (await pool.query<{ chain_key: string | null; watermark_seq: string; head_checksum: string | null }>(
      'select chain_key, watermark_seq::text, head_checksum from audit_chain_table_state where table_id = $1',
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
  const heads = new Map<string | null, { checksum: string; report: AttachedChainReport; watermark: bigint; cut: bigint | null }>();
  const chainOf = (chainKey: string | null) => {
    let head = heads.get(chainKey);
    if (!head) {
      const label = chainLabel(table, chainKey, keyed);
      const cut = cuts.get(chainKey);
      head = {
        checksum: cut?.checksum ?? GENESIS_PREV_CHECKSUM,
        report: { chain: label, rows: 0, sealed: 0, pending: 0, redacted: 0, cutSeq: cut?.cut_seq ?? null },
        watermark: BigInt(states.get(chainKey)?.watermark_seq ?? '0'),
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
      for (;;) {
        const batch = await client.query<Record<string, unknown> & { seq: string; chain_key: string | null; prev: string | null; checksum: string | null; digest: string | null; salt: string | null }>('fetch 2000 from verify_attached');
        for (const row of batch.rows) {
          const head = chainOf(row.chain_key);
          head.report.rows += 1;
          const s = BigInt(row.seq);
          const label = head.report.chain;
          if (head.cut !== null && s <= head.cut) {
            report.breaks.push({ chain: label, kind: 'row_below_cut', chainSeq: row.seq, message: `row ${row.seq} is at or below the chain's retention cut at chain_seq ${head.cut}: a cut must not hide rows` });
            continue;
          }
          if (row.checksum === null || row.prev === null) {
            if (s <= head.watermark) report.breaks.push({ chain: label, kind: 'unsealed_below_watermark', chainSeq: row.seq, message: `row ${row.seq} is at or below the watermark ${head.watermark} but not sealed` });
            else head.report.pending += 1;
            continue;
          }
          head.report.sealed += 1;
          if (s > head.watermark) report.breaks.push({ chain: label, kind: 'sealed_above_watermark', chainSeq: row.seq, message: `row ${row.seq} carries chain values above the watermark ${head.watermark}` });
          if (row.prev !== head.checksum) report.breaks.push({ chain: label, kind: 'link_broken', chainSeq: row.seq, message: `prev_checksum ${row.prev} is not the previous row's checksum ${head.checksum}` });
          const problem = checkRowV2(layout, {
            chainKey: row.chain_key,
            chainSeq: row.seq,
            values: valuesFromResult(row, revision.covered.length),
            prevChecksum: row.prev,
            checksum: row.checksum,
            piiDigest: row.digest,
            piiSalt: row.salt,
            redacted: redacted.has(row.seq),
          });
          if (redacted.has(row.seq)) head.report.redacted += 1;
          if (problem) report.breaks.push({ chain: label, kind: 'content_changed', chainSeq: row.seq, message: problem.message });
          head.checksum = row.checksum;
        }
        if (batch.rows.length < 2000) break;
      }
    });
  }
  for (const [chainKey, state] of states) {
    const head = chainOf(chainKey);
    if (state.head_checksum !== null && BigInt(state.watermark_seq) > 0n && head.checksum !== state.head_checksum) {
      report.breaks.push({ chain: head.report.chain, kind: 'head_mismatch', chainSeq: state.watermark_seq, message: `the chain state's head ${state.head_checksum} is not the last sealed row's checksum ${head.checksum} (rows deleted or rewritten)` });
    }
  }
}

/** Why a retention cut is not vouched for by its signed checkpoint under the keyring; null when it is. */
function cutProblem(table: Pick<ChainedTable, 'schema' | 'table'>, chainKey: string | null, cut: RetentionCut, keyring: readonly CheckpointPublicKey[]): string | null {
  const verdict = verifyAttachedCheckpoint(cut.checkpoint, keyring);
  if (!verdict.ok) return `the retention cut at chain_seq ${cut.cut_seq} is not vouched for by a trusted checkpoint: ${verdict.reason}`;
  const signed = verdict.checkpoint;
  if (signed.schema !== table.schema || signed.table !== table.table || signed.chain_key !== chainKey || signed.chain_seq !== cut.cut_seq || signed.checksum !== cut.checksum || signed.sealed_count !== cut.sealed_count) {
    return `the retention cut at chain_seq ${cut.cut_seq} (checksum ${cut.checksum}, sealed_count ${cut.sealed_count}) is not what its signed checkpoint says (${signed.schema}.${signed.table} chain ${signed.chain_key ?? '(null)'} chain_seq ${signed.chain_seq}, checksum ${signed.checksum}, sealed_count ${signed.sealed_count})`;
  }
  return null;
}
