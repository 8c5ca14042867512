// A checkpoint signing key for a development setup (npm start) that configured
// none: generated once into <dataDir>/keys/ (the private PEM mode 0600, beside
// its keyring), and reused on every restart, so the quick start signs
// checkpoints and `audit-chain verify` can check them. Never for production:
// there the key lives where the database cannot reach it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '@audit-chain/config';
import { generateSigningKeyPair, writeSigningKeyPair } from '@audit-chain/verification';

export const DEV_KEY_ID = 'dev-local';

export interface DevSigningKey {
  config: Pick<Config, 'checkpoints' | 'verification'>;
  /** Set when the files are this script's (generated now or earlier), null when the environment configured a key. */
  generated: { privateKeyFile: string; keyringFile: string; created: boolean } | null;
}

export function resolveDevSigningKey(dataDir: string, config: Pick<Config, 'checkpoints' | 'verification'>): DevSigningKey {
  if (config.checkpoints.signingKeyFile || config.checkpoints.signingKeyPem) return { config, generated: null };
  const dir = join(dataDir, 'keys');
  const privateKeyFile = join(dir, `${DEV_KEY_ID}.pem`);
  const keyringFile = join(dir, `${DEV_KEY_ID}.keyring.json`);
  const created = !existsSync(privateKeyFile);
  if (created) writeSigningKeyPair(dir, generateSigningKeyPair(DEV_KEY_ID, new Date()));
  return {
    config: {
      checkpoints: { ...config.checkpoints, signingKeyFile: privateKeyFile, signingKeyId: DEV_KEY_ID },
      verification: { ...config.verification, keyringFile: config.verification.keyringFile ?? keyringFile },
    },
    generated: { privateKeyFile, keyringFile, created },
  };
}
