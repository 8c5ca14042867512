// What `npm start` set up, for the command line: npm start records the
// development database it runs (the embedded PostgreSQL) and the dev signing
// key and keyring it generated in <data dir>/dev-environment.json (mode 0600,
// git-ignored). A command run inside the project fills each variable that is
// unset from that file and says so; a variable set in the environment always
// wins.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { ConfigError } from './config-error.ts';

export const DEV_ENVIRONMENT_FILE = 'dev-environment.json';

/** The variables npm start may record, by name. */
export interface DevEnvironment {
  DATABASE_URL?: string;
  AUDIT_CHAIN_KEYRING_FILE?: string;
  AUDIT_CHAIN_SIGNING_KEY_FILE?: string;
  AUDIT_CHAIN_SIGNING_KEY_ID?: string;
  AUDIT_CHAIN_CHECKPOINT_DIR?: string;
}

const NAMES: (keyof DevEnvironment)[] = [
  'DATABASE_URL',
  'AUDIT_CHAIN_KEYRING_FILE',
  'AUDIT_CHAIN_SIGNING_KEY_FILE',
  'AUDIT_CHAIN_SIGNING_KEY_ID',
  'AUDIT_CHAIN_CHECKPOINT_DIR',
];

/** Written by npm start on every start (replacing what an earlier start wrote); paths are made absolute. */
export function writeDevEnvironment(dataDir: string, values: DevEnvironment): string {
  const file = join(dataDir, DEV_ENVIRONMENT_FILE);
  const recorded: DevEnvironment = {};
  for (const name of NAMES) {
    const value = values[name];
    if (value !== undefined) recorded[name] = name.endsWith('_FILE') || name.endsWith('_DIR') ? resolve(value) : value;
  }
  const note = 'Written by npm start for the audit-chain command line; variables set in the environment win.';
  writeFileSync(file, `${JSON.stringify({ note, variables: recorded }, null, 2)}\n`, { mode: 0o600 });
  return file;
}

export interface AppliedDevEnvironment {
  /** `env` with the unset variables filled in from the file. */
  env: NodeJS.ProcessEnv;
  /** The file and the variables taken from it; null when no file was found or nothing was taken. */
  source: { file: string; variables: string[] } | null;
  /** A file that was found but not trusted, and why (it could point verify at someone else's keyring). */
  ignored?: { file: string; reason: string };
}

/**
 * Looks for <AUDIT_CHAIN_DATA_DIR or .data>/dev-environment.json in `cwd`, and
 * (for the default .data) in each directory above it, so a command run from a
 * subdirectory of the project finds it too. The signing key is taken only when
 * the environment configures no key at all (file, PEM or id).
 */
export function applyDevEnvironment(env: NodeJS.ProcessEnv, cwd: string): AppliedDevEnvironment {
  const file = findDevEnvironment(env, cwd);
  if (!file) return { env, source: null };
  const distrust = untrusted(file);
  if (distrust) return { env, source: null, ignored: { file, reason: distrust } };
  const recorded = readDevEnvironment(file);
  const blank = (name: string) => env[name] === undefined || env[name] === '';
  const keyUnset = blank('AUDIT_CHAIN_SIGNING_KEY_FILE') && blank('AUDIT_CHAIN_SIGNING_KEY') && blank('AUDIT_CHAIN_SIGNING_KEY_ID');
  const taken: string[] = [];
  const filled: NodeJS.ProcessEnv = { ...env };
  for (const name of NAMES) {
    const value = recorded[name];
    if (value === undefined || !blank(name)) continue;
    if ((name === 'AUDIT_CHAIN_SIGNING_KEY_FILE' || name === 'AUDIT_CHAIN_SIGNING_KEY_ID') && !keyUnset) continue;
    if (name === 'AUDIT_CHAIN_CHECKPOINT_DIR' && !blank('AUDIT_CHAIN_DATA_DIR')) continue;
    filled[name] = value;
    taken.push(name);
  }
  return taken.length ? { env: filled, source: { file, variables: taken } } : { env, source: null };
}

/** The one line that says where the variables came from, with the file relative to `cwd` when that is shorter. */
export function describeDevEnvironment(source: { file: string; variables: string[] }, cwd: string): string {
  const shown = relative(cwd, source.file);
  const where = shown && !shown.startsWith('..') && !isAbsolute(shown) ? shown : source.file;
  return `using ${source.variables.join(', ')} from ${where} (written by npm start; set a variable to override it)`;
}

/**
 * Why a found file must not be used, or undefined. It names a keyring verify
 * trusts and a database the commands write to, and the search walks up into
 * directories others may write (/tmp): only a file of this user that nobody
 * else may change counts.
 */
function untrusted(file: string): string | undefined {
  const stat = statSync(file);
  const uid = process.getuid?.();
  if (uid !== undefined && stat.uid !== uid) return `it belongs to another user (uid ${stat.uid})`;
  if ((stat.mode & 0o022) !== 0) return 'others may write it (want mode 0600)';
  return undefined;
}

function findDevEnvironment(env: NodeJS.ProcessEnv, cwd: string): string | undefined {
  const dataDir = env.AUDIT_CHAIN_DATA_DIR || undefined;
  if (dataDir !== undefined) {
    const file = resolve(cwd, dataDir, DEV_ENVIRONMENT_FILE);
    return existsSync(file) ? file : undefined;
  }
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const file = join(dir, '.data', DEV_ENVIRONMENT_FILE);
    if (existsSync(file)) return file;
    if (dirname(dir) === dir) return undefined;
  }
}

function readDevEnvironment(file: string): DevEnvironment {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`${file} is not valid JSON (${(error as Error).message}): delete it, npm start writes it again`);
  }
  const variables = (parsed as { variables?: unknown } | null)?.variables;
  const recorded: DevEnvironment = {};
  if (typeof variables !== 'object' || variables === null) return recorded;
  for (const name of NAMES) {
    const value = (variables as Record<string, unknown>)[name];
    if (typeof value === 'string' && value !== '') recorded[name] = value;
  }
  return recorded;
}
