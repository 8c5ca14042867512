// Logs a newcomer can read: pretty lines on a terminal, JSON otherwise, and a
// database outage that shows up as a few lines rather than forty stack traces.
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { createLogger, describeLogCall, summarizers } from './index.ts';

function capture(): { output: PassThrough; lines: () => string[] } {
  const output = new PassThrough();
  let text = '';
  output.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { output, lines: () => text.split('\n').filter((line) => line !== '') };
}

/** What pg and pg-boss throw while the database is down. */
function refused(queue: string, worker: string): Error {
  const error = new Error(`connect ECONNREFUSED 127.0.0.1:55491 (Queue: ${queue}, Worker: ${worker})`);
  return error;
}

describe('repeated errors', () => {
  test('forty identical errors in 8 s: the first in full, then one summary line when the window closes', () => {
    let now = 1_000_000;
    const { output, lines } = capture();
    const logger = createLogger({ level: 'info', output, pretty: false, repeats: { windowMs: 60_000, now: () => now } });
    const worker = logger.child({ name: 'worker' });
    const queues = ['audit-chain-seal', 'audit-chain-verify', '__pgboss__send-it'];
    for (let i = 0; i < 40; i++) {
      worker.error({ err: refused(queues[i % 3]!, crypto.randomUUID()) }, 'pg-boss error');
      now += 200;
    }
    worker.info('still running');
    expect(lines()).toHaveLength(2);
    const first = JSON.parse(lines()[0]!);
    expect(first).toMatchObject({ level: 50, name: 'worker', msg: 'pg-boss error' });
    expect(first.err.stack).toContain('ECONNREFUSED');
    expect(JSON.parse(lines()[1]!).msg).toBe('still running');

    now += 60_000;
    summarizers.get(logger)!.flush();
    expect(lines()).toHaveLength(3);
    const summary = JSON.parse(lines()[2]!);
    expect(summary).toMatchObject({ level: 50, name: 'worker', repeated: 39 });
    expect(summary.msg).toMatch(/^pg-boss error: repeated 39 more times in \d+ s \(last: connect ECONNREFUSED 127\.0\.0\.1:55491\)$/);
    expect(JSON.stringify(summary)).not.toContain('stack');
  });

  test('different failures are each logged once; the same one after its window is logged in full again', () => {
    let now = 0;
    const { output, lines } = capture();
    const logger = createLogger({ level: 'info', output, pretty: false, repeats: { windowMs: 10_000, now: () => now } });
    logger.error({ err: new Error('connect ECONNREFUSED') }, 'horizon/dispatch step failed; backing off');
    logger.warn({ err: new Error('connect ECONNREFUSED') }, 'heartbeat failed');
    logger.error({ err: new Error('terminating connection due to unexpected postmaster exit') }, 'horizon/dispatch step failed; backing off');
    logger.error({ err: new Error('connect ECONNREFUSED') }, 'horizon/dispatch step failed; backing off');
    expect(lines().map((line) => JSON.parse(line).msg)).toEqual([
      'horizon/dispatch step failed; backing off',
      'heartbeat failed',
      'horizon/dispatch step failed; backing off',
    ]);
    now = 10_000;
    logger.error({ err: new Error('connect ECONNREFUSED') }, 'horizon/dispatch step failed; backing off');
    const after = lines().slice(3).map((line) => JSON.parse(line));
    expect(after.map((line) => line.msg)).toEqual([
      'horizon/dispatch step failed; backing off: repeated 1 more time in 10 s (last: connect ECONNREFUSED)',
      'horizon/dispatch step failed; backing off',
    ]);
    expect(after[1].err.stack).toBeDefined();
  });

  test('info and debug lines are never held back', () => {
    const { output, lines } = capture();
    const logger = createLogger({ level: 'debug', output, pretty: false });
    for (let i = 0; i < 5; i++) logger.info('GET /admin/v1/status 200 3 ms');
    expect(lines()).toHaveLength(5);
  });

  test('property: failures that differ only in ids or the pg-boss queue are one kind; other messages are not', () => {
    fc.assert(
      fc.property(fc.uuid(), fc.uuid(), fc.stringMatching(/^[a-z_-]{1,20}$/), fc.stringMatching(/^[a-z_-]{1,20}$/), (a, b, queueA, queueB) => {
        const key = (id: string, queue: string) => describeLogCall(50, [{ err: new Error(`job ${id} failed (Queue: ${queue}, Worker: ${id})`) }, 'pg-boss error']).key;
        expect(key(a, queueA)).toBe(key(b, queueB));
        expect(describeLogCall(50, [{ err: new Error(`x ${queueA}`) }, 'm']).key === describeLogCall(50, [{ err: new Error(`x ${queueA}!`) }, 'm']).key).toBe(false);
      }),
    );
  });
});

describe('format', () => {
  test('pretty: one readable line per call, no JSON', () => {
    const { output, lines } = capture();
    const logger = createLogger({ level: 'info', output, pretty: true });
    logger.child({ name: 'api' }).info({ status: 201 }, 'POST /v1/audit-events 201 4 ms');
    const [line, ...rest] = lines();
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(api\): POST \/v1\/audit-events 201 4 ms$/);
    expect(rest.join('\n')).toContain('status: 201');
    expect(line!.startsWith('{')).toBe(false);
  });

  test('not a terminal: JSON lines', () => {
    const { output, lines } = capture();
    createLogger({ level: 'info', output, pretty: false }).info('hello');
    expect(JSON.parse(lines()[0]!)).toMatchObject({ level: 30, msg: 'hello' });
  });
});
