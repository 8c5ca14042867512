// The operator's side of verification and checkpoints: exit statuses (verify:
// 0 clean, 1 breaks, 2 could not run), keygen's files, checkpoint without and
// with a key, and the human-readable report.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { newOrgId } from '../support/audit-rows.ts';
import { asAttacker, buildWorld, chainRows, runCli, scratch, sealAll, writeConcurrently, writeKeyring } from './support.ts';

describe('verify exit status 2: could not run', () => {
  test.each([
    [['verify', '--org', 'not-a-uuid'], /option '--org <id>' argument 'not-a-uuid' is invalid/],
    [['verify', '--org', 'system', '--all'], /option '--org <id>' cannot be used with option '--all'/],
    [['verify', '--bogus'], /unknown option '--bogus'/],
    [['verify', '--max-breaks', '0'], /must be a positive integer/],
  ])('%j', async (args, message) => {
    const run = await runCli(args, { DATABASE_URL: 'postgres://127.0.0.1:1/none' });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
  });

  test('no DATABASE_URL, an unreachable server, an unreadable keyring, a missing checkpoint directory, --from-checkpoint without keyring', async () => {
    const db = await scratch();
    const cases: [string[], Record<string, string>, RegExp][] = [
      [['verify'], {}, /^audit-chain: DATABASE_URL is not set/],
      [['verify'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/postgres' }, /^audit-chain: cannot connect to 127\.0\.0\.1:1: connection refused/],
      [['verify', '--keyring', join(db.dir, 'missing.json')], { DATABASE_URL: db.url }, /cannot read the keyring .*missing\.json: no such file/],
      [['verify', '--keyring', writeKeyring(db.dir, 'bad.json', [{ keyId: 'k', publicKey: 'nope', validFrom: '2026-01-01T00:00:00Z' }])], { DATABASE_URL: db.url }, /key k: cannot read the public key/],
      [['verify'], { DATABASE_URL: db.url, AUDIT_CHAIN_KEYRING_FILE: writeKeyring(db.dir, 'empty.json', []) }, /got no keys/],
      [['verify', '--from-checkpoint'], { DATABASE_URL: db.url }, /--from-checkpoint needs a keyring/],
    ];
    for (const [args, env, message] of cases) {
      const run = await runCli(args, { AUDIT_CHAIN_DATA_DIR: db.dir, ...env });
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(message);
    }
  });

  test('a checkpoint directory given explicitly must exist', async () => {
    const world = await buildWorld({ rows: 3 });
    const run = await runCli(['verify', '--keyring', world.keyringFile, '--checkpoints', join(world.dir, 'nowhere')], { DATABASE_URL: world.url, AUDIT_CHAIN_DATA_DIR: world.dir });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/checkpoint directory .*nowhere: no such directory/);
  });
});

describe('verify reports', () => {
  test('clean: exit 0 and a summary; without a keyring a warning says what is not checked', async () => {
    const world = await buildWorld({ rows: 5 });
    const env = { DATABASE_URL: world.url, AUDIT_CHAIN_DATA_DIR: world.dir };
    const withKeys = await runCli(['verify', '--no-record', '--keyring', world.keyringFile, '--checkpoints', world.checkpointDir], env);
    expect(withKeys.code, withKeys.stderr).toBe(0);
    expect(withKeys.stdout).toMatch(/^verified 4 chains: 72 rows read, 60 sealed and checked, 12 pending \(not checked\), 0 redacted$/m);
    expect(withKeys.stdout).toMatch(/^checkpoints \(keyring of 1 key\): 8 trusted; .*checkpoints 8 read, 8 trusted, 0 rejected; audit_chain_checkpoints 8 read, 8 trusted, 0 rejected$/m);
    expect(withKeys.stdout).toMatch(/^no breaks$/m);
    expect(withKeys.stderr).toBe('');

    const withoutKeys = await runCli(['verify', '--no-record'], env);
    expect(withoutKeys.code).toBe(0);
    expect(withoutKeys.stdout).toMatch(/^checkpoints: not checked \(no keyring\)$/m);
    expect(withoutKeys.stderr).toMatch(/no keyring .*: checkpoints are not checked/);
  });

  test('breaks: exit 1, each break with its chain, position, expected and found values', async () => {
    const world = await buildWorld({ rows: 5 });
    const [victim] = (await chainRows(world.pool, null)).filter((row) => row.sealed);
    await asAttacker(world.url, (db) => db.query(`update audit_logs set actor_id = 'someone-else' where id = $1::uuid`, [victim!.id]));
    const run = await runCli(['verify', '--no-record', '--keyring', world.keyringFile, '--checkpoints', world.checkpointDir], {
      DATABASE_URL: world.url,
      AUDIT_CHAIN_DATA_DIR: world.dir,
    });
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      [
        '1 break: content_changed 1',
        `  content_changed: system chain, chain_seq ${victim!.seq}, row ${victim!.id}`,
        `      expected ${victim!.checksum}`,
      ].join('\n'),
    );
    expect(run.stderr).toBe('audit-chain: verification found 1 break\n');
  });
});

