// `audit-chain partition` as an operator runs it on a migrated database with
// rows, on chosen days: the command's clock is injected (main's `now`), the
// rows are recorded on that day, and the expected partitions are written out
// for each day, so nothing here depends on the date the suite runs.
//
// This file's process runs in Europe/Berlin and its sessions in
// America/New_York: partition months are UTC months whatever either says.
process.env.TZ = 'Europe/Berlin';

import { expect, test } from 'vitest';
import { main } from '../../apps/cli/src/main.ts';
import { withSessionSetting } from '@audit-chain/db';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

interface Day {
  name: string;
  now: string;
  /** What `convert --months-ahead 1` makes: the initial partition's end, then the months after it. */
  converted: string[];
  /** What `create --months-ahead 3` adds on the same day. */
  created: string[];
}

const DAYS: Day[] = [
  { name: 'mid-month', now: '2026-11-15T12:00:00Z', converted: ['2026-12-01', '2026-12', '2027-01'], created: ['2027-02'] },
  // Within a day of the next month: the initial partition also takes that month.
  { name: 'the last hour of a month', now: '2026-11-30T23:30:00Z', converted: ['2027-01-01', '2027-01', '2027-02'], created: [] },
  { name: 'exactly a day before the next month', now: '2026-11-30T00:00:00Z', converted: ['2026-12-01', '2026-12', '2027-01'], created: ['2027-02'] },
  { name: '31 December', now: '2026-12-31T23:59:59.999Z', converted: ['2027-02-01', '2027-02', '2027-03'], created: [] },
  { name: '29 February, noon', now: '2028-02-29T12:00:00Z', converted: ['2028-04-01', '2028-04', '2028-05'], created: [] },
  { name: '29 February, midnight', now: '2028-02-29T00:00:00Z', converted: ['2028-03-01', '2028-03', '2028-04'], created: ['2028-05'] },
  // 1 November in Berlin, 31 October in New York, the week of New York's DST change.
  { name: 'a DST week where the local dates differ from UTC', now: '2028-10-31T23:30:00Z', converted: ['2028-12-01', '2028-12', '2029-01'], created: [] },
  { name: 'the start of Berlin summer time', now: '2028-03-26T01:30:00Z', converted: ['2028-04-01', '2028-04', '2028-05'], created: ['2028-06'] },
];

async function run(db: TestDatabase, now: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const url = withSessionSetting(db.url, 'TimeZone', 'America/New_York');
  const code = await main(['node', 'audit-chain', ...args], {
    env: { DATABASE_URL: url },
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    now: () => new Date(now),
  });
  return { code, stdout, stderr };
}

/** Each line of `partition list` as "name from..to". */
function ranges(list: string): string[] {
  return list
    .trim()
    .split('\n')
    .map((line) => line.replace(/\s+~\d+ rows$/, '').replace(/\s+/g, ' '));
}

function monthPartition(month: string): string {
  const start = new Date(`${month}-01T00:00:00Z`);
  const end = new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
  return `audit_logs_p${month.replace('-', '')} ${start.toISOString()} .. ${end.toISOString()}`;
}

function expectedList(day: Day, months: string[]): string[] {
  const initialEnd = new Date(`${day.converted[0]}T00:00:00Z`).toISOString();
  return [`audit_logs_p_initial MINVALUE .. ${initialEnd}`, ...months.map(monthPartition), 'audit_logs_pdefault DEFAULT (rows beyond the last month)'];
}

test('the process and its sessions are not in UTC', () => {
  expect(new Date('2028-07-01T00:00:00Z').getTimezoneOffset()).toBe(-120);
});

const databases = await Promise.all(DAYS.map(() => createTestDatabase()));

test.each(DAYS.map((day, i) => [day.name, day, databases[i]!] as const))('on %s: dry run, convert, list and create do what they say', async (_name, day, db) => {
  // 50 rows recorded on the command's day, in the last hour before "now".
  await db.pool.query(
    `insert into audit_logs (org_id, actor_type, action, recorded_at)
     select gen_random_uuid(), 'user', 'test.event', $1::timestamptz - g * interval '1 minute' from generate_series(1, 50) g`,
    [day.now],
  );

  const dry = await run(db, day.now, ['partition', 'convert', '--dry-run']);
  expect(dry.code).toBe(0);
  expect(dry.stdout).toContain(`would convert audit_logs into monthly partitions of recorded_at: the existing rows become audit_logs_p_initial (up to ${new Date(`${day.converted[0]}T00:00:00Z`).toISOString()})`);
  expect((await db.pool.query("select relkind::text from pg_class where oid = 'audit_logs'::regclass")).rows[0].relkind).toBe('r');

  const converted = await run(db, day.now, ['partition', 'convert', '--months-ahead', '1']);
  expect(converted.stderr).toBe('');
  expect(converted.code).toBe(0);
  expect(converted.stdout).toContain('converted: 4 partitions; 0 links of earlier rows claimed');
  const afterConvert = expectedList(day, day.converted.slice(1));
  expect(ranges(converted.stdout.slice(converted.stdout.indexOf('audit_logs_p_initial')))).toEqual(afterConvert);

  const again = await run(db, day.now, ['partition', 'convert']);
  expect(again.code).toBe(0);
  expect(again.stdout).toContain('audit_logs is already partitioned');

  const created = await run(db, day.now, ['partition', 'create', '--months-ahead', '3']);
  expect(created.stderr).toBe('');
  expect(created.code).toBe(0);
  const list = await run(db, day.now, ['partition', 'list']);
  expect(list.code).toBe(0);
  expect(ranges(list.stdout)).toEqual(expectedList(day, [...day.converted.slice(1), ...day.created]));
  // Every row stayed, in the initial partition, and a row recorded at "now" lands there too.
  expect((await db.pool.query('select count(*)::int as n from audit_logs_p_initial')).rows[0].n).toBe(50);
  await db.pool.query(`insert into audit_logs (org_id, actor_type, action, recorded_at) values (gen_random_uuid(), 'user', 'test.event', $1)`, [day.now]);
  expect((await db.pool.query('select count(*)::int as n from audit_logs_p_initial')).rows[0].n).toBe(51);
});
