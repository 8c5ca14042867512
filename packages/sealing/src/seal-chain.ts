// Seals one chain: in each transaction, lock the chain's state row, read its
// next pending rows in chain_seq order up to the discovered (hence safe)
// position, link them, write the links with one statement, and move the
// watermark with a compare-and-set. A crash anywhere leaves the whole batch or
// none of it.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { AUDIT_LOGS_V2, CanonicalFormError, CHECKSUM_VERSION, FORMAT_V2, sealBatch, sealRowsV2, type ChainLink } from '@audit-chain/chain';
import { withTransaction } from '@audit-chain/db';
import { ChainInvariantError } from './errors.ts';
import { readSequenceHead } from './horizon.ts';
import { getProgress } from './progress.ts';
import {
  advanceWatermark,
  recordSealInDiscovery,
  chainStateExists,
  clearSlippedChainValues,
  findGenesisRow,
  findUnsealedBelowWatermark,
  haltChain,
  lockChainState,
  readHeadRow,
  readPendingRows,
  writeLinks,
} from './queries.ts';
import { toRowContent, toRowV2, type CanonicalRow } from './rows.ts';

export interface SealChainOptions {
  batchSize: number;
  /** Stop after this many batches even if rows remain (the caller comes back). */
  maxBatches?: number;
  /** How far below the watermark each batch looks for an unsealed row. */
  lateRowWindow?: bigint;
  newSalt?: () => string;
  /** The format new rows are sealed under: 2 (default), or 1 (kept for comparisons such as the benchmark). */
  formatVersion?: 1 | 2;
  /** Called between batches; returning true stops after the current batch (shutdown). */
  shouldStop?: () => boolean;
  /** Called after each committed batch with the rows' insert-to-sealed latencies in ms. */
  onBatch?: (batch: { orgId: string | null; sealed: number; latenciesMs: number[] }) => void;
}

export type SealChainStatus = 'caught_up' | 'more' | 'busy' | 'halted' | 'missing';

export interface SealChainResult {
  orgId: string | null;
  status: SealChainStatus;
  sealed: number;
  batches: number;
  watermark: bigint;
  /** Pending rows whose slipped-in chain values were overwritten. */
  overwritten: number;
}

interface BatchOutcome {
  status: SealChainStatus | 'sealed';
  sealed: number;
  watermark: bigint;
  overwritten: number;
  latenciesMs?: number[];
}

const defaultSalt = () => randomBytes(16).toString('hex');

export async function sealChain(pool: pg.Pool, orgId: string | null, options: SealChainOptions): Promise<SealChainResult> {
  const result: SealChainResult = { orgId, status: 'caught_up', sealed: 0, batches: 0, watermark: 0n, overwritten: 0 };
  const maxBatches = options.maxBatches ?? Number.POSITIVE_INFINITY;
  while (true) {
    let outcome: BatchOutcome;
    try {
      outcome = await withTransaction(pool, (client) => sealOneBatch(client, orgId, options));
    } catch (error) {
      if (error instanceof ChainInvariantError) await pool.query(haltChain(orgId, error.message));
      throw error;
    }
    result.watermark = outcome.watermark;
    result.overwritten += outcome.overwritten;
    if (outcome.status !== 'sealed') {
      result.status = outcome.status;
      return result;
    }
    result.sealed += outcome.sealed;
    result.batches += 1;
    options.onBatch?.({ orgId, sealed: outcome.sealed, latenciesMs: outcome.latenciesMs ?? [] });
    if (outcome.sealed < options.batchSize) return { ...result, status: 'caught_up' };
    if (result.batches >= maxBatches || options.shouldStop?.()) return { ...result, status: 'more' };
  }
}