describe('keygen and checkpoint', () => {
  test('checkpoint without a signing key exits 1 and says how to configure one', async () => {
    const db = await scratch();
    const run = await runCli(['checkpoint'], { DATABASE_URL: db.url, AUDIT_CHAIN_DATA_DIR: db.dir });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^audit-chain: no signing key configured: set AUDIT_CHAIN_SIGNING_KEY_FILE .* `audit-chain keygen` creates a key pair\n$/);
  });

  test('keygen writes a 0600 private key and a keyring; checkpoint signs with it and verify trusts it; keygen never overwrites', async () => {
    const db = await scratch();
    const keys = join(db.dir, 'keys');
    const made = await runCli(['keygen', '--out', keys, '--key-id', 'ops-2026'], { AUDIT_CHAIN_DATA_DIR: db.dir });
    expect(made.code, made.stderr).toBe(0);
    const privateFile = join(keys, 'ops-2026.pem');
    const keyringFile = join(keys, 'ops-2026.keyring.json');
    expect(statSync(privateFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(privateFile, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const keyring = JSON.parse(readFileSync(keyringFile, 'utf8')) as { keyId: string; publicKey: string; validFrom: string; validUntil: null }[];
    expect(keyring).toEqual([{ keyId: 'ops-2026', publicKey: expect.stringMatching(/^-----BEGIN PUBLIC KEY-----/), validFrom: expect.any(String), validUntil: null }]);
    expect(made.stdout).toContain(`AUDIT_CHAIN_SIGNING_KEY_FILE=${privateFile}`);

    const again = await runCli(['keygen', '--out', keys, '--key-id', 'ops-2026'], { AUDIT_CHAIN_DATA_DIR: db.dir });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/ops-2026\.pem already exists/);

    const chains = [newOrgId(), null];
    await writeConcurrently(db.pool, chains, 5, 2);
    await sealAll(db.pool);
    const env = {
      DATABASE_URL: db.url,
      AUDIT_CHAIN_DATA_DIR: db.dir,
      AUDIT_CHAIN_SIGNING_KEY_FILE: privateFile,
      AUDIT_CHAIN_SIGNING_KEY_ID: 'ops-2026',
      AUDIT_CHAIN_KEYRING_FILE: keyringFile,
    };
    const signed = await runCli(['checkpoint', '--org', chains[0]!], env);
    expect(signed.code, signed.stderr).toBe(0);
    expect(signed.stdout).toMatch(new RegExp(`^signed chain ${chains[0]} at chain_seq \\d+ \\(5 rows, head [0-9a-f]{64}\\) with key ops-2026$`, 'm'));
    expect(signed.stdout).toMatch(/^exported 1 checkpoint\(s\) to directory .*checkpoints$/m);
    const files = readdirSync(join(db.dir, 'checkpoints'));
    expect(files).toEqual([expect.stringMatching(/^checkpoints-\d{4}-\d{2}-\d{2}\.jsonl$/)]);
    expect(existsSync(join(db.dir, 'checkpoints', files[0]!))).toBe(true);

    const all = await runCli(['checkpoint'], env);
    expect(all.code, all.stderr).toBe(0);
    expect(all.stdout.match(/^signed chain /gm)).toHaveLength(2);

    const verified = await runCli(['verify', '--json', '--no-record'], env);
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, checkpoints: { trusted: 3 } });
  });
});
