// Seals one chain: in each transaction, lock the chain's state row, read its
// next pending rows in chain_seq order up to the discovered (hence safe)
// position, link them, write the links with one statement, and move the
// watermark with a compare-and-set. A crash anywhere leaves the whole batch or
// none of it.
//
// Pipelined: while batch N is written and committed, batch N+1 is read (on
// another connection, outside the lock) and linked after batch N's head. The
// next transaction uses it only if, under the lock, the chain's state is exactly
// the one it was linked after (watermark and head checksum); otherwise it reads
// and links again under the lock, as an unpipelined batch does. The invariant
// checks, the row count and the watermark compare-and-set run in every
// transaction as before (docs/sealing.md, "Sealing a chain").
import type pg from 'pg';
import { AUDIT_LOGS_V2, CanonicalFormError, CHECKSUM_VERSION, FORMAT_V2, sealBatch, sealRowsCompiledV2, type ChainLink } from '@audit-chain/chain';
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
import { saltSource } from './salt-pool.ts';

export interface SealChainOptions {
  batchSize: number;
  /** Stop after this many batches even if rows remain (the caller comes back). */
  maxBatches?: number;
  /** How far below the watermark each batch looks for an unsealed row. */
  lateRowWindow?: bigint;
  newSalt?: () => string;
  /** The format new rows are sealed under: 2 (default), or 1 (kept for comparisons such as the benchmark). */
  formatVersion?: 1 | 2;
  /** Read and link the next batch while the current one is written (default true; false seals strictly one batch at a time). */
  pipeline?: boolean;
  /** Called between batches; returning true stops after the current batch (shutdown). */
  shouldStop?: () => boolean;
  /**
   * Called after each committed batch with the rows' insert-to-sealed latencies in ms, and
   * whether the batch was the read-ahead (linked while the previous batch was written). The
   * next batch starts once a returned promise settles.
   */
  onBatch?: (batch: { orgId: string | null; sealed: number; latenciesMs: number[]; readAhead: boolean }) => void | Promise<void>;
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
  readAhead?: boolean;
}

type PendingRow = CanonicalRow & { has_chain_values: boolean };

/** A batch of pending rows read and linked after a given chain state. */
interface LinkedBatch {
  /** The watermark and head checksum the rows were linked after. */
  afterSeq: bigint;
  headChecksum: string | null;
  links: ChainLink[];
  lastSeq: bigint;
  /** Some row already had chain values when it was read (slipped in by a privileged connection). */
  hasChainValues: boolean;
}

/** Starts reading and linking the batch after (seq, head); resolves to null if that fails (the locked path then redoes it). */
type StartNext = (afterSeq: bigint, headChecksum: string) => void;

