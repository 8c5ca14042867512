// A worker told to stop (SIGTERM, as a supervisor or `docker stop` does) while
// it is still loading its modules exits 0, not killed by the signal. The loading is
// held open on purpose: a module hook (node:module register) delays resolving
// src/main.ts, so the signal lands in that window in every run.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, expect, test } from 'vitest';
import { createTestDatabase } from '../../../test/support/database.ts';

const BIN = fileURLToPath(new URL('../bin/audit-chain.ts', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'audit-chain-early-stop-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Whether the process catches `signal` (SigCgt in /proc: bit signal - 1). */
function catches(pid: number, signal: number): boolean {
  const match = /SigCgt:\s+([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match !== null && ((BigInt(`0x${match[1]}`) >> BigInt(signal - 1)) & 1n) === 1n;
}

const db = await createTestDatabase();

test('a worker stopped by SIGTERM while it is still loading exits 0', async () => {
  {
    // The hook marks the moment main.ts is asked for, then holds it for 3 s.
    const marker = join(dir, 'loading');
    const hooks = `export async function resolve(specifier, context, next) {
      if (specifier.endsWith('/src/main.ts')) {
        (await import('node:fs')).writeFileSync(${JSON.stringify(marker)}, 'x');
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
      return next(specifier, context);
    }`;
    const register = join(dir, 'register.mjs');
    writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});\n`);
    const child = spawn(process.execPath, [BIN, 'worker'], {
      // A heap limit of its own: no re-execution, so the pid is the command's from the start.
      env: { ...process.env, DATABASE_URL: db.url, LOG_LEVEL: 'info', NODE_OPTIONS: `--max-old-space-size=160 --import ${pathToFileURL(register).href}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

    const deadline = performance.now() + 30_000;
    while (!(() => { try { readFileSync(marker); return true; } catch { return false; } })()) {
      if (performance.now() > deadline) throw new Error(`main.ts was never loaded: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // main.ts is being held: the command has not registered its own listeners yet.
    expect(catches(child.pid!, 15)).toBe(true);
    child.kill('SIGTERM');
    const { code, signal } = await exited;
    expect({ code, signal }, output).toEqual({ code: 0, signal: null });
    // Whether it got as far as starting depends on when Node handles the signal
    // (here after the held import returns); either way it ends as a clean stop.
    if (output.includes('sealing worker started')) expect(output).toContain('sealing worker stopped');
  }
}, 60_000);
