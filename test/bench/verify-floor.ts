// The floor verification is measured against (issue 14): COPY of every row of
// audit_logs in chain order, and two SHA-256 per row in Node, in one process.
// Verifying must at least read each row in order and hash it twice (its
// personal digest and its checksum); this is that and nothing else.
import { createHash } from 'node:crypto';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';

export interface FloorResult {
  rows: number;
  seconds: number;
}

export async function measureVerifyFloor(url: string): Promise<FloorResult> {
  const client = new pg.Client({ connectionString: url, application_name: 'audit-chain bench (verify floor)' });
  await client.connect();
  try {
    const started = performance.now();
    const stream = client.query(copyTo('copy (select * from audit_logs order by org_id, chain_seq) to stdout'));
    let rows = 0;
    let rest = '';
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        const first = createHash('sha256').update(line).digest('hex');
        createHash('sha256').update(first).update(line).digest('hex');
        rows += 1;
      }
    }
    if (rest !== '') throw new Error('COPY ended inside a row');
    return { rows, seconds: (performance.now() - started) / 1000 };
  } finally {
    await client.end();
  }
}
