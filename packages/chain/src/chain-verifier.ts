// The verification state machine for one chain: fed rows in chain_seq order,
// it keeps O(1) state (plus the chain's checkpoints) and reports every break.
// Every row that carries links is checked; rows above the watermark without
// links are pending and only counted. See docs/chain-format.md, "Verifying a chain".
import type { ChainBreak } from './breaks.ts';
import { GENESIS_PREV_CHECKSUM } from './canonical.ts';
import { assertCheckpointBody, type CheckpointBody } from './checkpoint.ts';
import { checkRowContent, KNOWN_CHECKSUM_VERSIONS, recomputeChecksum, type ContentProblem, type StoredRow } from './row-check.ts';
import { HEX64 } from './row-validation.ts';

/** The chain's row in the database's chain state table, read before the rows. */
export interface ChainStateSnapshot {
  /** '0' when nothing is sealed yet. */
  watermarkSeq: string;
  /** null exactly when watermarkSeq is '0'. */
  headChecksum: string | null;
  /** Compared with the rows counted up to the watermark when given. */
  sealedCount?: string | null;
}

export interface ChainVerifierOptions {
  orgId: string | null;
  state: ChainStateSnapshot;
  /** Checkpoints of this chain whose signatures were already checked (checkCheckpoints). */
  checkpoints?: readonly CheckpointBody[];
  /** Start after this trusted checkpoint: rows at or before its chain_seq are not read. */
  fromCheckpoint?: CheckpointBody | null;
  /** Other chains' org ids (null: the system chain). A row whose checksum fails is tried under each to report moved_org. */
  otherOrgIds?: Iterable<string | null>;
}

export interface VerifyCounts {
  /** Rows read, whichever chain they belong to. */
  rows: number;
  /** Rows of this chain at or below the watermark, or carrying links: checked. */
  sealed: number;
  /** Rows of this chain above the watermark without links: not checked. */
  pending: number;
  /** Sealed rows marked redacted. */
  redacted: number;
  /** Rows found to belong to another chain. */
  moved: number;
}

/** What the verifier reads of a row besides its content: enough to check links, order and checkpoints. */
export type RowLinks = Pick<StoredRow, 'id' | 'orgId' | 'chainSeq' | 'prevChecksum' | 'checksum' | 'checksumVersion' | 'redacted'>;

/**
 * A row with checkRowContent's verdict on it computed elsewhere (a worker
 * thread): `content` undefined means "not computed", and the verifier computes
 * it. A row whose verdict is null (its content holds) may come without its
 * content: the verifier then needs only its links (moved_org is looked for
 * only in a row whose checksum fails).
 */
export type CheckedRow = { row: StoredRow; content?: ContentProblem | null } | { row: RowLinks; content: null };

/** The caller broke the input contract (rows out of order, a checkpoint of another chain...): not a break in the chain. */
export class VerifyInputError extends Error {
  override name = 'VerifyInputError';
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const DECIMAL = /^(0|[1-9]\d*)$/;

function decimal(value: unknown, what: string): bigint {
  if (typeof value !== 'string' || !DECIMAL.test(value)) throw new VerifyInputError(`${what}: got ${JSON.stringify(value)}, want a decimal string`);
  return BigInt(value);
}

function chainName(orgId: string | null): string {
  return orgId === null ? 'the system chain (org_id NULL)' : `org ${orgId}`;
}

function trustedCheckpoint(checkpoint: CheckpointBody, orgId: string | null, what: string): CheckpointBody {
  try {
    assertCheckpointBody(checkpoint, ['signature']);
  } catch (error) {
    throw new VerifyInputError(`${what}: ${(error as Error).message}`);
  }
  if (checkpoint.org_id !== orgId) throw new VerifyInputError(`${what}: got a checkpoint of ${chainName(checkpoint.org_id)}, want ${chainName(orgId)}`);
  return checkpoint;
}

export class ChainVerifier {
  readonly orgId: string | null;
  readonly counts: VerifyCounts = { rows: 0, sealed: 0, pending: 0, redacted: 0, moved: 0 };
  private readonly watermark: bigint;
  private readonly headChecksum: string | null;
  private readonly stateSealedCount: bigint | null;
  private readonly checkpoints: CheckpointBody[];
  private readonly otherOrgIds: (string | null)[];
  private readonly start: CheckpointBody | null;
  private nextCheckpoint = 0;
  /** Expected prev_checksum of the next sealed row; null when unknowable (after a row without links). */
  private prev: string | null;
  private prevSeq: string | null;
  private lastReadSeq: bigint;
  private lastChainSeq: string | null;
  /** Rows of this chain up to the current one, counted from genesis (a starting checkpoint gives the offset). */
  private position: bigint;
  private head: { seq: bigint; checksum: string | null } | null;
  private positionAtHead: bigint;
  private linkedAboveReported = false;
  private finished = false;

