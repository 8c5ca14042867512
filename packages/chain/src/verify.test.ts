// The verifier against every kind of tampering, on chains built with sealBatch.
import { describe, expect, it } from 'vitest';
import {
  checkCheckpoints,
  checkpointLine,
  ChainVerifier,
  GENESIS_PREV_CHECKSUM,
  personalDigest,
  rowChecksum,
  verifyChain,
  VerifyInputError,
  type ChainBreak,
  type CheckpointBody,
  type StoredRow,
} from './index.ts';
import {
  checkpointAt,
  makeRow,
  ORG_A,
  ORG_B,
  pendingRow,
  redact,
  resealFrom,
  sealedChain,
  sealRows,
  stateOf,
  streamOf,
  testKeys,
} from './test-fixtures.ts';

const { signer } = testKeys('k1');

function summary(breaks: readonly ChainBreak[]): [string, string | null][] {
  return breaks.map((b) => [b.kind, b.chainSeq]);
}

describe('verifyChain on clean chains', () => {
  it('finds no break and counts sealed, pending and redacted rows', async () => {
    const { rows, state } = sealedChain(ORG_A, 20, 3);
    rows[4] = redact(rows[4]!);
    const checkpoints = [await checkpointAt(rows, 9, signer), await checkpointAt(rows, 19, signer)];
    const report = await verifyChain({ orgId: ORG_A, rows: streamOf(rows), state, checkpoints });
    expect(report.breaks).toEqual([]);
    expect(report).toMatchObject({
      ok: true,
      breakCount: 0,
      counts: { rows: 23, sealed: 20, pending: 3, redacted: 1, moved: 0 },
      lastSeq: '230',
      lastSealed: { chainSeq: '200', checksum: state.headChecksum },
    });
  });

  it('verifies the system chain and an empty chain', async () => {
    const system = sealedChain(null, 3);
    expect((await verifyChain({ orgId: null, rows: system.rows, state: system.state })).breaks).toEqual([]);
    const empty = await verifyChain({ orgId: ORG_A, rows: [], state: { watermarkSeq: '0', headChecksum: null, sealedCount: '0' } });
    expect(empty).toMatchObject({ ok: true, counts: { rows: 0 }, lastSeq: null, lastSealed: null });
  });

  it('checks rows above the watermark that carry links, whatever the state says (a watermark moved back hides nothing)', async () => {
    const { rows } = sealedChain(ORG_A, 5);
    const state = stateOf(rows.slice(0, 3));
    rows[4] = { ...rows[4]!, details: { json: 'changed above the lowered watermark' } };
    const report = await verifyChain({ orgId: ORG_A, rows, state });
    expect(summary(report.breaks)).toEqual([['head_mismatch', '40'], ['content_changed', '50']]);
    expect(report.breaks[0]).toMatchObject({ expected: '30', found: '40' });
    expect(report.breaks[0]!.message).toMatch(/above the chain state's watermark 30, carries links/);
    expect(report.counts).toMatchObject({ sealed: 5, pending: 0 });
  });

  it('counts rows above the watermark without links as pending and does not check them', async () => {
    const { rows } = sealedChain(ORG_A, 5);
    const unlinked = [...rows.slice(0, 3), pendingRow(rows[3]!), pendingRow({ ...rows[4]!, details: { json: 'not sealed yet' } })];
    const report = await verifyChain({ orgId: ORG_A, rows: unlinked, state: stateOf(rows.slice(0, 3)) });
    expect(report.breaks).toEqual([]);
    expect(report.counts).toMatchObject({ sealed: 3, pending: 2 });
  });

  it('starts from a checkpoint without reading the rows before it (retention)', async () => {
    const { rows, state } = sealedChain(ORG_A, 10, 2);
    const start = await checkpointAt(rows, 5, signer);
    const later = await checkpointAt(rows, 8, signer);
    const report = await verifyChain({ orgId: ORG_A, rows: rows.slice(6), state, fromCheckpoint: start, checkpoints: [start, later] });
    expect(report.breaks).toEqual([]);
    expect(report.counts).toMatchObject({ rows: 6, sealed: 4, pending: 2 });
    const nothingAfter = await verifyChain({ orgId: ORG_A, rows: [], state: stateOf(rows.slice(0, 6)), fromCheckpoint: start });
    expect(nothingAfter.breaks).toEqual([]);
  });

  it('reports every break to onBreak while keeping only keepBreaks of them', async () => {
    const { rows, state } = sealedChain(ORG_A, 10);
    const tampered = rows.map((row) => ({ ...row, action: 'rewritten' }));
    const seen: ChainBreak[] = [];
    const report = await verifyChain({ orgId: ORG_A, rows: tampered, state }, { onBreak: (b) => void seen.push(b), keepBreaks: 3 });
    expect(seen).toHaveLength(10);
    expect(report).toMatchObject({ ok: false, breakCount: 10, breaksOmitted: 7, breaksByKind: { content_changed: 10 } });
    expect(report.breaks).toEqual(seen.slice(0, 3));
  });

  it('streams: reads one row at a time and reports progress', async () => {
    const { rows, state } = sealedChain(ORG_A, 2500);
    let outstanding = 0;
    let maxOutstanding = 0;
    async function* cursor(): AsyncGenerator<StoredRow> {
      for (const row of rows) {
        outstanding += 1;
        maxOutstanding = Math.max(maxOutstanding, outstanding);
        yield row;
        outstanding -= 1;
      }
    }
    const progress: number[] = [];
    const report = await verifyChain({ orgId: ORG_A, rows: cursor(), state }, { onProgress: (p) => progress.push(p.counts.rows), progressEvery: 1000 });
    expect(report.ok).toBe(true);
    expect(maxOutstanding).toBe(1);
    expect(progress).toEqual([1000, 2000, 2500]);
  });
});

describe('verifyChain finds tampering', () => {
  it('content changed: one break at the changed row, the chain after it still links', async () => {
    const { rows, state } = sealedChain(ORG_A, 8);
    rows[3] = { ...rows[3]!, details: { json: { n: 40, tags: ['a', 'b', 'c'] } } };
    const { breaks } = await verifyChain({ orgId: ORG_A, rows, state });
    expect(summary(breaks)).toEqual([['content_changed', '40']]);
    expect(breaks[0]).toMatchObject({ rowId: rows[3]!.id, expected: rows[3]!.checksum });
    expect(breaks[0]!.found).toMatch(/^[0-9a-f]{64}$/);
  });

  it('personal data changed: content_changed through pii_digest', async () => {
    const { rows, state } = sealedChain(ORG_A, 4);
    rows[1] = { ...rows[1]!, actorEmail: 'mallory@example.com' };
    const { breaks } = await verifyChain({ orgId: ORG_A, rows, state });
    expect(summary(breaks)).toEqual([['content_changed', '20']]);
    expect(breaks[0]).toMatchObject({ expected: rows[1]!.piiDigest, found: personalDigest(rows[1]!, rows[1]!.piiSalt!) });
    expect(breaks[0]!.message).toMatch(/pii_digest does not recompute/);
  });

  it('a stored checksum edited: content_changed there and link_broken at the next row', async () => {
    const { rows, state } = sealedChain(ORG_A, 4);
    rows[1] = { ...rows[1]!, checksum: 'f'.repeat(64) };
    const { breaks } = await verifyChain({ orgId: ORG_A, rows, state });
    expect(summary(breaks)).toEqual([['content_changed', '20'], ['link_broken', '30']]);
  });

  it('middle delete: link_broken at the row after the hole', async () => {
    const { rows, state } = sealedChain(ORG_A, 6);
    const deleted = rows.splice(2, 1)[0]!;
    const { breaks } = await verifyChain({ orgId: ORG_A, rows, state });
    // The chain state still counts the deleted row.
    expect(summary(breaks)).toEqual([['link_broken', '40'], ['head_mismatch', '60']]);
    expect(breaks[0]).toMatchObject({ expected: rows[1]!.checksum, found: deleted.checksum, rowId: rows[2]!.id });
    expect(breaks[1]).toMatchObject({ expected: '6', found: '5' });
    expect(breaks[0]!.message).toMatch(/previous row \(chain_seq 20\)/);
  });

  it('first rows deleted: the new first row does not link to genesis', async () => {
    const { rows, state } = sealedChain(ORG_A, 4);
    const { breaks } = await verifyChain({ orgId: ORG_A, rows: rows.slice(2), state });
    expect(summary(breaks)).toEqual([['link_broken', '30'], ['head_mismatch', '40']]);
    expect(breaks[0]).toMatchObject({ expected: GENESIS_PREV_CHECKSUM });
  });

  it('a forged row inserted with a correct link to its predecessor: link_broken at the next row', async () => {
    const { rows, state } = sealedChain(ORG_A, 4);
    const [forged] = sealRows([makeRow(ORG_A, 25, { action: 'forged' })], rows[1]!.checksum);
    rows.splice(2, 0, forged!);
    const { breaks } = await verifyChain({ orgId: ORG_A, rows, state: { ...state, sealedCount: null } });
    expect(summary(breaks)).toEqual([['link_broken', '30']]);
    const counted = await verifyChain({ orgId: ORG_A, rows, state });
    expect(summary(counted.breaks)).toEqual([['link_broken', '30'], ['head_mismatch', '40']]);
  });

  it('a row at or below the watermark without links: unsealed_below_watermark, no cascade', async () => {
    const { rows, state } = sealedChain(ORG_A, 5);
    rows[2] = pendingRow(rows[2]!);
    const { breaks } = await verifyChain({ orgId: ORG_A, rows, state });
    expect(summary(breaks)).toEqual([['unsealed_below_watermark', '30']]);
    expect(breaks[0]).toMatchObject({ expected: 'prev_checksum and checksum', found: null });
  });

  it('an unknown checksum_version: reported, content not checked, link still checked', async () => {
    const { rows, state } = sealedChain(ORG_A, 4);
    rows[1] = { ...rows[1]!, checksumVersion: 3, action: 'whatever v3 hashes' };
    rows[2] = { ...rows[2]!, checksumVersion: 3, prevChecksum: 'e'.repeat(64) };
    const { breaks } = await verifyChain({ orgId: ORG_A, rows, state });
    // Row 40 links to row 30's stored checksum, which is unchanged.
    expect(summary(breaks)).toEqual([['unknown_version', '20'], ['link_broken', '30'], ['unknown_version', '30']]);
    expect(breaks[0]).toMatchObject({ expected: '1 or 2', found: '3' });
  });

  it('a row moved to another organization: moved_org there, link_broken in the chain it left', async () => {
    const a = sealedChain(ORG_A, 4, 0, 10, 10);
    const b = sealedChain(ORG_B, 4, 0, 15, 10);
    const moved = { ...a.rows[1]!, orgId: ORG_B };
    const aRows = a.rows.filter((row) => row !== a.rows[1]);
    const bRows = [...b.rows, moved].sort((x, y) => Number(x.chainSeq) - Number(y.chainSeq));
    const others = [ORG_A, ORG_B, null];
    const inB = await verifyChain({ orgId: ORG_B, rows: bRows, state: b.state, otherOrgIds: others });
    expect(summary(inB.breaks)).toEqual([['moved_org', '20']]);
    expect(inB.breaks[0]).toMatchObject({ expected: ORG_A, found: ORG_B, rowId: moved.id });
    expect(inB.counts).toMatchObject({ rows: 5, sealed: 4, moved: 1 });
    const inA = await verifyChain({ orgId: ORG_A, rows: aRows, state: a.state, otherOrgIds: others });
    expect(summary(inA.breaks)).toEqual([['link_broken', '30'], ['head_mismatch', '40']]);
    const withoutCandidates = await verifyChain({ orgId: ORG_B, rows: bRows, state: b.state });
    expect(summary(withoutCandidates.breaks)).toEqual([['link_broken', '20'], ['content_changed', '20'], ['link_broken', '25'], ['head_mismatch', '45']]);
  });

  it('a chain\'s first row moved to the front of another chain: moved_org although its genesis link holds', async () => {
    const a = sealedChain(ORG_A, 2, 0, 10, 10);
    const b = sealedChain(ORG_B, 2, 0, 15, 10);
    const moved = { ...a.rows[0]!, orgId: ORG_B };
    const inB = await verifyChain({ orgId: ORG_B, rows: [moved, ...b.rows], state: b.state, otherOrgIds: [ORG_A] });
    expect(summary(inB.breaks)).toEqual([['moved_org', '10']]);
    const edited = [{ ...b.rows[0]!, action: 'edited in place' }, b.rows[1]!];
    const inPlace = await verifyChain({ orgId: ORG_B, rows: edited, state: b.state, otherOrgIds: [ORG_A] });
    expect(summary(inPlace.breaks)).toEqual([['content_changed', '15']]);
  });

  it('a row of another organization in the stream: moved_org', async () => {
    const { rows, state } = sealedChain(ORG_A, 3);
    const stray = sealRows([makeRow(null, 25)])[0]!;
    const { breaks } = await verifyChain({ orgId: ORG_A, rows: [rows[0]!, rows[1]!, stray, rows[2]!], state });
    expect(summary(breaks)).toEqual([['moved_org', '25']]);
    expect(breaks[0]).toMatchObject({ expected: ORG_A, found: null });
  });

  it('a redacted row verifies with its kept digest; personal data put back or a missing salt does not', async () => {
    const { rows, state } = sealedChain(ORG_A, 3);
    rows[1] = redact(rows[1]!);
    expect((await verifyChain({ orgId: ORG_A, rows, state })).breaks).toEqual([]);
    const restored = [...rows];
    restored[1] = { ...rows[1]!, actorEmail: 'someone-else@example.com' };
    const report = await verifyChain({ orgId: ORG_A, rows: restored, state });
    expect(summary(report.breaks)).toEqual([['content_changed', '20']]);
    expect(report.breaks[0]!.message).toMatch(/marked redacted but still has actor_email/);
    const saltless = sealedChain(ORG_A, 2);
    saltless.rows[0] = { ...saltless.rows[0]!, piiSalt: null };
    expect(summary((await verifyChain({ orgId: ORG_A, rows: saltless.rows, state: saltless.state })).breaks)).toEqual([['content_changed', '10']]);
  });

  it('a malformed stored value is a break, not a crash', async () => {
    const { rows, state } = sealedChain(ORG_A, 3);
    rows[1] = { ...rows[1]!, occurredAt: '2026-11-23 01:02:03+00' };
    const { breaks } = await verifyChain({ orgId: ORG_A, rows, state });
    expect(summary(breaks)).toEqual([['content_changed', '20']]);
    expect(breaks[0]!.message).toMatch(/cannot recompute the checksum: occurred_at: got/);
  });
});

describe('verifyChain against the chain state and signed checkpoints', () => {
  it('tail deleted, chain state left alone: head_mismatch', async () => {
    const { rows, state } = sealedChain(ORG_A, 6);
    const { breaks } = await verifyChain({ orgId: ORG_A, rows: rows.slice(0, 4), state });
    expect(summary(breaks)).toEqual([['head_mismatch', '60'], ['head_mismatch', '60']]);
    expect(breaks[0]).toMatchObject({ expected: '60', found: '40' });
    expect(breaks[1]).toMatchObject({ expected: '6', found: '4' });
  });

  it('the chain state\'s head checksum differs: head_mismatch', async () => {
    const { rows, state } = sealedChain(ORG_A, 3);
    const { breaks } = await verifyChain({ orgId: ORG_A, rows, state: { ...state, headChecksum: 'c'.repeat(64) } });
    expect(summary(breaks)).toEqual([['head_mismatch', '30']]);
    expect(breaks[0]).toMatchObject({ expected: 'c'.repeat(64), found: rows[2]!.checksum });
  });

  it('tail deleted and the chain state rewound to match: only the checkpoint sees it (tail_truncated)', async () => {
    const { rows } = sealedChain(ORG_A, 8);
    const checkpoints = [await checkpointAt(rows, 5, signer), await checkpointAt(rows, 7, signer)];
    const kept = rows.slice(0, 4);
    const { breaks } = await verifyChain({ orgId: ORG_A, rows: kept, state: stateOf(kept), checkpoints });
    expect(summary(breaks)).toEqual([['tail_truncated', '80'], ['head_mismatch', '40']]);
    expect(breaks[0]).toMatchObject({ expected: '80', found: '40', rowId: null });
    expect(breaks[0]!.message).toMatch(/2 signed checkpoint\(s\)/);
    expect(breaks[1]).toMatchObject({ expected: '80', found: '40' });
    expect(breaks[1]!.message).toMatch(/watermark 40 is below the trusted checkpoint's chain_seq 80/);
  });

  it('whole chain recomputed after an edit (attacker without the key): checkpoint_mismatch only', async () => {
    const { rows } = sealedChain(ORG_A, 8);
    const checkpoints = [await checkpointAt(rows, 2, signer), await checkpointAt(rows, 6, signer)];
    const edited = rows.map((row, i) => (i === 4 ? { ...row, result: 'failure' } : row));
    const forged = resealFrom(edited, 4);
    const { breaks } = await verifyChain({ orgId: ORG_A, rows: forged, state: stateOf(forged), checkpoints });
    expect(summary(breaks)).toEqual([['checkpoint_mismatch', '70']]);
    expect(breaks[0]).toMatchObject({ expected: rows[6]!.checksum, found: forged[6]!.checksum, rowId: rows[6]!.id });
  });

  it('middle row deleted and every link recomputed: checkpoint_mismatch (checksum and count)', async () => {
    const { rows } = sealedChain(ORG_A, 8);
    const checkpoints = [await checkpointAt(rows, 7, signer)];
    const forged = resealFrom(rows.filter((_, i) => i !== 3), 3);
    const { breaks } = await verifyChain({ orgId: ORG_A, rows: forged, state: stateOf(forged), checkpoints });
    expect(summary(breaks)).toEqual([['checkpoint_mismatch', '80'], ['head_mismatch', '80']]);
    expect(breaks[0]!.message).toMatch(/7 rows up to it, the checkpoint signed 8/);
    expect(breaks[1]).toMatchObject({ expected: '8', found: '7' });
  });

  it('a row deleted and the later links recomputed with the checksum at the checkpoint kept: the count still differs', async () => {
    const { rows } = sealedChain(ORG_A, 4);
    const checkpoint = await checkpointAt(rows, 3, signer);
    // Contrived: the forger keeps the checkpointed checksum by presenting the stored row as is.
    const forged = [rows[0]!, rows[1]!, rows[3]!].map((row, i, all) => (i === 2 ? { ...row, prevChecksum: all[1]!.checksum } : row));
    const { breaks } = await verifyChain({ orgId: ORG_A, rows: forged, state: stateOf(forged), checkpoints: [checkpoint] });
    expect(summary(breaks)).toEqual([['content_changed', '40'], ['checkpoint_mismatch', '40'], ['head_mismatch', '40']]);
    expect(breaks[1]).toMatchObject({ expected: '4', found: '3' });
    expect(breaks[2]).toMatchObject({ expected: '4', found: '3' });
  });

  it('the checkpointed row itself deleted: checkpoint_mismatch at its chain_seq', async () => {
    const { rows, state } = sealedChain(ORG_A, 6);
    const checkpoint = await checkpointAt(rows, 2, signer);
    const { breaks } = await verifyChain({ orgId: ORG_A, rows: rows.filter((_, i) => i !== 2), state, checkpoints: [checkpoint] });
    expect(summary(breaks)).toEqual([['link_broken', '40'], ['checkpoint_mismatch', '30'], ['head_mismatch', '60']]);
    expect(breaks[1]).toMatchObject({ rowId: null, expected: rows[2]!.checksum, found: null });
  });

  it('the watermark rolled back below a checkpoint and the links erased: checkpoint_mismatch on the now pending row', async () => {
    const { rows } = sealedChain(ORG_A, 4);
    const checkpoint = await checkpointAt(rows, 3, signer);
    const unlinked = [...rows.slice(0, 2), pendingRow(rows[2]!), pendingRow(rows[3]!)];
    const { breaks } = await verifyChain({ orgId: ORG_A, rows: unlinked, state: stateOf(rows.slice(0, 2)), checkpoints: [checkpoint] });
    expect(summary(breaks)).toEqual([['checkpoint_mismatch', '40'], ['head_mismatch', '20']]);
    expect(breaks[0]).toMatchObject({ expected: rows[3]!.checksum, found: null });
    expect(breaks[1]).toMatchObject({ expected: '40', found: '20' });
  });

  it('starting from a checkpoint: the first row must link to it', async () => {
    const { rows, state } = sealedChain(ORG_A, 6);
    const start = await checkpointAt(rows, 2, signer);
    const { breaks } = await verifyChain({ orgId: ORG_A, rows: rows.slice(4), state, fromCheckpoint: start });
    expect(summary(breaks)).toEqual([['link_broken', '50'], ['head_mismatch', '60']]);
    expect(breaks[0]).toMatchObject({ expected: rows[2]!.checksum, found: rows[3]!.checksum });
    expect(breaks[0]!.message).toMatch(/first row after the starting checkpoint/);
  });

  it('checkpoint breaks from the export and chain breaks come out together', async () => {
    const { rows, state } = sealedChain(ORG_A, 4);
    const keyring = [{ keyId: 'k1', publicKey: testKeys('unused').publicKey, validFrom: '2026-01-01T00:00:00Z' }];
    const good = await checkpointAt(rows, 3, signer);
    const { trusted, breaks: rejected } = checkCheckpoints([checkpointLine(good)], keyring);
    expect(trusted).toEqual([]);
    expect(rejected.map((b) => b.kind)).toEqual(['checkpoint_signature_invalid']);
    expect((await verifyChain({ orgId: ORG_A, rows, state, checkpoints: trusted })).ok).toBe(true);
  });
});

describe('verifier input contract', () => {
  it('refuses rows out of order, rows before the starting checkpoint and foreign checkpoints', async () => {
    const { rows, state } = sealedChain(ORG_A, 4);
    await expect(verifyChain({ orgId: ORG_A, rows: [rows[1]!, rows[0]!], state })).rejects.toThrow(/rows out of order: got chain_seq 10 after 20, want strictly increasing/);
    const start = await checkpointAt(rows, 1, signer);
    await expect(verifyChain({ orgId: ORG_A, rows, state, fromCheckpoint: start })).rejects.toThrow(/at or before the starting checkpoint \(chain_seq 20\)/);
    const foreign: CheckpointBody = { ...(await checkpointAt(rows, 1, signer)), org_id: ORG_B };
    await expect(verifyChain({ orgId: ORG_A, rows, state, checkpoints: [foreign] })).rejects.toThrow(VerifyInputError);
    expect(() => new ChainVerifier({ orgId: ORG_A, state: { watermarkSeq: '0', headChecksum: 'a'.repeat(64) } })).toThrow(/want a 64-hex head exactly when the watermark is above 0/);
    expect(() => new ChainVerifier({ orgId: 'ORG', state })).toThrow(/orgId: got "ORG"/);
    const verifier = new ChainVerifier({ orgId: ORG_A, state });
    verifier.finish();
    expect(() => verifier.check(rows[0]!)).toThrow(/check after finish/);
  });

  it('a broken link is reported with the exact recomputed values an auditor would get', async () => {
    const [first, second] = sealRows([makeRow(ORG_A, 1), makeRow(ORG_A, 2)]);
    expect(first!.prevChecksum).toBe(GENESIS_PREV_CHECKSUM);
    expect(second!.prevChecksum).toBe(first!.checksum);
    expect(rowChecksum(second!, second!.prevChecksum!, second!.piiDigest!)).toBe(second!.checksum);
  });
});
