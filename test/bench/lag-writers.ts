// The writer harness of the end-to-end lag section: a fixed set of connections,
// each inserting single rows in autocommit, either as fast as it can (the plain
// maximum) or paced to a total rate (the loads the sealing worker must keep up
// with). The same connections and the same row shape serve every run, so the
// only thing that differs between the plain maximum and a paced step is the rate
// and the table (and whether the worker runs).
import pg from 'pg';

export interface Commit {
  org: string;
  /** chain_seq of the row (audit_logs only; 0n for a chainless table). */
  seq: bigint;
  /** performance.now() when the COMMIT returned to the writer. */
  committedAt: number;
}

export interface WriteRun {
  /** The table to insert into: `audit_logs` returns each row's chain_seq. */
  table: string;
  /** Total rows/s over all connections; undefined = as fast as each connection can. */
  rate: number | undefined;
  seconds: number;
  onCommit(commit: Commit): void;
}

export interface WriteResult {
  /** performance.now() at the start of the schedule. */
  startedAt: number;
  /** Inserts that started more than one pacing interval after their scheduled moment (the writer was behind its schedule). */
  lateStarts: number;
}

export class LagWriters {
  readonly #clients: pg.Client[];
  readonly #orgs: readonly string[];

  private constructor(clients: pg.Client[], orgs: readonly string[]) {
    this.#clients = clients;
    this.#orgs = orgs;
  }

  static async open(url: string, connections: number, orgs: readonly string[]): Promise<LagWriters> {
    const clients = await Promise.all(
      Array.from({ length: connections }, async (_, writer) => {
        const client = new pg.Client({ connectionString: url, application_name: `audit-chain bench writer ${writer}` });
        await client.connect();
        return client;
      }),
    );
    return new LagWriters(clients, orgs);
  }

  get connections(): number {
    return this.#clients.length;
  }

  async run(run: WriteRun): Promise<WriteResult> {
    const startedAt = performance.now();
    const endAt = startedAt + run.seconds * 1000;
    const count = this.#clients.length;
    const returning = run.table === 'audit_logs' ? ' returning chain_seq::text' : '';
    const text = `insert into ${run.table} (org_id, actor_type, actor_id, action, resource_type, resource_id, details, ip_address)
      values ($1, 'agent', 'agent-1', 'telemetry.submitted', 'device', 'dev-1', '{"status":"ok"}', '10.0.0.1')${returning}`;
    let lateStarts = 0;
    await Promise.all(
      this.#clients.map(async (client, writer) => {
        const interval = run.rate === undefined ? 0 : (1000 * count) / run.rate;
        for (let index = 0; ; index += 1) {
          if (run.rate !== undefined) {
            const due = startedAt + writer * (interval / count) + index * interval;
            if (due > endAt) break;
            const wait = due - performance.now();
            if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
            else if (-wait > interval) lateStarts += 1;
          } else if (performance.now() > endAt) {
            break;
          }
          const org = this.#orgs[(writer + index) % this.#orgs.length]!;
          const result = await client.query<{ chain_seq: string }>(text, [org]);
          const committedAt = performance.now();
          run.onCommit({ org, seq: returning ? BigInt(result.rows[0]!.chain_seq) : 0n, committedAt });
        }
      }),
    );
    return { startedAt, lateStarts };
  }

  async close(): Promise<void> {
    await Promise.all(this.#clients.map((client) => client.end()));
  }
}
