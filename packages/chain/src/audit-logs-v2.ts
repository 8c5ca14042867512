// The audit_logs table under format v2: its covered columns (every content
// column; the personal ones through the salted digest) and its chain key
// (org_id's text, null for the system chain). docs/chain-format.md, "Format v2".
import { formatV2Layout, type CoveredColumn } from './format-v2/index.ts';

/** audit_logs' covered columns, in table order, with format_type() of each. */
export const AUDIT_LOGS_COLUMNS_V2: readonly CoveredColumn[] = [
  { name: 'id', type: 'uuid', personal: false },
  { name: 'org_id', type: 'uuid', personal: false },
  { name: 'occurred_at', type: 'timestamp(6) with time zone', personal: false },
  { name: 'recorded_at', type: 'timestamp(6) with time zone', personal: false },
  { name: 'actor_type', type: 'text', personal: false },
  { name: 'actor_id', type: 'text', personal: false },
  { name: 'actor_email', type: 'text', personal: true },
  { name: 'action', type: 'text', personal: false },
  { name: 'resource_type', type: 'text', personal: false },
  { name: 'resource_id', type: 'text', personal: false },
  { name: 'resource_name', type: 'text', personal: false },
  { name: 'details', type: 'jsonb', personal: false },
  { name: 'ip_address', type: 'inet', personal: true },
  { name: 'user_agent', type: 'text', personal: true },
  { name: 'result', type: 'text', personal: false },
  { name: 'error_message', type: 'text', personal: false },
];

export const AUDIT_LOGS_V2 = formatV2Layout(AUDIT_LOGS_COLUMNS_V2);

/** Index of org_id among the values: the chain key is its text, so a moved row is tried under another org by replacing both. */
export const AUDIT_LOGS_ORG_INDEX = AUDIT_LOGS_COLUMNS_V2.findIndex((column) => column.name === 'org_id');
