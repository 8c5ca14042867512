// How a verification report is shown: lines for a person, one JSON object for
// a program. Pure, so the command line and tests print the same thing.
import { BREAK_KINDS } from '@audit-chain/chain';
import type { RecordedRunReport } from './run-verification.ts';
import { chainId, type RunBreak, type VerifyRunReport } from './run-types.ts';

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

function orderedKinds(byKind: VerifyRunReport['breaksByKind']): string {
  return BREAK_KINDS.filter((kind) => byKind[kind]).map((kind) => `${kind} ${byKind[kind]}`).join(', ');
}

function breakChain(chainBreak: RunBreak): string {
  return chainBreak.orgId === undefined ? 'chain unknown' : chainBreak.orgId === null ? 'system chain' : `org ${chainBreak.orgId}`;
}

export function describeBreak(chainBreak: RunBreak): string[] {
  const where = [breakChain(chainBreak), chainBreak.chainSeq === null ? null : `chain_seq ${chainBreak.chainSeq}`, chainBreak.rowId === null ? null : `row ${chainBreak.rowId}`]
    .filter((part) => part !== null)
    .join(', ');
  return [
    `  ${chainBreak.kind}: ${where}`,
    `      expected ${chainBreak.expected ?? '(none)'}`,
    `      found    ${chainBreak.found ?? '(none)'}`,
    `      ${chainBreak.message}`,
  ];
}

export function describeReport(report: RecordedRunReport): string[] {
  const { totals } = report;
  const lines = [
    `verified ${plural(totals.chains, 'chain')}${report.fromCheckpoint ? ' from their latest trusted checkpoints' : ''}: ${plural(totals.rows, 'row')} read, ` +
      `${totals.sealed} sealed and checked, ${totals.pending} pending (not checked), ${totals.redacted} redacted`,
  ];
  if (report.checkpoints.checked) {
    const sources = report.checkpoints.sources.map((source) => `${source.source} ${source.read} read, ${source.trusted} trusted, ${source.rejected} rejected`);
    lines.push(`checkpoints (keyring of ${plural(report.checkpoints.keys, 'key')}): ${report.checkpoints.trusted} trusted${sources.length ? `; ${sources.join('; ')}` : ''}`);
  } else {
    lines.push('checkpoints: not checked (no keyring)');
  }
  if (report.ok) {
    lines.push('no breaks');
  } else {
    lines.push(`${plural(report.breakCount, 'break')}: ${orderedKinds(report.breaksByKind)}`);
    for (const chainBreak of report.breaks) lines.push(...describeBreak(chainBreak));
    if (report.breaksOmitted > 0) lines.push(`  ...and ${plural(report.breaksOmitted, 'more break')} (raise --max-breaks to list them)`);
  }
  if (report.verificationId !== null) lines.push(`recorded as verification ${report.verificationId}`);
  return lines;
}

function breakJson(chainBreak: RunBreak): Record<string, unknown> {
  return {
    kind: chainBreak.kind,
    org_id: chainBreak.orgId ?? null,
    chain: chainBreak.orgId === undefined ? null : chainId(chainBreak.orgId),
    chain_seq: chainBreak.chainSeq,
    row_id: chainBreak.rowId,
    expected: chainBreak.expected,
    found: chainBreak.found,
    message: chainBreak.message,
    ...(chainBreak.source ? { source: chainBreak.source } : {}),
  };
}

/** The --json document: snake_case, counts as numbers, chain_seq values as strings (bigint). */
export function reportJson(report: RecordedRunReport): Record<string, unknown> {
  return {
    ok: report.ok,
    scope: report.orgId === undefined ? 'all' : chainId(report.orgId),
    from_checkpoint: report.fromCheckpoint,
    verification_id: report.verificationId,
    totals: report.totals,
    break_count: report.breakCount,
    breaks_by_kind: report.breaksByKind,
    breaks: report.breaks.map(breakJson),
    breaks_omitted: report.breaksOmitted,
    checkpoints: report.checkpoints,
    chains: report.chains.map((chain) => ({
      org_id: chain.orgId,
      chain: chainId(chain.orgId),
      ...chain.counts,
      watermark_seq: chain.watermarkSeq,
      last_seq: chain.lastSeq,
      started_after: chain.startedAfter,
      trusted_checkpoints: chain.trustedCheckpoints,
      break_count: chain.breakCount,
      breaks_by_kind: chain.breaksByKind,
    })),
    warnings: report.warnings,
  };
}