  constructor(options: ChainVerifierOptions) {
    const { orgId, state } = options;
    if (orgId !== null && (typeof orgId !== 'string' || !UUID.test(orgId))) throw new VerifyInputError(`orgId: got ${JSON.stringify(orgId)}, want a lowercase UUID or null`);
    this.orgId = orgId;
    this.watermark = decimal(state.watermarkSeq, 'state.watermarkSeq');
    if ((this.watermark === 0n) !== (state.headChecksum === null) || (state.headChecksum !== null && !HEX64.test(state.headChecksum))) {
      throw new VerifyInputError(`state: got watermark ${state.watermarkSeq} with head ${JSON.stringify(state.headChecksum)}, want a 64-hex head exactly when the watermark is above 0`);
    }
    this.headChecksum = state.headChecksum;
    this.stateSealedCount = state.sealedCount == null ? null : decimal(state.sealedCount, 'state.sealedCount');
    this.checkpoints = (options.checkpoints ?? [])
      .map((checkpoint, i) => trustedCheckpoint(checkpoint, orgId, `checkpoints[${i}]`))
      .sort((a, b) => (BigInt(a.chain_seq) < BigInt(b.chain_seq) ? -1 : BigInt(a.chain_seq) > BigInt(b.chain_seq) ? 1 : 0));
    this.otherOrgIds = [...new Set(options.otherOrgIds ?? [])].filter((id) => id !== orgId);
    for (const id of this.otherOrgIds) {
      if (id !== null && (typeof id !== 'string' || !UUID.test(id))) throw new VerifyInputError(`otherOrgIds: got ${JSON.stringify(id)}, want lowercase UUIDs or null`);
    }
    this.start = options.fromCheckpoint ? trustedCheckpoint(options.fromCheckpoint, orgId, 'fromCheckpoint') : null;
    const startSeq = this.start ? BigInt(this.start.chain_seq) : 0n;
    // Checkpoints at or before the start describe rows that are not read.
    while (this.nextCheckpoint < this.checkpoints.length && BigInt(this.checkpoints[this.nextCheckpoint]!.chain_seq) <= startSeq) this.nextCheckpoint += 1;
    this.prev = this.start ? this.start.checksum : GENESIS_PREV_CHECKSUM;
    this.prevSeq = this.start ? this.start.chain_seq : null;
    this.lastReadSeq = startSeq;
    this.lastChainSeq = this.start ? this.start.chain_seq : null;
    this.position = this.start ? BigInt(this.start.sealed_count) : 0n;
    this.head = this.start ? { seq: startSeq, checksum: this.start.checksum } : null;
    this.positionAtHead = this.position;
  }

