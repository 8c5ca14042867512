// SQL of the figures that are not per chain: the horizon and who holds it, the
// workers' heartbeats, checkpoints, verification runs and halted chains. None
// of these reads audit_logs.
import type { CheckpointCursor } from './cursor.ts';
import { ageSeconds, chainKey, iso, orgMatch, type Query } from './sql.ts';

export function readNow(): Query {
  return { text: `select ${iso('now()')} as now`, values: [] };
}

export function readProgress(staleAfterSeconds: number): Query {
  return {
    text: `select ${iso('now()')} as generated_at,
                  p.horizon_seq::text as horizon_seq, ${iso('p.horizon_at')} as horizon_at, ${ageSeconds('p.horizon_at')} as horizon_age,
                  p.discovered_seq::text as discovered_seq, ${iso('p.discovered_at')} as discovered_at,
                  (select count(*) from audit_chain_workers w
                    where w.stopped_at is null and w.heartbeat_at > now() - make_interval(secs => $1))::int as workers_alive
             from audit_chain_progress p where p.id = 1`,
    values: [staleAfterSeconds],
  };
}

/** Open audit-writing transactions (the view of the sealing migration), oldest first. */
export function readOpenWriters(): Query {
  return {
    text: `select w.pid, w.application_name, w.user_name, w.state,
                  ${iso('w.xact_start')} as xact_start, ${ageSeconds('w.xact_start')} as xact_age,
                  ${iso('w.state_change')} as state_change, ${ageSeconds('w.state_change')} as state_age,
                  case when w.wait_event is null then null else w.wait_event_type || ':' || w.wait_event end as wait_event,
                  w.query
             from audit_chain_open_writers w
            order by w.xact_start nulls first, w.pid`,
    values: [],
  };
}

const WORKER_COLUMNS = `w.worker_id, w.hostname, w.pid, ${iso('w.started_at')} as started_at,
  ${iso('w.heartbeat_at')} as heartbeat_at, ${ageSeconds('w.heartbeat_at')} as heartbeat_age,
  ${iso('w.stopped_at')} as stopped_at, w.sealed_rows::text as sealed_rows, w.sealed_batches::text as sealed_batches,
  w.errors::text as errors, w.last_error, ${iso('w.last_error_at')} as last_error_at, w.horizon_seq::text as horizon_seq`;

/** Workers with a heartbeat in the last hour, most recent first. */
export function readRecentWorkers(limit: number): Query {
  return {
    text: `select ${WORKER_COLUMNS} from audit_chain_workers w
            where w.heartbeat_at > now() - interval '1 hour'
            order by w.heartbeat_at desc limit $1`,
    values: [limit],
  };
}

/** Sums over every worker row (stopped ones included, so the totals only grow) and their latency histograms. */
export function readWorkerTotals(staleAfterSeconds: number, goneAfterSeconds: number): Query {
  return {
    text: `select coalesce(sum(w.sealed_rows), 0)::text as sealed_rows, coalesce(sum(w.errors), 0)::text as errors,
                  count(*) filter (where w.stopped_at is null and w.heartbeat_at > now() - make_interval(secs => $1))::int as alive,
                  count(*) filter (where w.stopped_at is null and w.heartbeat_at <= now() - make_interval(secs => $1)
                                     and w.heartbeat_at > now() - make_interval(secs => $2))::int as stale,
                  count(*) filter (where w.stopped_at is null and w.heartbeat_at <= now() - make_interval(secs => $2))::int as gone,
                  min(${ageSeconds('w.heartbeat_at')}) filter (where w.stopped_at is null) as last_heartbeat_age,
                  coalesce(jsonb_agg(w.seal_latency) filter (where w.seal_latency is not null), '[]'::jsonb) as latencies
             from audit_chain_workers w`,
    values: [staleAfterSeconds, goneAfterSeconds],
  };
}

