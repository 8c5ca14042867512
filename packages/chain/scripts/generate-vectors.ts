// Generates test-vectors/v1.json from hand-picked rows, with this package.
// Run once when the vectors change: node packages/chain/scripts/generate-vectors.ts
// The committed file is then checked both by the package's tests and by the
// independent reference implementation (reference/verify_vectors.py), so a bug
// shared by this script and the package is still caught.
//
// The row inputs are what the storage layer reads from PostgreSQL: timestamps as
// to_char(... at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), details as
// details::text (PostgreSQL's jsonb output), ip_address as inet text output.
// Every details and ip_address text below was produced by PostgreSQL 15 except
// where a case says otherwise.
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  checkpointLine,
  checkpointPayload,
  signTableCheckpoint,
  checksumInput,
  CHECKSUM_VERSION,
  ed25519Signer,
  GENESIS_PREV_CHECKSUM,
  personalDigest,
  personalDigestInput,
  rowChecksum,
  signCheckpoint,
  type CheckpointBody,
  type TableCheckpointBody,
  type RowContent,
} from '../src/index.ts';

interface RowInput {
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
  /** details::text, or null for SQL NULL. */
  details: string | null;
  ip_address: string | null;
  user_agent: string | null;
  result: string;
  error_message: string | null;
}

interface CaseSpec {
  name: string;
  description: string;
  row: RowInput;
  /** Erase the personal fields and the salt after sealing. */
  redact?: boolean;
  /** Link to the checksum of this earlier case instead of the genesis value. */
  after?: string;
}

const ORG_A = '7d9f1c2e-4b6a-4c8d-9e0f-1a2b3c4d5e6f';
const ORG_B = 'c0ffee00-1234-4abc-8def-00000000beef';
const id = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

const base: RowInput = {
  id: id(1),
  org_id: ORG_A,
  chain_seq: '1',
  occurred_at: '2026-11-23T01:02:03.456789Z',
  recorded_at: '2026-11-23T01:02:03.500000Z',
  actor_type: 'user',
  actor_id: 'u-42',
  actor_email: 'alice@example.com',
  action: 'user.login',
  resource_type: 'session',
  resource_id: 's-1',
  resource_name: 'Web session',
  details: '{"mfa": true, "method": "password"}',
  ip_address: '192.0.2.10',
  user_agent: 'Mozilla/5.0 (X11; Linux x86_64)',
  result: 'success',
  error_message: null,
};

const allNull = {
  actor_id: null,
  actor_email: null,
  resource_type: null,
  resource_id: null,
  resource_name: null,
  details: null,
  ip_address: null,
  user_agent: null,
  error_message: null,
};

