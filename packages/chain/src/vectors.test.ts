// The package against the committed test vectors (test-vectors/v1.json).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  checkpointLine,
  checkpointPayload,
  checksumInput,
  GENESIS_PREV_CHECKSUM,
  personalDigest,
  personalDigestInput,
  rowChecksum,
  verifyChain,
  verifyCheckpointSignature,
  type CheckpointPublicKey,
  type RowContent,
  type SignedCheckpoint,
  type StoredRow,
} from './index.ts';

interface VectorRow {
  id: string;
  org_id: string | null;
  chain_seq: string;
  occurred_at: string;
  recorded_at: string;
  actor_type: string;
  actor_id: string | null;
  actor_email: string | null;
  action: string;
  resource_type: string | null;
  resource_id: string | null;
  resource_name: string | null;
  details: string | null;
  ip_address: string | null;
  user_agent: string | null;
  result: string;
  error_message: string | null;
}

interface RowCase {
  name: string;
  row: VectorRow;
  redacted: boolean;
  before_redaction?: { actor_email: string | null; ip_address: string | null; user_agent: string | null; pii_salt: string };
  pii_salt: string | null;
  personal_digest_input: string;
  pii_digest: string;
  prev_checksum: string;
  checksum_version: number;
  checksum_input: string;
  checksum: string;
}

interface Vectors {
  genesis_prev_checksum: string;
  rows: RowCase[];
  chains: { name: string; org_id: string | null; rows: string[]; watermark_seq: string; head_checksum: string; sealed_count: string }[];
  keyring: { key_id: string; public_key_hex: string; public_key_pem: string; valid_from: string; valid_until: string | null }[];
  checkpoints: { name: string; valid: boolean; payload?: string; line?: string; checkpoint: SignedCheckpoint }[];
}

const vectors = JSON.parse(readFileSync(new URL('../test-vectors/v1.json', import.meta.url), 'utf8')) as Vectors;

function content(row: VectorRow): RowContent {
  return {
    id: row.id,
    orgId: row.org_id,
    chainSeq: row.chain_seq,
    occurredAt: row.occurred_at,
    recordedAt: row.recorded_at,
    actorType: row.actor_type,
    actorId: row.actor_id,
    actorEmail: row.actor_email,
    action: row.action,
    resourceType: row.resource_type,
    resourceId: row.resource_id,
    resourceName: row.resource_name,
    details: row.details === null ? null : { json: JSON.parse(row.details) },
    ipAddress: row.ip_address,
    userAgent: row.user_agent,
    result: row.result,
    errorMessage: row.error_message,
  };
}

function stored(vector: RowCase): StoredRow {
  return {
    ...content(vector.row),
    prevChecksum: vector.prev_checksum,
    checksum: vector.checksum,
    checksumVersion: vector.checksum_version,
    piiDigest: vector.pii_digest,
    piiSalt: vector.pii_salt,
    redacted: vector.redacted,
  };
}

describe('test vectors v1', () => {
  it('covers the cases the format promises', () => {
    expect(vectors.genesis_prev_checksum).toBe(GENESIS_PREV_CHECKSUM);
    expect(vectors.rows.length).toBeGreaterThanOrEqual(12);
    expect(vectors.rows.some((v) => v.row.org_id === null)).toBe(true);
    expect(vectors.rows.some((v) => v.redacted)).toBe(true);
    expect(vectors.rows.some((v) => v.row.details === 'null')).toBe(true);
    expect(vectors.rows.some((v) => v.row.details === null)).toBe(true);
  });

  for (const vector of vectors.rows) {
    it(`row ${vector.name}: digest input, digest, checksum input and checksum`, () => {
      const row = content(vector.row);
      const personal = vector.before_redaction
        ? { actorEmail: vector.before_redaction.actor_email, ipAddress: vector.before_redaction.ip_address, userAgent: vector.before_redaction.user_agent }
        : row;
      const salt = vector.before_redaction?.pii_salt ?? vector.pii_salt!;
      expect(personalDigestInput(personal, salt)).toBe(vector.personal_digest_input);
      expect(personalDigest(personal, salt)).toBe(vector.pii_digest);
      expect(checksumInput(row, vector.prev_checksum, vector.pii_digest)).toBe(vector.checksum_input);
      expect(rowChecksum(row, vector.prev_checksum, vector.pii_digest)).toBe(vector.checksum);
    });
  }

  for (const chain of vectors.chains) {
    it(`chain ${chain.name} verifies with no break`, async () => {
      const byName = new Map(vectors.rows.map((v) => [v.name, v]));
      const report = await verifyChain({
        orgId: chain.org_id,
        rows: chain.rows.map((name) => stored(byName.get(name)!)),
        state: { watermarkSeq: chain.watermark_seq, headChecksum: chain.head_checksum, sealedCount: chain.sealed_count },
        checkpoints: vectors.checkpoints.filter((c) => c.valid && c.checkpoint.org_id === chain.org_id).map((c) => c.checkpoint),
      });
      expect(report.breaks).toEqual([]);
      expect(report.counts).toMatchObject({ rows: chain.rows.length, sealed: chain.rows.length, redacted: 1 });
    });
  }

  const keyring: CheckpointPublicKey[] = vectors.keyring.map((key) => ({
    keyId: key.key_id,
    publicKey: new Uint8Array(Buffer.from(key.public_key_hex, 'hex')),
    validFrom: key.valid_from,
    validUntil: key.valid_until,
  }));
  const pemKeyring: CheckpointPublicKey[] = vectors.keyring.map((key) => ({ keyId: key.key_id, publicKey: key.public_key_pem, validFrom: key.valid_from }));

  for (const vector of vectors.checkpoints) {
    it(`checkpoint ${vector.name}: payload, line and signature (${vector.valid ? 'valid' : 'invalid'})`, () => {
      if (vector.payload !== undefined) expect(checkpointPayload(vector.checkpoint)).toBe(vector.payload);
      if (vector.line !== undefined) expect(checkpointLine(vector.checkpoint)).toBe(vector.line);
      expect(verifyCheckpointSignature(vector.checkpoint, keyring).ok).toBe(vector.valid);
      expect(verifyCheckpointSignature(vector.checkpoint, pemKeyring).ok).toBe(vector.valid);
    });
  }
});
