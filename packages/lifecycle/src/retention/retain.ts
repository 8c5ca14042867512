// Retention (audit-chain retain --older-than 400d): deletes old rows as a
// prefix of each chain, never anything else. For each cut, in this order:
//   1. pick the cut: the last row of the chain's oldest rows all recorded before
//      the limit, strictly below the watermark (the head row stays, so sealing
//      and verification keep their anchor), at most `batchRows` rows at a time;
//   2. sign a checkpoint naming that row: its chain_seq, its checksum and its
//      position from the chain's genesis (sealed_count);
//   3. record it as the signer role (the only role that may add checkpoints) and
//      export it to every sink; stop this chain if one fails;
//   4. in one transaction as the retention role: read the checkpoint back and
//      verify its signature against the keyring (signed-cut.ts), then delete the
//      rows up to and including it through audit_chain_retain_prefix(), which
//      checks the checkpoint against the database again before it deletes
//      (drizzle/0015_retention_cuts.sql, 0038_retention_signed_cut.sql).
// Verification afterwards starts from that checkpoint: the first remaining row
// must link to its checksum. Each cut is its own short transaction, so a long
// retention run never holds the sealing horizon back for long, and a run that
// stops half-way leaves every chain at a checkpointed start.
import type pg from 'pg';
import { signCheckpoint, type CheckpointPublicKey, type CheckpointSigner, type AnySignedCheckpoint, type SignedCheckpoint } from '@audit-chain/chain';
import { withTransaction } from '@audit-chain/db';
import { LifecycleError } from '../errors.ts';
import { actAs } from '../roles.ts';
import { isPartitioned } from '../partitioning/partitions.ts';
import { retainPartitions, type PartitionRetention } from './partitions.ts';
import { findCut, listSealedChains, markCheckpointExported, readCutRow, recordCheckpoint, retainPrefix } from './queries.ts';
import { assertSignedCheckpoint } from './signed-cut.ts';

/** Where checkpoints go outside the database: what @audit-chain/verification's sinks provide. */
export interface RetentionSink {
  readonly name: string;
  readonly target: string;
  /** audit_logs' checkpoints (version 1) and, for retain --table, attached tables' chains' (version 2). */
  write(checkpoints: readonly AnySignedCheckpoint[]): Promise<void>;
}

export interface RetainOptions {
  olderThan: Date;
  /** Most rows deleted per cut (each cut is one checkpoint and one transaction). */
  batchRows?: number;
  /** One chain only (null: the system chain). */
  orgId?: string | null;
  dryRun?: boolean;
  signer?: CheckpointSigner | null;
  /** Public keys a checkpoint at a cut must verify under before anything is deleted (the verifier's keyring). */
  keyring?: readonly CheckpointPublicKey[] | null;
  sinks?: readonly RetentionSink[];
  now?: () => Date;
  onCut?: (cut: RetentionCut) => void;
}

export interface RetentionCut {
  orgId: string | null;
  cutSeq: string;
  rows: number;
  /** null in a dry run. */
  checkpoint: SignedCheckpoint | null;
  /** Set when the cut came with dropping this whole partition. */
  partition?: string;
}

export interface ChainRetention {
  orgId: string | null;
  deleted: number;
  cuts: number;
  error: string | null;
}

export interface RetainResult {
  /** Whole partitions considered (a partitioned audit_logs only), oldest first. */
  partitions: PartitionRetention[];
  chains: ChainRetention[];
  deleted: number;
  cuts: number;
  failed: number;
}

export async function retainChains(pool: pg.Pool, options: RetainOptions): Promise<RetainResult> {
  if (!options.dryRun) {
    if (!options.signer) throw new LifecycleError('retention needs the checkpoint signing key (AUDIT_CHAIN_SIGNING_KEY_FILE or AUDIT_CHAIN_SIGNING_KEY, with AUDIT_CHAIN_SIGNING_KEY_ID): rows are deleted only after a signed checkpoint at the cut');
    if (!options.keyring?.length) throw new LifecycleError('retention needs the keyring (AUDIT_CHAIN_KEYRING_FILE or --keyring): rows are deleted only at a checkpoint whose signature verifies under it');
    if (!options.sinks?.length) throw new LifecycleError('retention needs at least one checkpoint sink: the checkpoint at the cut must be kept outside the database');
  }
  const result: RetainResult = { partitions: [], chains: [], deleted: 0, cuts: 0, failed: 0 };
  // Whole old months first (every chain in them), then what is left row by row.
  if (options.orgId === undefined && (await isPartitioned(pool))) {
    result.partitions = await retainPartitions(pool, options);
    // A dry run counts those rows in the row-by-row plan below, as it deletes nothing.
    if (!options.dryRun) for (const partition of result.partitions) if (!partition.skipped) result.deleted += partition.rows + partition.stragglers;
  }
  const chains = (await pool.query<{ org_id: string | null }>(listSealedChains(options.orgId))).rows;
  for (const { org_id: orgId } of chains) {
    const chain: ChainRetention = { orgId, deleted: 0, cuts: 0, error: null };
    try {
      await retainChain(pool, orgId, options, chain);
    } catch (error) {
      // A chain that cannot be cut keeps its rows; the others go on.
      chain.error = (error as Error).message;
      result.failed += 1;
    }
    if (chain.cuts > 0 || chain.error) result.chains.push(chain);
    result.deleted += chain.deleted;
    result.cuts += chain.cuts;
  }
  return result;
}

