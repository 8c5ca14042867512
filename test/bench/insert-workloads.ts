// The insert-path workloads as pgbench scripts. Every variant runs the same
// statement text with only the table name changed, so the client-side cost is
// identical and the server-side difference is the chain mechanism.

export interface InsertWorkload {
  id: string;
  /** The column header in the results table. */
  label: string;
  /** Whether the hot-organization targets apply. */
  hotOrganization: boolean;
  script(table: string): string;
}

/** One audit row as the product writes it: org, actor, action, resource, small details, client address. */
function insertStatement(table: string): string {
  return (
    `INSERT INTO ${table} (org_id, actor_type, actor_id, action, resource_type, resource_id, details, ip_address) ` +
    `VALUES (('00000000-0000-0000-0000-' || lpad(:org::text, 12, '0'))::uuid, 'agent', 'agent-' || :device, ` +
    `'session.submitted', 'device', 'device-' || :device, '{"status": "ok", "agent_version": "4.2.1"}', '10.0.0.1');`
  );
}

const hotAutocommit: InsertWorkload = {
  id: 'hot-autocommit',
  label: 'one hot org, autocommit',
  hotOrganization: true,
  script: (table) => ['\\set org 1', '\\set device random(1, 100000)', insertStatement(table), ''].join('\n'),
};

const hotWithWork: InsertWorkload = {
  id: 'hot-2ms-work',
  label: 'one hot org, 2 ms of other work in the transaction',
  hotOrganization: true,
  script: (table) =>
    [
      '\\set org 1',
      '\\set device random(1, 100000)',
      'BEGIN;',
      insertStatement(table),
      'SELECT pg_sleep(0.002);',
      'COMMIT;',
      '',
    ].join('\n'),
};

const manyAutocommit: InsertWorkload = {
  id: 'orgs-autocommit',
  label: '100 orgs, autocommit',
  hotOrganization: false,
  script: (table) => ['\\set org random(1, 100)', '\\set device random(1, 100000)', insertStatement(table), ''].join('\n'),
};

export const INSERT_WORKLOADS: readonly InsertWorkload[] = [hotAutocommit, hotWithWork, manyAutocommit];

/**
 * The workload's statements with pgbench variables replaced by literals, for
 * running them without pgbench (the correctness test).
 */
export function statementsFor(workload: InsertWorkload, table: string, org: number, device: number): string[] {
  return workload
    .script(table)
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('\\'))
    .map((line) => line.replaceAll(':org', String(org)).replaceAll(':device', String(device)));
}
