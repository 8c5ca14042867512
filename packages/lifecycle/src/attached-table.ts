// `--table NAME` of the lifecycle commands: the attached table it names, as
// the sealer knows it (@audit-chain/sealing's registry reader), or one clear
// line saying why there is none.
import type pg from 'pg';
import { listChainedTables, type ChainedTable } from '@audit-chain/sealing';
import { LifecycleError } from './errors.ts';

export async function findAttachedTable(db: Pick<pg.ClientBase, 'query'>, name: string): Promise<ChainedTable> {
  const found = await db.query<{ schema: string; table: string }>(
    `select n.nspname::text as schema, c.relname::text as table from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = to_regclass($1)`,
    [name],
  );
  const relation = found.rows[0];
  if (!relation) throw new LifecycleError(`--table: no table ${name}`);
  const registered = await db.query<{ format_version: number; status: string }>(
    'select format_version, status from audit_chain_tables where schema_name = $1 and table_name = $2',
    [relation.schema, relation.table],
  );
  const entry = registered.rows[0];
  const qualified = `${relation.schema}.${relation.table}`;
  if (!entry) throw new LifecycleError(`--table: ${qualified} is not an attached table (audit-chain attach --table ${qualified} chains it)`);
  if (entry.format_version < 2) throw new LifecycleError(`--table: ${qualified} is audit-chain's own table: run the command without --table`);
  if (entry.status === 'attaching') throw new LifecycleError(`--table: the attach of ${qualified} has not finished: run attach again to resume it`);
  const table = (await listChainedTables(db)).find((candidate) => candidate.schema === relation.schema && candidate.table === relation.table);
  if (!table) throw new LifecycleError(`--table: ${qualified} is not an attached table`);
  return table;
}