  /**
   * Checks the next row (strictly increasing chain_seq) and returns its breaks.
   * `content`: checkRowContent(row) computed beforehand (see CheckedRow); the
   * breaks are the same as without it.
   */
  check(row: StoredRow, content?: ContentProblem | null): ChainBreak[];
  check(row: RowLinks, content: null): ChainBreak[];
  check(row: StoredRow, content?: ContentProblem | null): ChainBreak[] {
    if (this.finished) throw new VerifyInputError('check after finish: want every row before finish()');
    const seq = decimal(row.chainSeq, 'row.chainSeq');
    if (seq <= this.lastReadSeq) {
      throw new VerifyInputError(
        this.start && this.lastReadSeq === BigInt(this.start.chain_seq)
          ? `row chain_seq ${seq}: got a row at or before the starting checkpoint (chain_seq ${this.start.chain_seq}), want only rows after it`
          : `rows out of order: got chain_seq ${seq} after ${this.lastReadSeq}, want strictly increasing`,
      );
    }
    this.lastReadSeq = seq;
    this.counts.rows += 1;
    const breaks: ChainBreak[] = [];
    if (row.orgId !== this.orgId) {
      this.counts.moved += 1;
      breaks.push(this.breakAt(row, 'moved_org', this.orgId, row.orgId, `the row belongs to ${chainName(row.orgId)}, not to ${chainName(this.orgId)} being verified`));
      return breaks;
    }
    if (seq > this.watermark) {
      if (row.checksum === null) {
        this.counts.pending += 1;
        this.advance(row, seq, false, breaks);
        return breaks;
      }
      // Sealing moves links and watermark in one transaction, so a linked row above
      // the watermark means the watermark went back (or the state row is gone): the
      // row is checked all the same, whatever the state says.
      if (!this.linkedAboveReported) {
        this.linkedAboveReported = true;
        breaks.push(this.breakAt(row, 'head_mismatch', String(this.watermark), row.chainSeq,
          `the row at chain_seq ${row.chainSeq}, above the chain state's watermark ${this.watermark}, carries links: the watermark went back or the chain state was deleted`));
      }
    } else if (row.checksum === null) {
      breaks.push(this.breakAt(row, 'unsealed_below_watermark', 'prev_checksum and checksum', null, `the row is at or below the watermark ${this.watermark} but has no links`));
      this.prev = null;
      this.prevSeq = row.chainSeq;
      this.advance(row, seq, true, breaks);
      return breaks;
    }
    let contentBreak: ChainBreak | null = null;
    if (row.checksumVersion === null || !KNOWN_CHECKSUM_VERSIONS.includes(row.checksumVersion)) {
      const known = KNOWN_CHECKSUM_VERSIONS.join(' or ');
      contentBreak = this.breakAt(row, 'unknown_version', known, String(row.checksumVersion), `checksum_version ${row.checksumVersion} is not one this verifier knows (${known}): the row's content is not checked, only its link`);
    } else {
      const problem = content === undefined ? checkRowContent(row) : content;
      // A row moved in from another chain also breaks this chain's link (unless it
      // was that chain's first row); a row whose content changed in place usually
      // keeps its link. Trying other org ids only then keeps a heavily edited
      // chain from costing (rows x chains) hashes.
      const linkHolds = this.prev === null || row.prevChecksum === this.prev;
      if (problem?.part === 'checksum' && (!linkHolds || row.prevChecksum === GENESIS_PREV_CHECKSUM)) {
        const origin = this.originOf(row);
        if (origin !== undefined) {
          this.counts.moved += 1;
          breaks.push(this.breakAt(row, 'moved_org', origin, row.orgId, `the checksum verifies under ${chainName(origin)}: the row was moved from there to ${chainName(row.orgId)}`));
          return breaks;
        }
      }
      if (problem) contentBreak = this.breakAt(row, 'content_changed', problem.expected, problem.found, problem.message);
    }
    if (this.prev !== null && row.prevChecksum !== this.prev) {
      breaks.push(this.breakAt(row, 'link_broken', this.prev, row.prevChecksum, this.linkMessage()));
    }
    if (contentBreak) breaks.push(contentBreak);
    this.prev = row.checksum;
    this.prevSeq = row.chainSeq;
    this.advance(row, seq, true, breaks);
    return breaks;
  }

