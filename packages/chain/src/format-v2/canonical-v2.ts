// Format v2, part 2: the bytes hashed for a row, from its columns' canonical texts
// (column-encoding.ts). Table-generic: the covered columns, their types and which
// of them are personal are the caller's; their names and types are hashed too,
// so a schema change is visible. Specified in docs/chain-format.md ("Format v2");
// test vectors in test-vectors/v2.json.
import { createHash } from 'node:crypto';
import { assertChainSeq, assertHex64, assertSalt, CanonicalFormError } from '../row-validation.ts';
import type { CoveredColumn } from './column-encoding.ts';
import { encodingOf } from './column-encoding.ts';

export const FORMAT_V2 = 2;

/** One row as read for format v2. */
export interface RowV2 {
  /** The chain key's canonical text (e.g. the org id), or null for a table-wide chain / the NULL chain. */
  chainKey: string | null;
  /** Decimal digits, no sign, no leading zeros. */
  chainSeq: string;
  /** Canonical text of every covered column (personal ones included), in the layout's column order; null for SQL NULL. */
  values: readonly (string | null)[];
}

export interface LinkInputV2 {
  prevChecksum: string;
  /** pii_digest: the salted digest of the personal columns (personalDigest), or the stored one for a redacted row. */
  piiDigest: string;
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** RFC 8785 of a JSON string (the RFC's rule equals JSON.stringify's for well-formed strings). */
function jsonString(value: string, what: string): string {
  if (typeof value !== 'string') throw new CanonicalFormError(`${what}: got ${typeof value}, want a string`);
  if (!value.isWellFormed()) throw new CanonicalFormError(`${what}: got a string with a lone surrogate, want well-formed Unicode`);
  return JSON.stringify(value);
}

function textOrNull(value: string | null, what: string): string {
  return value === null ? 'null' : jsonString(value, what);
}

/** UTF-16 code-unit order, as RFC 8785 sorts member names. */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

interface Slot {
  /** Index into RowV2.values. */
  index: number;
  /** `"name":["type",` — the fixed prefix of the member. */
  prefix: string;
  name: string;
}

/**
 * The compiled form of a covered column list: validates it once, keeps the RFC 8785
 * member order precomputed, and produces the canonical texts and digests of rows.
 */
export class FormatV2Layout {
  readonly columns: readonly CoveredColumn[];
  private readonly content: Slot[];
  private readonly personal: Slot[];
  /** `{"name":"type",...}` of the personal columns (RFC 8785), part of checksum_input. */
  private readonly personalColumnsText: string;

  constructor(columns: readonly CoveredColumn[]) {
    if (columns.length === 0) throw new CanonicalFormError('format v2: no covered columns');
    const seen = new Set<string>();
    for (const column of columns) {
      jsonString(column.name, 'column name');
      jsonString(column.type, `type of column ${JSON.stringify(column.name)}`);
      if (column.name === '') throw new CanonicalFormError('format v2: empty column name');
      if (column.type === '') throw new CanonicalFormError(`format v2: column ${JSON.stringify(column.name)} has an empty type`);
      if (seen.has(column.name)) throw new CanonicalFormError(`format v2: column ${JSON.stringify(column.name)} listed twice`);
      seen.add(column.name);
      encodingOf(column.base ?? column.type);
    }
    this.columns = columns.map((column) => ({ ...column }));
    const slots = columns.map((column, index) => ({
      index,
      name: column.name,
      personal: column.personal,
      prefix: `${JSON.stringify(column.name)}:[${JSON.stringify(column.type)},`,
    }));
    slots.sort((a, b) => byCodeUnits(a.name, b.name));
    this.content = slots.filter((slot) => !slot.personal);
    this.personal = slots.filter((slot) => slot.personal);
    this.personalColumnsText = `{${this.personal.map((slot) => `${JSON.stringify(slot.name)}:${JSON.stringify(columns[slot.index]!.type)}`).join(',')}}`;
  }

  private members(slots: readonly Slot[], values: readonly (string | null)[]): string {
    if (values.length !== this.columns.length) {
      throw new CanonicalFormError(`format v2: got ${values.length} values, want ${this.columns.length} (one per covered column)`);
    }
    let text = '{';
    for (let i = 0; i < slots.length; i += 1) {
      const slot = slots[i]!;
      const value = values[slot.index];
      if (value === undefined) throw new CanonicalFormError(`column ${JSON.stringify(slot.name)}: no value, want its text or null`);
      text += `${i === 0 ? '' : ','}${slot.prefix}${textOrNull(value, `column ${JSON.stringify(slot.name)}`)}]`;
    }
    return `${text}}`;
  }

  /** The exact text whose SHA-256 is pii_digest: `{"columns":{...personal...},"salt":"…","v":2}`. */
  personalDigestInput(values: readonly (string | null)[], salt: string): string {
    assertSalt(salt);
    return `{"columns":${this.members(this.personal, values)},"salt":"${salt}","v":${FORMAT_V2}}`;
  }

  personalDigest(values: readonly (string | null)[], salt: string): string {
    return sha256Hex(this.personalDigestInput(values, salt));
  }

  /**
   * The exact text whose SHA-256 is the row's checksum:
   * `{"chain_key":…,"chain_seq":"…","columns":{…},"personal_columns":{…},"pii_digest":"…","prev_checksum":"…","v":2}`.
   * Personal values are not in it (only their digest), so they can be erased.
   */
  checksumInput(row: RowV2, link: LinkInputV2): string {
    assertChainSeq('chain_seq', row.chainSeq);
    assertHex64('prev_checksum', link.prevChecksum);
    assertHex64('pii_digest', link.piiDigest);
    return (
      `{"chain_key":${textOrNull(row.chainKey, 'chain_key')},"chain_seq":"${row.chainSeq}","columns":${this.members(this.content, row.values)},` +
      `"personal_columns":${this.personalColumnsText},"pii_digest":"${link.piiDigest}","prev_checksum":"${link.prevChecksum}","v":${FORMAT_V2}}`
    );
  }

  checksum(row: RowV2, link: LinkInputV2): string {
    return sha256Hex(this.checksumInput(row, link));
  }

  /** pii_digest (fresh salt) and checksum of a row being sealed after `prevChecksum`. */
  seal(row: RowV2, prevChecksum: string, salt: string): { piiDigest: string; checksum: string } {
    const piiDigest = this.personalDigest(row.values, salt);
    return { piiDigest, checksum: this.checksum(row, { prevChecksum, piiDigest }) };
  }

  /** Indexes (into values) of the personal columns, in the columns' order (computed once: a verifier asks per row). */
  personalIndexes(): readonly number[] {
    this.personalIndexList ??= this.columns.flatMap((column, index) => (column.personal ? [index] : []));
    return this.personalIndexList;
  }

  private personalIndexList: readonly number[] | undefined;
}

export function formatV2Layout(columns: readonly CoveredColumn[]): FormatV2Layout {
  return new FormatV2Layout(columns);
}