export async function sealChain(pool: pg.Pool, orgId: string | null, options: SealChainOptions): Promise<SealChainResult> {
  const result: SealChainResult = { orgId, status: 'caught_up', sealed: 0, batches: 0, watermark: 0n, overwritten: 0 };
  const maxBatches = options.maxBatches ?? Number.POSITIVE_INFINITY;
  const newSalt = options.newSalt ?? saltSource();
  let next: Promise<LinkedBatch | null> | null = null;
  const startNext: StartNext = (afterSeq, headChecksum) => {
    next = readAhead(pool, orgId, afterSeq, headChecksum, options, newSalt);
  };
  try {
    while (true) {
      const ahead: LinkedBatch | null = next === null ? null : await next;
      next = null;
      // Read ahead only when another batch will follow this one in this call.
      const mayStart = options.pipeline !== false && result.batches + 1 < maxBatches && !options.shouldStop?.();
      let outcome: BatchOutcome;
      try {
        outcome = await withTransaction(pool, (client) => sealOneBatch(client, orgId, options, newSalt, ahead, mayStart ? startNext : null));
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
      await options.onBatch?.({ orgId, sealed: outcome.sealed, latenciesMs: outcome.latenciesMs ?? [], readAhead: outcome.readAhead ?? false });
      if (outcome.sealed < options.batchSize) return { ...result, status: 'caught_up' };
      if (result.batches >= maxBatches || options.shouldStop?.()) return { ...result, status: 'more' };
    }
  } finally {
    // A read-ahead still running is waited for (it never rejects) and dropped.
    if (next !== null) await next;
  }
}

/** Reads the pending rows after `afterSeq` up to the discovered position and links them after `headChecksum`. */
async function readAndLink(
  db: Pick<pg.ClientBase, 'query'>,
  orgId: string | null,
  afterSeq: bigint,
  headChecksum: string | null,
  options: SealChainOptions,
  newSalt: () => string,
): Promise<LinkedBatch | null> {
  const { discoveredSeq } = await getProgress(db);
  const formatVersion = options.formatVersion ?? FORMAT_V2;
  const rows = (await db.query<PendingRow>(readPendingRows(orgId, afterSeq, discoveredSeq, options.batchSize, formatVersion))).rows;
  if (rows.length === 0) return null;
  let links: ChainLink[];
  try {
    links =
      formatVersion === FORMAT_V2
        ? sealRowsCompiledV2(AUDIT_LOGS_V2, { headChecksum, rows: rows.map(toRowV2), newSalt })
        : sealBatch({ headChecksum, rows: rows.map(toRowContent), newSalt });
  } catch (error) {
    // A row the canonical form cannot represent must not be skipped or hashed wrong. Under
    // v2 every value PostgreSQL stores has a canonical text, so this is a broken invariant.
    if (error instanceof CanonicalFormError) throw new ChainInvariantError(orgId, `a pending row has no canonical form: ${error.message}`);
    throw error;
  }
  return {
    afterSeq,
    headChecksum,
    links,
    lastSeq: BigInt(rows[rows.length - 1]!.chain_seq),
    hasChainValues: rows.some((row) => row.has_chain_values),
  };
}

/**
 * The read-ahead: the next batch read on a pool connection of its own, outside any
 * lock, while the current batch is written. Rows at or below the discovered
 * position are final, so these are exactly the rows the locked read would return
 * first. Any failure gives null: the next transaction then reads and links under
 * the lock, where a failure is handled as always (a broken invariant halts).
 */
function readAhead(
  pool: pg.Pool,
  orgId: string | null,
  afterSeq: bigint,
  headChecksum: string,
  options: SealChainOptions,
  newSalt: () => string,
): Promise<LinkedBatch | null> {
  return readAndLink(pool, orgId, afterSeq, headChecksum, options, newSalt).catch(() => null);
}

async function sealOneBatch(
  client: pg.PoolClient,
  orgId: string | null,
  options: SealChainOptions,
  newSalt: () => string,
  ahead: LinkedBatch | null,
  startNext: StartNext | null,
): Promise<BatchOutcome> {
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

  await checkInvariants(client, orgId, watermark, state.head_checksum, options.lateRowWindow ?? 1_000n);

  // The read-ahead counts only if it was linked after exactly this state; else read and link now, under the lock.
  const batch =
    ahead !== null && ahead.afterSeq === watermark && ahead.headChecksum === state.head_checksum
      ? ahead
      : await readAndLink(client, orgId, watermark, state.head_checksum, options, newSalt);
  if (batch === null) return { status: 'caught_up', sealed: 0, watermark, overwritten: 0 };
  const { links, lastSeq } = batch;

  let overwritten = 0;
  if (batch.hasChainValues) {
    overwritten = (await client.query(clearSlippedChainValues(orgId, watermark, lastSeq))).rowCount ?? 0;
  }

  const head = links[links.length - 1]!;
  // A full batch: more rows are likely, so the next batch is read and linked while this one is written.
  if (startNext !== null && links.length >= options.batchSize) startNext(lastSeq, head.checksum);

  const written = await client.query<{ recorded_ms: number | null }>(
    writeLinks(orgId, (options.formatVersion ?? FORMAT_V2) === FORMAT_V2 ? FORMAT_V2 : CHECKSUM_VERSION, {
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
    // A row the product recorded at ±infinity has no latency; it is sealed all the same.
    latenciesMs: written.rows.flatMap((row) => (row.recorded_ms === null ? [] : [moved.rows[0]!.sealed_ms - row.recorded_ms])),
    readAhead: batch === ahead,
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
