// SQL of adoption, built from a checked plan (identifiers quoted, values bound).
// The copy statements insert into audit_logs in the legacy order with one
// INSERT ... SELECT ... ORDER BY: PostgreSQL takes each row's chain_seq
// (nextval) as the sorted rows reach the insert, so chain_seq follows the order.
import { quoteIdent } from '../roles.ts';
import { qualified, sourceExpression, TARGET_COLUMNS, type AdoptionPlan, type TargetColumn } from './plan.ts';

export interface Query {
  text: string;
  values: unknown[];
}

const NEW_ID = '__audit_chain_new_id';
const LEGACY_ID = '__audit_chain_legacy_id';
const QUEUE_SEQ = '__audit_chain_queue_seq';

function targets(plan: AdoptionPlan): TargetColumn[] {
  return (Object.keys(TARGET_COLUMNS) as TargetColumn[]).filter((target) => target !== 'id' && plan.columns[target] !== undefined);
}

/** Inserts a materialized `batch` (legacy rows plus NEW_ID, LEGACY_ID) into audit_logs and audit_chain_legacy_links, in `orderBy`. */
function insertBatch(plan: AdoptionPlan, orderBy: string, adoptionParam: string): string {
  const columns = targets(plan);
  const prev = plan.legacyPrevColumn ? `b.${quoteIdent(plan.legacyPrevColumn)}::text` : 'null';
  const checksum = plan.legacyChecksumColumn ? `b.${quoteIdent(plan.legacyChecksumColumn)}::text` : 'null';
  return `inserted as (
      insert into audit_logs (id, ${columns.map(quoteIdent).join(', ')})
      select b.${NEW_ID}, ${columns.map((target) => sourceExpression(plan, target, 'b')).join(', ')}
        from batch b
       order by ${orderBy}
      returning id, org_id, chain_seq
    ), linked as (
      insert into audit_chain_legacy_links (chain_seq, row_id, org_id, adoption_id, legacy_id, legacy_prev_checksum, legacy_checksum)
      select i.chain_seq, i.id, i.org_id, ${adoptionParam}, b.${LEGACY_ID}, ${prev}, ${checksum}
        from inserted i join batch b on b.${NEW_ID} = i.id
      returning 1
    )`;
}

function newIdExpression(plan: AdoptionPlan): string {
  return plan.keepsIds ? `l.${quoteIdent(plan.idColumn)}` : 'gen_random_uuid()';
}

/**
 * Copies the next `limit` historical rows (those not captured as live inserts) after
 * the keyset position, in (order column, id) order. Returns how many and the new position.
 */
export function copyHistoricalBatch(plan: AdoptionPlan, adoptionId: number, after: { at: string; id: string } | null, limit: number): Query {
  const order = quoteIdent(plan.orderColumn);
  const id = quoteIdent(plan.idColumn);
  const idType = plan.types[plan.idColumn]!;
  const values: unknown[] = [adoptionId, limit];
  // The cursor is kept as a UTC instant; a timestamp without time zone is taken as UTC (as its copy is).
  const naive = !/with time zone/.test(plan.types[plan.orderColumn]!);
  let keyset = '';
  if (after) {
    values.push(after.at, after.id);
    keyset = `and (l.${order}, l.${id}) > (${naive ? "($3::timestamptz at time zone 'UTC')" : '$3::timestamptz'}, $4::${idType})`;
  }
  return {
    text: `with batch as materialized (
             select l.*, ${newIdExpression(plan)} as ${NEW_ID}, l.${id}::text as ${LEGACY_ID}
               from ${qualified(plan)} l
              where not exists (select 1 from audit_chain_adoption_queue q where q.adoption_id = $1 and q.legacy_id = l.${id}::text)
                ${keyset}
              order by l.${order}, l.${id}
              limit $2
           ), ${insertBatch(plan, `b.${order}, b.${id}`, '$1::bigint')},
           last as (select b.${order} as at, b.${id}::text as id from batch b order by b.${order} desc, b.${id} desc limit 1)
           select (select count(*) from linked)::int as copied,
                  (select to_char(${naive ? 'at' : "at at time zone 'UTC'"}, 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') from last) as last_at,
                  (select id from last) as last_id`,
    values,
  };
}

