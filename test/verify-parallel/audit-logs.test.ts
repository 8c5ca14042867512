// Parallel verification must report exactly what the sequential verifier
// reports (issue 14): generated chains (format v1 and v2 rows, pending rows,
// signed checkpoints, redacted rows) with generated tampering (content, personal field, link,
// deleted row, swapped rows, a row moved to another chain, an unsealed row, an
// unknown checksum_version), verified sequentially and on worker threads with
// segment seams generated too, including a seam right at a tampered row, for
// every chain or one, from the start or from the latest checkpoint; the JSON
// report and the printed report must be equal. The parallel run reads rows raw
// and builds their canonical texts in Node (raw-segment.ts), the sequential one
// reads PostgreSQL's canonical texts: so rows may also hold odd values (any
// Unicode, quotes and control characters, NULLs, big and nested jsonb, IPv4 and
// IPv6 networks, timestamps in BC years, past 9999 and at infinity under v2).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { ed25519Signer } from '@audit-chain/chain';
import { withChainSearchPath } from '@audit-chain/db';
import { sealOnce } from '@audit-chain/sealing';
import { describeReport, reportJson, runCheckpointRound, runVerification, type RecordedRunOptions, type RecordedRunReport } from '@audit-chain/verification';
import pg from 'pg';
import { insertRows, newOrgId } from '../support/audit-rows.ts';
import { PROBE_COLUMNS, timestampValue } from '../format-v2/generators.ts';
import { withScenarioDatabase } from './scratch.ts';

const TAMPERINGS = ['content', 'personal', 'link', 'delete', 'swap', 'move', 'unseal', 'version'] as const;
type Tampering = (typeof TAMPERINGS)[number];

interface Scenario {
  /** Rows per chain: sealed under the first format, then under the second, then left pending. */
  chains: { first: number; second: number; pending: number }[];
  systemChain: boolean;
  formats: [1 | 2, 1 | 2];
  checkpoints: boolean;
  tampering: { kind: Tampering; chain: number; at: number }[];
  /** Rows whose personal fields are erased (audit_chain_redact) before any tampering. */
  redactions: { chain: number; at: number }[];
  /** Start each chain after its latest trusted checkpoint (when checkpoints are signed). */
  fromCheckpoint: boolean;
  /** Verify only this chain (an index into the chains), not every chain. */
  oneChain: number | null;
  segmentRows: number;
  /** Put a seam right before the first tampered row instead. */
  seamOnBreak: boolean;
  window: number;
  /** Redaction markers a worker reads per segment before probing each row instead: both ways are exercised. */
  redactionLimit: number;
  /** Rows of odd values inserted (in turn) instead of the plain test rows; null: plain rows. */
  odd: OddRow[] | null;
}

/** A row's content as inserted: timestamps in the probe generators' notation (see timestampSql). */
interface OddRow {
  occurredAt: string;
  recordedAt: string;
  actorType: string;
  actorId: string | null;
  actorEmail: string | null;
  action: string;
  resourceType: string | null;
  resourceId: string | null;
  resourceName: string | null;
  details: string | null;
  ipAddress: string | null;
  userAgent: string | null;
  result: string;
  errorMessage: string | null;
}

/** Text PostgreSQL stores as given (no NUL) and Node sends unchanged (no lone surrogate). */
const storable = (text: string) => text.isWellFormed() && !text.includes('\u0000');
const oddText = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }).filter(storable),
  fc.constantFrom('"', '\\', '\\"\n\t\r\b\f\u0001\u001f\u007f', '\u2028\u2029', 'é', 'e\u0301', '𝄞🏳️‍🌈', '', ' ', 'null', 'x'.repeat(5_000)),
);
const nullableText = fc.option(oddText, { nil: null });
const jsonText = fc
  .oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.constantFrom<unknown>({ big: 'y'.repeat(50_000) }, Array.from({ length: 2_000 }, (_, n) => ({ n, k: `é${n}` })), 1e300, -0, 0.1, 12345678901234567890, { '': null, 'a"b': [true, false] }),
  )
  .map((value) => JSON.stringify(value))
  // jsonb refuses the NUL escape and lone surrogates.
  .filter((text) => text !== undefined && !text.includes('\\u0000') && !/\\ud[89a-f]/i.test(text));
