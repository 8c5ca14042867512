// The checkpoint stage of the worker: a loop that signs each chain's head
// (audit_logs' chains and every attached table's) when
// enough rows were sealed since its last checkpoint or the interval has passed,
// and exports it (directory, webhook). Without a signing key it warns once and
// signs nothing; sealing goes on either way.
import type { Logger } from 'pino';
import type { Config } from '@audit-chain/config';
import { createPool } from '@audit-chain/db';
import { chainId, runCheckpointRound, signerFromConfig, sinksFromConfig } from '@audit-chain/verification';
import { PollLoop } from './poll-loop.ts';

export interface CheckpointLoopOptions {
  databaseUrl: string;
  config: Pick<Config, 'checkpoints'>;
  logger: Logger;
  /** How often to look for due heads (default: every 5 s, or the interval if shorter). */
  pollMs?: number;
  onError?: (error: unknown) => void;
}

export interface CheckpointLoop {
  /** false when no signing key is configured. */
  readonly signing: boolean;
  stop(): Promise<void>;
}

/** Throws when a key is configured but unusable: a misconfigured signer must not look like a healthy one. */
export function startCheckpointLoop(options: CheckpointLoopOptions): CheckpointLoop {
  const { config, logger } = options;
  const signer = signerFromConfig(config);
  if (!signer) {
    logger.warn(
      'no checkpoint signing key configured (AUDIT_CHAIN_SIGNING_KEY_FILE or AUDIT_CHAIN_SIGNING_KEY, with AUDIT_CHAIN_SIGNING_KEY_ID): chain heads are not signed, so a chain recomputed end to end would go unnoticed; `audit-chain keygen` creates a key pair',
    );
    return { signing: false, stop: async () => {} };
  }
  const sinks = sinksFromConfig(config);
  const pool = createPool(options.databaseUrl, { applicationName: 'audit-chain worker checkpoints', max: 2 });
  const intervalMs = config.checkpoints.intervalSeconds * 1000;
  // A persistent problem (a chain whose state went back) is logged once, not every round.
  const reported = new Set<string>();
  const loop = new PollLoop({
    intervalMs: options.pollMs ?? Math.min(5000, intervalMs),
    maxBackoffMs: 60_000,
    step: async () => {
      const result = await runCheckpointRound(pool, { signer, sinks, policy: { everyRows: config.checkpoints.everyRows, intervalMs } });
      const signed = result.signed.length + result.signedTables.length;
      if (signed > 0) {
        logger.info({ checkpoints: signed, attachedTableCheckpoints: result.signedTables.length, keyId: signer.keyId, exported: result.exported }, 'signed checkpoints');
      }
      const skipped = [
        ...result.skipped.map((entry) => ({ chain: chainId(entry.orgId), reason: entry.reason, message: entry.message })),
        ...result.skippedTables.map((entry) => ({ chain: entry.chain, reason: entry.reason, message: entry.message })),
      ];
      for (const entry of skipped) {
        const key = `${entry.chain} ${entry.message}`;
        if (reported.has(key)) continue;
        reported.add(key);
        logger.error({ chain: entry.chain, reason: entry.reason }, `chain head not signed: ${entry.message}`);
      }
      for (const failure of result.failures) {
        options.onError?.(failure);
        logger.warn({ sink: failure.sink, written: failure.written }, `checkpoint export failed, retried next round: ${failure.message}`);
      }
    },
    onError: (error, failures) => {
      options.onError?.(error);
      logger.error({ err: error, consecutiveFailures: failures }, 'checkpoint round failed; backing off');
    },
  });
  loop.start();
  logger.info({ keyId: signer.keyId, sinks: sinks.map((sink) => `${sink.name} ${sink.target}`), everyRows: config.checkpoints.everyRows, intervalSeconds: config.checkpoints.intervalSeconds }, 'signing checkpoints');
  return {
    signing: true,
    async stop() {
      await loop.stop();
      await pool.end();
    },
  };
}
