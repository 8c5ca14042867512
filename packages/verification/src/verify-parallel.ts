// Parallel verification (`audit-chain verify --jobs N`). The costly part of
// verifying a row is recomputing its checksum and personal digest, and that
// depends only on the row itself; everything else the verifier checks (links,
// order, the watermark, checkpoints, counts) is cheap and needs the rows in
// chain order. So each chain is cut into segments of chain_seq ranges; worker
// threads read segments (several chains and several ranges of one long chain at
// once) on their own connections, in the snapshot the coordinator exported, and
// hash their rows; the coordinator feeds the rows back, segment after segment in
// chain order, through the same ChainVerifier as a sequential run, so the links
// across segment seams are checked like any other and the breaks, the report and
// the exit status are the same. Memory: at most `window` segments are read
// ahead, each at most `segmentRows` rows, whatever the chains' lengths.
import { availableParallelism } from 'node:os';
import type pg from 'pg';
import Tinypool from 'tinypool';
import { verifyCheckedChain, type CheckedRow } from '@audit-chain/chain';
import { unpackRows, type PackedRows } from './packed-rows.ts';
import type { ChainSummary, RunBreak } from './run-types.ts';
import { segmentEnd } from './segment-rows.ts';
import { ChainTally, chainPrelude, rowVerification, walkChainIndexInOrder, type ChainPrelude, type OneChainOptions } from './chain-prelude.ts';
import type { SegmentTask } from './verify-segment-worker.ts';

export interface ParallelVerifyOptions {
  /** The database the pool connects to: worker threads open their own connections to it. */
  databaseUrl: string;
  /** Worker threads (default: the machine's available parallelism). */
  threads?: number;
  /** Rows per segment (default 5,000). */
  segmentRows?: number;
  /** Segments read ahead of the one being checked (default: twice the threads). */
  window?: number;
  /** Redaction markers a worker reads per segment before it probes each row instead (default 50,000). */
  redactionLimit?: number;
  /**
   * Below this many sealed rows in the chains' states the run stays sequential:
   * starting threads costs more than it saves (default 50,000; 0: always parallel).
   */
  minRows?: number;
}

export const PARALLEL_MIN_ROWS = 50_000;

export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

interface PlannedChain {
  orgId: string | null;
  options: OneChainOptions;
  prelude: ChainPrelude;
  /** The prelude's breaks, reported when the chain's turn comes. */
  preludeBreaks: RunBreak[];
  /** Segments being read, in chain order. */
  reads: Promise<PackedRows>[];
  /** Where the next segment starts; null once the last segment (to the chain's end) was started. */
  nextAfter: string | null;
}

/**
 * Verifies chains one after another in the caller's order (verifyNext), reading
 * and hashing ahead on worker threads. One REPEATABLE READ transaction holds the
 * snapshot every read of the run shares.
 */
export class ParallelChainVerifier {
  /** Planned chains not yet verified, in order. */
  private readonly planned: PlannedChain[] = [];
  /** The chain whose segments are being started. */
  private planning: PlannedChain | null = null;
  private nextToPlan = 0;
  private inFlight = 0;
  private readonly segmentRows: number;
  private readonly window: number;
  private readonly client: pg.PoolClient;
  private readonly pool: Tinypool;
  private readonly snapshot: string;
  private readonly chains: readonly (string | null)[];
  private readonly optionsFor: (orgId: string | null) => OneChainOptions;
  private readonly databaseUrl: string;
  private readonly redactionLimit: number;

  private constructor(client: pg.PoolClient, snapshot: string, chains: readonly (string | null)[], optionsFor: (orgId: string | null) => OneChainOptions, options: ParallelVerifyOptions) {
    this.client = client;
    this.snapshot = snapshot;
    this.chains = chains;
    this.optionsFor = optionsFor;
    this.databaseUrl = options.databaseUrl;
    this.redactionLimit = options.redactionLimit ?? 50_000;
    const threads = options.threads ?? defaultThreads();
    this.segmentRows = options.segmentRows ?? 5_000;
    this.window = options.window ?? threads * 2;
    this.pool = new Tinypool({
      filename: new URL('./verify-segment-worker.ts', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      teardown: 'closeConnections',
      // A thread holds one FETCH page and one segment's packed rows (a few MB); without
      // a cap each thread's heap grows with its garbage to hundreds of MB before V8 collects.
      resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 },
    });
  }

