// `npm start` from a clone in a directory only its owner may enter (as root,
// /root is 0700): the embedded PostgreSQL runs as the postgres OS user, which
// cannot reach the binaries or the data there, so they get a place it can reach
// (AUDIT_CHAIN_EMBEDDED_RUNTIME_DIR here, /var/lib/audit-chain by default) and
// the banner says where the data lives. Run as a non-root user the same start
// needs no such place; the test runs and checks the start either way.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { EmbeddedPostgresError, freePort, startEmbeddedPostgres } from '@audit-chain/db';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const isRoot = process.getuid?.() === 0;

const privateDir = mkdtempSync(join(tmpdir(), 'audit-chain-private-'));
const runtimeDir = mkdtempSync(join(tmpdir(), 'audit-chain-runtime-'));
chmodSync(runtimeDir, 0o755);
afterAll(() => {
  rmSync(privateDir, { recursive: true, force: true });
  rmSync(runtimeDir, { recursive: true, force: true });
});

/** The project's files, with node_modules hard-linked (same file system) so the copy takes a moment. */
function cloneInto(target: string): void {
  mkdirSync(target);
  for (const entry of ['apps', 'packages', 'scripts', 'drizzle', 'package.json', 'tsconfig.base.json', 'tsconfig.json']) {
    cpSync(join(REPO_ROOT, entry), join(target, entry), { recursive: true, verbatimSymlinks: true, filter: (source) => !source.includes('/node_modules/') });
  }
  const linked = spawnSync('cp', ['-al', join(REPO_ROOT, 'node_modules'), join(target, 'node_modules')]);
  if (linked.status !== 0) cpSync(join(REPO_ROOT, 'node_modules'), join(target, 'node_modules'), { recursive: true, verbatimSymlinks: true });
}

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function npmStart(cwd: string, env: Record<string, string>): Started {
  const child = spawn(join(cwd, 'node_modules/.bin/node'), ['scripts/start.ts'], {
    cwd,
    env: { PATH: process.env.PATH ?? '', HOME: cwd, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function until(started: Started, text: string, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!started.output().includes(text)) {
    if (started.child.exitCode !== null) throw new Error(`npm start exited (${started.child.exitCode}) before printing "${text}":\n${started.output()}`);
    if (Date.now() > deadline) throw new Error(`npm start did not print "${text}" within ${timeoutMs} ms:\n${started.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('npm start from a directory only its owner may enter serves the API, says where the data lives, and finds it again', { timeout: 240_000 }, async () => {
  expect(statSync(privateDir).mode & 0o777).toBe(0o700);
  const clone = join(privateDir, 'ac-try');
  cloneInto(clone);
  const env = {
    AUDIT_CHAIN_EMBEDDED_PG_PORT: String(await freePort()),
    PORT: String(await freePort()),
    AUDIT_CHAIN_EMBEDDED_RUNTIME_DIR: runtimeDir,
    AUDIT_CHAIN_VERIFY_CRON: 'off',
  };
  for (const round of ['first start', 'second start']) {
    const started = npmStart(clone, env);
    try {
      await until(started, 'audit-chain is running');
      const output = started.output();
      if (isRoot) expect(output).toMatch(new RegExp(`data in ${runtimeDir}/data/postgres-[0-9a-f]{12}, as the postgres OS user cannot reach ${clone}/\\.data/postgres`));
      else expect(output).toContain('data in .data/postgres');
      if (round === 'second start') expect(output).toContain('database schema is up to date');
      const health = await fetch(`http://127.0.0.1:${env.PORT}/healthz`);
      expect(health.status).toBe(200);
    } finally {
      started.child.kill('SIGTERM');
    }
    expect(await started.exited).toBe(0);
  }
});

test('a data directory the embedded PostgreSQL cannot start on ends npm start with one line that says so', { timeout: 120_000 }, async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'audit-chain-bad-data-'));
  chmodSync(dataDir, 0o755);
  try {
    mkdirSync(join(dataDir, 'postgres'));
    writeFileSync(join(dataDir, 'postgres', 'PG_VERSION'), '9\n');
    const started = npmStart(REPO_ROOT, { AUDIT_CHAIN_DATA_DIR: dataDir, AUDIT_CHAIN_EMBEDDED_PG_PORT: String(await freePort()), PORT: String(await freePort()) });
    expect(await started.exited).toBe(1);
    const lines = started.output().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^audit-chain: cannot start the embedded PostgreSQL: the embedded PostgreSQL on port \d+ \(data in .*\) exited at start \(exit \d\): postgres: could not access the server configuration file .*postgresql\.conf": No such file or directory$/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('binaries that cannot be run are an EmbeddedPostgresError naming the file and what to do, not an unhandled error event', async () => {
  const binDir = mkdtempSync(join(tmpdir(), 'audit-chain-bad-bin-'));
  chmodSync(binDir, 0o755);
  try {
    mkdirSync(join(binDir, 'bin'));
    for (const name of ['postgres', 'initdb']) writeFileSync(join(binDir, 'bin', name), 'not a program', { mode: 0o644 });
    const dataDir = join(binDir, 'data');
    const attempt = startEmbeddedPostgres({ dataDir, persistent: false, binDir });
    await expect(attempt).rejects.toBeInstanceOf(EmbeddedPostgresError);
    await expect(attempt).rejects.toThrow(/^cannot run .*\/bin\/initdb \(EACCES\): .* may not run it: check the permissions of its directories, or set DATABASE_URL$/);
  } finally {
    rmSync(binDir, { recursive: true, force: true });
  }
});
