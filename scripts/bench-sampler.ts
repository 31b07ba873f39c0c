/**
 * npx tsx scripts/bench-sampler.ts [--quick]
 *
 * What live sampling costs and how good it is, against the real engine, each
 * figure printed with its baseline beside it (medians over repetitions):
 *
 *  1. resolution: samples per second at the default interval vs Docker's stats stream;
 *  2. first-sample latency: run() called → first sample, vs Docker stats → first usable CPU figure;
 *  3. miner CPU per streamed sample (in-process runner, process.cpuUsage, marginal cost
 *     between 10 Hz and 50 Hz runs) vs the same with the Docker-stats sampler;
 *  4. 20 concurrent 10 Hz streams through a real miner process over gRPC/mTLS:
 *     the miner child's CPU from /proc/<pid>/stat, in % of one core (target < 5 %),
 *     beside the same miner idle; steady windows of a cold and a warm round;
 *  5. cpu_usage of a busy 1-CPU container: this sampler vs `docker stats`, against the
 *     container's cgroup counter read directly over the same window (truth).
 *
 * Needs root (cgroup files, /proc) and the local base image; creates
 * containers named pbench-<pid>-* and removes them.
 */
import Docker from 'dockerode';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ChallengeRunner } from '../miner/challenges/challenge-runner.js';
import { parseConfig, type Config } from '../common/config.js';
import { createLogger } from '../common/logger.js';
import { ChallengeType, type RunChallengeRequest, type RunChallengeResponse } from '../common/gen/polarise/v1/miner.js';
import type { EventSink } from '../miner/server/handlers.js';
import { cgroupPathsOf } from '../miner/challenges/sampling/cgroup-reader.js';
import { startMiner } from '../test/support/miner-process.js';
import { allocate, minerClient, release, runChallenge } from '../test/support/clients.js';
import { removeResources } from '../test/support/docker.js';
import { exitUnlessInterrupted, isInterrupted, onInterrupt } from '../test/support/interrupt-cleanup.js';

const quick = process.argv.includes('--quick');
const docker = new Docker();
const MiB = 1024 * 1024;
const log = createLogger({ component: 'bench' }, { level: 'warn' });
const made: Docker.Container[] = [];
let containerCount = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (x: number, digits = 1) => x.toFixed(digits);
function row(what: string, ours: string, baseline: string, note = ''): void {
  console.log(`  ${what.padEnd(44)} ${ours.padStart(16)}   ${baseline.padStart(22)}   ${note}`);
}

async function container(cpus = 1, memory = 256 * MiB): Promise<Docker.Container> {
  const c = await docker.createContainer({
    name: `pbench-${process.pid}-${++containerCount}`,
    Image: 'polarise/base:bookworm',
    Cmd: ['sleep', 'infinity'],
    HostConfig: { Init: true, NanoCpus: cpus * 1e9, Memory: memory, MemorySwap: memory, PidsLimit: 256 },
  });
  made.push(c);
  await c.start();
  return c;
}

function req(fields: Partial<RunChallengeRequest>): RunChallengeRequest {
  return { containerId: '', type: ChallengeType.CHALLENGE_TYPE_COMPUTE, command: [], duration: 0, expectedCpu: 0, sampleIntervalMs: 0, stdin: Buffer.alloc(0), streamOutput: false, ...fields };
}

function sink(onEvent?: (e: RunChallengeResponse, at: number) => void): EventSink & { events: RunChallengeResponse[] } {
  const events: RunChallengeResponse[] = [];
  return {
    events,
    signal: new AbortController().signal,
    async send(e) {
      events.push(e);
      onEvent?.(e, performance.now());
    },
  };
}

function config(overrides: Partial<Config['challenge']> = {}): Config['challenge'] {
  return { ...parseConfig({}, 'bench').challenge, ...overrides };
}

function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, clock ticks (USER_HZ 100)
}

