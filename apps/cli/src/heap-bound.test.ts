// The heap bound of seal, verify and worker: which command lines re-execute
// (pure), and the real binary, spawned as a user would, running its long
// commands under the bound in the same process while short commands and
// NODE_OPTIONS that set their own limit are left alone.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { createTestDatabase } from '../../../test/support/database.ts';
import { OLD_SPACE_FLAG, SEMI_SPACE_FLAG, boundedArgv, commandOf } from './heap-bound.ts';

const BIN = fileURLToPath(new URL('../bin/audit-chain.ts', import.meta.url));
const NODE = '/usr/bin/node';
const SCRIPT = '/app/bin/audit-chain.ts';

describe('boundedArgv', () => {
  test('seal, verify and worker re-execute with both flags before node flags, script and arguments', () => {
    for (const command of ['seal', 'verify', 'worker']) {
      expect(boundedArgv([NODE, SCRIPT, command, '--once'], ['--enable-source-maps'], undefined)).toEqual([
        NODE,
        OLD_SPACE_FLAG,
        SEMI_SPACE_FLAG,
        '--enable-source-maps',
        SCRIPT,
        command,
        '--once',
      ]);
    }
  });

  test('other commands, no command and global options alone do not', () => {
    for (const args of [['migrate'], ['lag', '--json'], ['status'], ['keygen'], [], ['--help'], ['--version'], ['checkpoint', 'seal']]) {
      expect(boundedArgv([NODE, SCRIPT, ...args], [], undefined), args.join(' ')).toBeNull();
    }
  });

  test('a heap limit already set, in NODE_OPTIONS or node flags, in either spelling, is kept', () => {
    const set = ['--max-old-space-size=512', '--max_old_space_size=512', '--max-old-space-size 512', '--max-heap-size=300', '--max_heap_size=300'];
    for (const flag of set) {
      expect(boundedArgv([NODE, SCRIPT, 'seal', '--once'], [], `--enable-source-maps ${flag}`), flag).toBeNull();
      expect(boundedArgv([NODE, SCRIPT, 'seal', '--once'], flag.split(' '), undefined), flag).toBeNull();
    }
  });

  test('a semi-space size already set is not given twice; unrelated flags with similar names do not count', () => {
    expect(boundedArgv([NODE, SCRIPT, 'worker'], [], '--max-semi-space-size=16')).toEqual([NODE, OLD_SPACE_FLAG, SCRIPT, 'worker']);
    expect(boundedArgv([NODE, SCRIPT, 'worker'], [], '--max-old-space-size-fake=1 --no-max-old-space-size')?.slice(1, 3)).toEqual([OLD_SPACE_FLAG, SEMI_SPACE_FLAG]);
  });

  test('property: the re-executed command line ends with the original script and arguments, verbatim', () => {
    const arg = fc.string({ maxLength: 12 });
    fc.assert(
      fc.property(fc.constantFrom('seal', 'verify', 'worker'), fc.array(arg, { maxLength: 6 }), fc.array(arg.map((value) => `--x${value}`), { maxLength: 3 }), (command, rest, flags) => {
        const argv = [NODE, SCRIPT, command, ...rest];
        const next = boundedArgv(argv, flags, undefined);
        expect(next).not.toBeNull();
        expect(next![0]).toBe(NODE);
        expect(next!.slice(-argv.length + 1)).toEqual(argv.slice(1));
        expect(next!.slice(1, -argv.length + 1)).toEqual([OLD_SPACE_FLAG, SEMI_SPACE_FLAG, ...flags]);
        expect(commandOf(next!.slice(-argv.length))).toBe(command);
      }),
    );
  });
});

