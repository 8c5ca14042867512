// audit-chain keygen: creates an Ed25519 key pair for signing checkpoints: the
// private key as PKCS#8 PEM (mode 0600, for the worker only) and a keyring file
// with its public key (for everyone who verifies). Touches no database.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { generateSigningKeyPair, writeSigningKeyPair } from '@audit-chain/verification';
import type { RegisterCommand } from '../context.ts';

function defaultKeyId(now: Date): string {
  return `audit-chain-${now.toISOString().slice(0, 10).replaceAll('-', '')}-${randomBytes(3).toString('hex')}`;
}

export const registerKeygen: RegisterCommand = (program, context) => {
  program
    .command('keygen')
    .description('create an Ed25519 key pair for signing checkpoints (private PEM + public keyring entry)')
    .option('--out <dir>', 'where to write the two files (default: <AUDIT_CHAIN_DATA_DIR>/keys)')
    .option('--key-id <id>', 'the key id checkpoints will carry (default: audit-chain-<date>-<random>)')
    .addHelpText(
      'after',
      `
Writes <dir>/<key-id>.pem (the private key, mode 0600: give it to the worker
only, never to the database) and <dir>/<key-id>.keyring.json (the public key,
valid from now: add it to the keyring of every verifier). Never overwrites.`,
    )
    .action((options: { out?: string; keyId?: string }) => {
      const now = context.now();
      const dir = options.out ?? join(context.config().dataDir, 'keys');
      const pair = generateSigningKeyPair(options.keyId ?? defaultKeyId(now), now);
      const written = writeSigningKeyPair(dir, pair);
      context.out(`wrote the private key ${written.privateKeyFile} (mode 0600): keep it secret, outside the database`);
      context.out(`wrote the keyring entry ${written.keyringFile} (public key ${pair.keyId}, valid from ${pair.keyringEntry.validFrom})`);
      context.out('');
      context.out('for the worker and `audit-chain checkpoint`:');
      context.out(`  AUDIT_CHAIN_SIGNING_KEY_FILE=${written.privateKeyFile}`);
      context.out(`  AUDIT_CHAIN_SIGNING_KEY_ID=${pair.keyId}`);
      context.out('for `audit-chain verify` and the scheduled verification (merge it into an existing keyring when rotating):');
      context.out(`  AUDIT_CHAIN_KEYRING_FILE=${written.keyringFile}`);
    });
};
