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

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

/**
 * RFC 3339 date-time with a time zone and a 4-digit year. Narrower than
 * ajv-formats' `date-time` where timestamptz disagrees: year 0000 does not exist
 * there, and offsets beyond ±15:59 are out of its range.
 */
export function isDateTime(value: string): boolean {
  const match = DATE_TIME.exec(value);
  if (!match) return false;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
  if (hour > 23 || minute > 59) return false;
  // RFC 3339 allows a leap second only as the last second of a minute (23:59:60 UTC); PostgreSQL rolls it over.
  if (second > 60 || (second === 60 && !(hour === 23 && minute === 59))) return false;
  if (match[7] !== undefined && (Number(match[8]) > 15 || Number(match[9]) > 59)) return false;
  return true;
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
