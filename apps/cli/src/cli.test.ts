// The audit-chain binary, run as a real child process (bin → main) against a
// real PostgreSQL: exit codes, one-line errors, help, and `migrate`.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, inject, test } from 'vitest';
import { withChainSearchPath, withDatabaseName } from '@audit-chain/db';
import { withAdmin } from '../../../test/support/database.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/audit-chain.ts', import.meta.url));
const serverUrl = inject('serverUrl');

const databases: string[] = [];
const roles: string[] = [];
afterAll(async () => {
  await withAdmin(serverUrl, async (admin) => {
    for (const name of databases) await admin.query(`drop database if exists "${name}" with (force)`);
    for (const role of roles) await admin.query(`drop role if exists "${role}"`);
  });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the binary with exactly `env` (plus PATH), so the test's own DATABASE_URL never leaks in. */
function run(args: string[], env: Record<string, string> = {}, command = process.execPath, prefix = [BIN]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...prefix, ...args], {
      cwd: REPO_ROOT,
      env: { PATH: `${REPO_ROOT}node_modules/.bin:${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? '/tmp', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function emptyDatabase(): Promise<string> {
  const name = `audit_chain_test_cli_${randomBytes(5).toString('hex')}`;
  databases.push(name);
  await withAdmin(serverUrl, (admin) => admin.query(`create database "${name}"`));
  return withDatabaseName(serverUrl, name);
}

/** A TCP port nothing listens on (it was free a moment ago and the test does not bind it). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function lines(text: string): string[] {
  return text.split('\n').filter((line) => line !== '');
}

describe('help', () => {
  test('--help lists the commands and exits 0', async () => {
    const result = await run(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: audit-chain \[options\] \[command\]/);
    expect(result.stdout).toMatch(/^\s+migrate\s/m);
    expect(result.stderr).toBe('');
  });

  test.each([['migrate', '--help'], ['help', 'migrate']])('%s %s describes migrate and its environment', async (...args) => {
    const result = await run(args);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: audit-chain migrate/);
    expect(result.stdout).toContain('DATABASE_URL');
    expect(result.stdout).toContain('AUDIT_CHAIN_WRITER_ROLE');
  });

  test('the installed bin (node_modules/.bin/audit-chain, as npx runs it) works', async () => {
    const result = await run(['--version'], {}, `${REPO_ROOT}node_modules/.bin/audit-chain`, []);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});

describe('errors: non-zero exit, one line on stderr, no stack trace', () => {
  test('an unknown command', async () => {
    const result = await run(['migrat']);
    expect(result.code).not.toBe(0);
    expect(lines(result.stderr)).toEqual(["audit-chain: unknown command 'migrat' (Did you mean migrate?)"]);
    expect(result.stdout).toBe('');
  });

  test('an unexpected argument', async () => {
    const result = await run(['migrate', 'now']);
    expect(result.code).not.toBe(0);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/^audit-chain: too many arguments for 'migrate'/);
  });

  test('DATABASE_URL is not set', async () => {
    const result = await run(['migrate']);
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toEqual(['audit-chain: DATABASE_URL is not set (e.g. postgres://user@host:5432/db)']);
    expect(result.stdout).toBe('');
  });

  test('nothing listens at DATABASE_URL', async () => {
    const port = await closedPort();
    const result = await run(['migrate'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/postgres` });
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toEqual([`audit-chain: cannot connect to 127.0.0.1:${port}: connection refused`]);
  });

  test('the database does not exist', async () => {
    const result = await run(['migrate'], { DATABASE_URL: withDatabaseName(serverUrl, 'audit_chain_no_such_database') });
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toEqual(['audit-chain: database "audit_chain_no_such_database" does not exist (SQLSTATE 3D000)']);
  });

  test('invalid configuration', async () => {
    const result = await run(['migrate'], { DATABASE_URL: serverUrl, PORT: 'eighty' });
    expect(result.code).toBe(1);
    expect(lines(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(/^audit-chain: invalid configuration: PORT: /);
  });

  test('AUDIT_CHAIN_DEBUG=1 adds the stack trace', async () => {
    const result = await run(['migrate'], { AUDIT_CHAIN_DEBUG: '1' });
    expect(result.code).toBe(1);
    const [first, ...rest] = lines(result.stderr);
    expect(first).toBe('audit-chain: DATABASE_URL is not set (e.g. postgres://user@host:5432/db)');
    expect(rest.join('\n')).toMatch(/ConfigError: DATABASE_URL is not set[\s\S]*\n\s+at /);
  });
});

