// What verification reports. One vocabulary for the CLI, the SQL function's
// kinds, the scheduled job's stored results and the admin views.

export const BREAK_KINDS = [
  /** The stored checksum (or pii_digest) does not recompute from the row's content and stored prev_checksum. */
  'content_changed',
  /** prev_checksum is not the previous row's checksum: a row was deleted, inserted or moved out here. */
  'link_broken',
  /** A row at or below the watermark has no links. */
  'unsealed_below_watermark',
  /** A row of another chain: stored under another org_id, or whose checksum verifies only under another org_id. */
  'moved_org',
  /** checksum_version is not one this verifier knows; the row's content is not checked. */
  'unknown_version',
  /** The chain does not end where the database's chain state says (watermark, head checksum, sealed count). */
  'head_mismatch',
  /** The chain ends before a signed checkpoint's chain_seq: its tail was deleted. */
  'tail_truncated',
  /** The row at a checkpoint's chain_seq is missing or differs, or the number of rows up to it differs. */
  'checkpoint_mismatch',
  /** A row still present at or below the chain's latest retention cut, whose rows were deleted: put back, or hidden by a forged cut. */
  'row_below_cut',
  /** A checkpoint whose signature does not verify, or which is malformed. */
  'checkpoint_signature_invalid',
  /** A checkpoint signed by a key id not in the keyring, or outside that key's validity window. */
  'checkpoint_key_unknown',
  /** The sealer halted the chain (a broken invariant or evidence of tampering): rows after its watermark are not sealed until an operator acts. */
  'chain_halted',
] as const;

export type BreakKind = (typeof BREAK_KINDS)[number];

export interface ChainBreak {
  kind: BreakKind;
  /** The row's chain_seq, or the checkpoint's for checkpoint breaks; null when unknown. */
  chainSeq: string | null;
  /** The row's id; null when the break is not about one stored row. */
  rowId: string | null;
  /** What the evidence says the value should be (a stored checksum, a checkpoint's value...). */
  expected: string | null;
  /** What was found instead. */
  found: string | null;
  message: string;
}