const cases: CaseSpec[] = [
  { name: 'basic-org-row', description: 'An organization row with every column set; the first row of its chain.', row: base },
  {
    name: 'system-chain',
    description: 'The system chain: org_id is SQL NULL (JSON null in the canonical form). details is SQL NULL.',
    row: { ...base, ...allNull, id: id(2), org_id: null, chain_seq: '2', actor_type: 'system', action: 'retention.run' },
  },
  {
    name: 'empty-strings',
    description: 'Every nullable text column is the empty string, and details is the JSON value null (not SQL NULL). Compare with all-null.',
    row: {
      ...base,
      id: id(3),
      chain_seq: '3',
      actor_id: '',
      actor_email: '',
      resource_type: '',
      resource_id: '',
      resource_name: '',
      details: 'null',
      ip_address: null,
      user_agent: '',
      result: 'failure',
      error_message: '',
    },
  },
  {
    name: 'all-null',
    description: 'The same row with every nullable column SQL NULL, details included: every value differs from empty-strings.',
    row: { ...base, ...allNull, id: id(4), chain_seq: '4', result: 'failure' },
  },
  {
    name: 'unicode-strings',
    description:
      'Non-ASCII text: astral characters (U+1D518...), a combining mark (e + U+0301) next to precomposed U+00E9, right-to-left text, quotes, backslash, TAB, BEL (U+0007), U+001F, DEL (U+007F) and U+2028. Strings are hashed as UTF-8 with RFC 8785 escaping and no Unicode normalisation.',
    row: {
      ...base,
      id: id(5),
      chain_seq: '5',
      actor_id: '\u{1D518}\u{1D52B}\u{1D526}\u{1D520}\u{1D52C}\u{1D521}\u{1D522}',
      actor_email: 'zoë@exämple.com',
      resource_name: 'Café ☕ 😀 e\u0301 \u00e9 עברית',
      user_agent: 'Agent/1.0 "quoted" back\\slash\ttab \u0007bell \u001f unit \u007f del \u2028 ls',
      error_message: 'line 1\nline 2\r\n',
      result: 'failure',
    },
  },
  {
    name: 'details-key-order',
    description:
      'Object keys sorted by UTF-16 code units (RFC 8785), not by code points and not as jsonb stores them (by length, then bytes): U+1F600 (surrogates D83D DE00) sorts before U+FF61. Nested objects are sorted at every level; arrays keep their order.',
    row: {
      ...base,
      id: id(6),
      chain_seq: '6',
      details: String.raw`{"": null, "A": [1, {"x": 2, "y": 1}], "Z": "upper", "z": {"a": {}, "b": [], "aa": "x"}, "\u0007a": " \t\"\\/${'\u2028'}", "é": 1, "e${'\u0301'}": 2, "｡": 4, "😀": 3}`,
    },
  },
  {
    name: 'details-numbers',
    description:
      'jsonb numbers are read as IEEE-754 doubles and written as ECMAScript shortest round-trip form: 1.0 -> 1, 1.50 -> 1.5, 1e21 -> 1e+21, 1e20 stays an integer, 0.000001 -> 0.000001, 0.0000001 -> 1e-7, and integers beyond 2^53 are hashed in their double-rounded form (12345678901234567890 -> 12345678901234567000, 9007199254740993 -> 9007199254740992).',
    row: {
      ...base,
      id: id(7),
      chain_seq: '7',
      details:
        '{"arr": [0, 0.0, 100, 100, 1.50], "big": 12345678901234567890, "e20": 100000000000000000000, "e21": 1000000000000000000000, "e_7": 0.0000001, "neg": -0.00000000015, "one": 1.0, "p53": 9007199254740993, "neg0": 0, "micro": 0.000001, "tenth": 0.1, "third": 0.333333333333333333333333, "float20": 123456789012345680000}',
    },
  },
  {
    name: 'details-array-scalars',
    description:
      'details is a top-level array (wrapped as [[...]] in the canonical form). Written by hand, not by PostgreSQL (which prints -0 as 0): -0 must be written as 0.',
    row: { ...base, id: id(8), chain_seq: '8', details: '[-0, 1.0, "x", true, false, null, {}, []]' },
  },
  {
    name: 'details-string',
    description: 'details is a top-level JSON string.',
    row: { ...base, id: id(9), chain_seq: '9', details: '"just text"' },
  },
  {
    name: 'ipv6',
    description: 'IPv6 as PostgreSQL prints 2001:DB8:0:0:1:0:0:1 (lowercase, first longest zero run compressed). Hashed as that text, not re-normalised.',
    row: { ...base, id: id(10), chain_seq: '10', ip_address: '2001:db8::1:0:0:1' },
  },
  {
    name: 'ipv4-mapped-ipv6',
    description: 'An IPv4-mapped IPv6 address as PostgreSQL prints it.',
    row: { ...base, id: id(11), chain_seq: '11', ip_address: '::ffff:192.0.2.1' },
  },
  {
    name: 'network-with-mask',
    description: 'An inet value with a netmask: PostgreSQL prints the mask unless it is /32 (IPv4) or /128 (IPv6).',
    row: { ...base, id: id(12), chain_seq: '12', ip_address: '192.0.2.0/24' },
  },
  {
    name: 'ipv6-network',
    description: 'An IPv6 network with its mask.',
    row: { ...base, id: id(13), chain_seq: '13', ip_address: '2001:db8::/32' },
  },
  {
    name: 'timestamp-range',
    description: 'Timestamps at the ends of the range v1 accepts (years 0001-9999, microseconds) and the largest chain_seq.',
    row: { ...base, id: id(14), chain_seq: '9223372036854775807', occurred_at: '0001-01-01T00:00:00.000000Z', recorded_at: '9999-12-31T23:59:59.999999Z' },
  },
  {
    name: 'chain-1',
    description: 'First row of a three-row chain (org B), linked to the genesis value. chain_seq values have gaps, as in production.',
    row: { ...base, id: id(101), org_id: ORG_B, chain_seq: '101', action: 'project.create', resource_type: 'project', resource_id: 'p-1', resource_name: 'Apollo', details: '{"plan": "pro"}' },
  },
  {
    name: 'chain-2-redacted',
    description:
      'Second row of the chain, after redaction: actor_email, ip_address, user_agent and pii_salt were erased; pii_digest is the digest computed at sealing time (see before_redaction) and the checksum still verifies with it.',
    row: { ...base, id: id(205), org_id: ORG_B, chain_seq: '205', actor_id: 'u-7', actor_email: 'bob@example.com', ip_address: '198.51.100.7', user_agent: 'curl/8.5.0', action: 'project.update', resource_type: 'project', resource_id: 'p-1', resource_name: 'Apollo', details: '{"changes": {"name": ["apollo", "Apollo"]}}' },
    redact: true,
    after: 'chain-1',
  },
  {
    name: 'chain-3',
    description: 'Third row of the chain: prev_checksum is the checksum of chain-2-redacted.',
    row: { ...base, id: id(206), org_id: ORG_B, chain_seq: '206', actor_type: 'api_key', actor_id: 'k-9', actor_email: null, action: 'project.delete', resource_type: 'project', resource_id: 'p-1', resource_name: 'Apollo', details: null, ip_address: '2001:db8::7', user_agent: 'sdk/2.1', result: 'denied', error_message: 'missing scope project:delete' },
    after: 'chain-2-redacted',
  },
];

