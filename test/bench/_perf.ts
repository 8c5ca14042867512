import { createPool } from '@audit-chain/db';
import { runVerification } from '@audit-chain/verification';
const url = 'postgres://postgres@127.0.0.1:5444/perf_verify';
const pool = createPool(url, { applicationName: 'perf', max: 4 });
for (const mode of (process.argv[2] ?? 'seq,par').split(',')) {
  const t = performance.now();
  const r = await runVerification(pool, { keyring: null, checkpointSources: { directories: [], table: false }, record: null, ...(mode === 'par' ? { parallel: { databaseUrl: url, threads: Number(process.env.T ?? 2) } } : {}) });
  const cpu = process.cpuUsage();
  console.log(mode, ((performance.now() - t) / 1000).toFixed(2), 's', r.totals.rows, r.breakCount, 'rss', (process.memoryUsage().rss / 2 ** 20).toFixed(0), 'cpu', (cpu.user / 1e6).toFixed(1));
}
await pool.end();
