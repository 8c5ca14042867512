// Issue 7, part 3: commit-to-sealed latency under a sustained write rate with a
// sealing worker running. Writers insert single rows in autocommit at a paced
// rate and note when each COMMIT returned; a poller reads the chain watermarks
// every 20 ms and notes when each row's chain passed it. Latency = first poll
// that saw the row sealed - commit time (so it is measured outside the worker,
// with a 20 ms resolution).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrate } from '@audit-chain/db';
import { createScratchDatabase } from './scratch-database.ts';
import { WORKER_ENV, workerSettings } from './worker-env.ts';
import type { BenchOptions, BenchSection, SectionReport } from './section.ts';

const CLI = fileURLToPath(new URL('../../apps/cli/bin/audit-chain.ts', import.meta.url));
const ORGS = 20;
const WRITERS = 8;
const POLL_MS = 20;

interface Written {
  org: string;
  seq: bigint;
  committedAt: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export const endToEndLagSection: BenchSection = {
  id: 'lag',
  title: 'End-to-end lag',
  async run(options: BenchOptions): Promise<SectionReport> {
    const rate = 2000;
    const seconds = options.seconds ?? (options.quick ? 15 : 60);
    const scratch = await createScratchDatabase(options.serverUrl, 'lag');
    options.onCleanup(() => scratch.drop());
    await migrate(scratch.url);
    const orgs = Array.from({ length: ORGS }, (_, index) => `00000000-0000-4000-8000-${String(index).padStart(12, '0')}`);

    const worker = spawn(process.execPath, [CLI, 'worker'], { env: { ...process.env, DATABASE_URL: scratch.url, ...WORKER_ENV }, stdio: 'ignore' });
    const poller = new pg.Client({ connectionString: scratch.url, application_name: 'audit-chain bench poller' });
    await poller.connect();
    const watermarks = new Map<string, { seq: bigint; at: number }[]>();
    let polling = true;
    const polls = (async () => {
      while (polling) {
        const at = performance.now();
        const result = await poller.query<{ org_id: string; watermark_seq: string }>('select org_id::text, watermark_seq::text from audit_chain_state');
        for (const row of result.rows) {
          const history = watermarks.get(row.org_id) ?? [];
          const seq = BigInt(row.watermark_seq);
          if (history.length === 0 || history[history.length - 1]!.seq !== seq) history.push({ seq, at });
          watermarks.set(row.org_id, history);
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    })();

    options.log(`writing ${rate} rows/s for ${seconds} s from ${WRITERS} connections over ${ORGS} organizations, worker running`);
    const written: Written[] = [];
    let behind = 0;
    const start = performance.now();
    const writers = Array.from({ length: WRITERS }, async (_, writer) => {
      const client = new pg.Client({ connectionString: scratch.url, application_name: `audit-chain bench writer ${writer}` });
      await client.connect();
      const interval = (1000 * WRITERS) / rate;
      try {
        for (let index = 0; ; index += 1) {
          const due = start + writer * (interval / WRITERS) + index * interval;
          if (due > start + seconds * 1000) break;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          else behind += 1;
          const org = orgs[(writer + index) % ORGS]!;
          const result = await client.query<{ chain_seq: string }>(
            `insert into audit_logs (org_id, actor_type, actor_id, action, resource_type, resource_id, details, ip_address)
             values ($1, 'agent', 'agent-1', 'telemetry.submitted', 'device', 'dev-1', '{"status":"ok"}', '10.0.0.1') returning chain_seq::text`,
            [org],
          );
          written.push({ org, seq: BigInt(result.rows[0]!.chain_seq), committedAt: performance.now() });
        }
      } finally {
        await client.end();
      }
    });
    await Promise.all(writers);
    const wallSeconds = (performance.now() - start) / 1000;
    // Let the tail seal (bounded), then stop polling.
    const tailDeadline = performance.now() + 30_000;
    const sealedAt = (row: Written): number | undefined => watermarks.get(row.org)?.find((entry) => entry.seq >= row.seq)?.at;
    while (performance.now() < tailDeadline && written.some((row) => sealedAt(row) === undefined)) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    polling = false;
    await polls;
    await poller.end();
    worker.kill('SIGTERM');
    await new Promise((resolve) => worker.once('exit', resolve));
    await scratch.drop();

    const latencies = written.map((row) => {
      const at = sealedAt(row);
      return at === undefined ? Number.POSITIVE_INFINITY : Math.max(0, at - row.committedAt);
    });
    const unsealed = latencies.filter((latency) => !Number.isFinite(latency)).length;
    const sorted = latencies.filter(Number.isFinite).sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    const max = unsealed > 0 ? Number.POSITIVE_INFINITY : sorted[sorted.length - 1]!;
    const achieved = written.length / wallSeconds;
    options.log(`p50 ${p50.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms, max ${max.toFixed(0)} ms over ${written.length} rows (${achieved.toFixed(0)} rows/s achieved)`);
    const met = unsealed === 0 && p99 < 1000;
    const markdown = [
      '## End-to-end lag',
      '',
      `- Command: \`${options.command}\`; date ${new Date().toISOString()}`,
      `- Load: ${WRITERS} connections inserting single rows in autocommit, paced to ${rate} rows/s in total for ${seconds} s, over ${ORGS} organizations; one \`audit-chain worker\` process (${workerSettings()}) running throughout.`,
      `- Latency of a row = the first watermark poll (every ${POLL_MS} ms, from a separate connection) that saw its chain sealed past it, minus the moment its COMMIT returned to the writer: measured from outside the worker, ${POLL_MS} ms resolution.`,
      '',
      '| rows written | achieved rate | late starts | p50 | p99 | max | never sealed |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      `| ${written.length.toLocaleString('en-US')} | ${achieved.toFixed(0)} rows/s | ${behind} | ${p50.toFixed(0)} ms | ${p99.toFixed(0)} ms | ${Number.isFinite(max) ? `${max.toFixed(0)} ms` : 'n/a'} | ${unsealed} |`,
      '',
      'Targets (issue 7):',
      '',
      `- ${met ? 'PASS' : 'MISS'} commit-to-sealed p99 < 1 s at ${rate} rows/s: ${p99.toFixed(0)} ms${unsealed ? ` (${unsealed} rows never sealed within 30 s)` : ''}`,
    ].join('\n');
    return { markdown, targets: [{ name: `commit-to-sealed p99 < 1 s at ${rate} rows/s`, met, measured: `${p99.toFixed(0)} ms` }] };
  },
};