function toContent(row: RowInput): RowContent {
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

/** Deterministic salts so the file is reproducible; real salts are random. */
function saltFor(name: string): string {
  return createHash('sha256').update(`audit-chain test vector salt ${name}`).digest('hex').slice(0, 32);
}

function buildRowCases(): Record<string, unknown>[] {
  const checksums = new Map<string, string>();
  return cases.map((spec) => {
    const content = toContent(spec.row);
    const salt = saltFor(spec.name);
    const digestInput = personalDigestInput(content, salt);
    const digest = personalDigest(content, salt);
    const prev = spec.after === undefined ? GENESIS_PREV_CHECKSUM : checksums.get(spec.after)!;
    const input = checksumInput(content, prev, digest);
    const checksum = rowChecksum(content, prev, digest);
    checksums.set(spec.name, checksum);
    const stored = spec.redact ? { ...spec.row, actor_email: null, ip_address: null, user_agent: null } : spec.row;
    return {
      name: spec.name,
      description: spec.description,
      row: stored,
      redacted: spec.redact === true,
      ...(spec.redact
        ? { before_redaction: { actor_email: spec.row.actor_email, ip_address: spec.row.ip_address, user_agent: spec.row.user_agent, pii_salt: salt } }
        : {}),
      pii_salt: spec.redact ? null : salt,
      personal_digest_input: digestInput,
      pii_digest: digest,
      prev_checksum: prev,
      checksum_version: CHECKSUM_VERSION,
      checksum_input: input,
      checksum,
    };
  });
}

// RFC 8032 section 7.1, TEST 1: a published test key, never used outside vectors.
const TEST_SEED_HEX = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const TEST_KEY_ID = 'rfc8032-test-1';

async function buildCheckpointCases(rows: Record<string, unknown>[]): Promise<Record<string, unknown>> {
  const privateKey = createPrivateKey({ key: Buffer.from(`302e020100300506032b657004220420${TEST_SEED_HEX}`, 'hex'), format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  const publicRaw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
  const signer = ed25519Signer(TEST_KEY_ID, privateKey);
  const byName = new Map(rows.map((row) => [row.name as string, row]));
  const drafts: { name: string; description: string; body: Omit<CheckpointBody, 'v' | 'key_id'> }[] = [
    {
      name: 'org-chain-head',
      description: 'The head of the three-row chain of org B: chain_seq of chain-3, three sealed rows, signed_at with milliseconds.',
      body: { org_id: ORG_B, chain_seq: '206', sealed_count: '3', checksum: byName.get('chain-3')!.checksum as string, signed_at: '2026-11-23T02:00:00.000Z' },
    },
    {
      name: 'system-chain-head',
      description: 'A checkpoint of the system chain (org_id null) with a microsecond signed_at.',
      body: { org_id: null, chain_seq: '2', sealed_count: '1', checksum: byName.get('system-chain')!.checksum as string, signed_at: '2026-11-23T02:00:00.123456Z' },
    },
  ];
  const checkpoints: Record<string, unknown>[] = [];
  for (const draft of drafts) {
    const signed = await signCheckpoint(draft.body, signer);
    checkpoints.push({ name: draft.name, description: draft.description, valid: true, payload: checkpointPayload(signed), line: checkpointLine(signed), checkpoint: signed });
  }
  const genuine = checkpoints[0]!.checkpoint as Record<string, unknown>;
  const tampered = { ...genuine, sealed_count: '4' };
  checkpoints.push({
    name: 'tampered-sealed-count',
    description: 'org-chain-head with sealed_count edited after signing: the signature must not verify.',
    valid: false,
    checkpoint: tampered,
  });
  // Version 2: chains of attached tables, named by schema, table and chain key.
  const tableDrafts: { name: string; description: string; body: Omit<TableCheckpointBody, 'v' | 'key_id'> }[] = [
    {
      name: 'table-chain-head',
      description: 'Version 2: the head of the chain "acme-Zürich" of the attached table "billing.ops"."audit log" (a dot and a space in the names, non-ASCII in the key), chain_seq from the identity sequence.',
      body: { schema: 'billing.ops', table: 'audit log', chain_key: 'acme-Zürich', chain_seq: '1000000000042', sealed_count: '17', checksum: byName.get('chain-3')!.checksum as string, signed_at: '2026-11-23T02:00:00.000Z' },
    },
    {
      name: 'table-chain-no-key',
      description: 'Version 2: a table without a chain key (one chain, chain_key null).',
      body: { schema: 'public', table: 'AuditLog', chain_key: null, chain_seq: '9', sealed_count: '9', checksum: byName.get('system-chain')!.checksum as string, signed_at: '2026-11-23T02:00:00.123456Z' },
    },
  ];
  for (const draft of tableDrafts) {
    const signed = await signTableCheckpoint(draft.body, signer);
    checkpoints.push({ name: draft.name, description: draft.description, valid: true, payload: checkpointPayload(signed), line: checkpointLine(signed), checkpoint: signed });
  }
  const tableHead = checkpoints.find((entry) => entry.name === 'table-chain-head')!.checkpoint as Record<string, unknown>;
  checkpoints.push({
    name: 'tampered-table-name',
    description: 'table-chain-head moved to "billing"."ops.audit log" (same dotted text, another table): the signature must not verify.',
    valid: false,
    checkpoint: { ...tableHead, schema: 'billing', table: 'ops.audit log' },
  });
  return {
    keyring: [
      {
        key_id: TEST_KEY_ID,
        public_key_hex: publicRaw.toString('hex'),
        public_key_pem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
        valid_from: '2026-01-01T00:00:00.000Z',
        valid_until: null,
      },
    ],
    checkpoints,
  };
}

export async function buildVectors(): Promise<Record<string, unknown>> {
  const rows = buildRowCases();
  const byName = new Map(rows.map((row) => [row.name as string, row]));
  const chainRows = ['chain-1', 'chain-2-redacted', 'chain-3'];
  return {
    format: 'audit-chain checksum and checkpoint test vectors, version 1 (docs/chain-format.md)',
    hash: 'sha256, lowercase hex',
    genesis_prev_checksum: GENESIS_PREV_CHECKSUM,
    rows,
    chains: [
      {
        name: 'three rows from genesis',
        org_id: ORG_B,
        rows: chainRows,
        watermark_seq: '206',
        head_checksum: byName.get('chain-3')!.checksum,
        sealed_count: '3',
      },
    ],
    ...(await buildCheckpointCases(rows)),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const target = fileURLToPath(new URL('../test-vectors/v1.json', import.meta.url));
  writeFileSync(target, JSON.stringify(await buildVectors(), null, 2) + '\n');
  console.log(`wrote ${target}`);
}
