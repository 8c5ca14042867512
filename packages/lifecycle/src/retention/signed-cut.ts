// The last check before retention deletes anything: the checkpoint at the cut,
// read back from audit_chain_checkpoints in the deleting transaction, must carry
// a signature that verifies against the keyring. The database cannot check an
// Ed25519 signature; it can make sure the row is one the signer role recorded
// and nobody changed (drizzle/0035_checkpoint_signer.sql) and that its signed
// line says what its columns say (drizzle/0038_retention_signed_cut.sql). This
// module checks the signature itself, so a cut rests on the key, not on the table.
import type pg from 'pg';
import { storedCheckpointLine, verifyCheckpointSignature, type CheckpointPublicKey } from '@audit-chain/chain';
import { LifecycleError } from '../errors.ts';

type Queryable = Pick<pg.ClientBase, 'query'>;

/** Throws LifecycleError unless checkpoint `id` is recorded and its signed line verifies; returns the key id that signed it. */
export async function assertSignedCheckpoint(db: Queryable, id: string, keyring: readonly CheckpointPublicKey[]): Promise<string> {
  const row = (await db.query<{ body: unknown; signature: string }>('select body, signature from audit_chain_checkpoints where id = $1::bigint', [id])).rows[0];
  if (!row) throw new LifecycleError(`retention: no recorded checkpoint with id ${id}; nothing deleted`);
  const verdict = verifyCheckpointSignature(storedCheckpointLine(row.body, row.signature), keyring);
  if (!verdict.ok) throw new LifecycleError(`retention: checkpoint ${id} is not one the keyring trusts (${verdict.kind}: ${verdict.reason}); nothing deleted`);
  return verdict.checkpoint.key_id;
}
