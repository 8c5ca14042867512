// The first hour after `npm start`, as a newcomer meets it: the banner gives
// every URL with the token where it belongs, `/` and /docs lead on, the command
// line works without pasting DATABASE_URL (and checkpoint/verify find the dev
// key and keyring), the log has one line per request, and with the database
// gone the log summarizes rather than floods.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { freePort } from '@audit-chain/db';
import { describeLogCall } from '@audit-chain/logging';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = join(REPO_ROOT, 'apps/cli/bin/audit-chain.ts');
const NODE = join(REPO_ROOT, 'node_modules/.bin/node');

const dataDir = mkdtempSync(join(tmpdir(), 'audit-chain-first-hour-'));
chmodSync(dataDir, 0o755);
let child: ChildProcess | undefined;
let output = '';
afterAll(async () => {
  // A failed run: stop npm start as Ctrl-C would (it stops its PostgreSQL), and only then force it.
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child!.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(dataDir, { recursive: true, force: true });
});

function run(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const cli = spawn(NODE, [CLI, ...args], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', HOME: dataDir, ...env } });
    let stdout = '';
    let stderr = '';
    cli.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    cli.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    cli.on('error', reject);
    cli.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function until(condition: () => boolean, what: string, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (child?.exitCode !== null && child?.exitCode !== undefined) throw new Error(`npm start exited (${child.exitCode}) before ${what}`);
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms: ${what}\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('npm start: banner, index, docs, the CLI without DATABASE_URL, one log line per request, a database outage summarized', { timeout: 360_000 }, async () => {
  const port = await freePort();
  const env = { AUDIT_CHAIN_DATA_DIR: dataDir, AUDIT_CHAIN_EMBEDDED_PG_PORT: String(await freePort()), PORT: String(port), AUDIT_CHAIN_VERIFY_CRON: 'off', LOG_LEVEL: 'info' };
  child = spawn(NODE, ['scripts/start.ts'], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', HOME: dataDir, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await until(() => output.includes('Ctrl-C stops it'), 'the banner');

  // The banner: every URL an operator needs, the admin token in the admin page's fragment.
  const base = `http://127.0.0.1:${port}`;
  const tokens = JSON.parse(readFileSync(join(dataDir, 'dev-tokens.json'), 'utf8')) as { writeToken: string; adminToken: string };
  expect(output).toContain(`  admin page   ${base}/admin/#token=${tokens.adminToken}`);
  expect(output).toContain(`  metrics      ${base}/metrics`);
  expect(output).toContain(`  API docs     ${base}/docs  (OpenAPI: ${base}/openapi.json)`);
  expect(output).toMatch(/ {2}CLI {10}npx audit-chain status {2}\(reads the database, signing key, keyring and checkpoint directory from .*dev-environment\.json\)/);

  const index = await fetch(`${base}/`, { headers: { accept: 'text/html' } });
  expect(index.status).toBe(200);
  expect(await index.text()).toContain('href="/admin/"');
  expect((await fetch(`${base}/docs`)).status).toBe(200);
  expect((await fetch(`${base}/admin/`)).status).toBe(200);
  expect((await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${tokens.adminToken}` } })).status).toBe(200);

  // One line per request: the write below is one line; the reads above (successful GETs) none at info.
  const beforeWrite = output.length;
  const written = await fetch(`${base}/v1/audit-events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${tokens.writeToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ org_id: null, actor_type: 'user', action: 'login' }),
  });
  expect(written.status).toBe(201);
  await until(() => output.slice(beforeWrite).includes('POST /v1/audit-events 201'), 'the request line');
  expect(output.slice(beforeWrite).split('\n').filter((line) => line.includes('/v1/audit-events'))).toHaveLength(1);
  expect(output.slice(beforeWrite)).not.toContain('incoming request');

  // The command line, in the project with nothing but the data directory npm start was given.
  const cliEnv = { AUDIT_CHAIN_DATA_DIR: dataDir };
  const status = await run(['status'], cliEnv);
  expect(status.code, status.stderr).toBe(0);
  // The checkpoint directory follows AUDIT_CHAIN_DATA_DIR, which is set here: it is not taken from the file.
  expect(status.stderr).toContain(`audit-chain: using DATABASE_URL, AUDIT_CHAIN_KEYRING_FILE, AUDIT_CHAIN_SIGNING_KEY_FILE, AUDIT_CHAIN_SIGNING_KEY_ID from ${join(dataDir, 'dev-environment.json')}`);
  const checkpoint = await run(['checkpoint'], cliEnv);
  expect(checkpoint.code, checkpoint.stderr).toBe(0);
  expect(checkpoint.stderr).not.toContain('no signing key');
  const verify = await run(['verify', '--no-record'], cliEnv);
  expect(verify.code, verify.stderr).toBe(0);
  expect(verify.stderr).not.toContain('no keyring');
  expect(verify.stdout).toMatch(/^checkpoints \(keyring of 1 key\)/m);

  // The database goes away: 8 s of failing loops are a handful of lines, each kind's stack once.
  const where = /data in ([^,)\s]+)/.exec(output)?.[1];
  expect(where).toBeDefined();
  const pgData = isAbsolute(where!) ? where! : join(REPO_ROOT, where!);
  const postmaster = Number(readFileSync(join(pgData, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const beforeOutage = output.length;
  process.kill(postmaster, 'SIGKILL');
  await new Promise((resolve) => setTimeout(resolve, 8_000));
  const outage = output.slice(beforeOutage).split('\n').filter((line) => line !== '');
  const stacks = outage.filter((line) => line.includes('"stack"'));
  // A kind: the message and its error (pg-boss's queue and worker ids aside), as the summarizer counts them.
  const kinds = new Set(outage.map((line) => describeLogCall(50, [JSON.parse(line) as object, (JSON.parse(line) as { msg: string }).msg]).key));
  expect(outage.length, outage.join('\n')).toBeLessThanOrEqual(12);
  expect(stacks.length, outage.join('\n')).toBeLessThanOrEqual(kinds.size);
  expect(kinds.size).toBeGreaterThan(0);

  child.kill('SIGTERM');
  await new Promise((resolve) => child!.once('exit', resolve));
});