async function retainChain(pool: pg.Pool, orgId: string | null, options: RetainOptions, chain: ChainRetention): Promise<void> {
  const batchRows = options.batchRows ?? 50_000;
  let afterSeq = 0n;
  while (true) {
    const found = (await pool.query<{ cut_seq: string | null; rows: number }>(findCut(orgId, options.olderThan, batchRows))).rows[0];
    if (!found?.cut_seq || found.rows === 0) return;
    if (options.dryRun) {
      // Nothing is deleted, so the next prefix would be the same rows: report the whole prefix once.
      const whole = (await pool.query<{ cut_seq: string | null; rows: number }>(findCut(orgId, options.olderThan, Number.MAX_SAFE_INTEGER))).rows[0]!;
      chain.cuts += 1;
      chain.deleted += whole.rows;
      options.onCut?.({ orgId, cutSeq: whole.cut_seq!, rows: whole.rows, checkpoint: null });
      return;
    }
    if (BigInt(found.cut_seq) <= afterSeq) {
      throw new LifecycleError(`chain ${orgId ?? 'system'}: the cut did not advance (got chain_seq ${found.cut_seq} after cutting at ${afterSeq}): rows at or below a cut remain`);
    }
    const checkpoint = await signCut(pool, orgId, found.cut_seq, options);
    const checkpointId = await recordAndExport(pool, checkpoint, options.sinks!);
    const deleted = await withTransaction(pool, async (client) => {
      await actAs(client, 'retention');
      await assertSignedCheckpoint(client, checkpointId, options.keyring!);
      const row = (await client.query<{ deleted: string }>(retainPrefix(checkpointId, options.olderThan))).rows[0]!;
      return Number(row.deleted);
    });
    if (deleted !== found.rows) {
      // Rows were added below the cut since it was chosen: impossible for a sealed prefix, so say so.
      throw new LifecycleError(`chain ${orgId ?? 'system'}: deleted ${deleted} rows up to chain_seq ${found.cut_seq}, want ${found.rows}`);
    }
    chain.cuts += 1;
    chain.deleted += deleted;
    afterSeq = BigInt(found.cut_seq);
    options.onCut?.({ orgId, cutSeq: found.cut_seq, rows: deleted, checkpoint });
  }
}

async function signCut(pool: pg.Pool, orgId: string | null, cutSeq: string, options: RetainOptions): Promise<SignedCheckpoint> {
  const row = (await pool.query<{ checksum: string | null; sealed_count: string; watermark_seq: string }>(readCutRow(orgId, cutSeq))).rows[0];
  if (!row?.checksum) throw new LifecycleError(`chain ${orgId ?? 'system'}: row chain_seq ${cutSeq} has no checksum: only sealed rows can be cut`);
  const now = (options.now ?? (() => new Date()))();
  return signCheckpoint({ org_id: orgId, chain_seq: cutSeq, sealed_count: row.sealed_count, checksum: row.checksum, signed_at: now.toISOString() }, options.signer!);
}

/** Records the checkpoint, then writes it to every sink; any sink failing stops the cut (nothing is deleted). */
async function recordAndExport(pool: pg.Pool, checkpoint: SignedCheckpoint, sinks: readonly RetentionSink[]): Promise<string> {
  const id = await withTransaction(pool, async (client) => {
    await actAs(client, 'signer');
    return (await client.query<{ id: string }>(recordCheckpoint(checkpoint, sinks.map((sink) => sink.name)))).rows[0]!.id;
  });
  for (const sink of sinks) {
    try {
      await sink.write([checkpoint]);
    } catch (error) {
      throw new LifecycleError(`checkpoint at chain_seq ${checkpoint.chain_seq} could not be exported to the ${sink.name} sink (${sink.target}): ${(error as Error).message}; nothing deleted`);
    }
    await withTransaction(pool, async (client) => {
      await actAs(client, 'signer');
      await client.query(markCheckpointExported(id, sink.name, new Date()));
    });
  }
  return id;
}
