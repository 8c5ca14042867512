import { expect, test } from 'vitest';
import { insertAuditEventsStatement, withIds } from './db/insert-audit-events.ts';

test('one parameter per supplied value; omitted defaulted columns use DEFAULT; chain columns never appear', () => {
  const statement = insertAuditEventsStatement(
    withIds([
      { id: 'AAAAAAAA-0000-7000-8000-000000000001', org_id: null, actor_type: 'user', action: 'a', details: { k: [1] } },
      { org_id: '0190a5f0-0000-7000-8000-00000000000a', actor_type: 'user', action: 'b', occurred_at: '2024-05-01T00:00:00Z', result: 'denied' },
    ]),
  );
  const columns = /^insert into audit_logs \(([^)]*)\) values /.exec(statement.text)?.[1]?.split(', ');
  expect(columns).toEqual([
    'id', 'org_id', 'occurred_at', 'actor_type', 'actor_id', 'actor_email', 'action', 'resource_type',
    'resource_id', 'resource_name', 'details', 'ip_address', 'user_agent', 'result', 'error_message',
  ]);
  expect(statement.text).toContain('($1, $2, DEFAULT, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, DEFAULT, $13)');
  expect(statement.text).toContain('($14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28)');
  expect(statement.values.slice(0, 13)).toEqual(['aaaaaaaa-0000-7000-8000-000000000001', null, 'user', null, null, 'a', null, null, null, '{"k":[1]}', null, null, null]);
  expect(statement.values[14]).toBe('0190a5f0-0000-7000-8000-00000000000a');
  expect(statement.values[26]).toBe('denied');
  expect(statement.values[13]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});
