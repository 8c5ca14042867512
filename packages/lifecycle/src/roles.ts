// Lifecycle operations act through their dedicated roles (drizzle/0014):
// retention and redactor; retention records its checkpoints as the signer role
// (drizzle/0035), the only one that may add them. A command connects as the operator's login role and
// switches to the recorded role name with SET ROLE, so the database, not this
// code, decides whether the operator may do it.
import type pg from 'pg';
import { sqlState, SqlState } from '@audit-chain/db';
import { LifecycleError } from './errors.ts';

type Queryable = Pick<pg.ClientBase, 'query'>;

export type LifecycleRoleKind = 'retention' | 'redactor' | 'signer' | 'writer' | 'sealer' | 'admin';

export async function roleName(db: Queryable, kind: LifecycleRoleKind): Promise<string> {
  const result = await db.query<{ role_name: string }>('select role_name from audit_chain_roles where kind = $1', [kind]);
  const name = result.rows[0]?.role_name;
  if (!name) throw new LifecycleError(`audit_chain_roles has no ${kind} role: run \`audit-chain migrate\``);
  return name;
}

/** Switches the current transaction of `client` to the recorded role of `kind` (SET LOCAL ROLE: it ends with the transaction). */
export async function actAs(client: Queryable, kind: LifecycleRoleKind): Promise<string> {
  const name = await roleName(client, kind);
  try {
    await client.query(`set local role ${quoteIdent(name)}`);
  } catch (error) {
    if (sqlState(error) === SqlState.insufficientPrivilege) {
      throw new LifecycleError(`this login may not act as the ${kind} role ${name}: grant it first (GRANT ${quoteIdent(name)} TO <login role>)`);
    }
    throw error;
  }
  return name;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
