import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { checkpointLine, signCheckpoint, signTableCheckpoint, type SignedCheckpoint } from '@audit-chain/chain';
import { DirectoryCheckpointSink, listCheckpointFiles, readCheckpointLines } from './directory-sink.ts';
import { generateSigningKeyPair, loadSigningKey } from './keys.ts';
import { SinkError } from './sinks.ts';
import { WebhookCheckpointSink } from './webhook-sink.ts';

const dir = mkdtempSync(join(tmpdir(), 'audit-chain-sinks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const signer = loadSigningKey({ pem: generateSigningKeyPair('sink-test', new Date()).privatePem, keyId: 'sink-test' })!;

function checkpoint(seq: number, signedAt: string): Promise<SignedCheckpoint> {
  return signCheckpoint({ org_id: null, chain_seq: String(seq), sealed_count: String(seq), checksum: 'c'.repeat(64), signed_at: signedAt }, signer);
}

async function lines(path: string): Promise<string[]> {
  const out: string[] = [];
  for await (const { line, source } of readCheckpointLines(path, (await listCheckpointFiles(path)) ?? [])) out.push(`${source} ${line}`);
  return out;
}

describe('directory sink', () => {
  test('appends one line per checkpoint to the file of its UTC day, and reads them back in order', async () => {
    const path = join(dir, 'days');
    const sink = new DirectoryCheckpointSink(path);
    const [a, b, c] = await Promise.all([checkpoint(1, '2026-03-01T23:59:59.999Z'), checkpoint(2, '2026-03-02T00:00:00.000Z'), checkpoint(3, '2026-03-02T10:00:00.000Z')]);
    await sink.write([a, b]);
    await sink.write([c]);
    expect(await listCheckpointFiles(path)).toEqual(['checkpoints-2026-03-01.jsonl', 'checkpoints-2026-03-02.jsonl']);
    expect(readFileSync(join(path, 'checkpoints-2026-03-02.jsonl'), 'utf8')).toBe(`${checkpointLine(b)}\n${checkpointLine(c)}\n`);
    expect(await lines(path)).toEqual([
      `checkpoints-2026-03-01.jsonl:1 ${checkpointLine(a)}`,
      `checkpoints-2026-03-02.jsonl:1 ${checkpointLine(b)}`,
      `checkpoints-2026-03-02.jsonl:2 ${checkpointLine(c)}`,
    ]);
    expect(await listCheckpointFiles(join(dir, 'absent'))).toBeNull();
  });

  test('a torn last line (no newline) is not read as a checkpoint, and the next append does not glue onto it', async () => {
    const path = join(dir, 'torn');
    const sink = new DirectoryCheckpointSink(path);
    const first = await checkpoint(1, '2026-04-01T00:00:00.000Z');
    await sink.write([first]);
    const file = join(path, 'checkpoints-2026-04-01.jsonl');
    appendFileSync(file, '{"chain_seq":"2","check');
    expect(await lines(path)).toEqual([`checkpoints-2026-04-01.jsonl:1 ${checkpointLine(first)}`]);
    const third = await checkpoint(3, '2026-04-01T01:00:00.000Z');
    await sink.write([third]);
    expect(await lines(path)).toEqual([
      `checkpoints-2026-04-01.jsonl:1 ${checkpointLine(first)}`,
      'checkpoints-2026-04-01.jsonl:2 {"chain_seq":"2","check',
      `checkpoints-2026-04-01.jsonl:3 ${checkpointLine(third)}`,
    ]);
  });
});

describe('checkpoints of attached chains', () => {
  const attached = (seq: number) =>
    signTableCheckpoint({ schema: 'public', table: 'events', chain_key: 't1', chain_seq: String(seq), sealed_count: String(seq), checksum: 'd'.repeat(64), signed_at: '2026-06-01T00:00:00.000Z' }, signer);

  test('the directory sink appends them to the same checkpoints-<day>.jsonl, one line each, beside version 1 lines', async () => {
    const path = join(dir, 'attached');
    const sink = new DirectoryCheckpointSink(path);
    const [a, b] = await Promise.all([attached(4), attached(9)]);
    const v1 = await checkpoint(1, '2026-06-01T00:00:00.000Z');
    await sink.write([a]);
    await sink.write([v1, b]);
    expect(readFileSync(join(path, 'checkpoints-2026-06-01.jsonl'), 'utf8')).toBe(`${checkpointLine(a)}\n${checkpointLine(v1)}\n${checkpointLine(b)}\n`);
    expect(await listCheckpointFiles(path)).toEqual(['checkpoints-2026-06-01.jsonl']);
  });

  test('the webhook sink posts the attached line', async () => {
    const received: string[] = [];
    const http: Server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        received.push(body);
        response.statusCode = 204;
        response.end();
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const checkpointOfChain = await attached(5);
      await new WebhookCheckpointSink({ url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/` }).write([checkpointOfChain]);
      expect(received).toEqual([checkpointLine(checkpointOfChain)]);
    } finally {
      await new Promise((resolve) => http.close(() => resolve(undefined)));
    }
  });
});

describe('webhook sink', () => {
  async function server(answer: (request: IncomingMessage, body: string) => number): Promise<{ url: string; received: { auth?: string; type?: string; body: string }[]; close(): Promise<void> }> {
    const received: { auth?: string; type?: string; body: string }[] = [];
    const http: Server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        received.push({ auth: request.headers.authorization, type: request.headers['content-type'], body });
        response.statusCode = answer(request, body);
        response.end();
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/checkpoints?secret=x`,
      received,
      close: () => new Promise((resolve) => http.close(() => resolve())),
    };
  }

  test('POSTs each checkpoint as JSON with the bearer token; a non-2xx answer fails with how many got through', async () => {
    let calls = 0;
    const local = await server(() => (++calls === 2 ? 503 : 204));
    try {
      const sink = new WebhookCheckpointSink({ url: local.url, token: 'hook-token' });
      expect(sink.target).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/checkpoints$/);
      const batch = await Promise.all([1, 2, 3].map((seq) => checkpoint(seq, '2026-05-01T00:00:00.000Z')));
      const error = await sink.write(batch).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SinkError);
      expect(error).toMatchObject({ sink: 'webhook', written: 1, message: expect.stringMatching(/got HTTP 503, want 2xx/) });
      expect(local.received).toEqual([
        { auth: 'Bearer hook-token', type: 'application/json', body: checkpointLine(batch[0]!) },
        { auth: 'Bearer hook-token', type: 'application/json', body: checkpointLine(batch[1]!) },
      ]);
      await sink.write(batch.slice(1));
      expect(local.received.map((r) => r.body).slice(2)).toEqual([checkpointLine(batch[1]!), checkpointLine(batch[2]!)]);
    } finally {
      await local.close();
    }
  });

  test('an unreachable URL is a failure, not a hang', async () => {
    const local = await server(() => 200);
    await local.close();
    const sink = new WebhookCheckpointSink({ url: local.url, timeoutMs: 2000 });
    await expect(sink.write([await checkpoint(1, '2026-05-01T00:00:00.000Z')])).rejects.toMatchObject({ name: 'SinkError', written: 0 });
  });
});
