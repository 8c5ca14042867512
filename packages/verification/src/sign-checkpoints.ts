// One round of the checkpoint stage: export what earlier rounds could not, then
// sign the heads that are due, record them, and export them to every sink. One
// process at a time (a session advisory lock), so replicas and the command line
// never sign the same head twice over each other.
import type pg from 'pg';
import { checkpointLine, signCheckpoint, type CheckpointSigner, type SignedCheckpoint } from '@audit-chain/chain';
import { withTransaction } from '@audit-chain/db';
import { checkpointDecision, type ChainHead, type CheckpointDecision, type CheckpointPolicy, type LastCheckpoint } from './checkpoint-policy.ts';
import { CHECKPOINT_LOCK_KEY, insertCheckpoint, markExported, readExportPending, readHeadsAndCheckpoints, readRowAt } from './checkpoint-queries.ts';
import { SinkError, type CheckpointSink } from './sinks.ts';
import { storedCheckpointLine } from './stored-checkpoint.ts';

export interface CheckpointRoundOptions {
  signer: CheckpointSigner;
  sinks: readonly CheckpointSink[];
  /** 'requested' signs every chain's head now (or one chain's: `orgId`); a policy signs what is due. */
  policy: CheckpointPolicy | 'requested';
  orgId?: string | null;
  /** false: give up at once when another process is signing (the worker's rounds); true: wait for it (the command line). */
  waitForLock?: boolean;
  now?: () => Date;
  /** Most pending exports retried per round. */
  retryLimit?: number;
}

export interface SkippedChain {
  orgId: string | null;
  reason: 'regressed' | 'head_row_mismatch';
  message: string;
}

export interface CheckpointRoundResult {
  /** Another process held the signing lock (only without waitForLock). */
  busy: boolean;
  signed: SignedCheckpoint[];
  /** Chains not signed because their state contradicts the rows or an earlier checkpoint: run verify. */
  skipped: SkippedChain[];
  /** Checkpoints written per sink this round (retries included). */
  exported: Record<string, number>;
  failures: SinkError[];
}

interface HeadRow {
  org_id: string | null;
  watermark_seq: string;
  head_checksum: string;
  sealed_count: string;
  checkpoint_seq: string | null;
  checkpoint_count: string | null;
  checkpoint_signed_at: Date | null;
}

export async function runCheckpointRound(pool: pg.Pool, options: CheckpointRoundOptions): Promise<CheckpointRoundResult> {
  const result: CheckpointRoundResult = { busy: false, signed: [], skipped: [], exported: {}, failures: [] };
  const client = await pool.connect();
  let locked = false;
  try {
    if (options.waitForLock) {
      await client.query('select pg_advisory_lock($1)', [CHECKPOINT_LOCK_KEY]);
      locked = true;
    } else {
      const attempt = await client.query<{ locked: boolean }>('select pg_try_advisory_lock($1) as locked', [CHECKPOINT_LOCK_KEY]);
      locked = attempt.rows[0]?.locked === true;
      if (!locked) return { ...result, busy: true };
    }
    const failedSinks = await retryPendingExports(client, options.sinks, options.retryLimit ?? 1000, result);
    const due = await dueHeads(client, options, result);
    if (due.length === 0) return result;
    const now = (options.now ?? (() => new Date()))();
    const signed: SignedCheckpoint[] = [];
    for (const head of due) {
      signed.push(
        await signCheckpoint(
          { org_id: head.orgId, chain_seq: String(head.watermarkSeq), sealed_count: String(head.sealedCount), checksum: head.headChecksum, signed_at: now.toISOString() },
          options.signer,
        ),
      );
    }
    const ids = await withTransaction(pool, async (tx) => {
      const inserted: string[] = [];
      for (const checkpoint of signed) {
        const row = await tx.query<{ id: string }>(insertCheckpoint(checkpoint, options.sinks.map((sink) => sink.name)));
        inserted.push(row.rows[0]!.id);
      }
      return inserted;
    });
    result.signed = signed;
    // A sink that already failed this round gets the new checkpoints next round, after the older ones.
    await exportTo(client, options.sinks.filter((sink) => !failedSinks.has(sink.name)), signed, ids, result);
    return result;
  } finally {
    if (locked) await client.query('select pg_advisory_unlock($1)', [CHECKPOINT_LOCK_KEY]).catch(() => {});
    client.release();
  }
}

