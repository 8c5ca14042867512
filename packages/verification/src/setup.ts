// From configuration to the parts of the checkpoint and verification stages:
// the signer, the sinks, the keyring and where checkpoints are read from. The
// worker and the command line wire the same parts the same way.
import type { CheckpointPublicKey, CheckpointSigner } from '@audit-chain/chain';
import type { Config } from '@audit-chain/config';
import type { CheckpointSources } from './checkpoint-evidence.ts';
import { DirectoryCheckpointSink } from './directory-sink.ts';
import { loadKeyringFile, loadSigningKey } from './keys.ts';
import type { CheckpointSink } from './sinks.ts';
import { WebhookCheckpointSink } from './webhook-sink.ts';

export type CheckpointConfig = Pick<Config, 'checkpoints'>;

/** The configured signer, or null when no key is configured. */
export function signerFromConfig(config: CheckpointConfig): CheckpointSigner | null {
  return loadSigningKey({ file: config.checkpoints.signingKeyFile, pem: config.checkpoints.signingKeyPem, keyId: config.checkpoints.signingKeyId });
}

/** The directory sink always; the webhook sink when a URL is configured. */
export function sinksFromConfig(config: CheckpointConfig): CheckpointSink[] {
  const sinks: CheckpointSink[] = [new DirectoryCheckpointSink(config.checkpoints.dir)];
  if (config.checkpoints.webhookUrl) sinks.push(new WebhookCheckpointSink({ url: config.checkpoints.webhookUrl, token: config.checkpoints.webhookToken }));
  return sinks;
}

/** The keyring from `file` (a command-line flag) or AUDIT_CHAIN_KEYRING_FILE; null when neither is set. */
export function keyringFromConfig(config: Pick<Config, 'verification'>, file?: string): CheckpointPublicKey[] | null {
  const path = file ?? config.verification.keyringFile;
  return path ? loadKeyringFile(path) : null;
}

/** The directory sink's folder (an explicit one must exist) and the table. */
export function checkpointSourcesFromConfig(config: CheckpointConfig, options: { dir?: string; table?: boolean } = {}): CheckpointSources {
  return {
    directories: [{ path: options.dir ?? config.checkpoints.dir, required: options.dir !== undefined }],
    table: options.table ?? true,
  };
}
