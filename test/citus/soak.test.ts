// The short soak against the Citus cluster (`npm run soak -- --citus` in
// little): a database of its own on the coordinator and both workers, the API
// and two worker replicas as child processes, writers over HTTP and SQL
// through the coordinator, faults (SIGKILL of a worker replica, its backends
// terminated, and every coordinator connection on the workers terminated),
// then every check: nothing acknowledged or committed lost, nothing rolled
// back present, everything sealed, `audit-chain verify --all` clean.
// SOAK_SEED replays a failed run's schedule.
import { expect, test } from 'vitest';
import { textReport } from '../soak/report.ts';
import { runSoak } from '../soak/soak.ts';
import { citusServerUrl } from './cluster.ts';

const SECONDS = 30;

test(`short soak on Citus: ${SECONDS} s of writes through the coordinator under faults, every acknowledged write stored and sealed, verify clean`, { timeout: 170_000 }, async () => {
  const seed = Number(process.env.SOAK_SEED ?? Math.floor(Math.random() * 1_000_000_000));
  const result = await runSoak(
    { durationSeconds: SECONDS, seed, keep: false, write: false, citusUrl: citusServerUrl(), command: `SOAK_SEED=${seed} npm run test:citus -- test/citus/soak.test.ts` },
    (line) => console.log(`soak: ${line}`),
  );
  console.log(textReport(result));
  expect(result.failures).toEqual([]);
  expect(result.faults.map((fault) => fault.kind)).toEqual(expect.arrayContaining(['kill-worker', 'terminate-worker-backends', 'terminate-node-connections']));
  expect(result.faults.map((fault) => fault.kind)).not.toContain('restart-postgres');
  expect(result.counts.rows).toBeGreaterThan(0);
  expect(result.counts.sealed).toBe(result.counts.rows);
  expect(result.presence.missingAcknowledged).toEqual([]);
  expect(result.presence.missingCommitted).toEqual([]);
  expect(result.verification.verifier?.exitCode).toBe(0);
  expect(result.verification.breaks).toBe(0);
});
