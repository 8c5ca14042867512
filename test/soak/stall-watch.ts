// Watches for stalled chains while the soak runs: a chain whose discovered rows
// are above its watermark (safe to seal, nothing holds it back) but whose
// watermark does not move. The longest stall is reported; a stall longer than a
// few poll intervals means no worker picked the chain up.
import type pg from 'pg';
import { describeLag } from './diagnostics.ts';

export interface Stall {
  chain: string;
  seconds: number;
  /** What the pipeline looked like once the stall passed the report threshold. */
  lag: string;
}

const SAMPLE_MS = 500;
const REPORT_AFTER_MS = 5000;

export class StallWatch {
  readonly #pool: pg.Pool;
  readonly #log: (line: string) => void;
  /** Per chain: the watermark last seen and since when it has been sealable without moving. */
  readonly #chains = new Map<string, { watermark: string; since: number; reported: boolean }>();
  readonly stalls: Stall[] = [];
  longestMs = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  readonly #processOutput: () => string;

  /** `processOutput` adds what the workers logged lately to a stall's report. */
  constructor(pool: pg.Pool, log: (line: string) => void, processOutput: () => string) {
    this.#pool = pool;
    this.#log = log;
    this.#processOutput = processOutput;
  }

  start(): void {
    const tick = async () => {
      await this.#sample().catch(() => {});
      if (!this.#stopped) this.#timer = setTimeout(tick, SAMPLE_MS);
    };
    this.#timer = setTimeout(tick, SAMPLE_MS);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  async #sample(): Promise<void> {
    const now = Date.now();
    const result = await this.#pool.query<{ chain: string; watermark: string }>(
      `select coalesce(d.org_id::text, 'system') as chain, s.watermark_seq::text as watermark
         from audit_chain_discovery d
         join audit_chain_state s on s.org_id is not distinct from d.org_id
        where d.seen_seq > s.watermark_seq and s.halted_at is null`,
    );
    const sealable = new Set<string>();
    for (const { chain, watermark } of result.rows) {
      sealable.add(chain);
      const seen = this.#chains.get(chain);
      if (!seen || seen.watermark !== watermark) {
        this.#chains.set(chain, { watermark, since: now, reported: false });
        continue;
      }
      const stalledMs = now - seen.since;
      this.longestMs = Math.max(this.longestMs, stalledMs);
      if (stalledMs >= REPORT_AFTER_MS && !seen.reported) {
        seen.reported = true;
        const lag = await describeLag(this.#pool).catch((error: unknown) => String(error));
        this.stalls.push({ chain, seconds: stalledMs / 1000, lag });
        this.#log(`chain ${chain.slice(0, 8)} sealable but its watermark has not moved for ${(stalledMs / 1000).toFixed(1)} s: ${lag}\n${this.#processOutput()}`);
      }
      if (seen.reported) {
        const stall = this.stalls.findLast((entry) => entry.chain === chain);
        if (stall) stall.seconds = stalledMs / 1000;
      }
    }
    for (const chain of this.#chains.keys()) if (!sealable.has(chain)) this.#chains.delete(chain);
  }
}
