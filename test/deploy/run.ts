// npm run test:deploy: builds the images from docker/ and runs docker/compose.yml
// offline with podman (rootful, runc, podman-compose), then: writes events through
// the API container, waits until the two worker replicas sealed them, kills one
// worker, writes more, and checks with `audit-chain verify` inside a container that
// everything is sealed, checkpointed and clean. Adapts only what this machine needs
// (base images built locally, runtime, its own podman storage), never docker/.
//
//   npm run test:deploy [-- --report FILE] [--keep]
//
// AUDIT_CHAIN_DEPLOY_CACHE (default ~/.cache/audit-chain/deploy) holds the podman
// storage (images, containers, volumes) and downloaded packages; a second run
// reuses the base images and the build cache there.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '@audit-chain/db';
import {
  ciReport,
  composeServices,
  containerName,
  containersConf,
  dockerfileBaseImages,
  phaseEvents,
  standInFor,
  storageConf,
  ulimitWithin,
  verifyProblems,
  type VerifyJson,
} from './plan.ts';
import { Shell } from './shell.ts';
import { DEBIAN_IMAGE, ensureDebian, ensureStandIn } from './stand-ins.ts';

const PROJECT = 'audit-chain-deploy-test';
const KEY_ID = 'deploy-test';
const REPO = resolve(import.meta.dirname, '../..');
const ORGS_PHASE_1 = 4;
const EVENTS_PER_ORG = 25;
const BATCH = 20;

const { values: flags } = parseArgs({ options: { report: { type: 'string' }, keep: { type: 'boolean', default: false } } });

const started = Date.now();
const say = (line: string) => console.log(`[deploy ${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] ${line}`);
const steps: Array<{ name: string; ok: boolean; seconds: number; error?: string }> = [];

