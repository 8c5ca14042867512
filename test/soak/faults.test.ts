// The soak's fault schedule and options, for both topologies (fast-check):
// every kind of the topology is planned, its once-per-run fault exactly once,
// and a Citus run never restarts PostgreSQL (the cluster is shared).
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { faultKinds, onceFault, planFaults } from './faults.ts';
import { DEFAULT_CITUS_URL, parseSoakOptions } from './options.ts';
import { seededRandom } from './random.ts';

describe('soak fault plan', () => {
  test('each topology: every kind planned, the once-per-run fault exactly once, in time order within the run', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 10, max: 900 }), fc.constantFrom('embedded' as const, 'citus' as const), (seed, seconds, topology) => {
        const durationMs = seconds * 1000;
        const plan = planFaults(durationMs, seededRandom(seed), topology);
        const kinds = plan.map((fault) => fault.kind);
        for (const kind of faultKinds(topology)) expect(kinds).toContain(kind);
        expect(kinds.filter((kind) => kind === onceFault(topology))).toHaveLength(1);
        expect(kinds.every((kind) => faultKinds(topology).includes(kind))).toBe(true);
        if (topology === 'citus') expect(kinds).not.toContain('restart-postgres');
        for (const fault of plan) expect(fault.atMs).toBeLessThanOrEqual(durationMs);
      }),
      { numRuns: 300 },
    );
  });
});

describe('soak options', () => {
  test('--citus takes an optional URL, else CITUS_DATABASE_URL, else the cluster script\'s coordinator; bad combinations are refused', () => {
    const saved = process.env.CITUS_DATABASE_URL;
    try {
      delete process.env.CITUS_DATABASE_URL;
      expect(parseSoakOptions([])).toMatchObject({ citusUrl: undefined });
      expect(parseSoakOptions(['--citus'])).toMatchObject({ citusUrl: DEFAULT_CITUS_URL });
      process.env.CITUS_DATABASE_URL = 'postgres://a@h:1/x';
      expect(parseSoakOptions(['--citus', '--duration', '20'])).toMatchObject({ citusUrl: 'postgres://a@h:1/x', durationSeconds: 20 });
      expect(parseSoakOptions(['--citus', 'postgres://b@h:2/y'])).toMatchObject({ citusUrl: 'postgres://b@h:2/y' });
      expect(() => parseSoakOptions(['postgres://b@h:2/y'])).toThrow(/unexpected argument/);
      expect(() => parseSoakOptions(['--citus', '--write'])).toThrow(/--write records the embedded PostgreSQL run only/);
    } finally {
      if (saved === undefined) delete process.env.CITUS_DATABASE_URL;
      else process.env.CITUS_DATABASE_URL = saved;
    }
  });
});
