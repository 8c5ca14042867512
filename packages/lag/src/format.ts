// The lag views as text for a terminal: aligned tables and a one-screen
// status. Pure functions of the JSON the API also serves, so the command line
// and the API can never disagree on a figure, only on its layout.
import type { ChainDetail, ChainLag, HorizonHolder, HorizonLag, LagOverview, LagStatus, LagTotals, TableLag } from './types.ts';

/** 0.4s, 42s, 5m12s, 3h05m, 2d04h; '-' when unknown. */
export function formatAge(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '-';
  if (seconds < 10) return `${seconds.toFixed(1)}s`;
  if (seconds < 60) return `${Math.floor(seconds)}s`;
  const s = Math.floor(seconds);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d${pad(Math.floor((s % 86_400) / 3600))}h`;
}

/** A latency in the unit that reads best: 850 ms, 57.4 s, 1.5 min, 2.25 h; '-' when unknown. */
export function formatLatency(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const trim = (n: number, digits: number) => String(Number(n.toFixed(digits)));
  if (ms < 60_000) return `${trim(ms / 1000, 1)} s`;
  if (ms < 3_600_000) return `${trim(ms / 60_000, 1)} min`;
  return `${trim(ms / 3_600_000, 2)} h`;
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** Columns padded to their widest cell; `right` columns (numbers) align right. */
export function renderTable(headers: string[], rows: string[][], right: ReadonlySet<number>): string[] {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => (right.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)];
}

const CHAIN_HEADERS = ['TABLE', 'CHAIN', 'PENDING', 'HELD', 'OLDEST PENDING', 'WATERMARK', 'HEAD', 'LAST SEAL', 'CHECKPOINT', 'VERIFIED', 'HALTED'];

function chainRow(chain: ChainLag): string[] {
  const verified = chain.last_verification
    ? `${chain.last_verification.breaks_found > 0 ? `BROKEN: ${chain.last_verification.breaks_found} breaks` : 'clean'} ${formatAge(chain.last_verification.age_seconds)} ago`
    : '-';
  return [
    chain.table,
    chain.chain,
    formatCount(chain.pending_rows),
    formatCount(chain.held_rows),
    formatAge(chain.oldest_pending?.age_seconds),
    chain.watermark_seq,
    chain.head_seq,
    chain.last_seal_age_seconds === null ? '-' : `${formatAge(chain.last_seal_age_seconds)} ago`,
    chain.last_checkpoint ? `${formatAge(chain.last_checkpoint.age_seconds)} ago` : '-',
    verified,
    chain.halted ? `HALTED: ${chain.halted.reason ?? ''}` : chain.drift ? `DRIFTED: run ${chain.drift.command}` : '',
  ];
}

export function renderChainTable(chains: ChainLag[]): string[] {
  return renderTable(CHAIN_HEADERS, chains.map(chainRow), new Set([2, 3, 4, 5, 6, 7, 8]));
}

/** One line per chained table (its own horizon, rows, drift with the command that fixes it), then its holders. */
export function renderTables(tables: readonly TableLag[]): string[] {
  const lines: string[] = [];
  for (const table of tables) {
    const horizon = table.state === 'caught_up' ? 'caught up' : `horizon ${table.horizon_seq} of ${table.head_seq}, ${table.held_seconds > 0 ? `rows waiting ${formatAge(table.held_seconds)}` : 'no rows waiting'}: ${table.state.replace('_', ' ')}`;
    lines.push(
      `  ${table.table}: ${table.status === 'drifted' ? 'DRIFTED, ' : ''}${formatCount(table.pending_rows)} pending (${formatCount(table.held_rows)} held` +
        (table.pending_unattributed > 0 ? `, ${formatCount(table.pending_unattributed)} in no chain yet` : '') +
        `) in ${formatCount(table.chains_with_pending)} of ${formatCount(table.chains)} chains; ${formatCount(table.sealed_rows)} sealed; ${horizon}`,
    );
    if (table.drift) lines.push(`    ${table.drift.message}`, `    fix: ${table.drift.command}`);
    // audit_logs' holders are listed with the horizon above.
    if (table.format_version !== 1) for (const holder of table.holders) lines.push(`  ${holderLine(holder)}`);
  }
  return lines;
}

function holderLine(holder: HorizonHolder): string {
  const who = `${holder.application_name || '?'} (${holder.user_name ?? '?'})`;
  const query = (holder.query ?? '').replace(/\s+/g, ' ').slice(0, 80);
  return `  held by pid ${holder.pid ?? 'prepared'} ${who}, ${holder.state ?? '?'}, transaction open ${formatAge(holder.xact_age_seconds)}: ${query}`;
}

export function renderHorizon(horizon: HorizonLag): string[] {
  const lines = [
    `horizon ${horizon.horizon_seq} of head ${horizon.head_seq}` +
      (horizon.state === 'caught_up'
        ? ' (caught up)'
        : ` (${horizon.lag_seq} behind, ${horizon.held_seconds > 0 ? `rows waiting ${formatAge(horizon.held_seconds)}` : 'no rows waiting'}: ${horizon.state.replace('_', ' ')})`),
  ];
  for (const holder of horizon.holders) lines.push(holderLine(holder));
  return lines;
}

export function renderTotals(totals: LagTotals): string[] {
  const oldest = totals.oldest_pending
    ? `; oldest ${formatAge(totals.oldest_pending.age_seconds)}${totals.oldest_pending.exact ? '' : ' or more'} (${totals.oldest_pending.table} chain ${totals.oldest_pending.chain}, #${totals.oldest_pending.chain_seq})`
    : '';
  const rate = totals.throughput ? `; ${totals.throughput.rows_per_second} rows/s over ${formatAge(totals.throughput.window_seconds)}` : '';
  return [
    `pending ${formatCount(totals.pending_rows)} rows: ${formatCount(totals.pending_rows_discovered + totals.held_rows)} in ${formatCount(totals.chains_with_pending)} chains` +
      ` (${formatCount(totals.held_rows)} of them held above the discovered position or their table's horizon)` +
      (totals.pending_unattributed > 0 ? ` + ${formatCount(totals.pending_unattributed)} in no chain yet (open transactions or rolled back)` : '') +
      oldest,
    `sealed ${formatCount(totals.sealed_rows)} rows in ${formatCount(totals.chains)} chains${rate}; ${totals.halted_chains} halted` +
      (totals.drifted_tables > 0 ? `; ${totals.drifted_tables} table${totals.drifted_tables === 1 ? '' : 's'} DRIFTED (not sealed)` : ''),
  ];
}

export function renderOverview(overview: LagOverview): string[] {
  const lines = [
    ...renderHorizon(overview.horizon),
    ...renderTotals(overview.totals),
    'tables:',
    ...renderTables(overview.tables),
    '',
    ...renderChainTable(overview.chains),
  ];
  if (overview.next_cursor) lines.push('', `more: --cursor ${overview.next_cursor}`);
  return lines;
}

export function renderChainDetail(detail: ChainDetail): string[] {
  const c = detail.chain;
  const lines = [
    `chain           ${c.table} ${c.chain}`,
    `pending         ${formatCount(c.pending_rows)} rows (${formatCount(c.held_rows)} held above ${detail.table_lag ? "the table's horizon" : 'the discovered position'}); oldest ${c.oldest_pending ? `#${c.oldest_pending.chain_seq} recorded ${c.oldest_pending.recorded_at} (${formatAge(c.oldest_pending.age_seconds)} ago)` : '-'}`,
    `watermark/head  ${c.watermark_seq} / ${c.head_seq}; ${formatCount(c.sealed_rows)} rows sealed; last seal ${c.last_sealed_at ?? 'never'}`,
    `halted          ${c.halted ? `HALTED ${c.halted.at}: ${c.halted.reason ?? ''} (investigate: audit-chain verify --org ${c.chain}; resume: audit-chain resume --org ${c.chain})` : 'no'}`,
    `checkpoint      ${c.last_checkpoint ? `#${c.last_checkpoint.chain_seq} signed ${c.last_checkpoint.signed_at} (${formatAge(c.last_checkpoint.age_seconds)} ago, key ${c.last_checkpoint.key_id}); ${c.last_checkpoint.rows_since} rows sealed since` : 'none'}`,
    `verification    ${c.last_verification ? `${c.last_verification.breaks_found > 0 ? 'BROKEN: ' : ''}${c.last_verification.breaks_found} breaks in ${formatCount(c.last_verification.rows_checked)} rows at ${c.last_verification.verified_at}` : 'never'}`,
    ...(c.drift ? [`DRIFTED         ${c.drift.message}`] : []),
    '',
    ...(detail.table_lag ? ['table:', ...renderTables([detail.table_lag])] : renderHorizon(detail.horizon)),
  ];
  return lines;
}

export function renderStatus(status: LagStatus): string[] {
  const latency = status.seal_latency;
  const w = status.workers;
  const cp = status.last_checkpoint;
  const v = status.last_verification;
  const lines = [
    `audit-chain status at ${status.generated_at}`,
    ...renderHorizon(status.horizon),
    ...renderTotals(status.totals),
    'tables:',
    ...renderTables(status.tables),
    `seal latency    ${latency.count === 0 ? 'no seals recorded' : `p50 ${formatLatency(latency.p50_ms)}, p95 ${formatLatency(latency.p95_ms)}, p99 ${formatLatency(latency.p99_ms)} over ${formatCount(latency.count)} rows`}`,
    `workers         ${w.alive} alive, ${w.stale} stale${w.gone > 0 ? `, ${w.gone} gone` : ''}; ${w.last_heartbeat_age_seconds === null ? 'no running worker' : `last heartbeat ${formatAge(w.last_heartbeat_age_seconds)} ago`}; ${formatCount(w.errors)} errors` +
      (w.recent.find((worker) => worker.last_error)?.last_error ? ` (last: ${w.recent.find((worker) => worker.last_error)!.last_error})` : ''),
    `last checkpoint ${cp ? `${formatAge(cp.age_seconds)} ago (chain ${cp.chain} #${cp.chain_seq}, key ${cp.key_id}; ${cp.rows_since} rows sealed since)` : 'none'}`,
    `verification    ${v ? `${v.status} ${formatAge(v.age_seconds)} ago (${v.chains_checked} chains, ${formatCount(v.rows_checked)} rows, ${v.breaks_found} breaks)` : 'never run'}; ${status.verification.chains_with_breaks} chains with breaks`,
    `halted chains   ${status.halted.count === 0 ? 'none' : status.halted.count}`,
  ];
  for (const chain of status.halted.chains) {
    lines.push(`  ${chain.chain} since ${chain.halted_at}: ${chain.reason ?? ''}`);
    lines.push(`    investigate: audit-chain verify --org ${chain.chain}; then resume: audit-chain resume --org ${chain.chain}`);
  }
  return lines;
}
