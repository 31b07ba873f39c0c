/**
 * npx tsx scripts/bench-allocate.ts [--runs 20] [--concurrent 20] [--memory 128m]
 *
 * Allocate → first successful SSH command, beside raw Docker in the same run.
 * Starts a real miner (throwaway PKI, its own container prefix), then for each
 * run measures, interleaved so both see the same machine state:
 *   - miner: Allocate (gRPC, mTLS) + `ssh root@host true` (OpenSSH, password
 *     via sshpass) until it succeeds;
 *   - raw:   `docker run -d <image> sleep infinity` + `docker exec <id> true`.
 * Prints p50/p95 of both and the ratio of the p50s; then fires N concurrent
 * Allocates, reports their total time, logs into each, releases them and
 * checks that nothing is left behind.
 * Not a test: needs Docker and the base image (scripts/setup.sh).
 */
import { execFile } from 'node:child_process';
import { parseArgs, promisify } from 'node:util';
import { allocate, codeOf, minerClient, release } from '../test/support/clients.js';
import { countResources, removeResources } from '../test/support/docker.js';
import { startMiner, type MinerProcess } from '../test/support/miner-process.js';
import { isInterrupted, onInterrupt } from '../test/support/interrupt-cleanup.js';
import { ssh } from '../test/support/openssh.js';

const run = promisify(execFile);

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    concurrent: { type: 'string', default: '20' },
    memory: { type: 'string', default: '128m' },
    image: { type: 'string', default: 'polarise/base:bookworm' },
  },
});
const RUNS = Number(values.runs);
const CONCURRENT = Number(values.concurrent);

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
const fmt = (ms: number) => `${ms.toFixed(0).padStart(5)} ms`;

async function rawDocker(image: string, tag: string): Promise<number> {
  const started = performance.now();
  const { stdout } = await run('docker', ['run', '-d', '--name', tag, image, 'sleep', 'infinity']);
  await run('docker', ['exec', stdout.trim(), 'true']);
  const ms = performance.now() - started;
  await run('docker', ['rm', '-f', stdout.trim()]);
  return ms;
}

type Client = ReturnType<typeof minerClient>;

/** Allocate → first successful SSH command, RUNS times, against raw `docker run` + `docker exec` in the same run. */
async function sequential(client: Client, miner: MinerProcess): Promise<void> {
  const minerMs: number[] = [];
  const allocMs: number[] = [];
  const rawMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    rawMs.push(await rawDocker(values.image!, `${miner.prefix}raw-${i}`));
    const started = performance.now();
    const a = await allocate(client, { memory: values.memory! });
    allocMs.push(performance.now() - started);
    let result = await ssh({ host: a.host, port: a.sshPort, password: a.password }, 'true');
    let tries = 1;
    while (result.code !== 0 && tries < 20) {
      tries++;
      result = await ssh({ host: a.host, port: a.sshPort, password: a.password }, 'true');
    }
    if (result.code !== 0) throw new Error(`ssh never succeeded: ${result.stderr}`);
    minerMs.push(performance.now() - started);
    await release(client, a.containerId);
    process.stderr.write(`run ${i + 1}/${RUNS}: miner ${fmt(minerMs.at(-1)!)} (allocate ${fmt(allocMs.at(-1)!)}, ssh tries ${tries}), raw ${fmt(rawMs.at(-1)!)}\n`);
  }
  const p50m = percentile(minerMs, 50);
  const p50r = percentile(rawMs, 50);
  console.log(`\nAllocate → first SSH command (${RUNS} runs, memory ${values.memory}, 1 CPU)`);
  console.log(`  miner  p50 ${fmt(p50m)}  p95 ${fmt(percentile(minerMs, 95))}   (Allocate alone p50 ${fmt(percentile(allocMs, 50))})`);
  console.log(`  raw    p50 ${fmt(p50r)}  p95 ${fmt(percentile(rawMs, 95))}   (docker run -d + docker exec true)`);
  console.log(`  ratio  p50 ${(p50m / p50r).toFixed(2)}× (target ≤ 1.5×)`);
  // Where Allocate's time goes, from the miner's own log.
  const phases = miner.logs
    .filter((l) => l.includes('"msg":"allocated"'))
    .slice(1, RUNS + 1)
    .map((l) => (JSON.parse(l) as { phases: Record<string, number> }).phases);
  if (phases.length) {
    const keys = Object.keys(phases[0]!);
    console.log(`  Allocate phases p50 (miner log): ${keys.map((k) => `${k} ${percentile(phases.map((p) => p[k]!), 50)} ms`).join(', ')}`);
  }
}

/** CONCURRENT Allocates at once, then a login to each and a release of all: nothing may leak. */
async function concurrent(client: Client, prefix: string): Promise<void> {
  const started = performance.now();
  const settled = await Promise.allSettled(Array.from({ length: CONCURRENT }, () => allocate(client, { memory: values.memory! })));
  const totalMs = performance.now() - started;
  const ok = settled.filter((s) => s.status === 'fulfilled').map((s) => (s as PromiseFulfilledResult<Awaited<ReturnType<typeof allocate>>>).value);
  const failed = settled.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason?.details ?? (s as PromiseRejectedResult).reason));
  const logins = await Promise.all(ok.map((a) => ssh({ host: a.host, port: a.sshPort, password: a.password }, 'true').then((r) => r.code === 0)));
  const counts = await countResources(prefix);
  await Promise.all(ok.map((a) => release(client, a.containerId)));
  const after = await countResources(prefix);
  console.log(`\n${CONCURRENT} concurrent Allocates: ${ok.length} succeeded, ${failed.length} failed, total ${fmt(totalMs)}`);
  if (failed.length) console.log(`  failures: ${[...new Set(failed)].join(' | ')}`);
  console.log(`  SSH logins afterwards: ${logins.filter(Boolean).length}/${ok.length}`);
  console.log(`  while allocated: ${counts.containers} containers, ${counts.networks} networks; after Release: ${after.containers} containers, ${after.networks} networks ${after.containers + after.networks === 0 ? '(no leak)' : '(LEAK)'}`);
  const unknown = await codeOf(release(client, ok[0]?.containerId ?? 'x'));
  console.log(`  Release of a released container: code ${unknown.code} (NOT_FOUND is 5)`);
}

async function main(): Promise<void> {
  const base = 30000 + (process.pid % 300) * 100;
  const miner = await startMiner({
    config: {
      docker: { overcommit_ratio: 16, default_memory: values.memory!, base_image: values.image! },
      ssh: { port_range: `${base}-${base + Math.max(CONCURRENT, 10) + 20}` },
    },
  });
  const client = minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('renter', 'bench') });
  // Also on SIGINT/SIGTERM: the miner stopped first, then everything under its prefix (raw containers included).
  const cleanup = onInterrupt('miner and its containers', async () => {
    client.close();
    await miner.stop();
    await removeResources(miner.prefix);
  });
  try {
    // Warm-up: one of each, not counted.
    await rawDocker(values.image!, `${miner.prefix}raw-warm`);
    const a = await allocate(client, { memory: values.memory! });
    await ssh({ host: a.host, port: a.sshPort, password: a.password }, 'true');
    await release(client, a.containerId);
    await sequential(client, miner);
    await concurrent(client, miner.prefix);
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  if (isInterrupted()) return; // the signal's cleanup ends the process
  console.error(err);
  process.exit(1);
});