const CHECKPOINT_COLUMNS = `c.id::text as id, c.org_id::text as org_id, c.chain_seq::text as chain_seq, c.sealed_count::text as sealed_count,
  c.checksum, ${iso('c.signed_at')} as signed_at, ${ageSeconds('c.signed_at')} as age, c.key_id, c.signature, c.body,
  c.exported_to, ${iso('c.created_at')} as created_at`;

/** The checkpoint recorded last, of any chain (through the primary key). */
export function readLatestCheckpoint(): Query {
  return {
    text: `select ${CHECKPOINT_COLUMNS},
                  (select s.sealed_count::text from audit_chain_state s where ${chainKey('s.org_id')} = ${chainKey('c.org_id')}) as chain_sealed_count
             from audit_chain_checkpoints c order by c.id desc limit 1`,
    values: [],
  };
}

/**
 * Checkpoints, newest first. For one chain (`orgId` given) the listing follows
 * the (org_id, chain_seq) index; across chains, the primary key.
 */
export function readCheckpoints(orgId: string | null | undefined, limit: number, cursor?: CheckpointCursor): Query {
  const values: unknown[] = [limit];
  const conditions: string[] = [];
  let order = 'c.id desc';
  if (orgId !== undefined) {
    conditions.push(orgMatch('c.org_id', orgId, values));
    order = 'c.chain_seq desc, c.id desc';
    if (cursor) {
      values.push(cursor.chainSeq.toString(), cursor.id.toString());
      conditions.push(`(c.chain_seq, c.id) < ($${values.length - 1}::bigint, $${values.length}::bigint)`);
    }
  } else if (cursor) {
    values.push(cursor.id.toString());
    conditions.push(`c.id < $${values.length}::bigint`);
  }
  const where = conditions.length ? `where ${conditions.join(' and ')}` : '';
  return {
    text: `select ${CHECKPOINT_COLUMNS} from audit_chain_checkpoints c ${where} order by ${order} limit $1`,
    values,
  };
}

const RUN_COLUMNS = `r.id::text as id, r.trigger, r.scope, ${iso('r.started_at')} as started_at, ${iso('r.finished_at')} as finished_at,
  ${ageSeconds('r.finished_at')} as age, r.status, r.chains_checked, r.rows_checked::text as rows_checked, r.breaks_found, r.breaks, r.error`;

export function readRecentVerifications(limit: number): Query {
  return { text: `select ${RUN_COLUMNS} from audit_chain_verifications r order by r.id desc limit $1`, values: [limit] };
}

/** The last run that finished (clean, breaks or failed). */
export function readLastFinishedVerification(): Query {
  return {
    text: `select ${RUN_COLUMNS} from audit_chain_verifications r where r.finished_at is not null order by r.id desc limit 1`,
    values: [],
  };
}

/** Latest result per chain: chains with breaks first, then the ones verified longest ago. */
export function readChainVerifications(limit: number): Query {
  return {
    text: `select v.org_id::text as org_id, v.verification_id::text as verification_id, ${iso('v.verified_at')} as verified_at,
                  ${ageSeconds('v.verified_at')} as age, v.rows_checked::text as rows_checked, v.breaks_found, v.first_break
             from audit_chain_verify_status v
            order by v.breaks_found desc, v.verified_at asc, ${chainKey('v.org_id')}
            limit $1`,
    values: [limit],
  };
}

export function readVerificationSummary(): Query {
  return {
    text: `select count(*)::int as chains_verified, count(*) filter (where v.breaks_found > 0)::int as chains_with_breaks,
                  coalesce(sum(v.breaks_found), 0)::int as breaks
             from audit_chain_verify_status v`,
    values: [],
  };
}

export function readHaltedChains(limit: number): Query {
  return {
    text: `select s.org_id::text as org_id, ${iso('s.halted_at')} as halted_at, s.halted_reason
             from audit_chain_state s where s.halted_at is not null
            order by s.halted_at, ${chainKey('s.org_id')} limit $1`,
    values: [limit],
  };
}