  static async start(pool: pg.Pool, chains: readonly (string | null)[], optionsFor: (orgId: string | null) => OneChainOptions, options: ParallelVerifyOptions): Promise<ParallelChainVerifier> {
    const client = await pool.connect();
    try {
      await client.query('begin isolation level repeatable read read only');
      await walkChainIndexInOrder(client);
      const snapshot = (await client.query<{ id: string }>('select pg_export_snapshot() as id')).rows[0]!.id;
      return new ParallelChainVerifier(client, snapshot, chains, optionsFor, options);
    } catch (error) {
      await client.query('rollback').catch(() => {});
      client.release();
      throw error;
    }
  }

  /** Verifies the next chain of the list given to start(); `orgId` must be that chain. */
  async verifyNext(orgId: string | null): Promise<ChainSummary> {
    await this.fill();
    const chain = this.planned.shift();
    if (!chain || chain.orgId !== orgId) throw new Error(`parallel verification: got chain ${orgId ?? 'system'}, want ${chain ? (chain.orgId ?? 'system') : 'none'} (chains out of order)`);
    const { options } = chain;
    const tally = new ChainTally(options.onBreak);
    for (const chainBreak of chain.preludeBreaks.splice(0)) tally.add(chainBreak);
    const verification = rowVerification(orgId, chain.prelude, options, tally.add);
    const report = await verifyCheckedChain({ ...verification.input, rows: this.rowsOf(chain) }, verification.options);
    return tally.summary(orgId, report, chain.prelude, options.checkpoints.length);
  }

  /** Ends the snapshot and the worker threads (their connections first). */
  async close(): Promise<void> {
    for (const chain of this.planned) for (const read of chain.reads) read.catch(() => {});
    let broken = false;
    try {
      await this.client.query('commit');
    } catch {
      broken = true; // the connection is gone: the pool must not hand it out again
    }
    this.client.release(broken);
    await this.pool.destroy();
  }

  private async *rowsOf(chain: PlannedChain): AsyncGenerator<CheckedRow> {
    for (;;) {
      if (chain.reads.length === 0) {
        if (chain.nextAfter === null) return;
        // Every read in flight is this chain's (earlier chains were consumed), so fill() starts one.
        await this.fill();
        if (chain.reads.length === 0) throw new Error('parallel verification: no segment of the current chain could be started');
        continue;
      }
      const packed = await chain.reads.shift()!;
      this.inFlight -= 1;
      await this.fill();
      yield* unpackRows(packed);
    }
  }

  /** Plans chains and starts segment reads until `window` are in flight or every chain is planned. */
  private async fill(): Promise<void> {
    while (this.inFlight < this.window) {
      let chain = this.planning;
      if (!chain || chain.nextAfter === null) {
        if (this.nextToPlan >= this.chains.length) return;
        chain = await this.plan(this.chains[this.nextToPlan++]!);
        this.planned.push(chain);
        this.planning = chain;
      }
      const after = chain.nextAfter!;
      const end = (await this.client.query<{ chain_seq: string }>(segmentEnd(chain.orgId, after, this.segmentRows))).rows[0]?.chain_seq ?? null;
      const task: SegmentTask = { databaseUrl: this.databaseUrl, snapshot: this.snapshot, redactionLimit: this.redactionLimit, orgId: chain.orgId, afterSeq: after, uptoSeq: end };
      const read = this.pool.run(task) as Promise<PackedRows>;
      // Awaited in order later; until then a failure must not count as unhandled.
      read.catch(() => {});
      chain.reads.push(read);
      this.inFlight += 1;
      chain.nextAfter = end;
    }
  }

  private async plan(orgId: string | null): Promise<PlannedChain> {
    const options = this.optionsFor(orgId);
    const preludeBreaks: RunBreak[] = [];
    const prelude = await chainPrelude(this.client, orgId, options, (chainBreak) => preludeBreaks.push(chainBreak));
    return { orgId, options, prelude, preludeBreaks, reads: [], nextAfter: prelude.start ? prelude.start.chain_seq : '0' };
  }
}
