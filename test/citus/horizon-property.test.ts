// Property: whatever the interleaving of writes through the coordinator (autocommit
// inserts, transactions left open then committed or rolled back, rows left on a
// worker in a prepared transaction then resolved) and sealing rounds, sealing
// never passes a value that is still unresolved: after every round each chain's
// watermark is below its lowest unresolved chain_seq, and every row at or
// below a watermark is sealed. Once everything is resolved, everything seals
// clean. Seeded (fast-check): a failure prints its seed and path.
import fc from 'fast-check';
import type pg from 'pg';
import { expect, test } from 'vitest';
import { insertRows } from '../support/audit-rows.ts';
import { connect } from '../support/database.ts';
import { checkAllChains } from '../support/chain-check.ts';
import { sealFor, watermarkOf } from '../support/horizon-scenarios.ts';
import { createCitusDatabase } from './cluster.ts';
import { orgsOnDifferentWorkers, pendingRows, prepareRowOnWorker, type PreparedRow } from './shards.ts';

const db = await createCitusDatabase();
const seal = sealFor(db);

type Op =
  | { kind: 'insert'; org: number }
  | { kind: 'open'; slot: number; org: number }
  | { kind: 'end'; slot: number; commit: boolean }
  | { kind: 'prepare'; org: number }
  | { kind: 'resolve'; commit: boolean }
  | { kind: 'seal' };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), org: fc.nat(1) }),
  fc.record({ kind: fc.constant('open' as const), slot: fc.nat(1), org: fc.nat(1) }),
  fc.record({ kind: fc.constant('end' as const), slot: fc.nat(1), commit: fc.boolean() }),
  fc.record({ kind: fc.constant('prepare' as const), org: fc.nat(1) }),
  fc.record({ kind: fc.constant('resolve' as const), commit: fc.boolean() }),
  fc.constant({ kind: 'seal' as const }),
);

interface Held {
  org: string;
  seq: bigint;
}

test('sealing on Citus never passes an unresolved chain_seq, and everything seals once resolved', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 4, maxLength: 12 }), async (ops) => {
      const orgs = await orgsOnDifferentWorkers(db.pool);
      const slots: ({ client: pg.Client; held: Held } | null)[] = [null, null];
      let prepared: { row: PreparedRow; held: Held } | null = null;
      const unresolved = (): Held[] => [...slots.flatMap((slot) => (slot ? [slot.held] : [])), ...(prepared ? [prepared.held] : [])];

      const checkRound = async () => {
        await seal(0);
        for (const org of orgs) {
          const lowest = unresolved()
            .filter((held) => held.org === org)
            .reduce<bigint | null>((low, held) => (low === null || held.seq < low ? held.seq : low), null);
          if (lowest !== null) expect(await watermarkOf(db, org)).toBeLessThan(lowest);
        }
        expect((await checkAllChains(db.pool)).problems).toEqual([]);
      };

      try {
        for (const step of ops) {
          if (step.kind === 'insert') await insertRows(db.pool, orgs[step.org]!, 1, 'prop.insert');
          else if (step.kind === 'open' && !slots[step.slot]) {
            const client = await connect(db.url, `prop-open-${step.slot}`);
            await client.query('begin');
            const [seq] = await insertRows(client, orgs[step.org]!, 1, 'prop.open');
            slots[step.slot] = { client, held: { org: orgs[step.org]!, seq: seq! } };
          } else if (step.kind === 'end' && slots[step.slot]) {
            const { client } = slots[step.slot]!;
            await client.query(step.commit ? 'commit' : 'rollback');
            await client.end();
            slots[step.slot] = null;
          } else if (step.kind === 'prepare' && !prepared) {
            const row = await prepareRowOnWorker(db, orgs[step.org]!, 'prop.prepared');
            prepared = { row, held: { org: orgs[step.org]!, seq: row.seq } };
          } else if (step.kind === 'resolve' && prepared) {
            await prepared.row.worker.query(`${step.commit ? 'commit' : 'rollback'} prepared '${prepared.row.gid}'`);
            await prepared.row.worker.end();
            prepared = null;
          } else if (step.kind === 'seal') await checkRound();
        }
        await checkRound();
      } finally {
        for (const slot of slots) {
          if (!slot) continue;
          await slot.client.query('commit');
          await slot.client.end();
        }
        if (prepared) {
          await prepared.row.worker.query(`commit prepared '${prepared.row.gid}'`);
          await prepared.row.worker.end();
        }
      }
      const final = await seal(10_000);
      expect(final.holders).toEqual([]);
      expect(await pendingRows(db.pool)).toBe(0);
      expect((await checkAllChains(db.pool)).problems).toEqual([]);
    }),
    { numRuns: Number(process.env.CITUS_PROPERTY_RUNS ?? 8), ...(process.env.CITUS_PROPERTY_SEED ? { seed: Number(process.env.CITUS_PROPERTY_SEED) } : {}) },
  );
});