async function step<T>(name: string, body: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  say(`${name} ...`);
  try {
    const value = await body();
    steps.push({ name, ok: true, seconds: Math.round((Date.now() - t0) / 1000) });
    say(`ok: ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    return value;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    steps.push({ name, ok: false, seconds: Math.round((Date.now() - t0) / 1000), error: message });
    say(`FAILED: ${name}: ${message}`);
    throw error;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) throw new Error('the deployment test runs rootful podman: run it as root (.ci/run does)');
  const cacheDir = resolve(process.env.AUDIT_CHAIN_DEPLOY_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'audit-chain/deploy'));
  const workDir = mkdtempSync(join(tmpdir(), 'audit-chain-deploy-'));
  const logFile = join(workDir, 'deploy.log');
  writeFileSync(logFile, '');
  say(`log: ${logFile}; podman storage: ${cacheDir}/storage`);

  // Podman for this test only: its own storage and state (so it never touches another
  // user's containers), runc, ulimits within this machine's, docker image format (keeps HEALTHCHECK).
  const runDir = `/run/audit-chain-deploy-${createHash('sha256').update(cacheDir).digest('hex').slice(0, 8)}`;
  mkdirSync(join(cacheDir, 'storage'), { recursive: true });
  mkdirSync(runDir, { recursive: true });
  const shell0 = new Shell(logFile, process.env);
  const hard = async (flag: string) => (await shell0.run('bash', ['-c', `ulimit -H${flag}`])).stdout;
  writeFileSync(join(cacheDir, 'containers.conf'), containersConf({ nofile: ulimitWithin(await hard('n'), 20000), nproc: ulimitWithin(await hard('u'), 32768), tmpDir: join(runDir, 'libpod') }));
  writeFileSync(join(cacheDir, 'storage.conf'), storageConf({ graphRoot: join(cacheDir, 'storage'), runRoot: join(runDir, 'storage') }));
  const apiPort = await freePort();
  const apiToken = randomBytes(24).toString('hex');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_CONF: join(cacheDir, 'containers.conf'),
    CONTAINERS_STORAGE_CONF: join(cacheDir, 'storage.conf'),
    BUILDAH_FORMAT: 'docker',
    AUDIT_CHAIN_SIGNING_KEY_ID: KEY_ID,
    AUDIT_CHAIN_API_TOKEN: apiToken,
    AUDIT_CHAIN_ADMIN_TOKEN: randomBytes(24).toString('hex'),
    AUDIT_CHAIN_API_PORT: String(apiPort),
  };
  const shell = new Shell(logFile, env);
  const tools = ['podman', 'podman-compose', 'runc', 'debootstrap', '/usr/lib/cni/dnsname'];
  for (const tool of tools) {
    if ((await shell.run('bash', ['-c', `command -v ${tool}`], { allowFailure: true })).code !== 0) {
      throw new Error(`${tool} is not installed (apt-get install podman podman-compose runc debootstrap golang-github-containernetworking-plugin-dnsname; .ci/run does)`);
    }
  }

  // The build context: the repository's files (tracked and new, not ignored), as a fresh clone has them.
  const repo = join(workDir, 'repo');
  const files = (await shell.run('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO })).stdout.split('\0').filter(Boolean);
  for (const file of files) {
    if (!existsSync(join(REPO, file))) continue; // tracked, deleted in the working tree
    mkdirSync(dirname(join(repo, file)), { recursive: true });
    cpSync(join(REPO, file), join(repo, file), { verbatimSymlinks: true, force: true });
  }
  const composeFile = join(repo, 'docker/compose.yml');
  const compose = (args: string[], options: { allowFailure?: boolean } = {}) => shell.run('podman-compose', ['-p', PROJECT, '-f', composeFile, ...args], options);
  const name = (service: string, index = 1) => containerName(PROJECT, service, index);
  const services = composeServices(readFileSync(composeFile, 'utf8'));
  const workers = services.find((s) => s.name === 'worker')?.replicas ?? 0;
  if (workers < 2) throw new Error(`docker/compose.yml runs ${workers} worker replica(s), the test wants at least 2`);

  let failed = false;
  try {
    await compose(['down', '-v'], { allowFailure: true }); // what a previous run left
    // podman-compose keeps the network; one made before the DNS plugin was installed would resolve no names.
    await shell.run('podman', ['network', 'rm', '-f', `${PROJECT}_default`], { allowFailure: true });

    await step('base images built offline', async () => {
      await ensureDebian({ shell, repo: REPO, cacheDir, workDir, say });
      const references = new Set<string>();
      for (const service of services) {
        if (service.dockerfile) for (const image of dockerfileBaseImages(readFileSync(join(repo, service.dockerfile), 'utf8'))) references.add(image);
        else if (service.image) references.add(service.image);
      }
      for (const reference of references) await ensureStandIn({ shell, repo: REPO, cacheDir, workDir, say }, reference, standInFor(reference));
      say(`base images: ${[DEBIAN_IMAGE, ...references].join(', ')}`);
    });

    await step('images built from docker/', async () => {
      await compose(['build']);
    });

    await step('signing key made with audit-chain keygen', async () => {
      const secrets = join(repo, 'docker/secrets');
      await shell.run('podman', ['run', '--rm', '--user', '0', '-v', `${secrets}:/out`, 'localhost/audit-chain-worker:latest', 'audit-chain', 'keygen', '--out', '/out', '--key-id', KEY_ID]);
      for (const file of readdirSync(secrets).filter((f) => f.startsWith(`${KEY_ID}.`))) chownSync(join(secrets, file), 1000, 1000);
    });

    // podman-compose 1.0.3 ignores depends_on conditions and runs no healthcheck by
    // itself: start in the order the conditions say, probing with `podman healthcheck run`.
    const healthy = async (container: string, seconds = 120) => {
      for (let i = 0; i < seconds; i += 1) {
        if ((await shell.run('podman', ['healthcheck', 'run', container], { allowFailure: true })).code === 0) return;
        await sleep(1000);
      }
      throw new Error(`${container} not healthy after ${seconds} s`);
    };
    await step('stack up: postgres healthy, migrate done, api and 2 workers healthy', async () => {
      await compose(['up', '-d', '--no-deps', 'postgres']);
      await healthy(name('postgres'));
      await compose(['up', '-d', '--no-deps', 'migrate']);
      const exit = (await shell.run('podman', ['wait', name('migrate')])).stdout.trim();
      if (exit !== '0') throw new Error(`migrate exited ${exit}: ${(await shell.run('podman', ['logs', '--tail', '5', name('migrate')], { allowFailure: true })).stderr}`);
      await compose(['up', '-d', '--no-deps', 'api', 'worker']);
      await healthy(name('api'));
      for (let i = 1; i <= workers; i += 1) await healthy(name('worker', i));
    });

    const written = new Map<string, number>();
    const write = async (events: Array<Record<string, unknown>>) => {
      for (let i = 0; i < events.length; i += BATCH) {
        const batch = events.slice(i, i + BATCH);
        const response = await fetch(`http://127.0.0.1:${apiPort}/v1/audit-events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${apiToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ events: batch }),
        });
        if (response.status !== 201) throw new Error(`POST /v1/audit-events: ${response.status} ${await response.text()}`);
        const body = (await response.json()) as { events: unknown[] };
        if (body.events.length !== batch.length) throw new Error(`POST /v1/audit-events acknowledged ${body.events.length} of ${batch.length}`);
        for (const event of batch) written.set(event.org_id as string, (written.get(event.org_id as string) ?? 0) + 1);
      }
    };
    const verify = async (container: string, extra: string[] = []) => {
      const result = await shell.run('podman', ['exec', container, 'audit-chain', 'verify', '--json', ...extra], { allowFailure: true });
      if (result.code === 2 || !result.stdout.trim().startsWith('{')) throw new Error(`audit-chain verify could not run (exit ${result.code}): ${result.stderr.trim().split('\n').pop()}`);
      return JSON.parse(result.stdout) as VerifyJson;
    };
    // While waiting, a verify that could not run is retried: when a container leaves the
    // network, podman's DNS (aardvark-dns 1.4) drops lookups for a moment, and a connection
    // by name then takes the resolver's 2 x 5 s, the pg client's whole 10 s timeout.
    const sealedBy = async (container: string, seconds = 120) => {
      let problems: string[] = [];
      for (let i = 0; i < seconds; i += 2) {
        try {
          problems = verifyProblems(await verify(container, ['--no-record']), written, { checkpoints: false });
        } catch (error) {
          problems = [error instanceof Error ? error.message : String(error)];
          say(`retrying: ${problems[0]}`);
        }
        if (problems.length === 0) return;
        await sleep(2000);
      }
      throw new Error(`not sealed after ${seconds} s: ${problems.join('; ')}`);
    };
    const workerRows = async () => {
      const sql = `select hostname || ' ' || sealed_rows from audit_chain_workers where stopped_at is null and heartbeat_at > now() - interval '30 seconds'`;
      const out = (await shell.run('podman', ['exec', name('postgres'), 'psql', '-U', 'audit_chain', '-d', 'audit_chain', '-tAc', sql])).stdout;
      return new Map(out.trim().split('\n').filter(Boolean).map((line) => [line.split(' ')[0], Number(line.split(' ')[1])] as const));
    };
    const hostnameOf = async (container: string) => (await shell.run('podman', ['inspect', '--format', '{{.Config.Hostname}}', container])).stdout.trim();

    const orgs = Array.from({ length: ORGS_PHASE_1 }, () => randomUUID());
    await step(`${ORGS_PHASE_1 * EVENTS_PER_ORG} events written through the API, sealed by the 2 worker replicas`, async () => {
      await write(phaseEvents(orgs, EVENTS_PER_ORG, 'before-kill'));
      await sealedBy(name('worker', 1));
      const alive = await workerRows();
      for (let i = 1; i <= workers; i += 1) {
        const host = await hostnameOf(name('worker', i));
        if (!alive.has(host)) throw new Error(`${name('worker', i)} (hostname ${host}) has no live heartbeat: ${JSON.stringify([...alive])}`);
      }
      say(`sealed rows by worker hostname: ${JSON.stringify(Object.fromEntries(alive))}`);
    });

    const victim = name('worker', 1);
    const survivor = name('worker', 2);
    await step(`${victim} killed (SIGKILL); more events sealed by ${survivor} alone`, async () => {
      const survivorHost = await hostnameOf(survivor);
      const before = (await workerRows()).get(survivorHost) ?? 0;
      await shell.run('podman', ['kill', '--signal', 'KILL', victim]);
      const more = [...orgs, randomUUID()];
      const events = phaseEvents(more, EVENTS_PER_ORG, 'after-kill');
      await write(events);
      await sealedBy(survivor);
      const running = (await shell.run('podman', ['inspect', '--format', '{{.State.Running}}', victim])).stdout.trim();
      if (running !== 'false') throw new Error(`${victim} is running again after the kill: the test wants the survivor alone`);
      // The worker adds its sealed rows to its heartbeat row every 5 s: wait for the next beats.
      let after = before;
      for (let i = 0; i < 30 && after - before < events.length; i += 1) {
        await sleep(1000);
        after = (await workerRows()).get(survivorHost) ?? 0;
      }
      say(`${survivor} sealed ${after - before} row(s) while alone`);
      if (after - before < events.length) throw new Error(`${survivor} sealed ${after - before} row(s) while alone, want ${events.length}`);
    });

    await step('audit-chain checkpoint and verify inside a container: all sealed, checkpointed, clean', async () => {
      await shell.run('podman', ['exec', survivor, 'audit-chain', 'checkpoint']);
      const report = await verify(survivor);
      const problems = verifyProblems(report, written, { checkpoints: true });
      if (problems.length > 0) throw new Error(problems.join('; '));
      say(`verify: ${report.totals.chains} chains, ${report.totals.sealed} sealed, ${report.totals.pending} pending, ${report.break_count} breaks`);
    });
  } catch {
    failed = true;
    for (const container of (await shell.run('podman', ['ps', '-a', '--filter', `name=${PROJECT}`, '--format', '{{.Names}}'], { allowFailure: true })).stdout.split('\n').filter(Boolean)) {
      const logs = await shell.run('podman', ['logs', '--tail', '15', container], { allowFailure: true });
      console.log(`--- ${container} (last lines)\n${(logs.stdout + logs.stderr).trim()}`);
    }
    console.log(`--- whole log: ${logFile}`);
  } finally {
    if (!flags.keep) {
      await compose(['down', '-v'], { allowFailure: true });
      // Rebuilt images leave their predecessors untagged: drop those, keep the build cache.
      await shell.run('podman', ['image', 'prune', '-f'], { allowFailure: true });
      if (!failed) rmSync(workDir, { recursive: true, force: true });
    } else {
      say(`kept: podman-compose -p ${PROJECT} -f ${composeFile} (CONTAINERS_CONF=${env.CONTAINERS_CONF} CONTAINERS_STORAGE_CONF=${env.CONTAINERS_STORAGE_CONF})`);
    }
  }
  return failed ? 1 : 0;
}

let code = 1;
try {
  code = await main();
} catch (error) {
  console.error(`deploy test: ${error instanceof Error ? error.message : String(error)}`);
  if (steps.length === 0) steps.push({ name: 'setup', ok: false, seconds: 0, error: String(error) });
}
say(`${code === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
if (flags.report) writeFileSync(flags.report, JSON.stringify(ciReport(steps), null, 2));
process.exit(code);