async function resolutionAndLatency(c: Docker.Container): Promise<void> {
  const reps = quick ? 5 : 15;
  const runner = new ChallengeRunner(docker, config(), log);
  const latencies: number[] = [];
  const rates: number[] = [];
  for (let i = 0; i < reps; i++) {
    let first = 0;
    const t0 = performance.now();
    const s = sink((e, at) => {
      if (!first && e.event?.$case === 'sample') first = at - t0;
    });
    await runner.run({ containerId: c.id }, req({ command: ['sleep', '1'] }), s);
    latencies.push(first);
    const result = s.events.at(-1)!.event!;
    if (result.$case === 'result') rates.push(result.value.summary!.sampleCount / (result.value.summary!.wallTimeMs / 1000));
  }
  // Baseline: Docker's stats stream — frames per second and the time to the first frame with a CPU delta.
  const statsLatency: number[] = [];
  const statsRates: number[] = [];
  for (let i = 0; i < (quick ? 2 : 4); i++) {
    const t0 = performance.now();
    const stream = (await c.stats({ stream: true })) as unknown as NodeJS.ReadableStream & { destroy(): void };
    let frames = 0;
    let firstUsable = 0;
    let buf = '';
    stream.on('data', (chunk: Buffer) => {
      buf += chunk.toString();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        frames++;
        const f = JSON.parse(line) as { precpu_stats?: { system_cpu_usage?: number } };
        if (!firstUsable && f.precpu_stats?.system_cpu_usage) firstUsable = performance.now() - t0;
      }
    });
    await sleep(4000);
    stream.destroy();
    statsLatency.push(firstUsable);
    statsRates.push(frames / 4);
  }
  row('resolution at default settings (samples/s)', fmt(median(rates)), `${fmt(median(statsRates))} (docker stats)`, `${fmt(median(rates) / median(statsRates))}× Docker's`);
  row('first-sample latency (ms, run() → sample)', fmt(median(latencies)), `${fmt(median(statsLatency), 0)} (stats → CPU %)`, 'target: within one interval (100 ms) of the start');
}

async function costPerSample(c: Docker.Container): Promise<void> {
  const seconds = quick ? 2 : 4;
  const reps = quick ? 2 : 4;
  const measure = async (runner: ChallengeRunner, interval: number) => {
    const cpu0 = process.cpuUsage();
    const s = sink();
    await runner.run({ containerId: c.id }, req({ command: ['sleep', String(seconds)], sampleIntervalMs: interval }), s);
    const used = process.cpuUsage(cpu0);
    const samples = s.events.filter((e) => e.event?.$case === 'sample').length;
    return { cpuUs: used.user + used.system, samples };
  };
  const cg = new ChallengeRunner(docker, config(), log);
  const ds = new ChallengeRunner(docker, config({ sampler: 'docker_stats' }), log);
  const marginal: number[] = [];
  const stats: number[] = [];
  const whole10: number[] = [];
  for (let i = 0; i < reps; i++) {
    const slow = await measure(cg, 100);
    const fast = await measure(cg, 20);
    marginal.push((fast.cpuUs - slow.cpuUs) / Math.max(1, fast.samples - slow.samples));
    whole10.push(slow.cpuUs / slow.samples);
    const d = await measure(ds, 100);
    stats.push(d.cpuUs / Math.max(1, d.samples));
  }
  row('miner CPU per sample (µs, marginal 10→50 Hz)', fmt(median(marginal)), `${fmt(median(stats), 0)} (docker-stats sampler)`, 'in-process runner, process.cpuUsage');
  row('  …per sample incl. exec/run overhead @10 Hz', fmt(median(whole10)), '', 'run overhead spread over its samples');
}

interface StreamRound {
  round: string;
  client: ReturnType<typeof minerClient>;
  ids: string[];
  pid: number;
  streams: number;
  windows: number;
  windowed: (n: number) => Promise<number[]>;
  clock: () => { t: number; cpu: number };
  idleMedian: number;
  list: (xs: number[]) => string;
}

