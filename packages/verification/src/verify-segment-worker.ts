// A verification worker thread (run by tinypool, see verify-parallel.ts): reads
// one segment of a chain in the snapshot the coordinator exported, checks each
// row's content (the hashing: the costly part) and hands the rows back packed.
// The links, order, watermark and checkpoints are checked by the coordinator,
// in chain order, with the same verifier as a sequential run.
//
// The rows are read raw (raw-segment.ts) in one query and checked as they
// arrive, so PostgreSQL sends the next rows while this thread hashes; a segment
// is at most segmentRows rows, so the thread holds at most one segment.
import pg from 'pg';
import { withChainSearchPath } from '@audit-chain/db';
import { addRawRow, emptyPackedRows, type PackedRows } from './packed-rows.ts';
import { markRedacted, RAW_SEGMENT_SESSION, RAW_TYPES, selectRawSegment, selectRedactions } from './raw-segment.ts';
import type { Segment } from './segment-rows.ts';

export interface SegmentTask extends Segment {
  databaseUrl: string;
  /** pg_export_snapshot() of the coordinator's transaction: every segment is read in it. */
  snapshot: string;
  /** Redaction markers read per segment up to this many; more: probed per row (bounded memory). */
  redactionLimit: number;
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
    for (const setting of RAW_SEGMENT_SESSION) await client.query(setting);
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
    const markers = await client.query<{ key: string }>(selectRedactions(task, task.redactionLimit));
    if (markers.rows.length > task.redactionLimit) {
      await readRows(client, task, true, (raw) => addRawRow(packed, raw));
    } else {
      const redactions = new Set(markers.rows.map((row) => row.key));
      await readRows(client, task, false, (raw) => {
        markRedacted(raw, redactions);
        addRawRow(packed, raw);
      });
    }
  } catch (error) {
    await closeConnections();
    throw error;
  }
  return packed;
}

/** Runs the segment's query and hands each row to `onRow` as it arrives (none are kept). */
function readRows(client: pg.Client, task: SegmentTask, probeRedactions: boolean, onRow: (raw: (string | null)[]) => void): Promise<void> {
  const { text, values } = selectRawSegment(task, probeRedactions);
  return new Promise((resolve, reject) => {
    let failed: unknown = null;
    // rowMode 'array' is node-pg's (the Query constructor's typings leave it out): no object per row.
    const config: pg.QueryConfig & { rowMode: 'array' } = { text, values, rowMode: 'array', types: RAW_TYPES };
    const query = new pg.Query(config);
    query.on('row', (raw: (string | null)[]) => {
      if (failed !== null) return;
      try {
        onRow(raw);
      } catch (error) {
        failed = error;
      }
    });
    query.on('error', reject);
    query.on('end', () => (failed === null ? resolve() : reject(failed)));
    client.query(query);
  });
}

/** tinypool's teardown: ends the thread's connection when the pool is destroyed. */
export async function closeConnections(): Promise<void> {
  const current = session;
  session = null;
  await current?.client.end().catch(() => {});
}
