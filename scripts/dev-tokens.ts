// Bearer tokens for a development setup (npm start) that configured none:
// generated once, kept in <dataDir>/dev-tokens.json (git-ignored, mode 0600),
// and reused on every restart so clients keep working.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Tokens {
  writeToken: string;
  adminToken: string;
}

export interface ResolvedTokens extends Tokens {
  /** Where each token came from, to tell the developer. */
  source: { writeToken: 'environment' | 'file'; adminToken: 'environment' | 'file' };
  file: string;
}

export function resolveDevTokens(dataDir: string, configured: { writeToken?: string | undefined; adminToken?: string | undefined }): ResolvedTokens {
  const file = join(dataDir, 'dev-tokens.json');
  const stored = readStored(file);
  const generated: Tokens = {
    writeToken: stored?.writeToken ?? newToken('acw'),
    adminToken: stored?.adminToken ?? newToken('aca'),
  };
  const needsFile = configured.writeToken === undefined || configured.adminToken === undefined;
  if (needsFile && (stored?.writeToken !== generated.writeToken || stored?.adminToken !== generated.adminToken)) {
    writeFileSync(file, `${JSON.stringify(generated, null, 2)}\n`, { mode: 0o600 });
  }
  return {
    writeToken: configured.writeToken ?? generated.writeToken,
    adminToken: configured.adminToken ?? generated.adminToken,
    source: {
      writeToken: configured.writeToken === undefined ? 'file' : 'environment',
      adminToken: configured.adminToken === undefined ? 'file' : 'environment',
    },
    file,
  };
}

function readStored(file: string): Partial<Tokens> | undefined {
  if (!existsSync(file)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    throw new Error(`${file} is not valid JSON: fix or delete it (new tokens are generated)`);
  }
  const tokens = parsed as Partial<Record<keyof Tokens, unknown>>;
  return {
    ...(typeof tokens.writeToken === 'string' && tokens.writeToken ? { writeToken: tokens.writeToken } : {}),
    ...(typeof tokens.adminToken === 'string' && tokens.adminToken ? { adminToken: tokens.adminToken } : {}),
  };
}

function newToken(prefix: string): string {
  return `${prefix}_${randomBytes(24).toString('base64url')}`;
}
