// Measures what partitioning costs sealing: the same rows sealed on a plain
// audit_logs (no-fork by the partial unique index) and on a partitioned one (no-
// fork by audit_chain_link_claims, filled by a statement trigger with transition
// tables), interleaved rounds. Also the insert path on both. Not a test: run
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres node test/partitioning/seal-cost.ts [rows] [rounds]
// and copy the figures into docs/scaling.md.
import { randomBytes, randomUUID } from 'node:crypto';
import pg from 'pg';
import { createPool, migrate, withDatabaseName } from '@audit-chain/db';
import { convertToPartitioned } from '@audit-chain/lifecycle';
import { sealOnce } from '@audit-chain/sealing';

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const rows = Number(process.argv[2] ?? 50_000);
const rounds = Number(process.argv[3] ?? 3);
const orgs = Array.from({ length: 20 }, () => randomUUID());

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function freshDatabase(partitioned: boolean): Promise<{ name: string; pool: pg.Pool }> {
  const name = `audit_chain_seal_cost_${randomBytes(4).toString('hex')}`;
  await admin((client) => client.query(`create database ${name}`));
  const url = withDatabaseName(serverUrl, name);
  await migrate(url);
  const pool = createPool(url, { applicationName: 'seal-cost', max: 8 });
  if (partitioned) await convertToPartitioned(pool, { monthsAhead: 2 });
  return { name, pool };
}

/** Inserts `rows` rows in 8 concurrent streams of 500-row statements; returns rows per second. */
async function insertRows(pool: pg.Pool): Promise<number> {
  const started = performance.now();
  const per = Math.ceil(rows / 8 / 500);
  await Promise.all(
    Array.from({ length: 8 }, async (_, stream) => {
      for (let i = 0; i < per; i += 1) {
        await pool.query(
          `insert into audit_logs (org_id, actor_type, actor_id, actor_email, action, details, ip_address, user_agent)
           select $1::uuid, 'agent', 'a-' || g, 'x' || g || '@example.com', 'telemetry.submit', jsonb_build_object('n', g), '10.0.0.1', 'agent/2'
             from generate_series(1, 500) g`,
          [orgs[(stream * per + i) % orgs.length]],
        );
      }
    }),
  );
  return (per * 8 * 500) / ((performance.now() - started) / 1000);
}

async function sealAll(pool: pg.Pool): Promise<number> {
  const started = performance.now();
  let sealed = 0;
  while (true) {
    const result = await sealOnce(pool, { batchSize: 5000, waitMs: 2000, pollMs: 20 });
    if (result.broken.length) throw new Error(result.broken[0]!.message);
    sealed += result.sealed;
    if (result.sealed === 0) break;
  }
  return sealed / ((performance.now() - started) / 1000);
}

const results: Record<string, { insert: number[]; seal: number[] }> = { plain: { insert: [], seal: [] }, partitioned: { insert: [], seal: [] } };
for (let round = 0; round < rounds; round += 1) {
  for (const kind of round % 2 === 0 ? (['plain', 'partitioned'] as const) : (['partitioned', 'plain'] as const)) {
    const db = await freshDatabase(kind === 'partitioned');
    try {
      results[kind]!.insert.push(await insertRows(db.pool));
      results[kind]!.seal.push(await sealAll(db.pool));
    } finally {
      await db.pool.end();
      await admin((client) => client.query(`drop database ${db.name} with (force)`));
    }
  }
}
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
for (const [kind, figures] of Object.entries(results)) {
  console.log(`${kind.padEnd(12)} insert ${Math.round(median(figures.insert))} rows/s (${figures.insert.map(Math.round).join(', ')}), seal ${Math.round(median(figures.seal))} rows/s (${figures.seal.map(Math.round).join(', ')})`);
}
