// The sealing worker replicas: a fixed number of slots, each holding one live
// worker process; a killed worker is replaced in its slot.
import { startWorkerProcess, type ManagedProcess, type UnexpectedExit, type WorkerTuning } from './processes.ts';

export class WorkerReplicas {
  readonly #databaseUrl: string;
  readonly #tuning: WorkerTuning;
  readonly #onUnexpectedExit: (exit: UnexpectedExit) => void;
  readonly slots: ManagedProcess[] = [];
  #started = 0;

  constructor(databaseUrl: string, tuning: WorkerTuning, count: number, onUnexpectedExit: (exit: UnexpectedExit) => void) {
    this.#databaseUrl = databaseUrl;
    this.#tuning = tuning;
    this.#onUnexpectedExit = onUnexpectedExit;
    for (let slot = 0; slot < count; slot += 1) this.slots.push(this.#spawn());
  }

  /** Every worker process started so far, replacements included. */
  get started(): number {
    return this.#started;
  }

  /** SIGKILLs the worker in `slot`, waits `downMs`, and starts a replacement there. */
  async killAndReplace(slot: number, downMs: number): Promise<{ killed: ManagedProcess; replacement: ManagedProcess }> {
    const killed = this.slots[slot];
    if (!killed) throw new Error(`no worker slot ${slot}: have ${this.slots.length}`);
    await killed.stop('SIGKILL', 10_000);
    await new Promise((resolve) => setTimeout(resolve, downMs));
    const replacement = this.#spawn();
    this.slots[slot] = replacement;
    return { killed, replacement };
  }

  /** Asks every worker to stop (SIGTERM: finish the batch in flight) and reports how each one ended. */
  async stopAll(timeoutMs: number): Promise<{ name: string; code: number | null; signal: NodeJS.Signals | null; timedOut: boolean; output: string }[]> {
    return Promise.all(
      this.slots.map(async (worker) => ({ name: worker.name, ...(await worker.stop('SIGTERM', timeoutMs)), output: worker.output() })),
    );
  }

  #spawn(): ManagedProcess {
    this.#started += 1;
    return startWorkerProcess(`worker #${this.#started}`, this.#databaseUrl, this.#tuning, this.#onUnexpectedExit);
  }
}
