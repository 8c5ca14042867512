// One round of the checkpoint stage: export what earlier rounds could not, then
// sign the heads that are due (audit_logs' chains and every attached table's),
// record them, and export them to every sink. One process at a time (a session
// advisory lock), so replicas and the command line never sign the same head
// twice over each other.
import type pg from 'pg';
import {
  checkpointLine,
  signCheckpoint,
  signTableCheckpoint,
  type AnySignedCheckpoint,
  type CheckpointSigner,
  type SignedCheckpoint,
  type SignedTableCheckpoint,
} from '@audit-chain/chain';
import { withTransaction } from '@audit-chain/db';
import { checkpointDecision, type ChainHead, type CheckpointDecision, type CheckpointPolicy, type LastCheckpoint } from './checkpoint-policy.ts';
import { CHECKPOINT_LOCK_KEY, insertCheckpoint, markExported, readExportPending, readHeadsAndCheckpoints, readRowAt, type CheckpointStore } from './checkpoint-queries.ts';
import { SinkError, type CheckpointSink } from './sinks.ts';
import { storedCheckpointLine } from './stored-checkpoint.ts';
import { insertTableCheckpoint } from './table-checkpoint-queries.ts';
import { dueTableHeads, type SkippedTableChain, type TableHead } from './table-heads.ts';