describe('migrate', () => {
  test('applies every migration on a fresh database, then is up to date', async () => {
    const url = await emptyDatabase();
    const first = await run(['migrate'], { DATABASE_URL: url });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const applied = lines(first.stdout);
    expect(applied.length).toBeGreaterThanOrEqual(6);
    expect(applied[0]).toBe('applied 0000_audit_tables');
    expect(applied.every((line) => /^applied \d{4}_\w+$/.test(line))).toBe(true);

    const second = await run(['migrate'], { DATABASE_URL: url });
    expect(second.code).toBe(0);
    expect(second.stdout).toBe('already up to date\n');
    expect(second.stderr).toBe('');

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const recorded = await client.query<{ n: number }>('select count(*)::int as n from audit_chain.__drizzle_migrations');
      expect(recorded.rows[0]!.n).toBe(applied.length);
    } finally {
      await client.end();
    }
  });

  test('two processes migrating at the same moment both succeed', async () => {
    const url = await emptyDatabase();
    const [a, b] = await Promise.all([run(['migrate'], { DATABASE_URL: url }), run(['migrate'], { DATABASE_URL: url })]);
    expect([a.code, b.code]).toEqual([0, 0]);
    // One applied everything, the other waited for it and found nothing left.
    const outputs = [a.stdout, b.stdout].sort((x, y) => y.length - x.length);
    expect(outputs[0]).toMatch(/^applied 0000_audit_tables\n/);
    expect(outputs[1]).toBe('already up to date\n');
  });

  test('takes role names from AUDIT_CHAIN_*_ROLE, and warns when a later run asks for others', async () => {
    const suffix = randomBytes(4).toString('hex');
    const names = { writer: `cli_w_${suffix}`, sealer: `cli_s_${suffix}`, admin: `cli_a_${suffix}` };
    roles.push(...Object.values(names));
    const url = await emptyDatabase();
    const env = { DATABASE_URL: url, AUDIT_CHAIN_WRITER_ROLE: names.writer, AUDIT_CHAIN_SEALER_ROLE: names.sealer, AUDIT_CHAIN_ADMIN_ROLE: names.admin };
    const result = await run(['migrate'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);

    const client = new pg.Client({ connectionString: withChainSearchPath(url) });
    await client.connect();
    try {
      // (retention and redactor, 0014_lifecycle_roles, keep their default names here.)
      const recorded = await client.query("select kind, role_name from audit_chain_roles where kind in ('writer', 'sealer', 'admin') order by kind");
      expect(recorded.rows).toEqual([
        { kind: 'admin', role_name: names.admin },
        { kind: 'sealer', role_name: names.sealer },
        { kind: 'writer', role_name: names.writer },
      ]);
      const grant = await client.query("select has_column_privilege($1, 'audit_logs', 'action', 'INSERT') as ok", [names.writer]);
      expect(grant.rows[0].ok).toBe(true);
    } finally {
      await client.end();
    }

    const again = await run(['migrate'], { ...env, AUDIT_CHAIN_WRITER_ROLE: 'someone_else' });
    expect(again.code).toBe(0);
    expect(again.stdout).toBe('already up to date\n');
    expect(lines(again.stderr)).toEqual([
      `audit-chain: warning: AUDIT_CHAIN_WRITER_ROLE=someone_else is ignored: this database already grants to role ${names.writer}`,
    ]);
  });
});
