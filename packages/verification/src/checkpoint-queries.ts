// SQL of the signed-checkpoint stage, as { text, values }. The table is a
// convenience copy: it schedules signing and export retries; verification
// trusts a row of it only through its signature.
import type { SignedCheckpoint } from '@audit-chain/chain';

export interface Query {
  text: string;
  values: unknown[];
}

/** `exported_to` holds one member per sink, its export time or null while pending. */
export const EXPORT_PENDING = `exported_to @? '$.* ? (@ == null)'`;

/**
 * The latest checkpoint of the chain `outer` (an org_id expression) through the
 * (org_id, chain_seq) index. `org_id = x` never matches NULL, and `is not
 * distinct from` cannot use the index, hence two branches.
 */
function latestCheckpointOf(outer: string): string {
  const branch = (match: string) =>
    `(select c.chain_seq, c.sealed_count, c.signed_at from audit_chain_checkpoints c
       where ${match} order by c.org_id desc, c.chain_seq desc limit 1)`;
  return `(${branch(`c.org_id = ${outer}`)} union all ${branch(`${outer} is null and c.org_id is null`)} limit 1)`;
}

/** Every sealed chain's head (or one chain's) beside its latest recorded checkpoint. */
export function readHeadsAndCheckpoints(orgId?: string | null): Query {
  const values: unknown[] = [];
  let filter = '';
  if (orgId === null) filter = 'and s.org_id is null';
  else if (orgId !== undefined) {
    values.push(orgId);
    filter = 'and s.org_id = $1::uuid';
  }
  return {
    text: `select s.org_id::text as org_id, s.watermark_seq::text as watermark_seq, s.head_checksum, s.sealed_count::text as sealed_count,
                  c.chain_seq::text as checkpoint_seq, c.sealed_count::text as checkpoint_count, c.signed_at as checkpoint_signed_at
             from audit_chain_state s
             left join lateral ${latestCheckpointOf('s.org_id')} c on true
            where s.watermark_seq > 0 ${filter}
            order by s.org_id nulls first`,
    values,
  };
}

/** The stored checksum of the row at a chain's watermark, to check the state before signing it. */
export function readRowAt(orgId: string | null, chainSeq: string): Query {
  return orgId === null
    ? { text: 'select checksum from audit_logs where org_id is null and chain_seq = $1::bigint', values: [chainSeq] }
    : { text: 'select checksum from audit_logs where org_id = $2::uuid and chain_seq = $1::bigint', values: [chainSeq, orgId] };
}

export function insertCheckpoint(checkpoint: SignedCheckpoint, sinkNames: readonly string[]): Query {
  const exportedTo = Object.fromEntries(sinkNames.map((name) => [name, null]));
  return {
    text: `insert into audit_chain_checkpoints (org_id, chain_seq, sealed_count, checksum, signed_at, key_id, signature, body, exported_to)
           values ($1::uuid, $2::bigint, $3::bigint, $4, $5::timestamptz, $6, $7, $8::jsonb, $9::jsonb)
           returning id::text as id`,
    values: [
      checkpoint.org_id,
      checkpoint.chain_seq,
      checkpoint.sealed_count,
      checkpoint.checksum,
      checkpoint.signed_at,
      checkpoint.key_id,
      checkpoint.signature,
      JSON.stringify(checkpoint),
      JSON.stringify(exportedTo),
    ],
  };
}

/** The two records of signed checkpoints: audit_logs' chains ('org') and attached tables' chains ('table'). */
export type CheckpointStore = 'org' | 'table';

const STORE_TABLE: Record<CheckpointStore, string> = { org: 'audit_chain_checkpoints', table: 'audit_chain_table_checkpoints' };

/** Checkpoints of `store` still pending for some sink, oldest first (through the partial index). */
export function readExportPending(limit: number, store: CheckpointStore = 'org'): Query {
  return {
    text: `select id::text as id, body, signature, exported_to from ${STORE_TABLE[store]}
            where ${EXPORT_PENDING} order by id limit $1`,
    values: [limit],
  };
}

/** `outcome`: when the sink took them (ISO time), or why they will never be sent. */
export function markExported(ids: readonly string[], sink: string, outcome: string, store: CheckpointStore = 'org'): Query {
  return {
    text: `update ${STORE_TABLE[store]}
              set exported_to = coalesce(exported_to, '{}'::jsonb) || jsonb_build_object($2::text, $3::text)
            where id = any($1::bigint[])`,
    values: [ids, sink, outcome],
  };
}

/** A page of every recorded checkpoint (keyset on the primary key), for verification. */
export function readCheckpointPage(afterId: string, limit: number, orgId?: string | null): Query {
  const values: unknown[] = [afterId, limit];
  let filter = '';
  if (orgId === null) filter = 'and c.org_id is null';
  else if (orgId !== undefined) {
    values.push(orgId);
    filter = 'and c.org_id = $3::uuid';
  }
  return {
    text: `select c.id::text as id, c.body, c.signature from audit_chain_checkpoints c
            where c.id > $1::bigint ${filter} order by c.id limit $2`,
    values,
  };
}

/** Session advisory lock held by whoever signs checkpoints, so replicas and the command line take turns. */
export const CHECKPOINT_LOCK_KEY = 7_461_101;