  /** Call once after the last row: head and checkpoint checks that need the end of the chain. */
  finish(): ChainBreak[] {
    if (this.finished) throw new VerifyInputError('finish called twice');
    this.finished = true;
    const breaks: ChainBreak[] = [];
    // Every checkpoint at or before the last row of the chain was compared or found missing by advance().
    const beyond = this.checkpoints.slice(this.nextCheckpoint);
    this.nextCheckpoint = this.checkpoints.length;
    const last = beyond.at(-1);
    if (last) {
      breaks.push({
        kind: 'tail_truncated',
        chainSeq: last.chain_seq,
        rowId: null,
        expected: last.chain_seq,
        found: this.lastChainSeq,
        message: `the chain ends at chain_seq ${this.lastChainSeq ?? '(no rows)'}, but ${beyond.length} signed checkpoint(s), up to chain_seq ${last.chain_seq} with sealed_count ${last.sealed_count}, cover rows beyond it: the tail was deleted`,
      });
    }
    breaks.push(...this.headBreaks());
    return breaks;
  }

  /** The last sealed row seen: its chain_seq and checksum (null when it had none). */
  get lastSealed(): { chainSeq: string; checksum: string | null } | null {
    return this.head && { chainSeq: String(this.head.seq), checksum: this.head.checksum };
  }

  get lastSeq(): string | null {
    return this.lastChainSeq;
  }

  private headBreaks(): ChainBreak[] {
    const breaks: ChainBreak[] = [];
    const state = (expected: string | null, found: string | null, message: string): ChainBreak => ({
      kind: 'head_mismatch',
      chainSeq: String(this.watermark),
      rowId: null,
      expected,
      found,
      message,
    });
    // The latest trusted checkpoint (the starting one included) bounds the state from below.
    const last = this.checkpoints.at(-1);
    const latest = last && this.start ? (BigInt(last.chain_seq) >= BigInt(this.start.chain_seq) ? last : this.start) : (last ?? this.start);
    if (latest && BigInt(latest.chain_seq) > this.watermark) {
      breaks.push(state(latest.chain_seq, String(this.watermark), `the chain state's watermark ${this.watermark} is below the trusted checkpoint's chain_seq ${latest.chain_seq} (signed ${latest.signed_at} by ${latest.key_id}): the watermark went back`));
    } else if (latest && this.stateSealedCount !== null && this.stateSealedCount < BigInt(latest.sealed_count)) {
      breaks.push(state(latest.sealed_count, String(this.stateSealedCount), `the chain state counts ${this.stateSealedCount} sealed rows, fewer than the ${latest.sealed_count} of the trusted checkpoint at chain_seq ${latest.chain_seq}: the chain state went back`));
    } else if (this.watermark > 0n) {
      if (this.head === null) {
        breaks.push(state(String(this.watermark), null, `no row of the chain at or below the watermark ${this.watermark}, but the chain state's head is ${this.headChecksum}: the rows were deleted`));
      } else if (this.head.seq !== this.watermark) {
        breaks.push(state(String(this.watermark), String(this.head.seq), `the last row at or below the watermark is chain_seq ${this.head.seq}, but the chain state's watermark is ${this.watermark}: the row at the watermark is missing (deleted tail?)`));
      } else if (this.head.checksum !== this.headChecksum) {
        breaks.push(state(this.headChecksum, this.head.checksum, `the row at the watermark (chain_seq ${this.watermark}) has checksum ${this.head.checksum}, but the chain state's head is ${this.headChecksum}`));
      }
    }
    if (this.stateSealedCount !== null && this.positionAtHead !== this.stateSealedCount) {
      breaks.push(state(String(this.stateSealedCount), String(this.positionAtHead), `${this.positionAtHead} rows of the chain up to the watermark, but the chain state counts ${this.stateSealedCount} sealed: rows were deleted or inserted`));
    }
    return breaks;
  }