const inet = fc.constantFrom('10.0.0.1', '10.0.0.0/8', '192.168.1.5/24', '::1', '2001:db8::ff00:42:8329/64', '::ffff:1.2.3.4', 'fe80::1');
/** Days from 1970-01-01 within years 0001-9999, the years format v1 can hash. */
const v1Instant = fc.tuple(fc.integer({ min: -719_162, max: 2_932_896 }), fc.bigInt({ min: 0n, max: 86_399_999_999n })).map(([days, us]) => `epoch|${days}|${us}`);
const timestampSql = PROBE_COLUMNS.find((column) => column.type === 'timestamp with time zone')!.castSql;

const oddRowArb: fc.Arbitrary<OddRow> = fc.record({
  occurredAt: fc.oneof(timestampValue, v1Instant),
  recordedAt: fc.oneof(timestampValue, v1Instant),
  actorType: oddText,
  actorId: nullableText,
  actorEmail: nullableText,
  action: oddText,
  resourceType: nullableText,
  resourceId: nullableText,
  resourceName: nullableText,
  details: fc.option(jsonText, { nil: null }),
  ipAddress: fc.option(inet, { nil: null }),
  userAgent: nullableText,
  result: fc.constantFrom('success', 'failure', 'denied'),
  errorMessage: nullableText,
});

/** The row as format v1 can seal it: timestamps moved into years 0001-9999 (v1 refuses the others), the rest as is. */
function v1Safe(row: OddRow): OddRow {
  const within = (value: string) => {
    const [kind, days] = value.split('|');
    return kind === 'epoch' && Number(days) >= -719_162 && Number(days) <= 2_932_896 ? value : 'epoch|0|0';
  };
  return { ...row, occurredAt: within(row.occurredAt), recordedAt: within(row.recordedAt) };
}

async function insertOddRows(pool: pg.Pool, orgId: string | null, count: number, rows: readonly OddRow[], format: 1 | 2, offset: number): Promise<void> {
  for (let n = 0; n < count; n += 1) {
    const generated = rows[(offset + n) % rows.length]!;
    const row = format === 1 ? v1Safe(generated) : generated;
    await pool.query(
      `insert into audit_logs (org_id, occurred_at, recorded_at, actor_type, actor_id, actor_email, action, resource_type, resource_id, resource_name, details, ip_address, user_agent, result, error_message)
       values ($1::uuid, ${timestampSql('$2::text')}, ${timestampSql('$3::text')}, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12::inet, $13, $14, $15)`,
      [orgId, row.occurredAt, row.recordedAt, row.actorType, row.actorId, row.actorEmail, row.action, row.resourceType, row.resourceId, row.resourceName, row.details, row.ipAddress, row.userAgent, row.result, row.errorMessage],
    );
  }
}

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  chains: fc.array(fc.record({ first: fc.integer({ min: 0, max: 25 }), second: fc.integer({ min: 0, max: 25 }), pending: fc.integer({ min: 0, max: 4 }) }), { minLength: 1, maxLength: 3 }),
  systemChain: fc.boolean(),
  formats: fc.tuple(fc.constantFrom<1 | 2>(1, 2), fc.constantFrom<1 | 2>(1, 2)),
  checkpoints: fc.boolean(),
  tampering: fc.array(fc.record({ kind: fc.constantFrom(...TAMPERINGS), chain: fc.nat(), at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }) }), { maxLength: 4 }),
  redactions: fc.array(fc.record({ chain: fc.nat(), at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }) }), { maxLength: 2 }),
  fromCheckpoint: fc.boolean(),
  oneChain: fc.option(fc.nat(), { nil: null }),
  segmentRows: fc.integer({ min: 1, max: 12 }),
  seamOnBreak: fc.boolean(),
  window: fc.integer({ min: 1, max: 4 }),
  redactionLimit: fc.constantFrom(0, 1, 50_000),
  odd: fc.option(fc.array(oddRowArb, { minLength: 1, maxLength: 6 }), { nil: null }),
});

const key = (() => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { signer: ed25519Signer('k1', privateKey), keyring: [{ keyId: 'k1', publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(), validFrom: '2000-01-01T00:00:00Z' }] };
})();

async function seal(pool: pg.Pool, formatVersion: 1 | 2): Promise<void> {
  const result = await sealOnce(pool, { batchSize: 7, waitMs: 5_000, pollMs: 10, formatVersion });
  if (result.broken.length > 0) throw new Error(`sealing: got broken chains, want none: ${result.broken.map((error) => error.message).join('; ')}`);
}

