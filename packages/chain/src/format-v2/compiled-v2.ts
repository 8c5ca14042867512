// Format v2, the sealer's fast path: the canonical encoding of one known column
// list compiled once into a function. Everything that does not depend on the row
// (member names and types, their RFC 8785 order, the separators between them, the
// personal column list) is joined ahead into constant pieces, so a row costs one
// pass over its values and two one-shot SHA-256 calls. It must give exactly the
// bytes of the general implementation (canonical-v2.ts) and refuse exactly what it
// refuses, with the same message: checked by property tests (compiled-v2.test.ts).
import { hash } from 'node:crypto';
import { GENESIS_PREV_CHECKSUM } from '../canonical.ts';
import { assertChainSeq, assertHex64, assertSalt, CanonicalFormError } from '../row-validation.ts';
import { FORMAT_V2, type FormatV2Layout, type LinkInputV2, type RowV2 } from './canonical-v2.ts';
import type { LinkV2, SealRowsV2Input } from './seal-v2.ts';

export interface CompiledLayoutV2 {
  readonly layout: FormatV2Layout;
  checksumInput(row: RowV2, link: LinkInputV2): string;
  personalDigestInput(values: readonly (string | null)[], salt: string): string;
  /** pii_digest (with this salt) and checksum of a row sealed after `prevChecksum`. */
  seal(row: RowV2, prevChecksum: string, salt: string): { piiDigest: string; checksum: string };
}

/** UTF-16 code-unit order, as RFC 8785 sorts member names (the same rule as canonical-v2.ts). */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The JSON text of one column value, refusing what the general implementation refuses, with its messages. */
function valueText(value: string | null | undefined, what: string, name: string): string {
  if (value === null) return 'null';
  if (value === undefined) throw new CanonicalFormError(`column ${name}: no value, want its text or null`);
  if (typeof value !== 'string') throw new CanonicalFormError(`${what}: got ${typeof value}, want a string`);
  if (!value.isWellFormed()) throw new CanonicalFormError(`${what}: got a string with a lone surrogate, want well-formed Unicode`);
  return JSON.stringify(value);
}

function keyText(value: unknown): string {
  if (typeof value !== 'string') throw new CanonicalFormError(`chain_key: got ${typeof value}, want a string`);
  if (!value.isWellFormed()) throw new CanonicalFormError('chain_key: got a string with a lone surrogate, want well-formed Unicode');
  return JSON.stringify(value);
}

/**
 * The members of one object ("columns" of the checksum or of the personal digest)
 * as a fixed list of value positions and the constant text before each of them.
 */
interface Members {
  /** Index into RowV2.values of each member, in RFC 8785 order. */
  indexes: number[];
  /** Quoted name of each member, for error messages. */
  names: string[];
  /** `what` of each member, for error messages. */
  whats: string[];
  /** Constant text before each value: the previous member's `]` and `,`, then `"name":["type",`. */
  heads: string[];
}

function membersOf(layout: FormatV2Layout, personal: boolean, opening: string): Members {
  const slots = layout.columns
    .map((column, index) => ({ column, index }))
    .filter(({ column }) => column.personal === personal)
    .sort((a, b) => byCodeUnits(a.column.name, b.column.name));
  return {
    indexes: slots.map((slot) => slot.index),
    names: slots.map((slot) => JSON.stringify(slot.column.name)),
    whats: slots.map((slot) => `column ${JSON.stringify(slot.column.name)}`),
    heads: slots.map((slot, i) => `${i === 0 ? opening : '],'}${JSON.stringify(slot.column.name)}:[${JSON.stringify(slot.column.type)},`),
  };
}

/** Builds the text of one object's members from the row's values: `members.heads[i] + value` ... plus `closing`. */
function writeMembers(members: Members, values: readonly (string | null)[], emptyText: string, closing: string): string {
  const { indexes, heads, whats, names } = members;
  const count = indexes.length;
  if (count === 0) return emptyText;
  let text = '';
  for (let i = 0; i < count; i += 1) text += heads[i]! + valueText(values[indexes[i]!], whats[i]!, names[i]!);
  return text + closing;
}