async function sealOneBatch(client: pg.PoolClient, orgId: string | null, options: SealChainOptions): Promise<BatchOutcome> {
  const state = (
    await client.query<{ watermark_seq: string; head_checksum: string | null; halted_at: Date | null }>(lockChainState(orgId))
  ).rows[0];
  // No row: discovery has not created this chain yet. Locked: another sealer has it.
  if (!state) {
    const exists = await client.query(chainStateExists(orgId));
    return { status: exists.rowCount ? 'busy' : 'missing', sealed: 0, watermark: 0n, overwritten: 0 };
  }
  const watermark = BigInt(state.watermark_seq);
  if (state.halted_at) return { status: 'halted', sealed: 0, watermark, overwritten: 0 };

  const { discoveredSeq } = await getProgress(client);
  await checkInvariants(client, orgId, watermark, state.head_checksum, options.lateRowWindow ?? 1_000n);

  const formatVersion = options.formatVersion ?? FORMAT_V2;
  const rows = (await client.query<CanonicalRow & { has_chain_values: boolean }>(
    readPendingRows(orgId, watermark, discoveredSeq, options.batchSize, formatVersion),
  )).rows;
  if (rows.length === 0) return { status: 'caught_up', sealed: 0, watermark, overwritten: 0 };

  const lastSeq = BigInt(rows[rows.length - 1]!.chain_seq);
  let overwritten = 0;
  if (rows.some((row) => row.has_chain_values)) {
    overwritten = (await client.query(clearSlippedChainValues(orgId, watermark, lastSeq))).rowCount ?? 0;
  }

  let links: ChainLink[];
  const newSalt = options.newSalt ?? defaultSalt;
  try {
    links =
      formatVersion === FORMAT_V2
        ? sealRowsV2(AUDIT_LOGS_V2, { headChecksum: state.head_checksum, rows: rows.map(toRowV2), newSalt })
        : sealBatch({ headChecksum: state.head_checksum, rows: rows.map(toRowContent), newSalt });
  } catch (error) {
    // A row the canonical form cannot represent must not be skipped or hashed wrong. Under
    // v2 every value PostgreSQL stores has a canonical text, so this is a broken invariant.
    if (error instanceof CanonicalFormError) throw new ChainInvariantError(orgId, `a pending row has no canonical form: ${error.message}`);
    throw error;
  }
  const written = await client.query<{ recorded_ms: number }>(
    writeLinks(orgId, formatVersion === FORMAT_V2 ? FORMAT_V2 : CHECKSUM_VERSION, {
      chainSeqs: links.map((link) => link.chainSeq),
      prevChecksums: links.map((link) => link.prevChecksum),
      checksums: links.map((link) => link.checksum),
      piiDigests: links.map((link) => link.piiDigest),
      piiSalts: links.map((link) => link.piiSalt),
    }),
  );
  if (written.rowCount !== links.length) {
    throw new ChainInvariantError(orgId, `wrote links to ${written.rowCount} rows, want ${links.length}`);
  }
  const head = links[links.length - 1]!;
  await client.query(recordSealInDiscovery(orgId, links.length));
  const moved = await client.query<{ sealed_ms: number }>(advanceWatermark(orgId, watermark, lastSeq, head.checksum, links.length));
  if (moved.rowCount !== 1) {
    // The state row is locked by this transaction, so this means the row changed under the lock: never expected.
    throw new ChainInvariantError(orgId, `watermark compare-and-set from ${watermark} failed`);
  }
  return {
    status: 'sealed',
    sealed: links.length,
    watermark: lastSeq,
    overwritten,
    latenciesMs: written.rows.map((row) => moved.rows[0]!.sealed_ms - row.recorded_ms),
  };
}

async function checkInvariants(
  client: pg.PoolClient,
  orgId: string | null,
  watermark: bigint,
  headChecksum: string | null,
  lateRowWindow: bigint,
): Promise<void> {
  const sequenceHead = await readSequenceHead(client);
  if (watermark > sequenceHead) {
    throw new ChainInvariantError(orgId, `watermark ${watermark} is above the highest chain_seq ever handed out (${sequenceHead})`);
  }
  if (watermark === 0n) {
    const genesis = (await client.query<{ chain_seq: string }>(findGenesisRow(orgId))).rows[0];
    if (genesis) {
      throw new ChainInvariantError(
        orgId,
        `chain state says nothing is sealed, but row chain_seq ${genesis.chain_seq} is already linked to the genesis value: refusing to start the chain over`,
      );
    }
    return;
  }
  const head = (await client.query<{ checksum: string | null }>(readHeadRow(orgId, watermark))).rows[0];
  if (!head) throw new ChainInvariantError(orgId, `the row at the watermark (chain_seq ${watermark}) is missing`);
  if (head.checksum !== headChecksum) {
    throw new ChainInvariantError(
      orgId,
      `link mismatch at the watermark (chain_seq ${watermark}): got checksum ${head.checksum}, want ${headChecksum}`,
    );
  }
  const late = (await client.query<{ chain_seq: string }>(findUnsealedBelowWatermark(orgId, watermark, lateRowWindow))).rows[0];
  if (late) {
    throw new ChainInvariantError(orgId, `row chain_seq ${late.chain_seq} is below the watermark ${watermark} but has no links`);
  }
}
