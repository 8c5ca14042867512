// Checkpoint rounds against a real PostgreSQL: what is due gets signed once,
// recorded and exported; a failed sink is retried next round; a chain whose
// state contradicts its rows or an earlier checkpoint is never signed; one
// signer at a time.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { sealOnce } from '@audit-chain/sealing';
import { insertRows, newOrgId } from '../../../test/support/audit-rows.ts';
import { connect, createTestDatabase } from '../../../test/support/database.ts';
import { CHECKPOINT_LOCK_KEY } from './checkpoint-queries.ts';
import { DirectoryCheckpointSink, listCheckpointFiles } from './directory-sink.ts';
import { generateSigningKeyPair, loadSigningKey } from './keys.ts';
import { runCheckpointRound } from './sign-checkpoints.ts';
import type { CheckpointSink } from './sinks.ts';
import type { SignedCheckpoint } from '@audit-chain/chain';

const db = await createTestDatabase();
const dir = mkdtempSync(join(tmpdir(), 'audit-chain-rounds-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const signer = loadSigningKey({ pem: generateSigningKeyPair('round-test', new Date()).privatePem, keyId: 'round-test' })!;

async function seal(): Promise<void> {
  await sealOnce(db.pool, { batchSize: 1000, waitMs: 5000, pollMs: 10 });
}

/** A sink that fails while `failing` is true and remembers what it took. */
class FlakySink implements CheckpointSink {
  readonly name = 'webhook';
  readonly target = 'flaky';
  failing = true;
  readonly taken: SignedCheckpoint[] = [];
  async write(checkpoints: readonly SignedCheckpoint[]): Promise<void> {
    if (this.failing) throw new Error('down for maintenance');
    this.taken.push(...checkpoints);
  }
}

async function recorded(orgId: string | null): Promise<{ chain_seq: string; exported_to: Record<string, string | null> }[]> {
  return (
    await db.pool.query('select chain_seq::text, exported_to from audit_chain_checkpoints where org_id is not distinct from $1::uuid order by id', [orgId])
  ).rows;
}

describe('checkpoint rounds', () => {
  test('signs due heads once, records and exports them; a failed sink gets them next round, oldest first', async () => {
    const org = newOrgId();
    await insertRows(db.pool, org, 5);
    await seal();
    const directory = new DirectoryCheckpointSink(join(dir, 'rounds'));
    const flaky = new FlakySink();
    const policy = { everyRows: 10, intervalMs: 3_600_000 };

    const first = await runCheckpointRound(db.pool, { signer, sinks: [directory, flaky], policy, orgId: org });
    expect(first.signed.map((c) => c.sealed_count)).toEqual(['5']);
    expect(first.exported).toEqual({ directory: 1 });
    expect(first.failures.map((f) => f.message)).toEqual(['webhook sink flaky: down for maintenance']);
    expect((await recorded(org)).map((r) => r.exported_to)).toEqual([{ directory: expect.any(String), webhook: null }]);

    // Nothing new sealed: nothing signed; the webhook is still down.
    const idle = await runCheckpointRound(db.pool, { signer, sinks: [directory, flaky], policy, orgId: org });
    expect(idle.signed).toEqual([]);
    expect(idle.failures).toHaveLength(1);

    // 12 more rows: due by count. The webhook is back: the old one first, then the new one.
    await insertRows(db.pool, org, 12);
    await seal();
    flaky.failing = false;
    const second = await runCheckpointRound(db.pool, { signer, sinks: [directory, flaky], policy, orgId: org });
    expect(second.signed.map((c) => c.sealed_count)).toEqual(['17']);
    expect(second.failures).toEqual([]);
    expect(flaky.taken.map((c) => c.sealed_count)).toEqual(['5', '17']);
    expect((await recorded(org)).map((r) => Object.values(r.exported_to).every((v) => typeof v === 'string'))).toEqual([true, true]);
    const files = (await listCheckpointFiles(join(dir, 'rounds')))!;
    const exported = files.flatMap((file) => readFileSync(join(dir, 'rounds', file), 'utf8').split('\n').filter(Boolean));
    expect(exported.map((line) => (JSON.parse(line) as SignedCheckpoint).sealed_count)).toEqual(['5', '17']);
  });

  test('a watermark below the last checkpoint, or a head row that differs from the state, is not signed', async () => {
    const [behind, rewritten] = [newOrgId(), newOrgId()];
    await insertRows(db.pool, behind, 3);
    await insertRows(db.pool, rewritten, 3);
    await seal();
    await runCheckpointRound(db.pool, { signer, sinks: [], policy: 'requested' });
    await db.pool.query(
      `update audit_chain_state s set watermark_seq = a.chain_seq, head_checksum = a.checksum, sealed_count = 1
         from audit_logs a where s.org_id = $1::uuid and a.org_id = s.org_id
          and a.chain_seq = (select min(chain_seq) from audit_logs where org_id = $1::uuid)`,
      [behind],
    );
    await db.pool.query(`update audit_chain_state set head_checksum = repeat('e', 64) where org_id = $1::uuid`, [rewritten]);
    const round = await runCheckpointRound(db.pool, { signer, sinks: [], policy: 'requested' });
    expect(round.signed.map((c) => c.org_id)).not.toContain(behind);
    expect(round.signed.map((c) => c.org_id)).not.toContain(rewritten);
    expect(round.skipped.map((s) => [s.orgId, s.reason]).sort()).toEqual(
      [
        [behind, 'regressed'],
        [rewritten, 'head_row_mismatch'],
      ].sort(),
    );
    expect(round.skipped.find((s) => s.orgId === rewritten)!.message).toMatch(/got checksum [0-9a-f]{64}, want the chain state's head e{64}/);
  });

  test('one signer at a time: a round that finds the lock taken does nothing', async () => {
    const holder = await connect(db.url);
    try {
      await holder.query('select pg_advisory_lock($1)', [CHECKPOINT_LOCK_KEY]);
      const round = await runCheckpointRound(db.pool, { signer, sinks: [], policy: 'requested' });
      expect(round).toEqual({ busy: true, signed: [], signedTables: [], skipped: [], skippedTables: [], exported: {}, failures: [] });
    } finally {
      await holder.end();
    }
  });
});
