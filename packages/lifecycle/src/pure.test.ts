// The pure parts of the lifecycle package: durations, month arithmetic, field
// lists and the SQL a legacy plan produces.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { compatibilityView } from './adoption/adopt.ts';
import { sourceExpression, splitTableName, type AdoptionPlan } from './adoption/plan.ts';
import { parseFields } from './erasure/redact.ts';
import { LifecycleError } from './errors.ts';
import { conversionBoundary, monthsFrom } from './partitioning/partitions.ts';
import { parseDuration } from './retention/duration.ts';

test('durations: a number and one unit', () => {
  expect(parseDuration('400d')).toBe(400 * 86_400_000);
  expect(parseDuration('2w')).toBe(14 * 86_400_000);
  expect(parseDuration('90 m')).toBe(90 * 60_000);
  for (const bad of ['400', 'd', '1.5d', '-1d', '400 days']) expect(() => parseDuration(bad), bad).toThrow(LifecycleError);
});

describe('months (UTC)', () => {
  test('the conversion boundary is the next month, or the one after when the next starts within a day', () => {
    expect(conversionBoundary(new Date('2026-11-23T12:00:00Z')).toISOString()).toBe('2026-12-01T00:00:00.000Z');
    expect(conversionBoundary(new Date('2026-11-30T12:00:00Z')).toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(conversionBoundary(new Date('2026-12-15T00:00:00Z')).toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });

  test('monthsFrom crosses years', () => {
    expect(monthsFrom(new Date('2026-11-23T12:00:00Z'), 3)).toEqual(['2026-11-01', '2026-12-01', '2027-01-01']);
  });
});

test('redaction fields: personal fields only, each once', () => {
  expect(parseFields(['ip_address', 'actor_email', 'ip_address'])).toEqual(['ip_address', 'actor_email']);
  expect(() => parseFields(['action'])).toThrow(/got action/);
  expect(() => parseFields([])).toThrow(/got none/);
});

describe('a legacy plan', () => {
  const plan: AdoptionPlan = {
    schema: 'public',
    table: 'audit_log',
    idColumn: 'id',
    keepsIds: true,
    orderColumn: 'created_at',
    columns: {
      id: { column: 'id' },
      occurred_at: { column: 'created_at' },
      recorded_at: { column: 'created_at' },
      actor_type: { literal: "o'user" },
      action: { column: 'action' },
      details: { column: 'meta' },
      ip_address: { column: 'ip' },
      result: { literal: null },
    },
    legacyPrevColumn: 'prev_checksum',
    legacyChecksumColumn: 'checksum',
    types: { id: 'uuid', created_at: 'timestamp without time zone', action: 'text', meta: 'json', ip: 'text', prev_checksum: 'text', checksum: 'text' },
  };

  test('casts each source to its audit_logs type; a timestamp without time zone is read as UTC', () => {
    expect(sourceExpression(plan, 'occurred_at', 'l')).toBe(`(l."created_at" at time zone 'UTC')`);
    expect(sourceExpression(plan, 'action', 'l')).toBe('l."action"');
    expect(sourceExpression(plan, 'details', 'l')).toBe('l."meta"::jsonb');
    expect(sourceExpression(plan, 'ip_address', 'l')).toBe('l."ip"::inet');
    expect(sourceExpression(plan, 'actor_type', 'l')).toBe(`'o''user'::text`);
    expect(sourceExpression(plan, 'result', 'l')).toBe('null::text');
  });

  test('the compatibility view shows legacy names, constants under their audit_logs name, and no chain column', () => {
    expect(compatibilityView(plan)).toBe(
      'create view "public"."audit_log" as select a."id" as "id", a."occurred_at" as "created_at", a."actor_type" as "actor_type", a."action" as "action", a."details" as "meta", a."ip_address" as "ip", a."result" as "result" from audit_logs a',
    );
  });
});

describe('--table names', () => {
  const quote = (part: string) => `"${part.replaceAll('"', '""')}"`;
  const name = fc.string({ minLength: 1, maxLength: 20 }).filter((part) => !part.includes('\u0000'));

  test('any schema and table, double-quoted, split back exactly (dots, quotes and spaces included)', () => {
    fc.assert(
      fc.property(name, name, (schema, table) => {
        expect(splitTableName(`${quote(schema)}.${quote(table)}`)).toEqual({ schema, table });
        expect(splitTableName(quote(table))).toEqual({ schema: null, table });
      }),
      { numRuns: 500 },
    );
  });

  test('unquoted parts are taken as stored, case and spaces included', () => {
    fc.assert(
      fc.property(name.filter((part) => !part.includes('.') && !part.includes('"')), name.filter((part) => !part.includes('.') && !part.includes('"')), (schema, table) => {
        expect(splitTableName(`${schema}.${table}`)).toEqual({ schema, table });
        expect(splitTableName(`${schema}.${quote(table)}`)).toEqual({ schema, table });
      }),
    );
    expect(splitTableName('shop.Audit Log')).toEqual({ schema: 'shop', table: 'Audit Log' });
    expect(splitTableName('AuditLog')).toEqual({ schema: null, table: 'AuditLog' });
  });

  test('malformed names are refused with one message', () => {
    for (const bad of ['', '.', 'a.', '.a', 'a.b.c', '"a', 'a."b', '"a"b', 'a"b', '""', 'a.""', '"a".']) {
      expect(() => splitTableName(bad), bad).toThrow(/^--table: got .*, want a table name or schema\.table/);
    }
  });
});
