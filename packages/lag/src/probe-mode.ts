// Whether the per-chain probes of audit_logs can be LATERAL joins from the
// chain tables (one server) or must be issued one chain at a time (Citus, with
// audit_logs distributed and the chain tables local to the coordinator: see
// ProbeMode). Read from the catalog in the reading's snapshot.
import type { ProbeMode } from './chain-queries.ts';
import type { Queryable } from './snapshot.ts';

export async function readProbeMode(db: Queryable): Promise<ProbeMode> {
  const citus = await db.query<{ present: boolean }>("select to_regclass('pg_catalog.pg_dist_partition') is not null as present");
  if (!citus.rows[0]?.present) return 'lateral';
  const distributed = await db.query<{ distributed: boolean }>(
    "select exists (select 1 from pg_catalog.pg_dist_partition where logicalrelid = to_regclass('audit_logs')) as distributed",
  );
  return distributed.rows[0]?.distributed ? 'separate' : 'lateral';
}