/** One round of `streams` 10 Hz streams: the miner's CPU over steady windows, and over the whole runs. */
async function streamRound(r: StreamRound): Promise<void> {
  const { round, client, ids, pid, streams, windows, windowed, clock, idleMedian, list } = r;
  const runSeconds = 2.5 + windows * (quick ? 3 : 5) + 1.5;
  const a = clock();
  let samples = 0;
  const running = Promise.all(
    Array.from({ length: streams }, (_, i) =>
      runChallenge(client, { containerId: ids[i % ids.length]!, command: ['sleep', String(runSeconds)], sampleIntervalMs: 100 }, {
        timeoutMs: 120_000,
        onEvent: (e) => {
          if (e.event?.$case === 'sample') samples++;
        },
      }),
    ),
  );
  await sleep(2500);
  if (process.env.BENCH_PROF_HOOK) process.kill(pid, 'SIGUSR2');
  const n0 = samples;
  const w0 = performance.now();
  const busy = await windowed(windows);
  const rate = (samples - n0) / ((performance.now() - w0) / 1000);
  if (process.env.BENCH_PROF_HOOK) process.kill(pid, 'SIGUSR2');
  await running;
  const b = clock();
  const wholeS = (b.t - a.t) / 1000;
  const whole = ((b.cpu - a.cpu) / wholeS) * 100;
  const steady = median(busy);
  row(`${streams} × 10 Hz streams, ${round}`, `${fmt(steady, 2)} total`, `${fmt(idleMedian, 2)} (idle miner)`, `target < 5 %; steady windows: ${list(busy)}`);
  row('  …added by the streams (% of one core)', fmt(steady - idleMedian, 2), '', `${fmt(rate)} samples/s → ${fmt(((steady - idleMedian) / 100 / rate) * 1e6, 0)} µs of miner CPU per sample`);
  row('  …whole runs incl. exec start/stop (%)', fmt(whole, 2), '', `${fmt(wholeS)} s; ${fmt((((whole - idleMedian) / 100) * wholeS * 1000) / streams, 1)} ms of miner CPU per run beyond idle`);
}

/**
 * 20 concurrent 10 Hz streams through a real miner child over gRPC/mTLS. The
 * miner's CPU is its utime+stime from /proc/<pid>/stat (every thread, exited
 * ones too) over steady windows that start after every stream has sent its
 * first samples and end before any run stops; the baseline is the same miner
 * idle (containers allocated, no challenge) in the same run. Two rounds: the
 * first challenges of a fresh process (JIT still compiling the sample path)
 * and a second round once it is warm, as a long-lived miner would be.
 * BENCH_CONTAINERS (default 20: one container, one cgroup per stream, the
 * worst case) spreads the streams over fewer containers.
 */
async function concurrentStreams(): Promise<void> {
  const streams = 20;
  const containers = Number(process.env.BENCH_CONTAINERS ?? streams);
  const windowS = quick ? 3 : 5;
  const windows = quick ? 3 : 6;
  const miner = await startMiner({
    config: {
      docker: { overcommit_ratio: 16, default_memory: '64m' },
      network: { host: '127.0.0.1' },
      // One SSH port per container, above the ephemeral range and apart from the tests' ranges.
      ssh: { port_range: `${61000 + (process.pid % 100) * 40}-${61000 + (process.pid % 100) * 40 + 39}` },
    },
    env: { POLARISE_LOG_LEVEL: 'info', ...(process.env.BENCH_PROF_HOOK ? { NODE_OPTIONS: `--import ${process.env.BENCH_PROF_HOOK}` } : {}) },
  });
  const client = minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('validator', 'bench') });
  // Interrupted: the miner stopped first (it would make more), then what it made removed by prefix.
  const cleanup = onInterrupt('miner and its allocations', async () => {
    client.close();
    await miner.stop();
    await removeResources(miner.prefix);
  });
  const ids: string[] = [];
  const pid = miner.child.pid!;
  const clock = () => ({ t: performance.now(), cpu: procCpuSeconds(pid) });
  /** % of one core in each of `n` consecutive windows. */
  const windowed = async (n: number): Promise<number[]> => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const a = clock();
      await sleep(windowS * 1000);
      const b = clock();
      out.push(((b.cpu - a.cpu) / ((b.t - a.t) / 1000)) * 100);
    }
    return out;
  };
  const list = (xs: number[]) => xs.map((x) => fmt(x, 1)).join(' ');
  try {
    for (let i = 0; i < containers; i++) ids.push((await allocate(client, { memory: '64m', cpuCount: 1 })).containerId);
    await sleep(2000);
    const idle = await windowed(windows);
    const idleMedian = median(idle);
    row('idle miner (% of one core)', fmt(idleMedian, 2), '', `${containers} containers allocated; windows: ${list(idle)}`);
    for (const round of ['first round (cold JIT)', 'second round (warm)']) await streamRound({ round, client, ids, pid, streams, windows, windowed, clock, idleMedian, list });
  } finally {
    for (const id of ids) await release(client, id).catch(() => undefined);
    await cleanup();
  }
}

