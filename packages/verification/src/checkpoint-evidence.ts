// Gathers the checkpoints verification compares chains with: the exported
// directory (the evidence) and the copy in audit_chain_checkpoints (a
// convenience that may lack nothing the export has, or hold what an export
// missed). Every one is checked against the keyring; only those whose
// signature holds are trusted, wherever they came from. audit_logs' chains
// (version 1, copy in audit_chain_checkpoints) and attached tables' chains
// (version 2, copy in audit_chain_table_checkpoints) share the exported files;
// each verification takes its own kind.
import type pg from 'pg';
import { checkCheckpoints, checkpointPayload, type CheckpointBody, type CheckpointPublicKey, type TableCheckpointBody } from '@audit-chain/chain';
import { listCheckpointFiles, readCheckpointLines } from './directory-sink.ts';
import { readCheckpointPage } from './checkpoint-queries.ts';
import { readTableCheckpointPage } from './table-checkpoint-queries.ts';
import { storedCheckpointLine } from './stored-checkpoint.ts';
import { chainId, type RunBreak } from './run-types.ts';

type Queryable = Pick<pg.ClientBase, 'query'>;

export interface CheckpointSources {
  /** Directory sink folders to read. A required one that does not exist is an error; an optional one is a warning. */
  directories: readonly { path: string; required: boolean }[];
  /** Also read the copy in audit_chain_checkpoints. */
  table: boolean;
}

export interface CheckpointSourceStats {
  source: string;
  read: number;
  trusted: number;
  rejected: number;
}

export interface CheckpointEvidence {
  /** Trusted checkpoints by chain id ('system' or the org id), each once. */
  trusted: Map<string, CheckpointBody[]>;
  /** Trusted checkpoints of attached tables by tableChainId(schema, table, chain key), each once (kind 'table' only). */
  tables: Map<string, TableCheckpointBody[]>;
  /** Checkpoints that are not trusted (bad signature, unknown key), with where they were read. */
  breaks: RunBreak[];
  sources: CheckpointSourceStats[];
  warnings: string[];
}

export class CheckpointSourceError extends Error {
  override name = 'CheckpointSourceError';
}

const BATCH = 500;

/** The key of an attached table's chain in CheckpointEvidence.tables. */
export function tableChainId(schema: string, table: string, chainKey: string | null): string {
  return JSON.stringify([schema, table, chainKey]);
}

/**
 * kind 'org' (audit_logs): `orgId` narrows to one chain (undefined: all).
 * Untrusted entries whose chain cannot be read (a torn or garbled line) are
 * reported whatever the scope. kind 'table': the attached tables' checkpoints;
 * an untrusted entry is reported when it claims an attached table's chain, or
 * stands in audit_chain_table_checkpoints whatever it claims.
 */
export async function gatherCheckpoints(
  db: Queryable,
  keyring: readonly CheckpointPublicKey[],
  sources: CheckpointSources,
  orgId?: string | null,
  kind: 'org' | 'table' = 'org',
  /** kind 'table': also report untrusted entries that name no chain at all (a torn line), when audit_logs' verification does not run. */
  reportUnclaimed = false,
): Promise<CheckpointEvidence> {
  const evidence: CheckpointEvidence = { trusted: new Map(), tables: new Map(), breaks: [], sources: [], warnings: [] };
  const seen = new Set<string>();
  const inScope = (org: string | null | undefined) => org === undefined || orgId === undefined || org === orgId;

  const take = (entries: { value: unknown; source: string }[], stats: CheckpointSourceStats, fromOwnTable = false) => {
    const { trusted, trustedTables, breaks } = checkCheckpoints(
      entries.map((entry) => entry.value),
      keyring,
    );
    const unclaimed = (untrusted: (typeof breaks)[number]) => untrusted.tableClaim === undefined && untrusted.orgId === undefined;
    const mine = breaks.filter(
      (untrusted) => fromOwnTable || (kind === 'table') === (untrusted.tableClaim !== undefined) || (kind === 'table' && reportUnclaimed && unclaimed(untrusted)),
    );
    stats.read += entries.length;
    stats.rejected += mine.length;
    stats.trusted += kind === 'org' ? trusted.length : trustedTables.length;
    if (kind === 'table') {
      for (const checkpoint of trustedTables) {
        const key = checkpointPayload(checkpoint);
        if (seen.has(key)) continue;
        seen.add(key);
        const id = tableChainId(checkpoint.schema, checkpoint.table, checkpoint.chain_key);
        const list = evidence.tables.get(id);
        if (list) list.push(checkpoint);
        else evidence.tables.set(id, [checkpoint]);
      }
      for (const untrusted of mine) {
        const { index, orgId: _claimed, ...chainBreak } = untrusted;
        const source = entries[index]!.source;
        evidence.breaks.push({ ...chainBreak, orgId: undefined, source, message: `${source}: ${chainBreak.message}` });
      }
      return;
    }
    for (const checkpoint of trusted) {
      if (!inScope(checkpoint.org_id)) continue;
      // Ed25519 signatures are deterministic: the same body under the same key is the same checkpoint.
      const key = checkpointPayload(checkpoint);
      if (seen.has(key)) continue;
      seen.add(key);
      const id = chainId(checkpoint.org_id);
      const list = evidence.trusted.get(id);
      if (list) list.push(checkpoint);
      else evidence.trusted.set(id, [checkpoint]);
    }
    for (const untrusted of mine) {
      if (!inScope(untrusted.orgId)) continue;
      const { index, orgId: claimed, ...chainBreak } = untrusted;
      const source = entries[index]!.source;
      evidence.breaks.push({ ...chainBreak, orgId: claimed, source, message: `${source}: ${chainBreak.message}` });
    }
  };

  for (const directory of sources.directories) {
    const files = await listCheckpointFiles(directory.path);
    if (files === null) {
      if (directory.required) throw new CheckpointSourceError(`checkpoint directory ${directory.path}: no such directory`);
      evidence.warnings.push(`no checkpoint directory at ${directory.path}: only the checkpoints recorded in the database are checked`);
      continue;
    }
    const stats: CheckpointSourceStats = { source: directory.path, read: 0, trusted: 0, rejected: 0 };
    let batch: { value: unknown; source: string }[] = [];
    for await (const { line, source } of readCheckpointLines(directory.path, files)) {
      batch.push({ value: line, source: `${directory.path}/${source}` });
      if (batch.length >= BATCH) {
        take(batch, stats);
        batch = [];
      }
    }
    take(batch, stats);
    evidence.sources.push(stats);
  }

  if (sources.table) {
    const table = kind === 'org' ? 'audit_chain_checkpoints' : 'audit_chain_table_checkpoints';
    const stats: CheckpointSourceStats = { source: table, read: 0, trusted: 0, rejected: 0 };
    let after = '0';
    while (true) {
      const page = await db.query<{ id: string; body: unknown; signature: string }>(kind === 'org' ? readCheckpointPage(after, BATCH, orgId) : readTableCheckpointPage(after, BATCH));
      take(
        page.rows.map((row) => ({ value: storedCheckpointLine(row.body, row.signature), source: `${table} id ${row.id}` })),
        stats,
        true,
      );
      if (page.rows.length < BATCH) break;
      after = page.rows.at(-1)!.id;
    }
    evidence.sources.push(stats);
  }

  for (const list of evidence.trusted.values()) list.sort((a, b) => compareSeq(a.chain_seq, b.chain_seq));
  for (const list of evidence.tables.values()) list.sort((a, b) => compareSeq(a.chain_seq, b.chain_seq));
  return evidence;
}

function compareSeq(a: string, b: string): number {
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
