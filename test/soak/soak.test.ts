// The short soak as part of `npm test`: its own embedded PostgreSQL, the API and
// two worker replicas as child processes, writers over HTTP and SQL, faults
// (SIGKILL, terminated backends, one PostgreSQL restart), then every check.
// SOAK_SEED replays a failed run's schedule.
import { expect, test } from 'vitest';
import { SHORT_SECONDS } from './options.ts';
import { textReport } from './report.ts';
import { runSoak } from './soak.ts';

test(`short soak: ${SHORT_SECONDS} s of writes under faults, every acknowledged write stored and sealed, zero breaks`, { timeout: 175_000 }, async () => {
  const seed = Number(process.env.SOAK_SEED ?? Math.floor(Math.random() * 1_000_000_000));
  const result = await runSoak(
    { durationSeconds: SHORT_SECONDS, seed, keep: false, write: false, command: `SOAK_SEED=${seed} npx vitest run test/soak` },
    (line) => console.log(`soak: ${line}`),
  );
  console.log(textReport(result));
  expect(result.failures).toEqual([]);
  expect(result.faults.map((fault) => fault.kind)).toEqual(expect.arrayContaining(['kill-worker', 'terminate-worker-backends', 'restart-postgres']));
  expect(result.counts.rows).toBeGreaterThan(0);
  expect(result.counts.sealed).toBe(result.counts.rows);
  expect(result.verification.breaks).toBe(0);
});
