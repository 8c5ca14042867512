// Checkpoints of attached tables' chains (version 2): the signed text names the
// table's schema, its name and the chain key, so a signature holds for one
// chain of one table only, and neither version can be read as the other.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  assertTableCheckpointBody,
  checkCheckpoints,
  checkpointLine,
  checkpointPayload,
  CheckpointFormatError,
  parseCheckpointLine,
  signCheckpoint,
  signTableCheckpoint,
  verifyCheckpointSignature,
  type CheckpointPublicKey,
} from './index.ts';
import { ORG_A, testKeys } from './test-fixtures.ts';

const key = testKeys('k1');
const keyring: CheckpointPublicKey[] = [{ keyId: 'k1', publicKey: key.publicKey, validFrom: '2026-01-01T00:00:00.000Z' }];
const head = { chain_seq: '1000000000007', sealed_count: '12', checksum: 'cd'.repeat(32), signed_at: '2026-11-23T02:00:00.000Z' };
const draft = { schema: 'public', table: 'audit_logs', chain_key: '6f1c2a4e-0000-4000-8000-00000000c0de', ...head };

/** PostgreSQL names: 1 to 63 bytes of UTF-8, no NUL (dots, quotes and spaces allowed). */
const pgName = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }).filter((name) => !name.includes('\u0000') && Buffer.byteLength(name) <= 63);
const chainKey = fc.option(fc.string({ unit: 'grapheme', maxLength: 40 }).filter((text) => !text.includes('\u0000')), { nil: null });

describe('checkpoints of attached tables (version 2)', () => {
  it('signs the RFC 8785 form of the nine members; the export line carries them and the signature', async () => {
    const signed = await signTableCheckpoint(draft, key.signer);
    expect(checkpointPayload(signed)).toBe(
      `{"chain_key":"${draft.chain_key}","chain_seq":"1000000000007","checksum":"${'cd'.repeat(32)}","key_id":"k1","schema":"public","sealed_count":"12","signed_at":"2026-11-23T02:00:00.000Z","table":"audit_logs","v":2}`,
    );
    const line = checkpointLine(signed);
    expect(verifyCheckpointSignature(parseCheckpointLine(line), keyring)).toEqual({ ok: true, checkpoint: { ...draft, v: 2, key_id: 'k1' } });
  });

  it('a signature holds for its own table and chain only (property)', async () => {
    await fc.assert(
      fc.asyncProperty(pgName, pgName, chainKey, pgName, pgName, chainKey, async (schema, table, chain, otherSchema, otherTable, otherChain) => {
        const signed = await signTableCheckpoint({ ...head, schema, table, chain_key: chain }, key.signer);
        expect(verifyCheckpointSignature(parseCheckpointLine(checkpointLine(signed)), keyring).ok).toBe(true);
        const moved = { ...signed, schema: otherSchema, table: otherTable, chain_key: otherChain };
        const same = otherSchema === schema && otherTable === table && otherChain === chain;
        expect(verifyCheckpointSignature(moved, keyring).ok).toBe(same);
      }),
      { numRuns: 150 },
    );
  });

  it('"a.b"."c" and "a"."b.c" are different tables', async () => {
    const one = await signTableCheckpoint({ ...draft, schema: 'a.b', table: 'c' }, key.signer);
    expect(verifyCheckpointSignature({ ...one, schema: 'a', table: 'b.c' }, keyring)).toMatchObject({ ok: false, kind: 'checkpoint_signature_invalid' });
  });

  it('neither version reads as the other: a v1 checkpoint given a table, or a v2 one an org_id, is malformed', async () => {
    const v1 = await signCheckpoint({ org_id: ORG_A, ...head, chain_seq: '70' }, key.signer);
    const v2 = await signTableCheckpoint(draft, key.signer);
    expect(verifyCheckpointSignature({ ...v1, table: 'audit_logs' }, keyring)).toMatchObject({ ok: false, reason: expect.stringMatching(/unexpected member "table"/) });
    expect(verifyCheckpointSignature({ ...v2, org_id: ORG_A }, keyring)).toMatchObject({ ok: false, reason: expect.stringMatching(/unexpected member "org_id"/) });
    expect(verifyCheckpointSignature({ ...v2, v: 1 }, keyring)).toMatchObject({ ok: false });
    expect(verifyCheckpointSignature({ ...v2, v: 3 }, keyring)).toMatchObject({ ok: false, reason: expect.stringMatching(/v: got 3, want 1 or 2/) });
  });

  it('refuses names PostgreSQL cannot store and keys that are not text', () => {
    const body = { ...draft, v: 2, key_id: 'k1' };
    expect(() => assertTableCheckpointBody({ ...body, schema: '' })).toThrow(CheckpointFormatError);
    expect(() => assertTableCheckpointBody({ ...body, table: 'x'.repeat(64) })).toThrow(/want a PostgreSQL name/);
    expect(() => assertTableCheckpointBody({ ...body, table: 'a\u0000b' })).toThrow(/want a PostgreSQL name/);
    expect(() => assertTableCheckpointBody({ ...body, chain_key: 42 })).toThrow(/chain_key: got 42/);
    expect(() => assertTableCheckpointBody({ ...body, chain_key: '\ud800' })).toThrow(/chain_key/);
    expect(() => assertTableCheckpointBody({ ...body, chain_key: null })).not.toThrow();
  });

  it('checkCheckpoints sorts the two versions apart and says which chain an untrusted v2 entry claims', async () => {
    const v1 = await signCheckpoint({ org_id: null, ...head, chain_seq: '70' }, key.signer);
    const v2 = await signTableCheckpoint(draft, key.signer);
    const forged = { ...v2, checksum: 'ef'.repeat(32) };
    const result = checkCheckpoints([checkpointLine(v1), checkpointLine(v2), forged], keyring);
    expect(result.trusted).toHaveLength(1);
    expect(result.trustedTables).toHaveLength(1);
    expect(result.breaks).toEqual([
      expect.objectContaining({ kind: 'checkpoint_signature_invalid', index: 2, orgId: undefined, tableClaim: { schema: 'public', table: 'audit_logs', chainKey: draft.chain_key } }),
    ]);
  });
});
