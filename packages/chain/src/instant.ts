// UTC instants written as ISO 8601 text, parsed exactly (to the microsecond, as
// a bigint) without Date, whose range, rounding and leniency differ from the
// format's. Row timestamps carry exactly six fraction digits; checkpoint times
// may carry three (Date#toISOString) or six.

const ISO_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{3}|\d{6}))?Z$/;

export class InstantFormatError extends Error {
  override name = 'InstantFormatError';
}

function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Days from 1970-01-01 to the given proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146097 + dayOfEra - 719468;
}

export interface InstantRules {
  /** Accepted numbers of fraction digits; 0 means "no fraction part". */
  fractionDigits: readonly (0 | 3 | 6)[];
}

/**
 * Microseconds since 1970-01-01T00:00:00Z. Years 0001-9999 only; every field is
 * range-checked (no 24:00, no 60th second, no February 30th).
 */
export function parseUtcInstant(text: string, what: string, rules: InstantRules): bigint {
  const match = typeof text === 'string' ? ISO_UTC.exec(text) : null;
  const want = `a UTC time YYYY-MM-DDTHH:MM:SS${rules.fractionDigits.map((n) => (n === 0 ? '' : '.' + 'f'.repeat(n))).join('|')}Z in years 0001-9999`;
  if (!match) throw new InstantFormatError(`${what}: got ${JSON.stringify(text)}, want ${want}`);
  const [, yearText, monthText, dayText, hourText, minuteText, secondText, fractionText] = match;
  const fraction = fractionText ?? '';
  if (!rules.fractionDigits.includes(fraction.length as 0 | 3 | 6)) {
    throw new InstantFormatError(`${what}: got ${JSON.stringify(text)}, want ${want}`);
  }
  const year = Number(yearText);
  const month = Number(monthText);
  const day = Number(dayText);
  const hour = Number(hourText);
  const minute = Number(minuteText);
  const second = Number(secondText);
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    throw new InstantFormatError(`${what}: got ${JSON.stringify(text)}, want ${want} (a real calendar date and time)`);
  }
  const seconds = BigInt(daysFromCivil(year, month, day)) * 86_400n + BigInt(hour * 3600 + minute * 60 + second);
  const micros = fraction === '' ? 0n : BigInt(fraction.padEnd(6, '0'));
  return seconds * 1_000_000n + micros;
}

/** An instant given as ISO text (3 or 6 fraction digits, or none) or a Date. */
export function instantOf(value: string | Date, what: string): bigint {
  if (value instanceof Date) {
    const ms = value.getTime();
    if (!Number.isFinite(ms)) throw new InstantFormatError(`${what}: got an invalid Date, want a valid one`);
    return BigInt(ms) * 1000n;
  }
  return parseUtcInstant(value, what, { fractionDigits: [0, 3, 6] });
}
