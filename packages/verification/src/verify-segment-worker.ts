// A verification worker thread (run by tinypool, see verify-parallel.ts): reads
// one segment of a chain in the snapshot the coordinator exported, checks each
// row's content (the hashing: the costly part) and hands the rows back packed.
// The links, order, watermark and checkpoints are checked by the coordinator,
// in chain order, with the same verifier as a sequential run.
import pg from 'pg';
import { withChainSearchPath } from '@audit-chain/db';
import { toStoredRow } from '@audit-chain/sealing';
import { addCheckedRow, emptyPackedRows, type PackedRows } from './packed-rows.ts';
import { declareSegmentCursor, type Segment } from './segment-rows.ts';

export interface SegmentTask extends Segment {
  databaseUrl: string;
  /** pg_export_snapshot() of the coordinator's transaction: every segment is read in it. */
  snapshot: string;
  fetchSize: number;
}

const SNAPSHOT_ID = /^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$/;

/** One connection per thread, in a transaction on the run's snapshot, kept between tasks of the run. */
let session: { key: string; client: pg.Client } | null = null;

async function sessionFor(task: SegmentTask): Promise<pg.Client> {
  const key = `${task.databaseUrl}\n${task.snapshot}`;
  if (session?.key === key) return session.client;
  await closeConnections();
  if (!SNAPSHOT_ID.test(task.snapshot)) throw new Error(`snapshot: got ${JSON.stringify(task.snapshot)}, want an id from pg_export_snapshot()`);
  const client = new pg.Client({ connectionString: withChainSearchPath(task.databaseUrl), application_name: 'audit-chain verify (worker thread)' });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query('begin isolation level repeatable read read only');
    await client.query(`set transaction snapshot '${task.snapshot}'`);
    // Walk the (org_id, chain_seq) index in order, as the sequential verifier does.
    await client.query('set local enable_bitmapscan = off');
    await client.query('set local enable_seqscan = off');
  } catch (error) {
    await client.end().catch(() => {});
    throw error;
  }
  session = { key, client };
  return client;
}

export default async function verifySegment(task: SegmentTask): Promise<PackedRows> {
  const client = await sessionFor(task);
  const packed = emptyPackedRows();
  try {
    const declare = declareSegmentCursor('verify_segment', task);
    await client.query(declare.text, declare.values);
    for (;;) {
      const page = await client.query(`fetch ${task.fetchSize} from verify_segment`);
      for (const row of page.rows) addCheckedRow(packed, toStoredRow(row));
      if (page.rows.length < task.fetchSize) break;
    }
    await client.query('close verify_segment');
  } catch (error) {
    await closeConnections();
    throw error;
  }
  return packed;
}

/** tinypool's teardown: ends the thread's connection when the pool is destroyed. */
export async function closeConnections(): Promise<void> {
  const current = session;
  session = null;
  await current?.client.end().catch(() => {});
}
