-- Issue 14: can the sealer's chain-column UPDATE be heap-only (HOT)?
--
-- psql "$DATABASE_URL" -v rows=200000 -f test/bench/hot-update-study.sql
-- (a migrated scratch database; it creates and drops its own tables in schema hot_study)
--
-- Each variant is a copy of audit_logs (LIKE ... INCLUDING ALL: same columns,
-- defaults, CHECKs and indexes) loaded with the same pending rows (100 orgs, one
-- holding half, interleaved as writers insert them), then sealed the way the
-- sealer writes: per chain, batches of 5,000 rows in chain_seq order, one
-- transaction per batch, one UPDATE ... FROM unnest-like join per batch. Chain
-- values have the real sizes (64-hex links and digest, 32-hex salt). Reported per
-- variant: time, updates, HOT updates (pg_stat_user_tables), heap size.
--   same        identical copy (fillfactor 100, the no-fork unique index on (org_id, prev_checksum))
--   ff100_noidx the unique index dropped (the guarantee moved to link claims, not written here)
--   ff50_noidx  the same with fillfactor 50
--   ff50_claims fillfactor 50, no unique index, each batch also inserts its link claims
--               (org_id, prev_checksum, chain_seq) into a table with the unique constraint, as
--               partitioned audit_logs does (drizzle/0018_partitioning.sql): the whole price of HOT
--   ff50_claims_noseq  the same without the claims' chain_seq index (which retention uses)
--   ff50_claim_trigger fillfactor 50, no unique index, the claims written by the partitioned layout's
--               own statement trigger (audit_logs_claim_links(), transition tables) into
--               audit_chain_link_claims: what the change would really run
--   ff50_claim_row_trigger  the same guarantee by a row trigger (AFTER UPDATE OF prev_checksum, one
--               INSERT into the claims table per sealed row)
\set ON_ERROR_STOP on
\timing off
set search_path = hot_study, audit_chain, public;
drop schema if exists hot_study cascade;
create schema hot_study;

create table hot_study.source as
select case when g % 2 = 0 then '00000000-0000-4000-8000-000000000000'::uuid
            else ('00000000-0000-4000-8000-' || lpad((1 + (g / 2) % 99)::text, 12, '0'))::uuid end as org_id,
       g::bigint as chain_seq,
       'agent'::text as actor_type, 'agent-' || (g % 1000) as actor_id, 'ops' || (g % 50) || '@example.com' as actor_email,
       'telemetry.submitted'::text as action, 'device'::text as resource_type, 'dev-' || (g % 5000) as resource_id,
       jsonb_build_object('n', g, 'status', 'ok', 'metrics', jsonb_build_object('cpu', g % 100, 'mem', g % 64)) as details,
       ('10.1.' || (g % 250) || '.' || (g % 200 + 1))::inet as ip_address, 'agent/1.0'::text as user_agent
  from generate_series(1, :rows) g;

-- The chain values each row gets, in the sizes the sealer writes.
create table hot_study.links as
select chain_seq, org_id,
       encode(sha256(('p' || chain_seq)::bytea), 'hex') as prev_checksum,
       encode(sha256(('c' || chain_seq)::bytea), 'hex') as checksum,
       encode(sha256(('d' || chain_seq)::bytea), 'hex') as pii_digest,
       md5('s' || chain_seq) as pii_salt
  from hot_study.source;
create index on hot_study.links (org_id, chain_seq);
analyze hot_study.links;

create table hot_study.results (variant text, seconds numeric, updates bigint, hot_updates bigint, heap_mb numeric);

create procedure hot_study.seal_like_the_sealer(p_table regclass, p_claims boolean)
language plpgsql as $$
declare
  v_org uuid;
  v_from bigint;
  v_to bigint;
