// The design audit-chain replaces, run for real: a legacy audit table whose
// BEFORE INSERT trigger reads the organization's latest checksum and hashes the
// new row on top of it. Under concurrent writers in READ COMMITTED, several
// transactions read the same predecessor and the chain forks. `hammerUntilForked`
// produces that fixture with many real connections.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { connect } from '../support/database.ts';

export const LEGACY_TABLE = 'audit_log';

export async function createLegacyTable(db: Pick<pg.ClientBase, 'query'>, table = LEGACY_TABLE): Promise<void> {
  // The product's table lives in the product's schema (public), not in ours.
  await db.query(`
    begin;
    set local search_path = public;
    create table ${table} (
      id uuid primary key default gen_random_uuid(),
      org_id uuid,
      created_at timestamptz not null default now(),
      user_id text,
      user_email text,
      action text not null,
      resource_type text,
      resource_id text,
      metadata jsonb,
      ip inet,
      user_agent text,
      prev_checksum text,
      checksum text
    );
    create index ${table}_org_created_idx on ${table} (org_id, created_at desc, id desc);
    create function ${table}_chain() returns trigger language plpgsql as $$
    declare
      prev text;
    begin
      select checksum into prev from ${table}
       where org_id is not distinct from new.org_id
       order by created_at desc, id desc limit 1;
      new.prev_checksum := coalesce(prev, repeat('0', 64));
      new.checksum := encode(sha256(convert_to(concat_ws('|', new.prev_checksum, new.id, new.org_id, new.created_at,
                        new.user_id, new.action, new.resource_id, new.metadata::text), 'UTF8')), 'hex');
      return new;
    end
    $$;
    create trigger ${table}_chain before insert on ${table} for each row execute function ${table}_chain();
    commit;
  `);
}

/** The insert the legacy application runs (no checksum: the trigger computes it). */
export function legacyInsert(table = LEGACY_TABLE): string {
  return `insert into ${table} (org_id, user_id, user_email, action, resource_type, resource_id, metadata, ip, user_agent)
          values ($1, $2, $3, $4, 'device', $5, $6, $7, 'agent/1.0')`;
}

export function legacyValues(orgId: string, n: number): unknown[] {
  return [orgId, `u-${n % 7}`, `user${n % 7}@example.com`, n % 3 === 0 ? 'patch.status' : 'session.submit', `d-${n}`, JSON.stringify({ n, ok: n % 2 === 0 }), `10.1.${n % 200}.${n % 250 + 1}`];
}

export interface ForkStats {
  rows: number;
  /** Predecessor checksums used by two rows or more. */
  forkedPredecessors: number;
  widest: number;
}

export async function forkStats(db: Pick<pg.ClientBase, 'query'>, table = LEGACY_TABLE): Promise<ForkStats> {
  const result = await db.query<{ rows: number; forked: number; widest: number }>(
    `select (select count(*) from ${table})::int as rows,
            count(*)::int as forked, coalesce(max(n), 0)::int as widest
       from (select count(*) as n from ${table} group by org_id, prev_checksum having count(*) > 1) f`,
  );
  const row = result.rows[0]!;
  return { rows: row.rows, forkedPredecessors: row.forked, widest: row.widest };
}

/**
 * Inserts through the legacy trigger from `connections` connections at once,
 * each in its own transaction with a little other work before the commit (as a
 * request handler does), round after round until the chain has forked.
 */
export async function hammerUntilForked(url: string, options: { connections: number; rowsPerConnection: number; orgs: string[]; maxRounds?: number }): Promise<ForkStats> {
  const clients = await Promise.all(Array.from({ length: options.connections }, () => connect(url, 'legacy app')));
  try {
    for (let round = 0; round < (options.maxRounds ?? 5); round += 1) {
      await Promise.all(
        clients.map(async (client, c) => {
          for (let i = 0; i < options.rowsPerConnection; i += 1) {
            // Most writes go to the first (hot) organization.
            const org = options.orgs[(c + i) % 4 === 0 ? (i % options.orgs.length) : 0]!;
            await client.query('begin');
            await client.query(legacyInsert(), legacyValues(org, round * 100_000 + c * 1000 + i));
            await client.query('select pg_sleep(0.001)');
            await client.query('commit');
          }
        }),
      );
      const stats = await forkStats(clients[0]!);
      if (stats.forkedPredecessors > 0) return stats;
    }
    return forkStats(clients[0]!);
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

export function newOrgs(n: number): string[] {
  return Array.from({ length: n }, () => randomUUID());
}
