// Fixture product 1, modelled on a multi-tenant SaaS: its own public.audit_logs
// (our table's name), written by drizzle; a BEFORE INSERT trigger reads the
// organization's latest checksum and hashes the new row on top of it
// (checksum/prev_checksum), so it forks under concurrent writers; an enum; a
// `timestamp without time zone`; the client IP kept as text ('unknown' when it
// was not known); its own verify function audit_log_verify_chain(uuid) (our
// function's name and signature); forced row-level security with a per-tenant
// policy for the app role.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { drizzle } from 'drizzle-orm/node-postgres';
import { desc, eq } from 'drizzle-orm';
import { jsonb, pgEnum, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const auditActor = pgEnum('audit_actor', ['user', 'agent', 'system']);

/** The product's drizzle schema, exactly as its code has it (no chain columns). */
export const auditLogs = pgTable('audit_logs', {
  id: uuid('id').primaryKey().defaultRandom(),
  orgId: uuid('org_id').notNull(),
  actorType: auditActor('actor_type').notNull(),
  actorId: text('actor_id'),
  action: text('action').notNull(),
  resource: text('resource'),
  ipAddress: text('ip_address').notNull().default('unknown'),
  metadata: jsonb('metadata'),
  createdAt: timestamp('created_at', { withTimezone: false, mode: 'string' }).notNull().defaultNow(),
  prevChecksum: text('prev_checksum'),
  checksum: text('checksum'),
});

export const PRODUCT_COLUMNS = ['id', 'org_id', 'actor_type', 'actor_id', 'action', 'resource', 'ip_address', 'metadata', 'created_at', 'prev_checksum', 'checksum'];

/** The product's migrations. `appRole` is its application's role. */
export function productDdl(appRole: string): string {
  return `
    begin;
    set local search_path = public;
    create type audit_actor as enum ('user', 'agent', 'system');
    create table audit_logs (
      id uuid primary key default gen_random_uuid(),
      org_id uuid not null,
      actor_type audit_actor not null,
      actor_id text,
      action text not null,
      resource text,
      ip_address text not null default 'unknown',
      metadata jsonb,
      created_at timestamp without time zone not null default now(),
      prev_checksum text,
      checksum text
    );
    create index audit_logs_org_created_idx on audit_logs (org_id, created_at desc);
    create function audit_logs_hash() returns trigger language plpgsql as $$
    declare prev text;
    begin
      select checksum into prev from audit_logs where org_id = new.org_id order by created_at desc, id desc limit 1;
      new.prev_checksum := coalesce(prev, 'genesis');
      new.checksum := encode(sha256(convert_to(concat_ws('|', new.prev_checksum, new.id, new.org_id, new.actor_type, new.action,
                        new.resource, new.ip_address, new.metadata::text, new.created_at), 'UTF8')), 'hex');
      return new;
    end $$;
    create trigger audit_logs_hash before insert on audit_logs for each row execute function audit_logs_hash();
    create function audit_log_verify_chain(p_org uuid) returns table (id uuid, problem text) language sql stable as $$
      select l.id, 'prev_checksum does not match the previous row'
        from (select a.id, a.prev_checksum, lag(a.checksum) over (order by a.created_at, a.id) as before from audit_logs a where a.org_id = p_org) l
       where l.before is not null and l.prev_checksum is distinct from l.before
    $$;
    alter table audit_logs enable row level security;
    alter table audit_logs force row level security;
    create policy tenant_isolation on audit_logs to "${appRole}"
      using (org_id = current_setting('app.org_id', true)::uuid)
      with check (org_id = current_setting('app.org_id', true)::uuid);
    grant select, insert on audit_logs to "${appRole}";
    grant execute on function audit_log_verify_chain(uuid) to "${appRole}";
    commit;`;
}

/** The application's own write: drizzle's insert (it sends DEFAULT for id, ip_address, created_at, prev_checksum, checksum). */
export async function productInsert(client: pg.Client, orgId: string, n: number, ip?: string): Promise<void> {
  const db = drizzle(client);
  await db.insert(auditLogs).values({
    orgId,
    actorType: n % 5 === 0 ? 'agent' : 'user',
    actorId: `u-${n % 7}`,
    action: n % 3 === 0 ? 'session.submit' : 'patch.status',
    resource: `device-${n}`,
    ...(ip === undefined ? {} : { ipAddress: ip }),
    metadata: { n, ok: n % 2 === 0 },
  });
}

/** The application's list page: drizzle's select of its own columns. */
export async function productList(client: pg.Client, orgId: string): Promise<{ id: string; orgId: string; action: string }[]> {
  const db = drizzle(client);
  return db.select().from(auditLogs).where(eq(auditLogs.orgId, orgId)).orderBy(desc(auditLogs.createdAt), desc(auditLogs.id)).limit(1000);
}

/** The app connection acts as its role for one tenant, as the product's middleware does. */
export async function actAsTenant(client: pg.Client, appRole: string, orgId: string): Promise<void> {
  await client.query(`set role "${appRole}"`);
  await client.query("select set_config('app.org_id', $1, false)", [orgId]);
}

export function newTenant(): string {
  return randomUUID();
}