begin
  for v_org in select org_id from hot_study.links group by org_id order by count(*) desc, org_id loop
    v_from := 0;
    loop
      select max(chain_seq) into v_to
        from (select chain_seq from hot_study.links where org_id = v_org and chain_seq > v_from order by chain_seq limit 5000) b;
      exit when v_to is null;
      if p_claims then
        execute format(
          'with written as (
             update %s a set prev_checksum = l.prev_checksum, checksum = l.checksum, checksum_version = 2,
                    pii_digest = l.pii_digest, pii_salt = l.pii_salt
               from hot_study.links l
              where l.org_id = $1 and l.chain_seq > $2 and l.chain_seq <= $3
                and a.org_id = $1 and a.chain_seq = l.chain_seq and a.chain_seq between $2 + 1 and $3
             returning a.org_id, a.prev_checksum, a.chain_seq)
           insert into hot_study.claims select * from written', p_table)
          using v_org, v_from, v_to;
      else
        execute format(
          'update %s a set prev_checksum = l.prev_checksum, checksum = l.checksum, checksum_version = 2,
                  pii_digest = l.pii_digest, pii_salt = l.pii_salt
             from hot_study.links l
            where l.org_id = $1 and l.chain_seq > $2 and l.chain_seq <= $3
              and a.org_id = $1 and a.chain_seq = l.chain_seq and a.chain_seq between $2 + 1 and $3', p_table)
          using v_org, v_from, v_to;
      end if;
      commit;
      v_from := v_to;
    end loop;
  end loop;
end
$$;

create function hot_study.claim_row() returns trigger language plpgsql as $$
begin
  insert into hot_study.claims (org_id, prev_checksum, chain_seq) values (new.org_id, new.prev_checksum, new.chain_seq);
  return null;
end
$$;

create procedure hot_study.run_variant(p_name text, p_fillfactor int, p_drop_unique boolean, p_claims boolean, p_claims_seq_index boolean default true, p_claims_trigger boolean default false, p_row_trigger boolean default false)
language plpgsql as $$
declare
  v_table regclass;
  v_started timestamptz;
  v_seconds numeric;
begin
  execute format('create table hot_study.%I (like audit_chain.audit_logs including all) with (fillfactor = %s)', p_name, p_fillfactor);
  v_table := format('hot_study.%I', p_name)::regclass;
  if p_drop_unique then
    execute format('drop index hot_study.%I', (select c.relname from pg_index i join pg_class c on c.oid = i.indexrelid
                                                 where i.indrelid = v_table and pg_get_indexdef(i.indexrelid) like '%prev_checksum%'));
  end if;
  if p_claims_trigger then
    -- the partitioned layout's own claim trigger (drizzle/0018), into audit_chain_link_claims
    execute format('create trigger claim_links after update on %s referencing old table as old_rows new table as new_rows
                    for each statement execute function audit_chain.audit_logs_claim_links()', v_table);
    delete from audit_chain.audit_chain_link_claims;
  end if;
  if p_row_trigger then
    execute format('create trigger claim_link after update of prev_checksum on %s for each row
                    when (new.prev_checksum is not null and new.prev_checksum is distinct from old.prev_checksum)
                    execute function hot_study.claim_row()', v_table);
  end if;
  execute format('insert into %s (org_id, actor_type, actor_id, actor_email, action, resource_type, resource_id, details, ip_address, user_agent)
                  select org_id, actor_type, actor_id, actor_email, action, resource_type, resource_id, details, ip_address, user_agent
                    from hot_study.source order by chain_seq', v_table);
  -- the copy's identity starts at 1 in the same order, so chain_seq matches hot_study.links
  execute format('analyze %s', v_table);
  drop table if exists hot_study.claims;
  create table hot_study.claims (org_id uuid, prev_checksum text not null, chain_seq bigint not null,
                                 unique nulls not distinct (org_id, prev_checksum));
  if p_claims_seq_index then
    create index on hot_study.claims (chain_seq);
  end if;
  commit;
  checkpoint;
  perform pg_stat_force_next_flush();
  v_started := clock_timestamp();
  call hot_study.seal_like_the_sealer(v_table, p_claims);
  v_seconds := extract(epoch from clock_timestamp() - v_started);
  insert into hot_study.results (variant, seconds, heap_mb) values (p_name, round(v_seconds, 2), round(pg_relation_size(v_table) / 1048576.0, 1));
  commit;
end
$$;

-- Table statistics are flushed when the backend goes idle: read them in later top-level statements.
create view hot_study.collect as
select r.variant, s.n_tup_upd, s.n_tup_hot_upd
  from hot_study.results r join pg_stat_user_tables s on s.schemaname = 'hot_study' and s.relname = r.variant;

call hot_study.run_variant('same', 100, false, false);
call hot_study.run_variant('ff100_noidx', 100, true, false);
call hot_study.run_variant('ff50_noidx', 50, true, false);
call hot_study.run_variant('ff50_claims', 50, true, true);
call hot_study.run_variant('ff50_claims_noseq', 50, true, true, false);
call hot_study.run_variant('ff50_claim_trigger', 50, true, false, true, true);
call hot_study.run_variant('ff50_claim_row_trigger', 50, true, false, true, false, true);
select pg_stat_force_next_flush();
select pg_sleep(1);
update hot_study.results r set updates = c.n_tup_upd, hot_updates = c.n_tup_hot_upd from hot_study.collect c where c.variant = r.variant;

select variant, seconds, updates, hot_updates, round(100.0 * hot_updates / nullif(updates, 0), 1) as hot_pct,
       round(updates / nullif(seconds, 0)) as rows_per_s, heap_mb
  from hot_study.results order by variant = 'same' desc, variant;
drop schema hot_study cascade;