describe('the audit-chain binary', async () => {
  const database = await createTestDatabase();
  const directory = mkdtempSync(join(tmpdir(), 'audit-chain-heap-'));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));
  // Loaded by every image node starts (NODE_OPTIONS --import): records what that image runs with.
  const probe = join(directory, 'probe.mjs');
  writeFileSync(
    probe,
    `import { appendFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
appendFileSync(process.env.HEAP_PROBE_FILE, JSON.stringify({ pid: process.pid, execArgv: process.execArgv, heapLimitMiB: getHeapStatistics().heap_size_limit / 1048576 }) + '\\n');
`,
  );
  let runs = 0;

  interface Image {
    pid: number;
    execArgv: string[];
    heapLimitMiB: number;
  }

  /** Runs the binary and returns its exit code, stderr and the images the process ran, in order. */
  async function run(args: string[], nodeOptions = ''): Promise<{ code: number | null; stderr: string; images: Image[] }> {
    const file = join(directory, `run-${(runs += 1)}.jsonl`);
    writeFileSync(file, '');
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: database.url, LOG_LEVEL: 'warn', HEAP_PROBE_FILE: file, NODE_OPTIONS: `${nodeOptions} --import=${pathToFileURL(probe).href}`.trim() },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    const images = readFileSync(file, 'utf8').trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Image);
    for (const image of images) expect(image.pid, 'the bound is applied in the same process, not a child').toBe(child.pid);
    return { code, stderr, images };
  }

  test('seal --once runs under the bound: re-executed once, heap limit under 256 MiB, exit 0', async () => {
    const { code, stderr, images } = await run(['seal', '--once', '--wait-ms', '1']);
    expect(code, stderr).toBe(0);
    expect(images).toHaveLength(2);
    expect(images[0]!.execArgv).toEqual([]);
    expect(images[1]!.execArgv).toEqual([OLD_SPACE_FLAG, SEMI_SPACE_FLAG]);
    expect(images[1]!.heapLimitMiB).toBeLessThan(256);
    // Unbounded, V8 derives the limit from the machine: far above on any machine this suite runs on.
    expect(images[0]!.heapLimitMiB).toBeGreaterThan(images[1]!.heapLimitMiB);
  });

  test('verify runs under the bound and keeps its exit code and output', async () => {
    const { code, stderr, images } = await run(['verify', '--all', '--json', '--no-record']);
    expect(code, stderr).toBe(0);
    expect(images.map((image) => image.execArgv)).toEqual([[], [OLD_SPACE_FLAG, SEMI_SPACE_FLAG]]);
    const bad = await run(['verify', '--no-such-option']);
    expect(bad.code, 'a usage error, as without the bound').toBe(2);
    expect(bad.stderr).toMatch(/^audit-chain: unknown option '--no-such-option'/);
  });

  test('the worker runs under the bound and stops cleanly on SIGTERM sent to the pid its starter knows', async () => {
    const file = join(directory, 'worker.jsonl');
    writeFileSync(file, '');
    const child = spawn(process.execPath, [BIN, 'worker'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', DATABASE_URL: database.url, LOG_LEVEL: 'info', HEAP_PROBE_FILE: file, NODE_OPTIONS: `--import=${pathToFileURL(probe).href}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    await expect.poll(() => output, { timeout: 60_000, interval: 100 }).toContain('sealing worker started');
    child.kill('SIGTERM');
    expect(await exited, output).toBe(0);
    expect(output).toContain('sealing worker stopped');
    const images = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as Image);
    expect(images.map((image) => [image.pid, image.execArgv])).toEqual([
      [child.pid, []],
      [child.pid, [OLD_SPACE_FLAG, SEMI_SPACE_FLAG]],
    ]);
    expect(images[1]!.heapLimitMiB).toBeLessThan(256);
  });

  test('a heap limit in NODE_OPTIONS is the one the command runs with: no re-execution', async () => {
    const { code, stderr, images } = await run(['seal', '--once', '--wait-ms', '1'], '--max-old-space-size=300');
    expect(code, stderr).toBe(0);
    expect(images).toHaveLength(1);
    expect(images[0]!.heapLimitMiB).toBeGreaterThan(300);
  });

  test('short commands start once, unbounded', async () => {
    for (const args of [['--version'], ['lag', '--json']]) {
      const { code, stderr, images } = await run(args);
      expect(code, stderr).toBe(0);
      expect(images, args.join(' ')).toHaveLength(1);
      expect(images[0]!.execArgv).toEqual([]);
    }
  });
});
