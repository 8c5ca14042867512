// SQL of the retention stage as { text, values }. Every statement names one
// chain with `org_id = $n` or `org_id is null`, so the (org_id, chain_seq) index
// serves the system chain too.
import type { SignedCheckpoint } from '@audit-chain/chain';
import { orgMatch, type Query } from '@audit-chain/db';

export type { Query };

/** Sealed chains (watermark above 0), optionally one. */
export function listSealedChains(orgId?: string | null): Query {
  const values: unknown[] = [];
  const filter = orgId === undefined ? '' : `and ${orgMatch('org_id', orgId, values)}`;
  return {
    text: `select org_id::text as org_id, watermark_seq::text as watermark_seq
             from audit_chain_state where watermark_seq > 0 and halted_at is null ${filter}
            order by org_id nulls first`,
    values,
  };
}

/**
 * The next cut of a chain: the last row of the longest prefix whose rows were
 * all recorded before `olderThan`, strictly below the watermark (the head row
 * stays), and at most `maxRows` rows from the chain's start. Walks the chain
 * from its oldest row through the (org_id, chain_seq) index and stops at the
 * first row that is too young: the cost is the rows to delete.
 */
export function findCut(orgId: string | null, olderThan: Date, maxRows: number): Query {
  const values: unknown[] = [olderThan.toISOString(), maxRows];
  const org = orgMatch('a.org_id', orgId, values);
  const stateOrg = orgMatch('s.org_id', orgId, values);
  return {
    text: `with state as (
             select s.watermark_seq from audit_chain_state s where ${stateOrg}
           ), bound as (
             select least(
                      (select a.chain_seq from audit_logs a, state
                        where ${org} and a.chain_seq <= state.watermark_seq and a.recorded_at >= $1::timestamptz
                        order by a.chain_seq limit 1),
                      (select watermark_seq from state)) as below
           ), prefix as (
             select a.chain_seq from audit_logs a, bound
              where ${org} and a.chain_seq < bound.below
              order by a.chain_seq limit $2
           )
           select max(chain_seq)::text as cut_seq, count(*)::int as rows from prefix`,
    values,
  };
}

/**
 * What a checkpoint at `cutSeq` must say, read in one statement (one snapshot):
 * the row's checksum and its position from the chain's genesis, which is the
 * state's sealed_count minus the sealed rows after it.
 */
export function readCutRow(orgId: string | null, cutSeq: string): Query {
  const values: unknown[] = [cutSeq];
  const org = orgMatch('a.org_id', orgId, values);
  const after = orgMatch('b.org_id', orgId, values);
  const stateOrg = orgMatch('s.org_id', orgId, values);
  return {
    text: `select a.checksum,
                  (s.sealed_count - (select count(*) from audit_logs b
                                      where ${after} and b.chain_seq > $1::bigint and b.chain_seq <= s.watermark_seq))::text as sealed_count,
                  s.watermark_seq::text as watermark_seq
             from audit_chain_state s
             join audit_logs a on ${org} and a.chain_seq = $1::bigint
            where ${stateOrg}`,
    values,
  };
}

/** Records a signed checkpoint, pending for every sink (as the checkpoint stage records its own). */
export function recordCheckpoint(checkpoint: SignedCheckpoint, sinkNames: readonly string[]): Query {
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
      JSON.stringify(Object.fromEntries(sinkNames.map((name) => [name, null]))),
    ],
  };
}

export function markCheckpointExported(id: string, sink: string, at: Date): Query {
  return {
    text: `update audit_chain_checkpoints
              set exported_to = coalesce(exported_to, '{}'::jsonb) || jsonb_build_object($2::text, $3::text)
            where id = $1::bigint`,
    values: [id, sink, at.toISOString()],
  };
}

/** Deletes the chain's rows up to the checkpoint's row, through the retention role's function (drizzle/0015). */
export function retainPrefix(checkpointId: string, olderThan: Date): Query {
  return {
    text: 'select audit_chain_retain_prefix($1::bigint, $2::timestamptz)::text as deleted',
    values: [checkpointId, olderThan.toISOString()],
  };
}