async function accuracy(c: Docker.Container): Promise<void> {
  const seconds = quick ? 6 : 10;
  const paths = cgroupPathsOf((await c.inspect()).State.Pid)!;
  const cpuFile = paths.version === 1 ? `${paths.cpu}/cpuacct.usage` : `${paths.cpu}/cpu.stat`;
  const readCpu = () => {
    const t = readFileSync(cpuFile, 'latin1');
    return paths.version === 1 ? Number(t.trim()) : Number(/usage_usec (\d+)/.exec(t)![1]) * 1000;
  };
  const name = (await c.inspect()).Name.replace(/^\//, '');
  // docker stats CLI over the same run (its own formula: Δcpu/Δsystem × online CPUs).
  const cli = spawn('docker', ['stats', '--format', '{{.CPUPerc}}', name], { stdio: ['ignore', 'pipe', 'ignore'] });
  const cliValues: { t: number; v: number }[] = [];
  cli.stdout.on('data', (chunk: Buffer) => {
    // The CLI redraws with terminal escapes; pick every percentage out.
    for (const m of chunk.toString().matchAll(/([\d.]+)%/g)) cliValues.push({ t: performance.now(), v: Number(m[1]) });
  });
  await sleep(2500);
  const runner = new ChallengeRunner(docker, config(), log);
  const s = sink();
  const t0 = performance.now();
  const marks: { t: number; cpu: number }[] = [];
  const timers = [setTimeout(() => marks.push({ t: performance.now(), cpu: readCpu() }), 1500), setTimeout(() => marks.push({ t: performance.now(), cpu: readCpu() }), (seconds - 1.5) * 1000)];
  await runner.run({ containerId: c.id }, req({ command: ['bash', '-c', `end=$(( \${EPOCHREALTIME/[.,]/} + ${seconds}000000 )); while (( \${EPOCHREALTIME/[.,]/} < end )); do :; done`] }), s);
  timers.forEach(clearTimeout);
  cli.kill();
  const truth = ((marks[1]!.cpu - marks[0]!.cpu) / ((marks[1]!.t - marks[0]!.t) * 1e6)) * 100;
  const ours = s.events.flatMap((e) => (e.event?.$case === 'sample' ? [e.event.value] : [])).filter((x) => x.elapsedUs / 1000 > 1500 && x.elapsedUs / 1000 < (seconds - 1.5) * 1000);
  const theirs = cliValues.filter((x) => x.t > t0 + 2500 && x.t < t0 + (seconds - 1) * 1000).map((x) => x.v);
  const mOurs = median(ours.map((x) => x.cpuUsage));
  const mTheirs = theirs.length ? median(theirs) : NaN;
  row('busy 1-CPU container, cpu_usage median (%)', fmt(mOurs), `${fmt(mTheirs)} (docker stats)`, `cgroup truth ${fmt(truth)} %; ours ${fmt(mOurs - truth, 2)} pts, docker ${fmt(mTheirs - truth, 2)} pts`);
  row('  …samples in the busy window', String(ours.length), `${theirs.length} (docker stats)`);
}

async function main(): Promise<void> {
  await docker.ping();
  console.log(`bench-sampler${quick ? ' (quick)' : ''}: medians; our figure, then the baseline beside it`);
  console.log(`  ${'figure'.padEnd(44)} ${'ours'.padStart(16)}   ${'baseline'.padStart(22)}   note`);
  // By name prefix too, so a container whose create was still in flight goes as well.
  const cleanup = onInterrupt('benchmark containers', async () => {
    await Promise.all(made.map((c) => c.remove({ force: true }).catch(() => undefined)));
    await removeResources(`pbench-${process.pid}-`);
  });
  try {
    const only = process.env.BENCH_ONLY;
    const [a, b] = await Promise.all([container(1), container(1)]);
    if (!only || only === 'latency') await resolutionAndLatency(a);
    if (!only || only === 'cost') await costPerSample(a);
    if (!only || only === 'accuracy') await accuracy(b);
    if (!only || only === 'concurrent') await concurrentStreams();
  } finally {
    await cleanup();
  }
}

main().then(
  () => exitUnlessInterrupted(0),
  (err) => {
    if (isInterrupted()) return; // the signal's cleanup ends the process
    console.error(err);
    process.exit(1);
  },
);
