// The verification run shared by `audit-chain verify` and the scheduled job:
// checkpoints first (checked against the keyring), then, chain by chain, the
// chain state and the rows in one REPEATABLE READ snapshot, streamed through the
// pure verifier. Memory holds one page of rows, the trusted checkpoints and the
// kept breaks, whatever the chains' lengths.
import type pg from 'pg';
import { verifyChain, type CheckpointPublicKey, type VerifyCounts } from '@audit-chain/chain';
import { listChainStates, listChainsInRows, streamChainRows } from '@audit-chain/sealing';
import { gatherCheckpoints, type CheckpointEvidence, type CheckpointSources } from './checkpoint-evidence.ts';
import { ChainTally, chainPrelude, rowVerification, walkChainIndexInOrder, type OneChainOptions } from './chain-prelude.ts';
import { PARALLEL_MIN_ROWS, ParallelChainVerifier, type ParallelVerifyOptions } from './verify-parallel.ts';
import { chainId, type ChainSummary, type RunBreak, type VerifyRunReport } from './run-types.ts';

export interface VerifyRunOptions {
  /** One chain (null: the system chain); undefined: every chain. */
  orgId?: string | null;
  /** Public keys that may sign checkpoints; null: checkpoints are not read (links and content only). */
  keyring: readonly CheckpointPublicKey[] | null;
  checkpointSources: CheckpointSources;
  /** Start each chain after its latest trusted checkpoint. */
  fromCheckpoint?: boolean;
  /** Breaks kept in the report (default 1000); all are counted. */
  keepBreaks?: number;
  pageSize?: number;
  onChainStart?: (chain: { orgId: string | null; index: number; total: number; expectedRows: number }) => void;
  onProgress?: (rowsRead: number) => void;
  onChainDone?: (summary: ChainSummary) => void | Promise<void>;
  /**
   * Verify on worker threads (verify-parallel.ts): the same breaks, report and
   * exit status as a sequential run. Undefined: sequential.
   */
  parallel?: ParallelVerifyOptions;
  /** Stops the run between pages of rows (e.g. a worker shutting down); the run then throws the signal's reason. */
  signal?: AbortSignal;
  /**
   * A halted chain is a `chain_halted` break (the default). `audit-chain resume`
   * turns it off: it verifies a chain it knows is halted, to decide whether the
   * halt may be lifted, and only the chain's own evidence counts there.
   */
  haltIsBreak?: boolean;
}

export class VerifyRunError extends Error {
  override name = 'VerifyRunError';
}

