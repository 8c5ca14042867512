// The API stores exactly what the client sent, or answers 400 naming the field:
// numbers in details as written (no double rounding; beyond numeric's range is a
// 400), duplicate keys, invalid UTF-8, more than microsecond precision, a leap
// second, and instants outside UTC years 0001-9999 are refused. Property tests
// hold the API's own checks to PostgreSQL's: what the API accepts, the database
// stores with the same value.
import fc from 'fast-check';
import { afterAll, describe, expect, test } from 'vitest';
import { createTestDatabase } from '../../../test/support/database.ts';
import { isDateTime } from './formats.ts';
import { numberProblem } from './json-body.ts';
import { AUTH, event, testServer } from './test-support.ts';

const db = await createTestDatabase();
const app = testServer(db.pool);
afterAll(() => app.close());

const postRaw = (body: string | Buffer) =>
  app.inject({ method: 'POST', url: '/v1/audit-events', headers: { ...AUTH, 'content-type': 'application/json' }, payload: body });

async function storedDetails(id: string): Promise<string> {
  const result = await db.pool.query<{ details: string }>('select details::text as details from audit_logs where id = $1', [id]);
  return result.rows[0]!.details;
}

describe('exact content', () => {
  test('numbers reach jsonb as written: big integers, 1e400, 1.0 and 1.00 kept exactly', async () => {
    const details = `{"big":12345678901234567890123,"p53":9007199254740993,"huge":1e400,"neg":-1e309,"scale":1.0,"scale2":1.50,"tiny":1e-400}`;
    const response = await postRaw(`{"org_id":null,"actor_type":"user","action":"a","details":${details}}`);
    expect(response.statusCode, response.body).toBe(201);
    const stored = await storedDetails(response.json().id);
    // Exactly what PostgreSQL makes of the text the client sent: nothing went through a double.
    const direct = (await db.pool.query<{ t: string }>('select $1::jsonb::text as t', [details])).rows[0]!.t;
    expect(stored).toBe(direct);
    for (const part of ['"p53": 9007199254740993', '"big": 12345678901234567890123', '"scale": 1.0', '"scale2": 1.50', `"huge": 1${'0'.repeat(400)}`]) expect(stored).toContain(part);
  });

  test('and are read back as stored: GET lists the same digits and scale', async () => {
    const details = `{"p53":9007199254740993,"huge":1e400,"scale":1.0,"scale2":1.50,"neg":-0.000000000000000000001}`;
    const posted = await postRaw(`{"org_id":null,"actor_type":"user","action":"read-back","details":${details}}`);
    expect(posted.statusCode, posted.body).toBe(201);
    const stored = await storedDetails(posted.json().id);
    const listed = await app.inject({ method: 'GET', url: '/v1/orgs/system/audit-events?limit=500', headers: AUTH });
    expect(listed.statusCode).toBe(200);
    expect(listed.headers['content-type']).toMatch(/^application\/json/);
    // The listed details, as text, hold the same numbers as the stored jsonb's text.
    const text = listed.body;
    for (const part of ['"p53":9007199254740993', '"scale":1.0', '"scale2":1.50', `"huge":1${'0'.repeat(400)}`, '"neg":-0.000000000000000000001']) {
      expect(text).toContain(part);
    }
    const row = (listed.json() as { events: { id: string; details: unknown }[] }).events.find((event) => event.id === posted.json().id);
    expect(row).toBeDefined();
    // And the jsonb PostgreSQL makes of the listed details is the stored one.
    const start = text.indexOf('"details":', text.indexOf(posted.json().id)) + '"details":'.length;
    const reparsed = (await db.pool.query<{ t: string }>('select $1::jsonb::text as t', [text.slice(start, text.indexOf(',"ip_address"', start))])).rows[0]!.t;
    expect(reparsed).toBe(stored);
  });

  test.each([
    ['a number beyond numeric', `{"n":1e131072}`, '/details/n', /out of the range/],
    ['too many fraction digits for numeric', `{"n":1.5e-16383}`, '/details/n', /out of the range/],
    ['a duplicate key with another value', `{"a":1,"a":2}`, '/details/a', /key "a" appears more than once/],
    ['a nested duplicate key', `{"x":{"k":"1","k":"2"}}`, '/details/x/k', /appears more than once/],
  ])('%s in details is a 400 naming the field, nothing stored', async (_what, details, field, problem) => {
    const before = (await db.pool.query('select count(*)::int as n from audit_logs')).rows[0].n;
    const response = await postRaw(`{"org_id":null,"actor_type":"user","action":"a","details":${details}}`);
    expect(response.statusCode).toBe(400);
    expect(response.json().details).toEqual([{ field, problem: expect.stringMatching(problem) }]);
    expect((await db.pool.query('select count(*)::int as n from audit_logs')).rows[0].n).toBe(before);
  });

  test('a duplicate top-level field is a 400 naming it', async () => {
    const response = await postRaw(`{"org_id":null,"actor_type":"user","action":"a","action":"b"}`);
    expect(response.statusCode).toBe(400);
    expect(response.json().details).toEqual([{ field: '/action', problem: expect.stringMatching(/appears more than once/) }]);
  });

  test('invalid UTF-8 is a 400 naming the field (not U+FFFD stored)', async () => {
    const body = Buffer.concat([Buffer.from('{"org_id":null,"actor_type":"user","action":"a","actor_id":"x'), Buffer.from([0xc3, 0x28]), Buffer.from('","details":{"k\xff":1}}', 'latin1')]);
    const response = await postRaw(body);
    expect(response.statusCode).toBe(400);
    expect(response.json().details).toEqual([
      { field: '/actor_id', problem: 'must be valid UTF-8' },
      { field: expect.stringMatching(/^\/details\/k/), problem: 'key must be valid UTF-8' },
    ]);
  });

  test.each([
    ['2024-05-01T12:00:00.1234567Z', 'seven fraction digits'],
    ['2016-12-31T23:59:60Z', 'a leap second'],
    ['9999-12-31T23:59:59-15:59', 'year 10000 in UTC'],
    ['0001-01-01T00:00:00+15:00', '1 BC in UTC'],
  ])('occurred_at %s (%s) is a 400 naming the field', async (occurredAt) => {
    const response = await app.inject({ method: 'POST', url: '/v1/audit-events', headers: AUTH, payload: event({ occurred_at: occurredAt }) });
    expect(response.statusCode).toBe(400);
    expect(response.json().details).toEqual([expect.objectContaining({ field: '/occurred_at' })]);
  });

  test('property: a JSON number the API accepts is stored by jsonb with the same value and scale; one it refuses, jsonb refuses too', async () => {
    const number = fc
      .tuple(
        fc.boolean(),
        fc.oneof(fc.constant('0'), fc.stringMatching(/^[1-9][0-9]{0,20}$/)),
        fc.option(fc.stringMatching(/^[0-9]{1,20}$/), { nil: undefined }),
        fc.option(fc.oneof(fc.integer({ min: -17_000, max: 132_000 }), fc.integer({ min: -20, max: 20 }), fc.constantFrom(131_071, 131_072, -16_383, -16_384, 16_383)), { nil: undefined }),
      )
      .map(([negative, whole, fraction, exponent]) => `${negative ? '-' : ''}${whole}${fraction === undefined ? '' : `.${fraction}`}${exponent === undefined ? '' : `e${exponent}`}`);
    await fc.assert(
      fc.asyncProperty(number, async (text) => {
        const accepted = numberProblem(text) === undefined;
        const stored = await db.pool
          .query<{ same: boolean; scale: number | null }>(`select ($1::jsonb)::numeric = $1::numeric as same, scale(($1::jsonb)::numeric) as scale`, [text])
          .then((r) => r.rows[0]!, () => null);
        expect(stored !== null, `${text}: API ${accepted ? 'accepts' : 'refuses'}`).toBe(accepted);
        if (stored) expect(stored.same).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  test('property: a date-time the API accepts is stored to the microsecond as written, in UTC years 0001-9999', async () => {
    const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'));
    const dateTime = fc
      .tuple(
        fc.oneof(fc.constantFrom(1, 2, 9998, 9999), fc.integer({ min: 1, max: 9999 })),
        two(13), two(32), two(24), two(60), two(60),
        fc.option(fc.stringMatching(/^[0-9]{1,8}$/), { nil: undefined }),
        fc.oneof(fc.constant('Z'), fc.tuple(fc.constantFrom('+', '-'), two(16), two(59)).map(([s, h, m]) => `${s}${h}:${m}`)),
      )
      .map(([y, mo, d, h, mi, s, f, z]) => `${String(y).padStart(4, '0')}-${mo}-${d}T${h}:${mi}:${s}${f === undefined ? '' : `.${f}`}${z}`);
    await fc.assert(
      fc.asyncProperty(dateTime, async (text) => {
        if (!isDateTime(text)) return;
        const row = (
          await db.pool.query<{ utc: string; year: number; back: boolean }>(
            `select to_char($1::timestamptz at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') as utc,
                    extract(year from $1::timestamptz at time zone 'UTC')::int as year,
                    ($1::timestamptz)::timestamp(6) with time zone = $1::timestamptz as back`,
            [text],
          )
        ).rows[0]!;
        expect(row.year).toBeGreaterThanOrEqual(1);
        expect(row.year).toBeLessThanOrEqual(9999);
        // Nothing rounded away: the fraction as written is the stored microseconds.
        const fraction = /\.(\d+)/.exec(text)?.[1] ?? '';
        expect(row.utc.slice(-6)).toBe(fraction.padEnd(6, '0'));
        expect(row.back).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
