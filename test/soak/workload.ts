// What the writers write: several organizations, one of them hot, and the
// system chain (org_id NULL); events with varied content, so the canonical
// form is exercised beyond one shape.
import { randomUUID } from 'node:crypto';
import type { Random } from './random.ts';

export interface SoakOrgs {
  hot: string;
  /** The other organizations, and null for the system chain. */
  others: (string | null)[];
}

/** `systemChain: false` on Citus, where the distribution column org_id cannot be NULL. */
export function makeOrgs(count: number, options: { systemChain: boolean } = { systemChain: true }): SoakOrgs {
  const orgs = Array.from({ length: count }, () => randomUUID());
  return { hot: randomUUID(), others: options.systemChain ? [null, ...orgs] : orgs };
}

/** Half of the writes go to the hot organization. */
export function pickOrg(orgs: SoakOrgs, random: Random): string | null {
  return random.next() < 0.5 ? orgs.hot : random.pick(orgs.others);
}

const ACTIONS = ['session.submitted', 'patch.status', 'security.status', 'user.login', 'policy.updated', 'file.shared'];
const ACTORS = ['user', 'agent', 'service'];
const RESULTS = ['success', 'failure', 'denied'] as const;

export interface SoakEvent {
  id: string;
  org_id: string | null;
  actor_type: string;
  action: string;
  [field: string]: unknown;
}

export function makeEvent(org: string | null, random: Random, n: number): SoakEvent {
  const event: SoakEvent = {
    id: randomUUID(),
    org_id: org,
    actor_type: random.pick(ACTORS),
    action: random.pick(ACTIONS),
    actor_id: `actor-${random.int(1, 500)}`,
    resource_type: 'device',
    resource_id: `dev-${random.int(1, 5000)}`,
    details: { n, tags: ['soak', random.pick(['a', 'b', 'ü', '✓'])], nested: { ok: random.next() < 0.5, value: random.int(0, 1e6) } },
    result: random.pick(RESULTS),
  };
  const extras = random.next();
  if (extras < 0.3) event.actor_email = `user${random.int(1, 99)}@example.com`;
  if (extras < 0.5) event.ip_address = random.next() < 0.7 ? `10.${random.int(0, 255)}.${random.int(0, 255)}.${random.int(1, 254)}` : `2001:db8::${random.int(1, 0xffff).toString(16)}`;
  if (extras > 0.6) event.user_agent = 'audit-chain-soak/1';
  if (extras > 0.8) event.occurred_at = new Date(Date.now() - random.int(0, 86_400_000)).toISOString();
  return event;
}
