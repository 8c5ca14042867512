// Small SQL building blocks shared by the lag queries. Every query is a pure
// function returning { text, values } (tested without a database where it
// matters, and with EXPLAIN where it touches audit_logs).
export { orgMatch, type Query } from '@audit-chain/db';

/**
 * The key the chain tables are joined on. The system chain has a NULL org_id;
 * the sealing package joins the same way, so the all-zero uuid is already
 * reserved for it.
 */
export const NIL_UUID = "'00000000-0000-0000-0000-000000000000'::uuid";

export const NIL_UUID_TEXT = '00000000-0000-0000-0000-000000000000';

export const chainKey = (column: string): string => `coalesce(${column}, ${NIL_UUID})`;

/** RFC 3339 UTC with microseconds, produced by PostgreSQL so no session setting or JS Date rounding changes it. */
export const iso = (column: string): string => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** The earliest and latest finite timestamptz (PostgreSQL 15's range, to the day). */
const EARLIEST_TIMESTAMPTZ = "timestamptz '4713-11-25 00:00:00+00 BC'";
const LATEST_TIMESTAMPTZ = "timestamptz '294276-12-30 00:00:00+00'";

/**
 * Seconds from `column` to the snapshot's now() (the start of the reading
 * transaction). A product may store recorded_at as -infinity or infinity, which
 * PostgreSQL cannot subtract: such a value counts as the earliest or the latest
 * finite timestamp, so the reading still answers (a huge or a negative age)
 * instead of failing; NULL stays NULL.
 */
export const ageSeconds = (column: string): string =>
  `extract(epoch from (now() - case when isfinite(${column}) then ${column}
                                    when ${column} < now() then ${EARLIEST_TIMESTAMPTZ}
                                    when ${column} > now() then ${LATEST_TIMESTAMPTZ} end))::float8`;



export interface LateralProbe {
  /** Select list over `alias`. */
  select: string;
  table: string;
  alias: string;
  /** Extra condition over `alias` and the outer row, or ''. */
  where: string;
  orderBy: string;
}

/**
 * A LATERAL subquery reading at most one row of `table` for the chain of the
 * outer row's `outerOrg`, through an (org_id, ...) index. Two branches because
 * `=` never matches the system chain's NULL and IS NOT DISTINCT FROM cannot use
 * the index; the branch that cannot match is skipped by a one-time filter.
 */
export function lateralByOrg(outerOrg: string, probe: LateralProbe): string {
  const extra = probe.where === '' ? '' : ` and ${probe.where}`;
  // The planner treats `org_id = x` as fixing the index's first column but not
  // `org_id is null`: ordering by org_id too lets it read the index in order and
  // stop at the first row instead of sorting every matching row.
  const orgOrder = `${probe.alias}.org_id${/\sdesc\b/i.test(probe.orderBy.split(',')[0]!) ? ' desc' : ''}`;
  const branch = (match: string) =>
    `(select ${probe.select} from ${probe.table} ${probe.alias} where ${match}${extra} order by ${orgOrder}, ${probe.orderBy} limit 1)`;
  return `(${branch(`${probe.alias}.org_id = ${outerOrg}`)}
           union all
           ${branch(`${outerOrg} is null and ${probe.alias}.org_id is null`)}
           limit 1)`;
}

export function chainIdOf(orgId: string | null): string {
  return orgId ?? 'system';
}

/** Rounds an age or a rate for JSON: milliseconds are plenty for an operator. */
export function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}

export const num = (value: string | number | null | undefined): number => (value === null || value === undefined ? 0 : Number(value));
