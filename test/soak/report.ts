// The soak's counts as a plain-text summary (stdout) and as the "Soak" section
// of docs/benchmarks.md.
import { WALK_MAX_ROWS } from './checks.ts';
import { faultKinds } from './faults.ts';
import { BATCH_SHARE, BATCH_SIZE } from './http-writers.ts';
import { SOAK_SHAPE, type SoakResult } from './soak.ts';
import { LONG_TRANSACTION_MS, ROWS_PER_TRANSACTION, SQL_MIX } from './sql-writers.ts';

export function countRows(result: SoakResult): [string, string][] {
  const { ledger, counts, presence, verification } = result;
  const faultsByKind = faultKinds(topologyOf(result)).map((kind) => `${kind} ${result.faults.filter((fault) => fault.kind === kind).length}`).join(', ');
  const failures = [...ledger.httpFailures].sort((a, b) => b[1] - a[1]).map(([kind, n]) => `${kind} x${n}`).join(', ') || 'none';
  const sqlFailures = [...ledger.sqlFailures].sort((a, b) => b[1] - a[1]).map(([kind, n]) => `${kind} x${n}`).join(', ') || 'none';
  return [
    ['HTTP writes attempted', `${ledger.http.events} events in ${ledger.http.requests} requests`],
    ['HTTP writes acknowledged (201)', `${ledger.acknowledged.size} events in ${ledger.http.acknowledgedRequests} requests`],
    ['HTTP writes failed with an error', `${ledger.http.failedEvents} events in ${ledger.http.failedRequests} requests (${failures})`],
    ['SQL transactions', `${ledger.sql.transactions} (${ledger.sql.longTransactions} held open 2-6 s)`],
    ['SQL rows committed', `${ledger.committed.size} in ${ledger.sql.committedTransactions} transactions`],
    ['SQL rows rolled back', `${ledger.rolledBack.size} (${ledger.sql.rolledBackTransactions} rollbacks, ${ledger.sql.savepointRollbacks} savepoint rollbacks, the rest cut by faults)`],
    ['SQL transactions failed', `${ledger.sql.failedTransactions} (${sqlFailures}); ${ledger.sql.inDoubtCommits} of them at COMMIT`],
    ['rows in doubt (failed request or COMMIT)', `${presence.inDoubtPresent + presence.inDoubtAbsent}: ${presence.inDoubtPresent} stored, ${presence.inDoubtAbsent} not`],
    ['rows in audit_logs', String(counts.rows)],
    ['rows sealed (sum of sealed_count)', String(counts.sealed)],
    ['chains', `${counts.chains} (halted: ${counts.halted.length})`],
    ['faults injected', `${result.faults.length}: ${faultsByKind}`],
    ['worker processes started', `${result.workersStarted} (2 replicas + replacements)`],
    ['drain after the writers stopped', result.drainSeconds === undefined ? 'did not finish' : `${result.drainSeconds.toFixed(1)} s; final seal --once sealed ${result.sealedByFinalPass} rows`],
    ['longest sealing stall', `${result.longestStallSeconds.toFixed(1)} s (a chain with discovered rows above its watermark that did not move); ${result.stalls.length} stalls of 5 s or more`],
    ['acknowledged or committed rows missing', String(presence.missingAcknowledged.length + presence.missingCommitted.length)],
    ['rolled-back rows present', String(presence.presentRolledBack.length)],
    ['verification', verificationLine(result)],
    ['breaks', String(verification.breaks)],
  ];
}

function verificationLine(result: SoakResult): string {
  const { verifier, walk } = result.verification;
  const walkText = walk
    ? `independent walk (test/support/chain-check.ts): ${walk.chains} chains, ${walk.sealed} rows, ${walk.problems.length} problems`
    : `independent walk skipped above ${WALK_MAX_ROWS} rows (it holds every row in memory)`;
  if (!verifier) return `${walkText}; audit-chain verify is not in this tree`;
  const totals = verifier.totals ? `${verifier.totals.chains} chains, ${verifier.totals.sealed} rows checked, ` : '';
  return `audit-chain verify --all --json: exit ${verifier.exitCode}, ${totals}${verifier.breaks} breaks; ${walkText}`;
}