async function dueHeads(client: pg.PoolClient, options: CheckpointRoundOptions, result: CheckpointRoundResult): Promise<ChainHead[]> {
  const rows = (await client.query<HeadRow>(readHeadsAndCheckpoints(options.orgId))).rows;
  const now = (options.now ?? (() => new Date()))();
  const due: ChainHead[] = [];
  for (const row of rows) {
    const head: ChainHead = { orgId: row.org_id, watermarkSeq: BigInt(row.watermark_seq), headChecksum: row.head_checksum, sealedCount: BigInt(row.sealed_count) };
    const last: LastCheckpoint | null =
      row.checkpoint_seq === null ? null : { chainSeq: BigInt(row.checkpoint_seq), sealedCount: BigInt(row.checkpoint_count!), signedAt: row.checkpoint_signed_at! };
    const decision: CheckpointDecision = checkpointDecision(head, last, now, options.policy);
    if (decision.reason === 'regressed') {
      result.skipped.push({
        orgId: head.orgId,
        reason: 'regressed',
        message: `watermark ${head.watermarkSeq}: got it below the last checkpoint's chain_seq ${last!.chainSeq}, want it never to go back; not signed (run audit-chain verify)`,
      });
      continue;
    }
    if (!decision.due) continue;
    const atHead = await client.query<{ checksum: string | null }>(readRowAt(head.orgId, String(head.watermarkSeq)));
    const found = atHead.rows[0]?.checksum ?? null;
    if (found !== head.headChecksum) {
      result.skipped.push({
        orgId: head.orgId,
        reason: 'head_row_mismatch',
        message: `row at watermark ${head.watermarkSeq}: got checksum ${found ?? '(no row)'}, want the chain state's head ${head.headChecksum}; not signed (run audit-chain verify)`,
      });
      continue;
    }
    due.push(head);
  }
  return due;
}

/** Re-exports checkpoints earlier rounds recorded but some sink did not take. Returns the sinks that failed again. */
async function retryPendingExports(client: pg.PoolClient, sinks: readonly CheckpointSink[], limit: number, result: CheckpointRoundResult): Promise<Set<string>> {
  const failed = new Set<string>();
  if (sinks.length === 0) return failed;
  const rows = (await client.query<{ id: string; body: unknown; signature: string; exported_to: Record<string, string | null> }>(readExportPending(limit))).rows;
  const pending: { id: string; checkpoint: SignedCheckpoint; exportedTo: Record<string, string | null> }[] = [];
  for (const row of rows) {
    const checkpoint = storedCheckpoint(row.body, row.signature);
    if (checkpoint) {
      pending.push({ id: row.id, checkpoint, exportedTo: row.exported_to });
      continue;
    }
    // Not a checkpoint this signer wrote (the table was edited): never export it, and stop retrying it.
    for (const sink of Object.keys(row.exported_to).filter((name) => row.exported_to[name] === null)) {
      await client.query(markExported([row.id], sink, 'refused: not a well-formed signed checkpoint'));
      result.failures.push(new SinkError(sink, 0, `audit_chain_checkpoints id ${row.id} is not a well-formed signed checkpoint: not exported`));
    }
  }
  for (const sink of sinks) {
    const mine = pending.filter((row) => sink.name in row.exportedTo && row.exportedTo[sink.name] === null);
    if (mine.length === 0) continue;
    const before = result.failures.length;
    await exportTo(client, [sink], mine.map((row) => row.checkpoint), mine.map((row) => row.id), result);
    if (result.failures.length > before) failed.add(sink.name);
  }
  return failed;
}

function storedCheckpoint(body: unknown, signature: string): SignedCheckpoint | null {
  const line = storedCheckpointLine(body, signature);
  try {
    checkpointLine(line as SignedCheckpoint);
    return line as SignedCheckpoint;
  } catch {
    return null;
  }
}

async function exportTo(client: pg.PoolClient, sinks: readonly CheckpointSink[], checkpoints: readonly SignedCheckpoint[], ids: readonly string[], result: CheckpointRoundResult): Promise<void> {
  for (const sink of sinks) {
    let written = checkpoints.length;
    try {
      await sink.write(checkpoints);
    } catch (error) {
      const failure = error instanceof SinkError ? error : new SinkError(sink.name, 0, `${sink.name} sink ${sink.target}: ${(error as Error).message}`, { cause: error });
      written = failure.written;
      result.failures.push(failure);
    }
    if (written > 0) {
      await client.query(markExported(ids.slice(0, written), sink.name, new Date().toISOString()));
      result.exported[sink.name] = (result.exported[sink.name] ?? 0) + written;
    }
  }
}