  /** Moves past a row of this chain (sealed or pending). */
  private advance(row: StoredRow, seq: bigint, sealed: boolean, breaks: ChainBreak[]): void {
    this.passCheckpointsBefore(seq, row.chainSeq, breaks);
    this.position += 1n;
    this.lastChainSeq = row.chainSeq;
    if (sealed) {
      this.counts.sealed += 1;
      if (row.redacted) this.counts.redacted += 1;
      if (seq <= this.watermark) {
        this.head = { seq, checksum: row.checksum };
        this.positionAtHead = this.position;
      }
    }
    this.compareCheckpoints(row, seq, breaks);
  }

  private compareCheckpoints(row: StoredRow, seq: bigint, breaks: ChainBreak[]): void {
    for (let checkpoint = this.checkpoints[this.nextCheckpoint]; checkpoint && BigInt(checkpoint.chain_seq) === seq; checkpoint = this.checkpoints[this.nextCheckpoint]) {
      this.nextCheckpoint += 1;
      const count = BigInt(checkpoint.sealed_count);
      if (row.checksum !== checkpoint.checksum) {
        breaks.push(this.breakAt(row, 'checkpoint_mismatch', checkpoint.checksum, row.checksum,
          `the row at checkpoint chain_seq ${checkpoint.chain_seq} (signed ${checkpoint.signed_at} by ${checkpoint.key_id}) has ${row.checksum === null ? 'no checksum' : 'a different checksum'}: history was rewritten${count === this.position ? '' : `; also ${this.position} rows up to it, the checkpoint signed ${count}`}`));
      } else if (count !== this.position) {
        breaks.push(this.breakAt(row, 'checkpoint_mismatch', checkpoint.sealed_count, String(this.position),
          `${this.position} rows of the chain up to checkpoint chain_seq ${checkpoint.chain_seq}, the checkpoint signed ${checkpoint.sealed_count}: rows were deleted or inserted before it`));
      }
    }
  }

  private passCheckpointsBefore(seq: bigint, seqText: string, breaks: ChainBreak[]): void {
    for (let checkpoint = this.checkpoints[this.nextCheckpoint]; checkpoint && BigInt(checkpoint.chain_seq) < seq; checkpoint = this.checkpoints[this.nextCheckpoint]) {
      this.nextCheckpoint += 1;
      breaks.push(this.missingCheckpointRow(checkpoint, seqText));
    }
  }

  private missingCheckpointRow(checkpoint: CheckpointBody, nextSeq: string): ChainBreak {
    return {
      kind: 'checkpoint_mismatch',
      chainSeq: checkpoint.chain_seq,
      rowId: null,
      expected: checkpoint.checksum,
      found: null,
      message: `no row of the chain at checkpoint chain_seq ${checkpoint.chain_seq} (the chain's next row is chain_seq ${nextSeq}): the checkpointed row was deleted or moved`,
    };
  }

  private originOf(row: StoredRow): string | null | undefined {
    for (const candidate of this.otherOrgIds) {
      if (recomputeChecksum(row, candidate) === row.checksum) return candidate;
    }
    return undefined;
  }

  private linkMessage(): string {
    if (this.prevSeq === null) return `the chain's first row must link to the genesis value (64 zeros): rows before it were deleted, or it was inserted`;
    if (this.start && this.prevSeq === this.start.chain_seq) {
      return `the first row after the starting checkpoint must link to its checksum (chain_seq ${this.start.chain_seq}): a row was deleted or inserted after it`;
    }
    return `prev_checksum is not the checksum of the previous row (chain_seq ${this.prevSeq}): a row was deleted, inserted or moved out between them`;
  }

  private breakAt(row: StoredRow, kind: ChainBreak['kind'], expected: string | null, found: string | null, message: string): ChainBreak {
    return { kind, chainSeq: row.chainSeq, rowId: typeof row.id === 'string' ? row.id : null, expected, found, message };
  }
}