/**
 * Compiles a layout (a table's covered column list) into its encoding functions.
 * Build it once per column set: compiledLayoutV2 caches it on the layout.
 */
export function compileLayoutV2(layout: FormatV2Layout): CompiledLayoutV2 {
  const columnCount = layout.columns.length;
  const personalTypes = layout.columns
    .filter((column) => column.personal)
    .sort((a, b) => byCodeUnits(a.name, b.name))
    .map((column) => `${JSON.stringify(column.name)}:${JSON.stringify(column.type)}`)
    .join(',');
  const content = membersOf(layout, false, '","columns":{');
  const personal = membersOf(layout, true, '{"columns":{');
  // After the last content value: close it and the columns object, then the constant personal column list.
  const afterContent = `]},"personal_columns":{${personalTypes}},"pii_digest":"`;
  const noContent = `","columns":{},"personal_columns":{${personalTypes}},"pii_digest":"`;
  const wantValues = (values: readonly (string | null)[]) => {
    if (values.length !== columnCount) {
      throw new CanonicalFormError(`format v2: got ${values.length} values, want ${columnCount} (one per covered column)`);
    }
  };

  function personalDigestInput(values: readonly (string | null)[], salt: string): string {
    assertSalt(salt);
    wantValues(values);
    return `${writeMembers(personal, values, '{"columns":{}', ']}')},"salt":"${salt}","v":${FORMAT_V2}}`;
  }

  function checksumInput(row: RowV2, link: LinkInputV2): string {
    assertChainSeq('chain_seq', row.chainSeq);
    assertHex64('prev_checksum', link.prevChecksum);
    assertHex64('pii_digest', link.piiDigest);
    const key = row.chainKey === null ? 'null' : keyText(row.chainKey);
    wantValues(row.values);
    return (
      `{"chain_key":${key},"chain_seq":"${row.chainSeq}${writeMembers(content, row.values, noContent, afterContent)}` +
      `${link.piiDigest}","prev_checksum":"${link.prevChecksum}","v":${FORMAT_V2}}`
    );
  }

  return {
    layout,
    checksumInput,
    personalDigestInput,
    seal(row, prevChecksum, salt) {
      const piiDigest = hash('sha256', personalDigestInput(row.values, salt), 'hex');
      return { piiDigest, checksum: hash('sha256', checksumInput(row, { prevChecksum, piiDigest }), 'hex') };
    },
  };
}

const compiled = new WeakMap<FormatV2Layout, CompiledLayoutV2>();

/** The layout's compiled encoding, built on first use and kept for the layout's life. */
export function compiledLayoutV2(layout: FormatV2Layout): CompiledLayoutV2 {
  let found = compiled.get(layout);
  if (!found) {
    found = compileLayoutV2(layout);
    compiled.set(layout, found);
  }
  return found;
}

/** sealRowsV2 (seal-v2.ts) through the compiled encoding: the same links for the same input and salts. */
export function sealRowsCompiledV2(layout: FormatV2Layout, { headChecksum, rows, newSalt }: SealRowsV2Input): LinkV2[] {
  const encoding = compiledLayoutV2(layout);
  const links: LinkV2[] = new Array(rows.length);
  let prev = headChecksum ?? GENESIS_PREV_CHECKSUM;
  let previousSeq = -1n;
  for (let i = 0; i < rows.length; i += 1) {
    const row = rows[i]!;
    const seq = BigInt(row.chainSeq);
    if (seq <= previousSeq) throw new Error(`rows out of order: got chain_seq ${row.chainSeq} after ${previousSeq}, want increasing`);
    previousSeq = seq;
    const piiSalt = newSalt();
    const { piiDigest, checksum } = encoding.seal(row, prev, piiSalt);
    links[i] = { chainSeq: row.chainSeq, prevChecksum: prev, checksum, checksumVersion: FORMAT_V2, piiDigest, piiSalt };
    prev = checksum;
  }
  return links;
}