/** Copies the next `limit` captured live rows, in capture (insert) order. */
export function copyCapturedBatch(plan: AdoptionPlan, adoptionId: number, afterSeq: number, limit: number): Query {
  const id = quoteIdent(plan.idColumn);
  const idType = plan.types[plan.idColumn]!;
  return {
    text: `with queued as (
             select q.seq, q.legacy_id from audit_chain_adoption_queue q
              where q.adoption_id = $1 and q.seq > $2
              order by q.seq limit $3
           ), batch as materialized (
             select l.*, ${newIdExpression(plan)} as ${NEW_ID}, q.legacy_id as ${LEGACY_ID}, q.seq as ${QUEUE_SEQ}
               from queued q join ${qualified(plan)} l on l.${id} = q.legacy_id::${idType}
              where not exists (select 1 from audit_chain_legacy_links k where k.adoption_id = $1 and k.legacy_id = q.legacy_id)
           ), ${insertBatch(plan, `b.${QUEUE_SEQ}`, '$1::bigint')}
           select (select count(*) from linked)::int as copied, (select max(seq) from queued)::text as last_seq`,
    values: [adoptionId, afterSeq, limit],
  };
}

export function legacyCounts(plan: AdoptionPlan, adoptionId: number, table = qualified(plan)): Query {
  return {
    text: `select (select count(*) from ${table})::bigint::text as legacy_rows,
                  (select count(*) from audit_chain_legacy_links where adoption_id = $1)::bigint::text as adopted_rows,
                  (select count(*) from audit_chain_adoption_queue where adoption_id = $1)::bigint::text as captured_rows`,
    values: [adoptionId],
  };
}

/** Predecessors the legacy chain used more than once: its forks. */
export function legacyForks(plan: AdoptionPlan): Query | null {
  if (!plan.legacyPrevColumn) return null;
  const org = plan.columns.org_id && 'column' in plan.columns.org_id ? quoteIdent(plan.columns.org_id.column) : 'null::uuid';
  return {
    text: `select count(*)::int as predecessors, coalesce(sum(n), 0)::int as rows, coalesce(max(n), 0)::int as widest
             from (select count(*) as n from ${qualified(plan)} where ${quoteIdent(plan.legacyPrevColumn)} is not null
                    group by ${org}, ${quoteIdent(plan.legacyPrevColumn)} having count(*) > 1) forks`,
    values: [],
  };
}

/** Adopted chains whose watermark has not yet reached their last adopted row, and the adopted rows still pending. */
export function unsealedAdoptedRows(adoptionId: number): Query {
  return {
    text: `select count(*)::int as chains, coalesce(sum(pending), 0)::bigint::text as rows, count(*) filter (where halted)::int as halted
             from (select k.org_id, count(*) filter (where k.chain_seq > coalesce(s.watermark_seq, 0)) as pending, bool_or(s.halted_at is not null) as halted
                     from audit_chain_legacy_links k
                     left join audit_chain_state s on s.org_id is not distinct from k.org_id
                    where k.adoption_id = $1
                    group by k.org_id) chains
            where pending > 0`,
    values: [adoptionId],
  };
}

/** BEFORE INSERT row triggers of the legacy table: the insert-time hashing adoption replaces. */
export function legacyInsertTriggers(plan: AdoptionPlan): Query {
  return {
    text: `select t.tgname as name, pg_get_triggerdef(t.oid) as definition
             from pg_trigger t
            where t.tgrelid = $1::regclass and not t.tgisinternal
              and (t.tgtype & 1) = 1 and (t.tgtype & 2) = 2 and (t.tgtype & 4) = 4
            order by t.tgname`,
    values: [qualified(plan)],
  };
}

/** An index whose leading keys are (order column, id), so each keyset batch is an index range. */
export function orderIndexExists(plan: AdoptionPlan): Query {
  return {
    text: `select exists (
             select 1 from pg_index i
              where i.indrelid = $1::regclass and i.indpred is null and i.indexprs is null
                and i.indkey[0] = (select attnum from pg_attribute where attrelid = $1::regclass and attname = $2)
                and i.indkey[1] = (select attnum from pg_attribute where attrelid = $1::regclass and attname = $3)
           ) as present`,
    values: [qualified(plan), plan.orderColumn, plan.idColumn],
  };
}

export function orderIndexName(plan: AdoptionPlan): string {
  return `${plan.table}_audit_chain_adopt_order_idx`.slice(0, 63);
}

export function createOrderIndex(plan: AdoptionPlan): string {
  return `create index concurrently if not exists ${quoteIdent(orderIndexName(plan))} on ${qualified(plan)} (${quoteIdent(plan.orderColumn)}, ${quoteIdent(plan.idColumn)})`;
}

/** The legacy table's grants (other than its owner's), to repeat on the compatibility view. */
export function legacyGrants(plan: AdoptionPlan): Query {
  return {
    text: `select a.grantee::regrole::text as grantee, a.privilege_type as privilege
             from pg_class c, aclexplode(c.relacl) a
            where c.oid = $1::regclass and a.grantee <> c.relowner and a.grantee <> 0
              and a.privilege_type in ('SELECT', 'INSERT')
            order by 1, 2`,
    values: [qualified(plan)],
  };
}
