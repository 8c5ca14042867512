// Format v2's text of a timestamptz (column-encoding.ts, 'timestamptz') made in
// Node from the column's plain output, so a verifier can read the stored value
// as it is and leave PostgreSQL only the cheap output function (the canonical
// expression costs it several times more: docs/benchmarks.md). The input MUST be
// timestamptz_out's text in a session with TimeZone 'UTC' and DateStyle 'ISO'
// (`2026-11-23 01:02:03.4567+00`, `0044-03-15 12:00:00+00 BC`, `infinity`); the
// result is byte for byte what the SQL expression gives for the same value,
// checked against PostgreSQL by test/format-v2/timestamp-output.test.ts.
import { CanonicalFormError } from '../row-validation.ts';

// Year (4 digits or more), date, time, fraction without trailing zeros (none when zero), the UTC offset, the era.
const ISO_UTC = /^(\d{4,})-(\d\d-\d\d) (\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?\+00( BC)?$/;

const FRACTION_PAD = '000000';

/**
 * The canonical text (UTC, ISO 8601, astronomical year, six fraction digits,
 * `Z`; `infinity`, `-infinity`) of a timestamptz printed in ISO style in UTC.
 * Throws CanonicalFormError on any other text: the session was not set up as
 * required, and guessing would hash the wrong bytes.
 */
export function timestamptzFromIsoUtc(output: string): string {
  // The common case, six fraction digits in years 1000-9999: only the separators change.
  if (output.length === 29 && output.charCodeAt(10) === 32 && output.charCodeAt(19) === 46 && output.endsWith('+00') && ISO_UTC.test(output)) {
    return `${output.slice(0, 10)}T${output.slice(11, 26)}Z`;
  }
  if (output === 'infinity' || output === '-infinity') return output;
  const match = ISO_UTC.exec(output);
  if (!match) throw new CanonicalFormError(`timestamptz output: got ${JSON.stringify(output)}, want ISO style in UTC (TimeZone 'UTC', DateStyle 'ISO')`);
  const [, yearText, monthDay, time, fraction = '', era] = match;
  let year = yearText!;
  if (era !== undefined) {
    // 1 BC is year 0000, 2 BC is -0001 (the SQL expression's astronomical year).
    const bc = Number(year);
    year = bc === 1 ? '0000' : `-${String(bc - 1).padStart(4, '0')}`;
  }
  return `${year}-${monthDay}T${time}.${fraction}${FRACTION_PAD.slice(fraction.length)}Z`;
}
