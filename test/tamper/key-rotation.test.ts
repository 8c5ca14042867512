// Key rotation: checkpoints carry their key id, and the keyring gives each key a
// validity window. Old checkpoints keep verifying under the old key after the
// switch; a key missing from the keyring, or one used outside its window, is
// reported and its checkpoints are not trusted.
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { newOrgId } from '../support/audit-rows.ts';
import { newKey, scratch, sealAll, show, signHeads, verifyJson, writeConcurrently, writeKeyring, type World } from './support.ts';

const T1 = new Date('2026-01-10T00:00:00.000Z');
const ROTATED = '2026-06-01T00:00:00.000Z';
const T3 = new Date('2026-07-01T00:00:00.000Z');
const LATE = new Date('2026-08-01T00:00:00.000Z');

describe('key rotation', () => {
  test('two keys with adjoining windows: every checkpoint trusted; a keyring without the old key or an old key used late is reported', async () => {
    const db = await scratch();
    const oldKey = newKey('checkpoint-2026-01');
    const newer = newKey('checkpoint-2026-06');
    const checkpointDir = join(db.dir, 'checkpoints');
    const chains = [newOrgId(), newOrgId(), null];
    await writeConcurrently(db.pool, chains, 20);
    await sealAll(db.pool);
    await signHeads(db.pool, oldKey, checkpointDir, T1);
    await writeConcurrently(db.pool, chains, 20);
    await sealAll(db.pool);
    await signHeads(db.pool, newer, checkpointDir, T3);

    const both = writeKeyring(db.dir, 'both.json', [
      { keyId: oldKey.keyId, publicKey: oldKey.publicPem, validFrom: '2026-01-01T00:00:00Z', validUntil: ROTATED },
      { keyId: newer.keyId, publicKey: newer.publicPem, validFrom: ROTATED },
    ]);
    const world: World = { ...db, checkpointDir, keyringFile: both, key: newer, orgs: chains.filter((c): c is string => c !== null), chains };
    const clean = await verifyJson(world);
    expect(clean.breaks, show(clean.breaks)).toEqual([]);
    expect(clean.ok).toBe(true);

    // Only the new key: the old key's checkpoints (file and table copies) are from an unknown key.
    const onlyNew = writeKeyring(db.dir, 'new.json', [{ keyId: newer.keyId, publicKey: newer.publicPem, validFrom: ROTATED }]);
    const missing = await verifyJson({ ...world, keyringFile: onlyNew });
    expect(missing.breaks_by_kind).toEqual({ checkpoint_key_unknown: 2 * chains.length });
    expect(missing.breaks.every((b) => b.found === oldKey.keyId)).toBe(true);

    // The old key signing after its window closed (a stolen key, say): not trusted.
    await writeConcurrently(db.pool, chains, 5);
    await sealAll(db.pool);
    await signHeads(db.pool, oldKey, checkpointDir, LATE);
    const late = await verifyJson(world);
    expect(late.breaks_by_kind).toEqual({ checkpoint_key_unknown: 2 * chains.length });
    expect(late.breaks[0]!.message).toMatch(/outside key checkpoint-2026-01's validity window \[2026-01-01T00:00:00Z, 2026-06-01T00:00:00.000Z\)/);
  });
});
