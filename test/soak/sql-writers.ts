// Writers directly over SQL, the way a product's own code writes audit rows:
// transactions of a few rows, some rolled back, some with a savepoint rolled
// back, some held open for seconds (they hold the safe horizon back). A row
// counts as committed only after COMMIT returned; as rolled back only when no
// COMMIT was ever sent for it; a COMMIT that errored leaves it in doubt.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { withChainSearchPath } from '@audit-chain/db';
import { errorKind, type Ledger } from './ledger.ts';
import type { Random } from './random.ts';
import { pickOrg, type SoakOrgs } from './workload.ts';

export interface SqlWritersOptions {
  databaseUrl: string;
  connections: number;
  orgs: SoakOrgs;
  random: Random;
  ledger: Ledger;
  running(): boolean;
  maxPauseMs: number;
}

/** Shares of transactions rolled back, with a savepoint rolled back, and held open for LONG_TRANSACTION_MS. */
export const SQL_MIX = { rollback: 0.12, savepoint: 0.12, heldOpen: 0.015 } as const;
export const LONG_TRANSACTION_MS: readonly [number, number] = [2000, 6000];
export const ROWS_PER_TRANSACTION: readonly [number, number] = [1, 5];

export async function runSqlWriters(options: SqlWritersOptions): Promise<void> {
  await Promise.all(Array.from({ length: options.connections }, (_, writer) => runWriter(options, writer, options.random.fork(1000 + writer))));
}

async function runWriter(options: SqlWritersOptions, writer: number, random: Random): Promise<void> {
  const { ledger } = options;
  let client: pg.Client | undefined;
  while (options.running()) {
    try {
      client ??= await connect(options.databaseUrl, `audit-chain soak sql writer ${writer}`);
    } catch (error) {
      ledger.countSqlFailure(`connect ${errorKind(error)}`);
      await pause(random.int(200, 500));
      continue;
    }
    const ok = await writeTransaction(client, options, random);
    if (!ok) {
      await client.end().catch(() => {});
      client = undefined;
      await pause(random.int(100, 300));
    } else {
      await pause(random.int(0, options.maxPauseMs));
    }
  }
  await client?.end().catch(() => {});
}

/** One transaction; false when the connection failed and must be replaced. */
async function writeTransaction(client: pg.Client, options: SqlWritersOptions, random: Random): Promise<boolean> {
  const { ledger } = options;
  const org = pickOrg(options.orgs, random);
  const ids = Array.from({ length: random.int(...ROWS_PER_TRANSACTION) }, () => randomUUID());
  const roll = random.next();
  let savepointIds: string[] = [];
  let commitSent = false;
  ledger.sql.transactions += 1;
  try {
    await client.query('begin');
    await insertRows(client, org, ids);
    if (roll < SQL_MIX.rollback) {
      await client.query('rollback');
      for (const id of ids) ledger.rolledBack.add(id);
      ledger.sql.rolledBackTransactions += 1;
      return true;
    }
    if (roll < SQL_MIX.rollback + SQL_MIX.savepoint) {
      await client.query('savepoint soak');
      savepointIds = [randomUUID(), randomUUID()];
      await insertRows(client, org, savepointIds);
      await client.query('rollback to savepoint soak');
      for (const id of savepointIds) ledger.rolledBack.add(id);
      ledger.sql.savepointRollbacks += 1;
    }
    if (roll >= 1 - SQL_MIX.heldOpen) {
      // Held open while other writers commit later chain_seq values behind it.
      ledger.sql.longTransactions += 1;
      await pause(random.int(...LONG_TRANSACTION_MS));
    }
    commitSent = true;
    await client.query('commit');
    for (const id of ids) ledger.committed.add(id);
    ledger.sql.committedTransactions += 1;
    return true;
  } catch (error) {
    ledger.sql.failedTransactions += 1;
    ledger.countSqlFailure(errorKind(error));
    if (commitSent && !refusedBeforeSending(error)) {
      ledger.sql.inDoubtCommits += 1;
      for (const id of ids) ledger.inDoubt.add(id);
    } else {
      // No COMMIT was sent: the transaction is aborted, whatever happens to the connection.
      for (const id of [...ids, ...savepointIds]) ledger.rolledBack.add(id);
    }
    return false;
  }
}

/**
 * node-postgres refuses a query on a client whose connection already failed
 * without sending it: a COMMIT refused this way never reached the server.
 */
function refusedBeforeSending(error: unknown): boolean {
  return error instanceof Error && error.message.includes('Client has encountered a connection error and is not queryable');
}

async function insertRows(client: pg.Client, org: string | null, ids: string[]): Promise<void> {
  await client.query(
    `insert into audit_logs (id, org_id, actor_type, actor_id, action, resource_type, resource_id, details, ip_address, user_agent)
     select t.id, $2::uuid, 'service', 'svc-' || t.n, 'telemetry.sql', 'host', 'h-' || t.n,
            jsonb_build_object('n', t.n, 'via', 'sql'), ('10.1.0.' || (t.n % 250 + 1))::inet, 'soak-sql'
       from unnest($1::uuid[]) with ordinality as t(id, n)`,
    [ids, org],
  );
}

async function connect(url: string, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: withChainSearchPath(url), application_name: applicationName, connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
  return client;
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