async function asAttacker(url: string, work: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: withChainSearchPath(url) });
  await client.connect();
  try {
    await client.query('begin');
    await client.query('set local session_replication_role = replica');
    await work(client);
    await client.query('commit');
  } finally {
    await client.end();
  }
}

async function chainSeqs(client: pg.Client, orgId: string | null): Promise<string[]> {
  const result = await client.query<{ chain_seq: string }>(
    orgId === null ? 'select chain_seq from audit_logs where org_id is null order by chain_seq' : 'select chain_seq from audit_logs where org_id = $1 order by chain_seq',
    orgId === null ? [] : [orgId],
  );
  return result.rows.map((row) => row.chain_seq);
}

/** Applies one tampering; returns the chain_seq it hit (null: nothing to hit). */
async function tamper(client: pg.Client, kind: Tampering, orgId: string | null, otherOrg: string | null, at: number): Promise<string | null> {
  const seqs = await chainSeqs(client, orgId);
  if (seqs.length === 0) return null;
  const index = Math.floor(at * seqs.length);
  const seq = seqs[index]!;
  const next = seqs[index + 1];
  switch (kind) {
    case 'content':
      await client.query(`update audit_logs set actor_id = coalesce(actor_id, '') || '-x' where chain_seq = $1`, [seq]);
      break;
    case 'personal':
      await client.query(`update audit_logs set actor_email = 'someone.else@example.com' where chain_seq = $1`, [seq]);
      break;
    case 'link':
      await client.query(`update audit_logs set prev_checksum = $2 where chain_seq = $1 and prev_checksum is not null`, [seq, randomBytes(32).toString('hex')]);
      break;
    case 'delete':
      await client.query('delete from audit_logs where chain_seq = $1', [seq]);
      break;
    case 'swap':
      // The two rows trade chain values (as if they traded places). Through a copy:
      // updating them in place would meet the unique (org_id, prev_checksum) index halfway.
      if (next === undefined) return null;
      await client.query('create temp table swapped on commit drop as select * from audit_logs where chain_seq in ($1, $2)', [seq, next]);
      await client.query(
        `update swapped s set prev_checksum = o.prev_checksum, checksum = o.checksum, checksum_version = o.checksum_version, pii_digest = o.pii_digest, pii_salt = o.pii_salt
           from audit_logs o where o.chain_seq in ($1, $2) and o.chain_seq <> s.chain_seq`,
        [seq, next],
      );
      await client.query('delete from audit_logs where chain_seq in ($1, $2)', [seq, next]);
      await client.query('insert into audit_logs overriding system value select * from swapped');
      await client.query('drop table swapped');
      break;
    case 'move':
      await client.query('update audit_logs set org_id = $2::uuid where chain_seq = $1', [seq, otherOrg]);
      break;
    case 'unseal':
      await client.query('update audit_logs set prev_checksum = null, checksum = null, checksum_version = null, pii_digest = null, pii_salt = null where chain_seq = $1', [seq]);
      break;
    case 'version':
      await client.query('update audit_logs set checksum_version = 9 where chain_seq = $1 and checksum is not null', [seq]);
      break;
  }
  return seq;
}

