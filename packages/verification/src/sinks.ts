// Where signed checkpoints are exported, outside the database. A sink MUST
// either store every checkpoint it is given durably or throw; the caller marks
// a checkpoint exported to a sink only after write() returned, and retries the
// rest in its next round (so a sink may see a checkpoint twice, never zero times).
import type { AnySignedCheckpoint } from '@audit-chain/chain';

export interface CheckpointSink {
  /** Stable name, the key in exported_to of audit_chain_checkpoints and audit_chain_table_checkpoints ('directory', 'webhook'). */
  readonly name: string;
  /** Where it writes, for logs and messages (a path or a URL without credentials). */
  readonly target: string;
  write(checkpoints: readonly AnySignedCheckpoint[]): Promise<void>;
}

/** A sink that failed; `written` checkpoints (a prefix of the input) did reach it. */
export class SinkError extends Error {
  override name = 'SinkError';
  readonly sink: string;
  readonly written: number;
  constructor(sink: string, written: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.sink = sink;
    this.written = written;
  }
}
