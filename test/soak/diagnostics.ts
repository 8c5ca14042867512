// What holds sealing back, in one line: the head, the published horizon and the
// discovery position, the chains with pending rows, the seal jobs by state and
// the workers' error counts. Logged while the soak waits for the drain, so a
// slow or stuck drain explains itself.
import type pg from 'pg';

export async function describeLag(pool: pg.Pool): Promise<string> {
  // audit_logs is read on its own, one chain at a time: on Citus it is
  // distributed and the chain tables stay on the coordinator, and Citus plans
  // no query (nor correlated subquery) that reads both.
  const head = await pool.query<{ head: string }>('select coalesce(max(chain_seq), 0)::text as head from audit_logs');
  const progress = await pool.query<{ head: string; horizon: string; discovered: string }>(
    `select $1::text as head, horizon_seq::text as horizon, discovered_seq::text as discovered from audit_chain_progress`,
    [head.rows[0]!.head],
  );
  const states = await pool.query<{ org_id: string | null; watermark_seq: string }>('select org_id::text, watermark_seq::text from audit_chain_state');
  const chains = { rows: [] as { chain: string; pending: number }[] };
  for (const state of states.rows) {
    const count = await pool.query<{ pending: number }>(
      `select count(*)::int as pending from audit_logs a
        where ${state.org_id === null ? 'a.org_id is null and $1::uuid is null' : 'a.org_id = $1::uuid'} and a.chain_seq > $2::bigint`,
      [state.org_id, state.watermark_seq],
    );
    chains.rows.push({ chain: state.org_id ?? 'system', pending: count.rows[0]!.pending });
  }
  const jobs = await pool.query<{ state: string; n: number; next_in_s: number | null }>(
    `select state::text, count(*)::int as n,
            round(extract(epoch from min(start_after) filter (where state in ('created', 'retry')) - now()), 1)::float8 as next_in_s
       from audit_chain_boss.job where name = 'audit-chain-seal' and state in ('created', 'retry', 'active') group by state order by state`,
  );
  const backends = await pool.query<{ app: string; state: string | null; busy_s: number | null; query: string }>(
    `select application_name as app, state, round(extract(epoch from now() - state_change), 1)::float8 as busy_s, left(query, 60) as query
       from pg_stat_activity
      where datname = current_database() and application_name like 'audit-chain worker%' and state <> 'idle'`,
  );
  const workers = await pool.query<{ pid: number; errors: string; last_error: string | null }>(
    `select pid, errors::text, last_error from audit_chain_workers where stopped_at is null and heartbeat_at > now() - interval '30 seconds' order by started_at`,
  );
  const p = progress.rows[0];
  const pending = chains.rows.filter((chain) => chain.pending > 0);
  return [
    p ? `head ${p.head}, horizon ${p.horizon}, discovered ${p.discovered}` : 'no progress row',
    `pending: ${pending.map((chain) => `${chain.chain.slice(0, 8)} ${chain.pending}`).join(', ') || 'none'}`,
    `seal jobs: ${jobs.rows.map((job) => `${job.state} ${job.n}${job.next_in_s !== null ? ` (first due in ${job.next_in_s} s)` : ''}`).join(', ') || 'none'}`,
    `busy worker backends: ${backends.rows.map((b) => `${b.app.slice(13)} ${b.state} ${b.busy_s} s: ${b.query}`).join(' | ') || 'none'}`,
    `workers: ${workers.rows.map((worker) => `pid ${worker.pid} errors ${worker.errors}${worker.last_error ? ` (last: ${worker.last_error.slice(0, 80)})` : ''}`).join('; ')}`,
  ].join('; ');
}
