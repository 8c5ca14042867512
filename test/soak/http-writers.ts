// Writers over the HTTP API: several concurrent clients, single events and
// batches. An event counts as acknowledged only when its 201 arrived and named
// it; any other outcome (an error response, a reset connection, a timeout)
// leaves it in doubt, because a lost answer may follow a COMMIT.
import { errorKind, type Ledger } from './ledger.ts';
import type { Random } from './random.ts';
import { makeEvent, pickOrg, type SoakEvent, type SoakOrgs } from './workload.ts';

export interface HttpWritersOptions {
  baseUrl: string;
  token: string;
  clients: number;
  orgs: SoakOrgs;
  random: Random;
  ledger: Ledger;
  /** Writers stop starting requests once this returns false. */
  running(): boolean;
  /** Upper bound of the random pause between two requests of one client. */
  maxPauseMs: number;
}

/** Share of requests that are batches, and a batch's size range; the rest carry one event. */
export const BATCH_SHARE = 0.35;
export const BATCH_SIZE: readonly [number, number] = [2, 40];
const REQUEST_TIMEOUT_MS = 10_000;
/** Statuses that say "not now" rather than "your request is wrong": expected while faults run. */
const FAULT_STATUSES = new Set([500, 502, 503, 504]);

export async function runHttpWriters(options: HttpWritersOptions): Promise<void> {
  await Promise.all(Array.from({ length: options.clients }, (_, client) => runClient(options, options.random.fork(client))));
}

async function runClient(options: HttpWritersOptions, random: Random): Promise<void> {
  let n = 0;
  while (options.running()) {
    const batch = random.next() < BATCH_SHARE;
    const org = pickOrg(options.orgs, random);
    const events = Array.from({ length: batch ? random.int(...BATCH_SIZE) : 1 }, () => makeEvent(org, random, (n += 1)));
    const ok = await post(options, events, batch);
    await pause(ok ? random.int(0, options.maxPauseMs) : random.int(100, 300));
  }
}

/** Sends one request and records its outcome; true when it was acknowledged. */
async function post(options: HttpWritersOptions, events: SoakEvent[], batch: boolean): Promise<boolean> {
  const { ledger } = options;
  ledger.http.requests += 1;
  ledger.http.events += events.length;
  const sent = events.map((event) => event.id);
  let status: number;
  let text: string;
  try {
    const response = await fetch(`${options.baseUrl}/v1/audit-events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${options.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(batch ? { events } : events[0]),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    status = response.status;
    text = await response.text();
  } catch (error) {
    fail(ledger, sent, `connection ${errorKind(error)}`);
    return false;
  }
  if (status !== 201) {
    const code = errorCode(text);
    fail(ledger, sent, `${status} ${code}`);
    if (!FAULT_STATUSES.has(status)) ledger.violation(`POST of ${sent.length} valid event(s) got ${status} ${code}, want 201 or a 5xx: ${text.slice(0, 300)}`);
    return false;
  }
  const acknowledged = acknowledgedIds(text, batch);
  if (acknowledged.join() !== sent.join()) {
    ledger.violation(`201 named ids ${JSON.stringify(acknowledged).slice(0, 200)}, want the ${sent.length} sent, in order`);
    for (const id of sent) ledger.inDoubt.add(id);
  }
  for (const id of acknowledged) ledger.acknowledged.add(id);
  ledger.http.acknowledgedRequests += 1;
  return true;
}

function fail(ledger: Ledger, ids: string[], kind: string): void {
  ledger.http.failedRequests += 1;
  ledger.http.failedEvents += ids.length;
  ledger.countHttpFailure(kind);
  for (const id of ids) ledger.inDoubt.add(id);
}

function acknowledgedIds(text: string, batch: boolean): string[] {
  try {
    const body = JSON.parse(text) as { id?: unknown; events?: { id?: unknown }[] };
    const rows = batch ? (body.events ?? []) : [body];
    return rows.map((row) => String(row.id));
  } catch {
    return [];
  }
}

function errorCode(text: string): string {
  try {
    return String((JSON.parse(text) as { error?: unknown }).error ?? 'no error code');
  } catch {
    return 'no JSON body';
  }
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
