// String formats for request validation. Each accepts only what PostgreSQL
// stores unchanged in the target column, so a value that passes validation is
// never refused (or silently altered) by the INSERT: a refusal there would turn
// a client's mistake into a 5xx, and a whole batch would fail on one row.
import { isIP } from 'node:net';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Canonical hyphenated UUID only. ajv-formats' `uuid` also accepts a `urn:uuid:`
 * prefix, which the uuid type rejects.
 */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,6})?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/** Seconds from 1970-01-01T00:00:00 to the given date and time (proleptic Gregorian, H. Hinnant's days_from_civil). */
function epochSeconds(year: number, month: number, day: number, hour: number, minute: number, second: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const days = era * 146097 + yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear - 719468;
  return days * 86400 + hour * 3600 + minute * 60 + second;
}

const FIRST_INSTANT = epochSeconds(1, 1, 1, 0, 0, 0);
const LAST_SECOND = epochSeconds(9999, 12, 31, 23, 59, 59);

/**
 * RFC 3339 date-time with a time zone, narrowed to what timestamp(6) with time
 * zone stores exactly and what the API gives back as written: at most six
 * fraction digits (PostgreSQL would round the seventh), no leap second
 * (23:59:60 would roll over to the next minute), offsets up to ±15:59, and an
 * instant whose UTC date lies in years 0001-9999 (9999-12-31T23:59:59-15:59 is
 * year 10000 in UTC, 0001-01-01T00:00:00+15:00 is 1 BC).
 */
export function isDateTime(value: string): boolean {
  const match = DATE_TIME.exec(value);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
  if (hour > 23 || minute > 59 || second > 59) return false;
  let offsetSeconds = 0;
  if (match[7] !== undefined) {
    const [offsetHours, offsetMinutes] = [Number(match[8]), Number(match[9])];
    if (offsetHours > 15 || offsetMinutes > 59) return false;
    offsetSeconds = (match[7] === '-' ? -1 : 1) * (offsetHours * 3600 + offsetMinutes * 60);
  }
  const utc = epochSeconds(year, month, day, hour, minute, second) - offsetSeconds;
  return utc >= FIRST_INSTANT && utc <= LAST_SECOND;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * One IPv4 or IPv6 host address. No prefix length (this is where a request came
 * from, not a network) and no IPv6 zone (`%eth0`), which inet rejects. Node's
 * parser also rejects IPv4 octets with leading zeros, which inet would reinterpret.
 */
export function isIpAddress(value: string): boolean {
  return !value.includes('%') && isIP(value) !== 0;
}