export async function verifyChains(pool: pg.Pool, options: VerifyRunOptions): Promise<VerifyRunReport> {
  if (options.fromCheckpoint && !options.keyring) throw new VerifyRunError('--from-checkpoint needs a keyring: only a checkpoint whose signature holds can be a starting point');
  const keep = options.keepBreaks ?? 1000;
  const report: VerifyRunReport = {
    ok: true,
    orgId: options.orgId,
    fromCheckpoint: options.fromCheckpoint ?? false,
    chains: [],
    totals: { chains: 0, rows: 0, sealed: 0, pending: 0, redacted: 0, moved: 0 },
    breakCount: 0,
    breaksByKind: {},
    breaks: [],
    breaksOmitted: 0,
    checkpoints: { checked: options.keyring !== null, keys: options.keyring?.length ?? 0, sources: [], trusted: 0 },
    warnings: [],
  };
  const record = (chainBreak: RunBreak) => {
    report.breakCount += 1;
    report.breaksByKind[chainBreak.kind] = (report.breaksByKind[chainBreak.kind] ?? 0) + 1;
    if (report.breaks.length < keep) report.breaks.push(chainBreak);
    else report.breaksOmitted += 1;
  };

  // 1. Checkpoints, before anything they are compared with.
  let evidence: CheckpointEvidence = { trusted: new Map(), tables: new Map(), breaks: [], sources: [], warnings: [] };
  if (options.keyring) {
    evidence = await gatherCheckpoints(pool, options.keyring, options.checkpointSources, options.orgId);
    report.checkpoints.sources = evidence.sources;
    report.checkpoints.trusted = [...evidence.trusted.values()].reduce((sum, list) => sum + list.length, 0);
    report.warnings.push(...evidence.warnings);
  } else {
    report.warnings.push('no keyring (--keyring or AUDIT_CHAIN_KEYRING_FILE): checkpoints are not checked, so a chain recomputed end to end or a deleted tail with its chain state rewritten would go unnoticed');
  }
  const checkpointBreaks = new Map<string, RunBreak[]>();
  for (const chainBreak of evidence.breaks) {
    if (chainBreak.orgId === undefined) {
      record(chainBreak);
      continue;
    }
    const id = chainId(chainBreak.orgId);
    const list = checkpointBreaks.get(id);
    if (list) list.push(chainBreak);
    else checkpointBreaks.set(id, [chainBreak]);
  }

  // 2. The chains: every chain found in rows, in chain states or in trusted checkpoints. A
  //    chain whose state row was deleted still has its rows; one whose rows and state were
  //    deleted whole still has its checkpoints.
  const states = await listChainStates(pool);
  const allOrgIds = new Set<string | null>(states.map((state) => state.orgId));
  for (const orgId of await listChainsInRows(pool)) allOrgIds.add(orgId);
  for (const list of evidence.trusted.values()) allOrgIds.add(list[0]!.org_id);
  const chains =
    options.orgId === undefined
      ? [...allOrgIds].sort((a, b) => (a === null ? -1 : b === null ? 1 : a < b ? -1 : a > b ? 1 : 0))
      : [options.orgId];
  if (options.orgId !== undefined && !allOrgIds.has(options.orgId)) {
    // A chain named on purpose that the database has never heard of is a mistake (a typo'd
    // --org), not a clean result: "no breaks" would vouch for rows that do not exist.
    if (!(await chainHasRows(pool, options.orgId))) {
      throw new VerifyRunError(`unknown chain ${chainId(options.orgId)}: no audit rows, no chain state and no trusted checkpoint`);
    }
    report.warnings.push(`chain ${chainId(options.orgId)} has no chain state and no trusted checkpoint: nothing of it is sealed`);
  }
  const stateOf = new Map(states.map((state) => [chainId(state.orgId), state]));

  let rowsBefore = 0;
  const chainOptions = (orgId: string | null): OneChainOptions => {
    const id = chainId(orgId);
    const checkpoints = evidence.trusted.get(id) ?? [];
    return {
      checkpoints,
      checkpointBreaks: checkpointBreaks.get(id) ?? [],
      otherOrgIds: allOrgIds,
      fromCheckpoint: options.fromCheckpoint ? (checkpoints.at(-1) ?? null) : null,
      keyringGiven: options.keyring !== null,
      haltIsBreak: options.haltIsBreak ?? true,
      pageSize: options.pageSize,
      onBreak: record,
      onProgress: (rows) => {
        options.signal?.throwIfAborted();
        options.onProgress?.(rowsBefore + rows);
      },
    };
  };
  const sealedRows = chains.reduce((sum, orgId) => sum + Number(stateOf.get(chainId(orgId))?.sealedCount ?? 0), 0);
  const parallel = options.parallel && sealedRows >= (options.parallel.minRows ?? PARALLEL_MIN_ROWS) ? await ParallelChainVerifier.start(pool, chains, chainOptions, options.parallel) : null;
  try {
    for (const [index, orgId] of chains.entries()) {
      options.signal?.throwIfAborted();
      const id = chainId(orgId);
      const checkpoints = evidence.trusted.get(id) ?? [];
      const expectedRows = Number(stateOf.get(id)?.sealedCount ?? 0) - Number(options.fromCheckpoint ? (checkpoints.at(-1)?.sealed_count ?? 0) : 0);
      options.onChainStart?.({ orgId, index, total: chains.length, expectedRows: Math.max(0, expectedRows) });
      const summary = parallel ? await parallel.verifyNext(orgId) : await verifyOneChain(pool, orgId, chainOptions(orgId));
      rowsBefore += summary.counts.rows;
      report.chains.push(summary);
      addCounts(report.totals, summary.counts);
      report.totals.chains += 1;
      await options.onChainDone?.(summary);
    }
  } finally {
    await parallel?.close();
  }
  // Untrusted checkpoints naming a chain that was not walked (no rows, state or trusted checkpoint) are breaks all the same.
  const walked = new Set(chains.map(chainId));
  for (const [id, list] of checkpointBreaks) if (!walked.has(id)) for (const chainBreak of list) record(chainBreak);
  options.onProgress?.(rowsBefore);
  report.ok = report.breakCount === 0;
  return report;
}

async function chainHasRows(pool: pg.Pool, orgId: string | null): Promise<boolean> {
  const result = await pool.query<{ found: boolean }>(
    orgId === null
      ? 'select exists (select 1 from audit_logs where org_id is null) as found'
      : 'select exists (select 1 from audit_logs where org_id = $1::uuid) as found',
    orgId === null ? [] : [orgId],
  );
  return result.rows[0]!.found;
}

async function verifyOneChain(pool: pg.Pool, orgId: string | null, options: OneChainOptions): Promise<ChainSummary> {
  const tally = new ChainTally(options.onBreak);
  const client = await pool.connect();
  try {
    // State and rows from one snapshot: nothing compared was sealed after what it is compared with.
    await client.query('begin isolation level repeatable read read only');
    await walkChainIndexInOrder(client);
    const prelude = await chainPrelude(client, orgId, options, tally.add);
    const verification = rowVerification(orgId, prelude, options, tally.add);
    const report = await verifyChain(
      { ...verification.input, rows: streamChainRows(client, orgId, { afterSeq: prelude.start ? BigInt(prelude.start.chain_seq) : 0n, pageSize: options.pageSize }) },
      verification.options,
    );
    await client.query('commit');
    return tally.summary(orgId, report, prelude, options.checkpoints.length);
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

function addCounts(total: VerifyCounts, counts: VerifyCounts): void {
  total.rows += counts.rows;
  total.sealed += counts.sealed;
  total.pending += counts.pending;
  total.redacted += counts.redacted;
  total.moved += counts.moved;
}
