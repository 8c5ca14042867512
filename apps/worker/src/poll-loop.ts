// A loop that runs one step, waits, and runs again, with explicit states and an
// exponential backoff after failures. Stopping waits for the step in flight.

export type PollLoopState = 'created' | 'running' | 'stopping' | 'stopped';

export interface PollLoopOptions {
  intervalMs: number;
  maxBackoffMs: number;
  step: () => Promise<void>;
  onError: (error: unknown, consecutiveFailures: number) => void;
}

export class PollLoop {
  #state: PollLoopState = 'created';
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> | undefined;
  #failures = 0;
  readonly #options: PollLoopOptions;

  constructor(options: PollLoopOptions) {
    this.#options = options;
  }

  get state(): PollLoopState {
    return this.#state;
  }

  start(): void {
    if (this.#state !== 'created') throw new Error(`poll loop: got start() in state ${this.#state}, want created`);
    this.#state = 'running';
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopping';
    clearTimeout(this.#timer);
    await this.#inFlight;
    this.#state = 'stopped';
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#inFlight = this.#run();
    }, delayMs);
  }

  async #run(): Promise<void> {
    if (this.#state !== 'running') return;
    try {
      await this.#options.step();
      this.#failures = 0;
    } catch (error) {
      this.#failures += 1;
      this.#options.onError(error, this.#failures);
    }
    if (this.#state !== 'running') return;
    const backoff = this.#failures === 0 ? this.#options.intervalMs : this.#options.intervalMs * 2 ** Math.min(this.#failures, 10);
    this.#schedule(Math.min(backoff, this.#options.maxBackoffMs));
  }
}
