// Rows above the discovered position, counted per chain. Discovery counts rows
// into their chains only up to the safe horizon, so while an open transaction
// holds the horizon the rows committed behind it belong to no chain's counts
// yet. They are pending all the same: this reading counts the visible ones per
// chain (one bounded BRIN range scan), so every chain with rows waiting is
// listed with them, held behind the horizon or not. What it cannot attribute
// (rows of transactions still open, values rolled back, rows beyond the window)
// stays a separate total, so the per-chain figures plus that total are exactly
// the head minus the discovered position.
import { withPlannerSettings, type Queryable } from './snapshot.ts';
import { ABOVE_DISCOVERED_PLANNER } from './chain-queries.ts';
import { ageSeconds, chainKey, iso, NIL_UUID, type Query } from './sql.ts';

export interface HeldChain {
  /** The chain key: the org uuid, or the nil uuid for the system chain. */
  chain_key: string;
  org_id: string | null;
  rows: number;
  first_seq: string;
  first_recorded_at: string;
  first_age: number;
}

/** What the chain tables say of a chain with held rows (readHeldChainStates). */
export interface HeldChainState {
  /** Whether the chain has a chain state row (else it is listed from its held rows alone). */
  known: boolean;
  /** Rows discovery counted into the chain, not sealed yet. */
  discovered: number;
  /** The chain's waiting-since in microseconds, as the chain queries compute it. */
  sinceMicros: bigint;
}

export interface HeldRows {
  /** Visible rows above the discovered position, per chain (only chains that have some). */
  chains: HeldChain[];
  /** Per chain key of `chains`, filled by readHeldChainStates in the same snapshot. */
  states?: Map<string, HeldChainState>;
  /** Sum of chains[].rows. */
  rows: number;
  /** head - discovered - rows: chain_seq values above the discovered position with no visible row counted. */
  unattributed: number;
  /** The chain whose held rows began waiting first (oldest recorded_at); undefined when none within the window. */
  first: HeldChain | undefined;
  /** The chain_seq range read: (after, upTo]; undefined when nothing was read. */
  range?: { after: bigint; upTo: bigint };
}

export const NO_HELD_ROWS: HeldRows = { chains: [], rows: 0, unattributed: 0, first: undefined };

/**
 * Visible rows with discovered < chain_seq <= min(head, discovered + window),
 * grouped by chain. Bounded by value, like readFirstRowAbove, so it reads a
 * bounded slice of the table however far the head has run.
 */
export function readHeldRowsPerChain(discoveredSeq: bigint, upTo: bigint): Query {
  return {
    text: `select coalesce(a.org_id, ${NIL_UUID})::text as chain_key, a.org_id::text as org_id, count(*)::text as rows,
                  min(a.chain_seq)::text as first_seq, ${iso('min(a.recorded_at)')} as first_recorded_at,
                  ${ageSeconds('min(a.recorded_at)')} as first_age
             from audit_logs a
            where a.chain_seq > $1::bigint and a.chain_seq <= $2::bigint
            group by a.org_id`,
    values: [discoveredSeq.toString(), upTo.toString()],
  };
}

export async function readHeldRows(db: Queryable, headSeq: bigint, discoveredSeq: bigint, window: bigint): Promise<HeldRows> {
  if (headSeq <= discoveredSeq) return NO_HELD_ROWS;
  const upTo = headSeq < discoveredSeq + window ? headSeq : discoveredSeq + window;
  const query = readHeldRowsPerChain(discoveredSeq, upTo);
  const raw = await withPlannerSettings(db, ABOVE_DISCOVERED_PLANNER, async () =>
    (await db.query<Omit<HeldChain, 'rows'> & { rows: string }>(query)).rows,
  );
  const chains = raw.map((row) => ({ ...row, rows: Number(row.rows) }));
  const rows = chains.reduce((sum, chain) => sum + chain.rows, 0);
  const first = chains.reduce<HeldChain | undefined>((a, b) => (a === undefined || b.first_age > a.first_age ? b : a), undefined);
  return { chains, rows, unattributed: Number(headSeq - discoveredSeq) - rows, first, range: { after: discoveredSeq, upTo } };
}

/** The held chains as the parallel arrays the chain queries take (ChainInputs.held). */
export function heldArrays(held: HeldRows, only?: string): [string[], string[], string[]] {
  const chains = only === undefined ? held.chains : held.chains.filter((chain) => chain.chain_key === only);
  return [chains.map((c) => c.chain_key), chains.map((c) => String(c.rows)), chains.map((c) => c.first_recorded_at)];
}

/**
 * The chain tables' figures of every chain with held rows, in one statement
 * (two probes per held chain through the chain-key indexes of 0055): what the
 * totals need (held-only chains, chains pending only by their held rows) and
 * the sort keys that let a page take only the worst held chains.
 */
export function readHeldChainStatesQuery(held: HeldRows): Query {
  return {
    text: `select h.chain_key::text as chain_key, (s.watermark_seq is not null) as known,
                  greatest(coalesce(d.seen_count, 0) - coalesce(d.sealed_count, s.sealed_count, 0), 0)::text as discovered,
                  (extract(epoch from case when s.watermark_seq is null then h.first_at
                                           else coalesce(d.last_sealed_at, d.first_seen_at, s.last_sealed_at, s.updated_at) end) * 1000000)::bigint::text as since_us
             from unnest($1::uuid[], $2::timestamptz[]) as h(chain_key, first_at)
             left join audit_chain_state s on ${chainKey('s.org_id')} = h.chain_key
             left join audit_chain_discovery d on ${chainKey('d.org_id')} = h.chain_key`,
    values: [held.chains.map((c) => c.chain_key), held.chains.map((c) => c.first_recorded_at)],
  };
}

export async function readHeldChainStates(db: Queryable, held: HeldRows): Promise<HeldRows> {
  if (held.chains.length === 0) return { ...held, states: new Map() };
  // A merge join over the chain-key indexes: hashing the chain tables (100,000
  // rows and more) costs several times as much, and spills past work_mem.
  const query = readHeldChainStatesQuery(held);
  const rows = await withPlannerSettings(db, { enable_hashjoin: 'off' }, async () =>
    (await db.query<{ chain_key: string; known: boolean; discovered: string; since_us: string }>(query)).rows,
  );
  return { ...held, states: new Map(rows.map((row) => [row.chain_key, { known: row.known, discovered: Number(row.discovered), sinceMicros: BigInt(row.since_us) }])) };
}

/** The held chains as parallel arrays, only those among `keys`. */
export function heldArraysOf(held: HeldRows, keys: ReadonlySet<string>): [string[], string[], string[]] {
  const chains = held.chains.filter((chain) => keys.has(chain.chain_key));
  return [chains.map((c) => c.chain_key), chains.map((c) => String(c.rows)), chains.map((c) => c.first_recorded_at)];
}
