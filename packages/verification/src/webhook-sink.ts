// The webhook sink: POSTs each checkpoint as JSON (the same object as a line of
// the directory sink) to a URL. Anything but a 2xx answer, a timeout or a network
// error is a failure: the checkpoints from there on are retried next round.
import { checkpointLine, type AnySignedCheckpoint } from '@audit-chain/chain';
import { SinkError, type CheckpointSink } from './sinks.ts';

export interface WebhookSinkOptions {
  url: string;
  /** Sent as `Authorization: Bearer <token>` when set. */
  token?: string | undefined;
  timeoutMs?: number;
}

export class WebhookCheckpointSink implements CheckpointSink {
  readonly name = 'webhook';
  readonly target: string;
  readonly #options: WebhookSinkOptions;

  constructor(options: WebhookSinkOptions) {
    this.#options = options;
    const shown = new URL(options.url);
    shown.username = '';
    shown.password = '';
    shown.search = '';
    this.target = shown.toString();
  }

  async write(checkpoints: readonly AnySignedCheckpoint[]): Promise<void> {
    let written = 0;
    for (const checkpoint of checkpoints) {
      let response: Response;
      try {
        response = await fetch(this.#options.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(this.#options.token ? { authorization: `Bearer ${this.#options.token}` } : {}),
          },
          body: checkpointLine(checkpoint),
          signal: AbortSignal.timeout(this.#options.timeoutMs ?? 10_000),
        });
        // Drain the body so the connection can be reused.
        await response.arrayBuffer().catch(() => undefined);
      } catch (error) {
        const reason = (error as Error).name === 'TimeoutError' ? 'timed out' : ((error as Error & { cause?: Error }).cause?.message ?? (error as Error).message);
        throw new SinkError(this.name, written, `POST ${this.target} failed: ${reason}`, { cause: error });
      }
      if (response.status < 200 || response.status > 299) {
        throw new SinkError(this.name, written, `POST ${this.target}: got HTTP ${response.status}, want 2xx`);
      }
      written += 1;
    }
  }
}