export interface CheckpointRoundOptions {
  signer: CheckpointSigner;
  sinks: readonly CheckpointSink[];
  /** 'requested' signs every chain's head now (or one audit_logs chain's: `orgId`; or one attached table's chains: `table`); a policy signs what is due. */
  policy: CheckpointPolicy | 'requested';
  orgId?: string | null;
  /** "schema.table" or a table name: only that attached table's chains (audit_logs' are left out). */
  table?: string;
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
  /** audit_logs' chains (version 1). */
  signed: SignedCheckpoint[];
  /** Attached tables' chains (version 2). */
  signedTables: SignedTableCheckpoint[];
  /** Chains not signed because their state contradicts the rows or an earlier checkpoint: run verify. */
  skipped: SkippedChain[];
  skippedTables: SkippedTableChain[];
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
  const result: CheckpointRoundResult = { busy: false, signed: [], signedTables: [], skipped: [], skippedTables: [], exported: {}, failures: [] };
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
    const now = (options.now ?? (() => new Date()))();
    const due = options.table === undefined ? await dueHeads(client, options, result) : [];
    const dueTables = options.orgId === undefined ? await dueTableHeads(client, options.policy, now, result.skippedTables, options.table) : [];
    if (due.length === 0 && dueTables.length === 0) return result;
    const signed: SignedCheckpoint[] = [];
    for (const head of due) {
      signed.push(
        await signCheckpoint(
          { org_id: head.orgId, chain_seq: String(head.watermarkSeq), sealed_count: String(head.sealedCount), checksum: head.headChecksum, signed_at: now.toISOString() },
          options.signer,
        ),
      );
    }
    const signedTables: { head: TableHead; checkpoint: SignedTableCheckpoint }[] = [];
    for (const head of dueTables) {
      const checkpoint = await signTableCheckpoint(
        {
          schema: head.table.schema,
          table: head.table.table,
          chain_key: head.chainKey,
          chain_seq: String(head.watermarkSeq),
          sealed_count: String(head.sealedCount),
          checksum: head.headChecksum,
          signed_at: now.toISOString(),
        },
        options.signer,
      );
      signedTables.push({ head, checkpoint });
    }
    const sinkNames = options.sinks.map((sink) => sink.name);
    const recorded = await withTransaction(pool, async (tx) => {
      const inserted: Recorded[] = [];
      for (const checkpoint of signed) {
        const row = await tx.query<{ id: string }>(insertCheckpoint(checkpoint, sinkNames));
        inserted.push({ store: 'org', id: row.rows[0]!.id, checkpoint });
      }
      for (const { head, checkpoint } of signedTables) {
        const row = await tx.query<{ id: string }>(insertTableCheckpoint(head.table.id, checkpoint, sinkNames));
        inserted.push({ store: 'table', id: row.rows[0]!.id, checkpoint });
      }
      return inserted;
    });
    result.signed = signed;
    result.signedTables = signedTables.map((entry) => entry.checkpoint);
    // A sink that already failed this round gets the new checkpoints next round, after the older ones.
    await exportTo(client, options.sinks.filter((sink) => !failedSinks.has(sink.name)), recorded, result);
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

/** A checkpoint as recorded: in audit_chain_checkpoints ('org') or audit_chain_table_checkpoints ('table'). */
interface Recorded {
  store: CheckpointStore;
  id: string;
  checkpoint: AnySignedCheckpoint;
}

function markQuery(store: Recorded['store'], ids: readonly string[], sink: string, outcome: string) {
  return markExported(ids, sink, outcome, store);
}

/** Re-exports checkpoints earlier rounds recorded but some sink did not take. Returns the sinks that failed again. */
async function retryPendingExports(client: pg.PoolClient, sinks: readonly CheckpointSink[], limit: number, result: CheckpointRoundResult): Promise<Set<string>> {
  const failed = new Set<string>();
  if (sinks.length === 0) return failed;
  type PendingRow = { id: string; body: unknown; signature: string; exported_to: Record<string, string | null> };
  const stores: [Recorded['store'], PendingRow[]][] = [
    ['org', (await client.query<PendingRow>(readExportPending(limit, 'org'))).rows],
    ['table', (await client.query<PendingRow>(readExportPending(limit, 'table'))).rows],
  ];
  const pending: (Recorded & { exportedTo: Record<string, string | null> })[] = [];
  for (const [store, rows] of stores) {
    for (const row of rows) {
      const checkpoint = storedCheckpoint(row.body, row.signature, store);
      if (checkpoint) {
        pending.push({ store, id: row.id, checkpoint, exportedTo: row.exported_to });
        continue;
      }
      // Not a checkpoint this signer wrote (the table was edited): never export it, and stop retrying it.
      const table = store === 'org' ? 'audit_chain_checkpoints' : 'audit_chain_table_checkpoints';
      for (const sink of Object.keys(row.exported_to).filter((name) => row.exported_to[name] === null)) {
        await client.query(markQuery(store, [row.id], sink, 'refused: not a well-formed signed checkpoint'));
        result.failures.push(new SinkError(sink, 0, `${table} id ${row.id} is not a well-formed signed checkpoint: not exported`));
      }
    }
  }
  for (const sink of sinks) {
    const mine = pending.filter((row) => sink.name in row.exportedTo && row.exportedTo[sink.name] === null);
    if (mine.length === 0) continue;
    const before = result.failures.length;
    await exportTo(client, [sink], mine, result);
    if (result.failures.length > before) failed.add(sink.name);
  }
  return failed;
}

/** The row's signed line when it is well formed and of its table's version (1 in audit_chain_checkpoints, 2 in audit_chain_table_checkpoints). */
function storedCheckpoint(body: unknown, signature: string, store: Recorded['store']): AnySignedCheckpoint | null {
  const line = storedCheckpointLine(body, signature) as AnySignedCheckpoint;
  try {
    checkpointLine(line);
    return (line.v === 2) === (store === 'table') ? line : null;
  } catch {
    return null;
  }
}

async function exportTo(client: pg.PoolClient, sinks: readonly CheckpointSink[], recorded: readonly Recorded[], result: CheckpointRoundResult): Promise<void> {
  for (const sink of sinks) {
    let written = recorded.length;
    try {
      await sink.write(recorded.map((entry) => entry.checkpoint));
    } catch (error) {
      const failure = error instanceof SinkError ? error : new SinkError(sink.name, 0, `${sink.name} sink ${sink.target}: ${(error as Error).message}`, { cause: error });
      written = failure.written;
      result.failures.push(failure);
    }
    if (written > 0) {
      const taken = recorded.slice(0, written);
      const at = new Date().toISOString();
      for (const store of ['org', 'table'] as const) {
        const ids = taken.filter((entry) => entry.store === store).map((entry) => entry.id);
        if (ids.length > 0) await client.query(markQuery(store, ids, sink.name, at));
      }
      result.exported[sink.name] = (result.exported[sink.name] ?? 0) + written;
    }
  }
}
