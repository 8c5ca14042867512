// The verification run shared by `audit-chain verify` and the scheduled job:
// checkpoints first (checked against the keyring), then, chain by chain, the
// chain state and the rows in one REPEATABLE READ snapshot, streamed through the
// pure verifier. Memory holds one page of rows, the trusted checkpoints and the
// kept breaks, whatever the chains' lengths.
import type pg from 'pg';
import { verifyChain, type BreakKind, type CheckpointBody, type CheckpointPublicKey, type ChainStateSnapshot, type VerifyCounts } from '@audit-chain/chain';
import { listChainStates, listChainsInRows, streamChainRows, type ChainStateRow } from '@audit-chain/sealing';
import { gatherCheckpoints, type CheckpointEvidence, type CheckpointSources } from './checkpoint-evidence.ts';
import { laterStart, retentionStart } from './retention-start.ts';
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

const EMPTY_STATE: ChainStateSnapshot = { watermarkSeq: '0', headChecksum: null, sealedCount: null };

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
  for (const [index, orgId] of chains.entries()) {
    options.signal?.throwIfAborted();
    const id = chainId(orgId);
    const checkpoints = evidence.trusted.get(id) ?? [];
    const expectedRows = Number(stateOf.get(id)?.sealedCount ?? 0) - Number(options.fromCheckpoint ? (checkpoints.at(-1)?.sealed_count ?? 0) : 0);
    options.onChainStart?.({ orgId, index, total: chains.length, expectedRows: Math.max(0, expectedRows) });
    const summary = await verifyOneChain(pool, orgId, {
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
    });
    rowsBefore += summary.counts.rows;
    report.chains.push(summary);
    addCounts(report.totals, summary.counts);
    report.totals.chains += 1;
    await options.onChainDone?.(summary);
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

interface OneChainOptions {
  checkpoints: readonly CheckpointBody[];
  checkpointBreaks: readonly RunBreak[];
  otherOrgIds: Iterable<string | null>;
  fromCheckpoint: CheckpointBody | null;
  /** Whether checkpoints were checked at all (a keyring was given). */
  keyringGiven: boolean;
  haltIsBreak: boolean;
  pageSize: number | undefined;
  onBreak: (chainBreak: RunBreak) => void;
  onProgress: (rows: number) => void;
}

async function verifyOneChain(pool: pg.Pool, orgId: string | null, options: OneChainOptions): Promise<ChainSummary> {
  const breaksByKind: Partial<Record<BreakKind, number>> = {};
  let breakCount = 0;
  let firstBreak: RunBreak | null = null;
  const onBreak = (chainBreak: RunBreak) => {
    breakCount += 1;
    breaksByKind[chainBreak.kind] = (breaksByKind[chainBreak.kind] ?? 0) + 1;
    firstBreak ??= chainBreak;
    options.onBreak(chainBreak);
  };
  for (const chainBreak of options.checkpointBreaks) onBreak(chainBreak);

  const client = await pool.connect();
  try {
    // State and rows from one snapshot: nothing compared was sealed after what it is compared with.
    await client.query('begin isolation level repeatable read read only');
    // Each page must walk the (org_id, chain_seq) index in order. With statistics
    // that lag a chain's growth the planner may pick a bitmap scan and sort the whole
    // rest of the chain for every page instead, which makes a long chain quadratic.
    await client.query('set local enable_bitmapscan = off');
    await client.query('set local enable_seqscan = off');
    const [state] = await listChainStates(client, orgId);
    if (state?.haltedAt && options.haltIsBreak) {
      onBreak({
        kind: 'chain_halted',
        orgId,
        chainSeq: state.watermarkSeq,
        rowId: null,
        expected: 'not halted',
        found: `halted at ${state.haltedAt}`,
        message: `the sealer halted this chain at ${state.haltedAt} (${state.haltedReason ?? 'no reason recorded'}): rows after the watermark are not sealed until an operator acts`,
      });
    }
    const snapshot = stateSnapshot(orgId, state, options.checkpoints, onBreak);
    // Against a stand-in state the verifier's head checks would only repeat that the state is gone.
    const standIn = state === undefined && snapshot !== EMPTY_STATE;
    const start = laterStart(await retentionStart(client, orgId, options.checkpoints, options.keyringGiven, onBreak, options.pageSize), options.fromCheckpoint);
    const report = await verifyChain(
      {
        orgId,
        state: snapshot,
        checkpoints: options.checkpoints,
        fromCheckpoint: start,
        otherOrgIds: options.otherOrgIds,
        rows: streamChainRows(client, orgId, {
          afterSeq: start ? BigInt(start.chain_seq) : 0n,
          pageSize: options.pageSize,
        }),
      },
      {
        keepBreaks: 0,
        onBreak: (chainBreak) => {
          if (!(standIn && chainBreak.kind === 'head_mismatch')) onBreak({ ...chainBreak, orgId });
        },
        onProgress: (progress) => options.onProgress(progress.counts.rows),
      },
    );
    await client.query('commit');
    return {
      orgId,
      counts: report.counts,
      breakCount,
      breaksByKind,
      firstBreak,
      startedAfter: start?.chain_seq ?? null,
      trustedCheckpoints: options.checkpoints.length,
      watermarkSeq: snapshot.watermarkSeq,
      lastSeq: report.lastSeq,
    };
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/**
 * The chain state to check against. A chain with signed checkpoints but no
 * state row lost it (deleted, or restored from an older backup): that is a
 * break, and the latest checkpoint stands in for the state so the rows it
 * covers are still checked.
 */
function stateSnapshot(orgId: string | null, state: ChainStateRow | undefined, checkpoints: readonly CheckpointBody[], onBreak: (chainBreak: RunBreak) => void): ChainStateSnapshot {
  if (state) return { watermarkSeq: state.watermarkSeq, headChecksum: state.headChecksum, sealedCount: state.sealedCount };
  const latest = checkpoints.at(-1);
  if (!latest) return EMPTY_STATE;
  onBreak({
    kind: 'head_mismatch',
    orgId,
    chainSeq: latest.chain_seq,
    rowId: null,
    expected: `a chain state at or after chain_seq ${latest.chain_seq}`,
    found: null,
    message: `chain ${chainId(orgId)} has no row in audit_chain_state, but signed checkpoints up to chain_seq ${latest.chain_seq}: the chain state was deleted`,
  });
  return { watermarkSeq: latest.chain_seq, headChecksum: latest.checksum, sealedCount: latest.sealed_count };
}

function addCounts(total: VerifyCounts, counts: VerifyCounts): void {
  total.rows += counts.rows;
  total.sealed += counts.sealed;
  total.pending += counts.pending;
  total.redacted += counts.redacted;
  total.moved += counts.moved;
}
