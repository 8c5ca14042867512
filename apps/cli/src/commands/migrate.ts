// audit-chain migrate: applies pending migrations from drizzle/. Safe to run
// from several processes at once (packages/db/src/migrate.ts).
import pg from 'pg';
import { migrate, withChainSearchPath, type RoleNames } from '@audit-chain/db';
import type { RegisterCommand } from '../context.ts';

export const registerMigrate: RegisterCommand = (program, context) => {
  program
    .command('migrate')
    .description('apply pending database migrations (idempotent; safe to run from several processes at once)')
    .addHelpText(
      'after',
      `
Environment:
  DATABASE_URL              database to migrate (required)
  AUDIT_CHAIN_WRITER_ROLE   name of the writer role (default audit_chain_writer)
  AUDIT_CHAIN_SEALER_ROLE   name of the sealer role (default audit_chain_sealer)
  AUDIT_CHAIN_ADMIN_ROLE    name of the read-only admin role (default audit_chain_admin)
  AUDIT_CHAIN_RETENTION_ROLE  name of the role that alone may delete (default audit_chain_retention)
  AUDIT_CHAIN_REDACTOR_ROLE   name of the role that alone may erase personal fields (default audit_chain_redactor)
  AUDIT_CHAIN_SIGNER_ROLE     name of the role that alone may add checkpoints (default audit_chain_signer)

Role names are taken the first time the roles migration runs and recorded in
audit_chain_roles; later runs keep the recorded names.`,
    )
    .action(async () => {
      const url = context.databaseUrl();
      const roles = context.config().roles;
      const result = await migrate(url, roles);
      for (const tag of result.applied) context.out(`applied ${tag}`);
      if (result.applied.length === 0) context.out('already up to date');
      for (const line of await roleMismatches(url, roles)) context.warn(line);
    });
};

/** Configured role names that differ from the ones this database recorded (and therefore uses). */
async function roleMismatches(url: string, wanted: RoleNames): Promise<string[]> {
  if (Object.values(wanted).every((name) => !name)) return [];
  const client = new pg.Client({ connectionString: withChainSearchPath(url), application_name: 'audit-chain migrate' });
  await client.connect();
  try {
    const recorded = await client.query<{ kind: keyof RoleNames; role_name: string }>('select kind, role_name from audit_chain_roles');
    return recorded.rows
      .filter((row) => wanted[row.kind] && wanted[row.kind] !== row.role_name)
      .map(
        (row) =>
          `warning: AUDIT_CHAIN_${row.kind.toUpperCase()}_ROLE=${wanted[row.kind]} is ignored: this database already grants to role ${row.role_name}`,
      );
  } finally {
    await client.end();
  }
}