function topologyOf(result: SoakResult): 'embedded' | 'citus' {
  return result.options.citusUrl === undefined ? 'embedded' : 'citus';
}

function percent(share: number): string {
  return `${Number((share * 100).toFixed(1))}%`;
}

export function textReport(result: SoakResult): string {
  const rows = countRows(result);
  const width = Math.max(...rows.map(([name]) => name.length));
  const lines = [
    '',
    `soak ${result.failures.length === 0 ? 'PASSED' : 'FAILED'}: seed ${result.options.seed}, ${result.options.durationSeconds} s of writes, ${result.wallSeconds.toFixed(0)} s wall clock` +
      (topologyOf(result) === 'citus' ? `, against Citus (${result.options.citusUrl}: coordinator and its workers)` : ''),
    ...rows.map(([name, value]) => `  ${name.padEnd(width)}  ${value}`),
    '  faults:',
    ...result.faults.map((fault) => `    ${(fault.atMs / 1000).toFixed(1).padStart(6)} s  ${fault.kind}: ${fault.detail}`),
  ];
  if (result.failures.length > 0) lines.push('', 'FAILED CHECKS:', ...result.failures.map((failure) => `  - ${failure}`));
  return `${lines.join('\n')}\n`;
}

export function markdownSection(result: SoakResult, machine: string): string {
  const rows = countRows(result);
  return [
    '## Soak',
    '',
    `\`${result.options.command}\` (seed ${result.options.seed}), ${result.startedAt.toISOString().slice(0, 10)}, ${machine}:`,
    `${result.options.durationSeconds} s of writes under faults, ${result.wallSeconds.toFixed(0)} s wall clock in all (startup, drain and checks included);`,
    `result: **${result.failures.length === 0 ? 'passed' : 'FAILED'}**.`,
    '',
    `What runs: its own embedded PostgreSQL (never the shared server), the API and ${SOAK_SHAPE.replicas} sealing worker`,
    `replicas as child processes (poll ${SOAK_SHAPE.workerTuning.pollMs} ms, batches of ${SOAK_SHAPE.workerTuning.batchSize}, ${SOAK_SHAPE.workerTuning.concurrency} seal jobs at a time); ${SOAK_SHAPE.httpClients} HTTP`,
    `clients (${percent(1 - BATCH_SHARE)} single events, ${percent(BATCH_SHARE)} batches of ${BATCH_SIZE.join('-')}; ${SOAK_SHAPE.orgs} organizations plus the system`,
    `chain, half of the writes to one hot organization) and ${SOAK_SHAPE.sqlConnections} SQL connections (transactions of`,
    `${ROWS_PER_TRANSACTION.join('-')} rows, ${percent(SQL_MIX.rollback)} rolled back, ${percent(SQL_MIX.savepoint)} with a savepoint rolled back, ${percent(SQL_MIX.heldOpen)} held open`,
    `${LONG_TRANSACTION_MS.map((ms) => ms / 1000).join('-')} s). Faults on a seeded schedule: SIGKILL a worker and start a replacement,`,
    '`pg_terminate_backend` on every worker backend, and one PostgreSQL restart (stop, start on',
    'the same data directory and port), after which the API and every worker must recover by',
    'themselves. At the end the workers drain, a final `seal --once` pass finishes, and every',
    'acknowledged and committed row must be stored, no rolled-back row, committed rows = sealed',
    'rows, no chain halted, no chain stalled, every chain verifying with zero breaks.',
    '',
    '| count | value |',
    '| --- | --- |',
    ...rows.map(([name, value]) => `| ${name} | ${value.replaceAll('|', '\\|')} |`),
    '',
    'Faults injected (seconds after the writers started):',
    '',
    ...result.faults.map((fault) => `- ${(fault.atMs / 1000).toFixed(1)} s, ${fault.kind}: ${fault.detail}`),
    '',
    '`npm run soak -- --long` runs 600 s of writes; `--seed N` replays a run\'s fault schedule and the',
    'writers\' choices (not the timing, so not the exact interleaving).',
  ].join('\n');
}
