// The command line after `npm start`: run inside the project (here from a
// subdirectory of a stand-in project), it takes the database URL, signing key,
// keyring and checkpoint directory npm start recorded, says where from, and an
// explicit variable always wins. Plus the two errors a newcomer meets first: a
// DATABASE_URL that is not a URL, and a database nobody migrated.
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, inject, test } from 'vitest';
import { loadConfig, writeDevEnvironment } from '@audit-chain/config';
import { sealOnce } from '@audit-chain/sealing';
import { freePort, withDatabaseName } from '@audit-chain/db';
import { createTestDatabase, withAdmin } from '../../../test/support/database.ts';
import { insertRows, newOrgId } from '../../../test/support/audit-rows.ts';
import { resolveDevSigningKey } from '../../../scripts/dev-signing-key.ts';

const BIN = fileURLToPath(new URL('../bin/audit-chain.ts', import.meta.url));
const db = await createTestDatabase();
const project = mkdtempSync(join(tmpdir(), 'audit-chain-project-'));
const subdirectory = join(project, 'apps', 'somewhere');
mkdirSync(subdirectory, { recursive: true });
const serverUrl = inject('serverUrl');
const emptyName = `audit_chain_test_unmigrated_${process.pid}`;
afterAll(async () => {
  rmSync(project, { recursive: true, force: true });
  await withAdmin(serverUrl, (admin) => admin.query(`drop database if exists ${emptyName} with (force)`));
});

// What npm start writes: the dev key pair under .data/keys, then the file.
const dataDir = join(project, '.data');
mkdirSync(dataDir);
const config = loadConfig({ AUDIT_CHAIN_DATA_DIR: dataDir });
const signing = resolveDevSigningKey(dataDir, config);
const file = writeDevEnvironment(dataDir, {
  DATABASE_URL: db.url,
  AUDIT_CHAIN_SIGNING_KEY_FILE: signing.generated!.privateKeyFile,
  AUDIT_CHAIN_SIGNING_KEY_ID: signing.config.checkpoints.signingKeyId,
  AUDIT_CHAIN_KEYRING_FILE: signing.generated!.keyringFile,
  AUDIT_CHAIN_CHECKPOINT_DIR: join(dataDir, 'checkpoints'),
});

const org = newOrgId();
await insertRows(db.pool, org, 3);
await sealOnce(db.pool, { batchSize: 100, waitMs: 500, pollMs: 20 });

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The binary with exactly `env` (plus PATH and HOME), in `cwd`. */
function run(args: string[], env: Record<string, string> = {}, cwd = subdirectory): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', HOME: project, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const ALL = 'DATABASE_URL, AUDIT_CHAIN_KEYRING_FILE, AUDIT_CHAIN_SIGNING_KEY_FILE, AUDIT_CHAIN_SIGNING_KEY_ID, AUDIT_CHAIN_CHECKPOINT_DIR';

describe('what npm start set up', () => {
  test('the file is private to its owner', () => {
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  test('status finds the database from a subdirectory of the project, and says where it read it', async () => {
    const result = await run(['status']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr.split('\n')[0]).toBe(`audit-chain: using ${ALL} from ${file} (written by npm start; set a variable to override it)`);
    expect(result.stdout).toMatch(/3 rows|sealed/);
  });

  test('checkpoint signs with the dev key, and verify checks it with the dev keyring: no "no signing key", no "no keyring"', async () => {
    const signed = await run(['checkpoint']);
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.stdout).toMatch(new RegExp(`^signed chain ${org} at chain_seq \\d+ \\(3 rows, head [0-9a-f]{64}\\) with key dev-local$`, 'm'));
    expect(signed.stdout).toMatch(/^exported 1 checkpoint\(s\) to directory .*\.data\/checkpoints$/m);

    const verified = await run(['verify', '--no-record']);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stderr).not.toMatch(/no keyring|no signing key/);
    expect(verified.stdout).toMatch(/^checkpoints \(keyring of 1 key\): 1 trusted/m);
  });

  test('a variable set in the environment wins, and is not listed as read from the file', async () => {
    const elsewhere = withDatabaseName(serverUrl, 'audit_chain_no_such_database');
    const result = await run(['status'], { DATABASE_URL: elsewhere, AUDIT_CHAIN_SIGNING_KEY_ID: 'other', AUDIT_CHAIN_SIGNING_KEY: 'x' });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toEqual([
      `audit-chain: using AUDIT_CHAIN_KEYRING_FILE, AUDIT_CHAIN_CHECKPOINT_DIR from ${file} (written by npm start; set a variable to override it)`,
      'audit-chain: database "audit_chain_no_such_database" does not exist (SQLSTATE 3D000)',
    ]);
  });

  test('a file others may change, or of another user, is ignored with a warning: it would name the keyring verify trusts', async () => {
    chmodSync(file, 0o666);
    try {
      const writable = await run(['status']);
      expect(writable.code).toBe(1);
      expect(writable.stderr.trim().split('\n')).toEqual([
        `audit-chain: ignoring ${file}: others may write it (want mode 0600)`,
        'audit-chain: DATABASE_URL is not set (e.g. postgres://user@host:5432/db)',
      ]);
    } finally {
      chmodSync(file, 0o600);
    }
    if (process.getuid?.() !== 0) return; // changing the owner needs root
    chownSync(file, 65534, 65534);
    try {
      const foreign = await run(['status']);
      expect(foreign.code).toBe(1);
      expect(foreign.stderr).toContain(`audit-chain: ignoring ${file}: it belongs to another user (uid 65534)`);
    } finally {
      chownSync(file, 0, 0);
    }
  });

  test('npm start no longer running: the refused connection says where the URL came from', async () => {
    const stopped = mkdtempSync(join(tmpdir(), 'audit-chain-stopped-'));
    try {
      mkdirSync(join(stopped, '.data'));
      const recorded = writeDevEnvironment(join(stopped, '.data'), {
        DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/audit_chain`,
      });
      const result = await run(['status'], {}, stopped);
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n').at(-1)).toMatch(
        new RegExp(`^audit-chain: cannot connect to 127\\.0\\.0\\.1:\\d+: connection refused \\(DATABASE_URL from ${recorded.replace(/[.]/g, '\\.')}: is npm start running\\?\\)$`),
      );
    } finally {
      rmSync(stopped, { recursive: true, force: true });
    }
  });

  test('outside the project nothing is read: DATABASE_URL is not set', async () => {
    const result = await run(['status'], {}, tmpdir());
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('audit-chain: DATABASE_URL is not set (e.g. postgres://user@host:5432/db)');
  });
});

describe('the first errors say what to do', () => {
  test('DATABASE_URL=not-a-url names the variable and the form it wants', async () => {
    const result = await run(['status'], { DATABASE_URL: 'not-a-url' }, tmpdir());
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('audit-chain: invalid configuration: DATABASE_URL: is not a PostgreSQL URL: want postgres://user:password@host:5432/database');
  });

  test('a database nobody migrated: run migrate', async () => {
    await withAdmin(serverUrl, (admin) => admin.query(`create database ${emptyName}`));
    for (const command of [['status'], ['lag'], ['verify', '--no-record']]) {
      const result = await run(command, { DATABASE_URL: withDatabaseName(serverUrl, emptyName) }, tmpdir());
      expect(result.code, command.join(' ')).not.toBe(0);
      const lines = result.stderr.trim().split('\n');
      expect(lines.at(-1)).toMatch(/^audit-chain: .*does not exist \(SQLSTATE 42(P01|883)\): the database is not migrated \(or by an older version\): run `audit-chain migrate`/);
    }
  });
});
