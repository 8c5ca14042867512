// The safe horizon: the highest chain_seq below which every row is final
// (committed and visible, or rolled back for good). The argument is in
// docs/sealing.md; in short:
//   1. read q = the last chain_seq handed out (sequence last_value, CACHE 1);
//   2. in a LATER statement, list the transactions holding RowExclusiveLock on
//      audit_logs (or a partition): every transaction that holds a chain_seq <= q
//      took that lock before its nextval and keeps it until it ends, so it is
//      in this list unless it has already ended;
//   3. once none of the listed transactions is still running, q is safe.
// Only audit writers are waited on: a long transaction that never wrote an audit
// row, in this database or any other, does not hold sealing back.
// Beside the probes, the horizon also moves over a run of consecutive chain_seq
// values that are all visible rows: a value that is a committed row cannot be
// held by an open transaction, so only a gap needs the probes' proof.
import type pg from 'pg';

export interface OpenWriter {
  virtualTransaction: string;
  /** NULL for a prepared (two-phase) transaction. */
  pid: number | null;
  applicationName: string | null;
  userName: string | null;
  state: string | null;
  xactStart: Date | null;
  stateChange: Date | null;
  query: string | null;
}

interface Probe {
  /** Last chain_seq handed out when the probe was taken. */
  seq: bigint;
  /** Audit writers open right after `seq` was read. */
  writers: Set<string>;
  takenAt: number;
}

type Queryable = Pick<pg.ClientBase, 'query'>;

export async function readSequenceHead(db: Queryable): Promise<bigint> {
  const result = await db.query<{ last_value: string; is_called: boolean }>(
    'select last_value::text, is_called from audit_logs_chain_seq',
  );
  const row = result.rows[0];
  if (!row) throw new Error('sequence audit_logs_chain_seq returned no row');
  return row.is_called ? BigInt(row.last_value) : BigInt(row.last_value) - 1n;
}

export async function listOpenWriters(db: Queryable): Promise<OpenWriter[]> {
  const result = await db.query<{
    virtualtransaction: string;
    pid: number | null;
    application_name: string | null;
    user_name: string | null;
    state: string | null;
    xact_start: Date | null;
    state_change: Date | null;
    query: string | null;
  }>(
    `select virtualtransaction, pid, application_name, user_name, state, xact_start, state_change, query
       from audit_chain_open_writers`,
  );
  return result.rows.map((row) => ({
    virtualTransaction: row.virtualtransaction,
    pid: row.pid,
    applicationName: row.application_name,
    userName: row.user_name,
    state: row.state,
    xactStart: row.xact_start,
    stateChange: row.state_change,
    query: row.query,
  }));
}

/**
 * The highest s in [from, head] such that every chain_seq in (from, s] is a
 * visible, hence committed, row. Looks at up to `limit` values per call.
 */
export async function extendOverVisibleRun(db: Queryable, from: bigint, head: bigint, limit = 10_000): Promise<bigint> {
  // Bounded by value, not only by row count, so the BRIN scan reads at most
  // `limit` values' worth of the table however far the head has run ahead.
  const upTo = head < from + BigInt(limit) ? head : from + BigInt(limit);
  const result = await db.query<{ run_end: string | null }>(
    `select max(chain_seq)::text as run_end
       from (select chain_seq, row_number() over (order by chain_seq) as n
               from audit_logs
              where chain_seq > $1 and chain_seq <= $2) numbered
      where chain_seq = $1::bigint + n`,
    [from.toString(), upTo.toString()],
  );
  const end = result.rows[0]?.run_end;
  return end ? BigInt(end) : from;
}

export interface HorizonReading {
  /** Safe horizon proven by this tracker so far (0 before the first). */
  horizon: bigint;
  /** Last chain_seq handed out, as of this reading. */
  head: bigint;
  /** Open audit writers holding the horizon below `head`, oldest first. */
  holders: OpenWriter[];
}

/**
 * Keeps the probes of one process and advances the horizon as their writers
 * end. Each call to `advance` takes a new probe and settles the older ones, so
 * the horizon trails the head by about one poll interval plus the longest
 * running audit-writing transaction.
 */
export class HorizonTracker {
  #probes: Probe[] = [];
  #horizon = 0n;
  readonly #maxProbes: number;

  constructor(options: { maxProbes?: number } = {}) {
    this.#maxProbes = options.maxProbes ?? 512;
  }

  get horizon(): bigint {
    return this.#horizon;
  }

  async advance(db: Queryable): Promise<HorizonReading> {
    // Two statements, in this order: a single statement could read the lock
    // table before the sequence and miss a writer that took its value in between.
    const head = await readSequenceHead(db);
    const writers = await listOpenWriters(db);
    const live = new Set(writers.map((writer) => writer.virtualTransaction));
    // A prepared transaction no longer shows under the virtual transaction id it
    // had when a probe listed it, so while any prepared writer exists no probe
    // settles: conservative, and such transactions are rare and shown as holders.
    const preparedWriterExists = writers.some((writer) => writer.pid === null);

    this.#probes.push({ seq: head, writers: live, takenAt: Date.now() });
    if (!preparedWriterExists) {
      let settled = -1;
      for (let index = 0; index < this.#probes.length; index += 1) {
        const probe = this.#probes[index]!;
        if (![...probe.writers].some((vxid) => live.has(vxid))) settled = index;
      }
      if (settled >= 0) {
        const probe = this.#probes[settled]!;
        if (probe.seq > this.#horizon) this.#horizon = probe.seq;
        this.#probes = this.#probes.slice(settled + 1);
      }
    }
    if (this.#horizon < head) this.#horizon = await extendOverVisibleRun(db, this.#horizon, head);
    // Dropping the oldest unsettled probes only delays the horizon, never makes it unsafe.
    if (this.#probes.length > this.#maxProbes) this.#probes = this.#probes.slice(-this.#maxProbes);

    const holders = this.#horizon >= head ? [] : writers.filter((writer) => this.#holdsBack(writer));
    holders.sort((a, b) => (a.xactStart?.getTime() ?? 0) - (b.xactStart?.getTime() ?? 0));
    return { horizon: this.#horizon, head, holders };
  }

  #holdsBack(writer: OpenWriter): boolean {
    if (writer.pid === null) return true;
    return this.#probes.some((probe) => probe.writers.has(writer.virtualTransaction));
  }
}