describe('parallel verification gives the sequential report', () => {
  test('generated chains, tampering and segment seams', async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (scenario) =>
        withScenarioDatabase(async ({ url, pool }) => {
          const orgs: (string | null)[] = scenario.chains.map(() => newOrgId());
          if (scenario.systemChain) orgs.push(null);
          const plan = [...scenario.chains, ...(scenario.systemChain ? [{ first: 3, second: 2, pending: 1 }] : [])];
          const insert = async (orgId: string | null, count: number, format: 1 | 2, offset: number) => {
            if (count === 0) return;
            if (scenario.odd) await insertOddRows(pool, orgId, count, scenario.odd, format, offset);
            else await insertRows(pool, orgId, count);
          };
          for (const [index, orgId] of orgs.entries()) await insert(orgId, plan[index]!.first, scenario.formats[0], index);
          await seal(pool, scenario.formats[0]);
          if (scenario.checkpoints) await runCheckpointRound(pool, { signer: key.signer, sinks: [], policy: 'requested', waitForLock: true, now: () => new Date('2026-01-01T00:00:00Z') });
          for (const [index, orgId] of orgs.entries()) await insert(orgId, plan[index]!.second, scenario.formats[1], index + 1);
          await seal(pool, scenario.formats[1]);
          for (const [index, orgId] of orgs.entries()) await insert(orgId, plan[index]!.pending, 2, index + 2);

          // Erasure is not tampering: redacted rows verify (and are counted) in both modes.
          let erased = 0;
          for (const erase of scenario.redactions) {
            const orgId = orgs[erase.chain % orgs.length]!;
            const rows = await pool.query<{ id: string }>(
              orgId === null ? 'select id::text from audit_logs where org_id is null and checksum is not null order by chain_seq' : 'select id::text from audit_logs where org_id = $1 and checksum is not null order by chain_seq',
              orgId === null ? [] : [orgId],
            );
            const row = rows.rows[Math.floor(erase.at * rows.rows.length)];
            // AC011: a row already redacted (picked twice) is refused, nothing else may fail.
            if (row) {
              await pool
                .query(`select * from audit_chain_redact($1::uuid, array['actor_email', 'ip_address', 'user_agent'], 'parallel verify test')`, [row.id])
                .then(() => (erased += 1))
                .catch((error: { code?: string }) => {
                  if (error.code !== 'AC011') throw error;
                });
            }
          }

          let firstHit: { orgId: string | null; seq: string } | null = null;
          let hits = 0;
          await asAttacker(url, async (client) => {
            for (const change of scenario.tampering) {
              const orgId = orgs[change.chain % orgs.length]!;
              const other = orgs[(change.chain + 1) % orgs.length]!;
              // A change the table's own constraints refuse (a chain's first row moved next to
              // another chain's first row: two genesis links in one chain) is not made.
              await client.query('savepoint change');
              let seq: string | null;
              try {
                seq = await tamper(client, change.kind, orgId, other === orgId ? newOrgId() : other, change.at);
              } catch (error) {
                if ((error as { code?: string }).code !== '23505') throw error;
                await client.query('rollback to savepoint change');
                seq = null;
              }
              if (seq === null) continue;
              hits += 1;
              firstHit ??= { orgId, seq };
            }
          });

          let segmentRows = scenario.segmentRows;
          if (scenario.seamOnBreak && firstHit) {
            // A seam right before the tampered row: the segment before it ends one row earlier.
            const { orgId, seq } = firstHit as { orgId: string | null; seq: string };
            const before = (await pool.query<{ n: string }>(
              orgId === null ? 'select count(*)::text as n from audit_logs where org_id is null and chain_seq < $1' : 'select count(*)::text as n from audit_logs where org_id = $2 and chain_seq < $1',
              orgId === null ? [seq] : [seq, orgId],
            )).rows[0]!.n;
            segmentRows = Math.max(1, Number(before));
          }

          const common: RecordedRunOptions = {
            keyring: scenario.checkpoints ? key.keyring : null,
            checkpointSources: { directories: [], table: true },
            record: null,
            keepBreaks: 1000,
            fromCheckpoint: scenario.checkpoints && scenario.fromCheckpoint,
            ...(scenario.oneChain === null ? {} : { orgId: orgs[scenario.oneChain % orgs.length]! }),
          };
          // A run that cannot start (one chain named that has no rows) must fail the same way in both modes.
          const outcome = (run: Promise<RecordedRunReport>) =>
            run.then(
              (report) => ({ report }),
              (error: Error) => ({ error: `${error.name}: ${error.message}` }),
            );
          const sequentialRun = await outcome(runVerification(pool, common));
          const parallelRun = await outcome(runVerification(pool, { ...common, parallel: { databaseUrl: url, threads: 2, segmentRows, window: scenario.window, minRows: 0, redactionLimit: scenario.redactionLimit } }));
          if ('error' in sequentialRun) {
            expect(sequentialRun.error).toMatch(/^VerifyRunError: unknown chain/);
            expect(parallelRun).toEqual(sequentialRun);
            return;
          }
          if (!('report' in parallelRun)) throw new Error(`parallel run failed, sequential did not: ${parallelRun.error}`);
          const { report: sequential } = sequentialRun;
          const { report: parallel } = parallelRun;
          expect(reportJson(parallel)).toEqual(reportJson(sequential));
          expect(describeReport(parallel)).toEqual(describeReport(sequential));
          // The scenario really was checked: tampering that hit a sealed row shows.
          if (hits === 0) expect(sequential.breakCount).toBe(0);
          if (scenario.tampering.length === 0 && scenario.oneChain === null && !common.fromCheckpoint) expect(sequential.totals.redacted).toBe(erased);
        }),
      ),
      { numRuns: Number(process.env.PARALLEL_VERIFY_RUNS ?? 15) },
    );
  }, 600_000);
});
