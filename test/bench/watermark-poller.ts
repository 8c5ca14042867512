// Watches the chains' watermarks from outside the worker: one connection reads
// audit_chain_state every `intervalMs` and keeps, per chain, the moments its
// watermark moved. A row counts as sealed at the first poll that saw its chain's
// watermark at or past its chain_seq (so latencies have the poll's resolution).
// The same statement reads the discovery progress, so a latency splits into
// commit -> discovered (the worker's horizon and discovery loop) and discovered
// -> sealed (dispatch through pg-boss and the seal job).
import pg from 'pg';

interface Sighting {
  seq: bigint;
  at: number;
}

export class WatermarkPoller {
  readonly #client: pg.Client;
  readonly #history = new Map<string, Sighting[]>();
  readonly #discovered: Sighting[] = [];
  #polling = true;
  #loop: Promise<void> | undefined;

  private constructor(client: pg.Client) {
    this.#client = client;
  }

  static async start(url: string, intervalMs: number): Promise<WatermarkPoller> {
    const client = new pg.Client({ connectionString: url, application_name: 'audit-chain bench poller' });
    await client.connect();
    const poller = new WatermarkPoller(client);
    poller.#loop = poller.#poll(intervalMs);
    return poller;
  }

  async #poll(intervalMs: number): Promise<void> {
    while (this.#polling) {
      const at = performance.now();
      const result = await this.#client.query<{ org_id: string; watermark_seq: string; discovered_seq: string }>(
        'select org_id::text, watermark_seq::text, (select discovered_seq::text from audit_chain_progress where id = 1) from audit_chain_state',
      );
      const discovered = result.rows[0] ? BigInt(result.rows[0].discovered_seq) : undefined;
      if (discovered !== undefined && (this.#discovered.length === 0 || this.#discovered[this.#discovered.length - 1]!.seq < discovered)) {
        this.#discovered.push({ seq: discovered, at });
      }
      for (const row of result.rows) {
        const seq = BigInt(row.watermark_seq);
        let history = this.#history.get(row.org_id);
        if (!history) this.#history.set(row.org_id, (history = []));
        if (history.length === 0 || history[history.length - 1]!.seq < seq) history.push({ seq, at });
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }

  /** The first poll that saw chain `org` sealed through `seq`, or undefined if none has yet. */
  sealedAt(org: string, seq: bigint): number | undefined {
    return firstAtOrPast(this.#history.get(org), seq);
  }

  /** The first poll that saw discovery (horizon and discovery loop) past `seq`. */
  discoveredAt(seq: bigint): number | undefined {
    return firstAtOrPast(this.#discovered, seq);
  }

  /** Times between consecutive advances of discovery seen in [from, to] (ms): the dispatch loop's cycle as seen from outside. */
  discoveryIntervals(from: number, to: number): number[] {
    const seen = this.#discovered.filter((sighting) => sighting.at >= from && sighting.at <= to);
    return seen.slice(1).map((sighting, index) => sighting.at - seen[index]!.at);
  }

  async stop(): Promise<void> {
    this.#polling = false;
    await this.#loop;
    await this.#client.end();
  }
}

function firstAtOrPast(history: Sighting[] | undefined, seq: bigint): number | undefined {
  if (!history || history.length === 0 || history[history.length - 1]!.seq < seq) return undefined;
  let low = 0;
  let high = history.length - 1;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (history[middle]!.seq >= seq) high = middle;
    else low = middle + 1;
  }
  return history[low]!.at;
}
