import { describe, expect, test } from 'vitest';
import { decodeCursor, encodeCursor } from './cursor.ts';
import { isDateTime, isIpAddress, isUuid } from './formats.ts';

describe('formats', () => {
  test('uuid: canonical hyphenated form only', () => {
    expect(isUuid('0190a5f0-0000-7000-8000-00000000000a')).toBe(true);
    expect(isUuid('0190A5F0-0000-7000-8000-00000000000A')).toBe(true);
    for (const bad of ['urn:uuid:0190a5f0-0000-7000-8000-00000000000a', '{0190a5f0-0000-7000-8000-00000000000a}', '0190a5f0000070008000000000000000a', '0190a5f0-0000-7000-8000-00000000000g', '']) {
      expect(isUuid(bad), bad).toBe(false);
    }
  });

  test('date-time: RFC 3339 that timestamp(6) with time zone stores exactly: microseconds at most, no leap second, UTC years 0001-9999', () => {
    for (const good of ['2024-05-01T12:00:00Z', '2024-05-01t12:00:00.123456z', '2024-05-01 12:00:00+15:59', '2024-02-29T00:00:00-08:00', '0001-01-01T00:00:00Z', '9999-12-31T23:59:59.999999Z', '0001-01-01T15:00:00+15:00', '9999-12-31T08:00:00-15:59']) {
      expect(isDateTime(good), good).toBe(true);
    }
    for (const bad of ['0000-01-01T00:00:00Z', '10000-01-01T00:00:00Z', '2023-02-29T00:00:00Z', '2024-13-01T00:00:00Z', '2024-04-31T00:00:00Z', '2024-05-01T24:00:00Z', '2024-05-01T12:60:00Z', '2024-05-01T12:00:60Z', '2024-05-01T12:00:00', '2024-05-01T12:00:00+16:00', '2024-05-01T12:00:00+0100', '2024-05-01', '2024-05-01T12:00:00.Z', ' 2024-05-01T12:00:00Z', '2024-05-01t12:00:00.123456789z', '2024-05-01T12:00:00.1234567Z', '2016-12-31T23:59:60Z', '9999-12-31T23:59:59-15:59', '0001-01-01T00:00:00+15:00', '0001-01-01T00:00:00+00:01']) {
      expect(isDateTime(bad), bad).toBe(false);
    }
  });

  test('ip address: one IPv4 or IPv6 host address', () => {
    for (const good of ['192.0.2.1', '0.0.0.0', '::', '::1', '2001:db8::1', '::ffff:192.0.2.1']) expect(isIpAddress(good), good).toBe(true);
    for (const bad of ['192.0.2.1/32', '2001:db8::/32', '01.2.3.4', '256.0.0.1', 'fe80::1%eth0', 'example.com', '']) expect(isIpAddress(bad), bad).toBe(false);
  });
});

describe('cursor', () => {
  test('round-trips a chain_seq, up to the bigint maximum', () => {
    for (const seq of ['1', '42', '9223372036854775807']) expect(decodeCursor(encodeCursor(seq))).toBe(seq);
  });

  test('refuses anything this API did not issue', () => {
    for (const bad of [encodeCursor('0'), encodeCursor('9223372036854775808'), encodeCursor('01'), encodeCursor('-1'), Buffer.from('42').toString('base64url'), 'c2VxOjE=', '', 'x'.repeat(41)]) {
      expect(decodeCursor(bad), bad).toBeUndefined();
    }
  });
});
