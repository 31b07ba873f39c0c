/**
 * Fixtures for the challenge runner and sampler suites: throwaway containers
 * made straight with dockerode (local base image only, never pulled), a real
 * EventSink that collects events, and helpers to read a stream's events.
 */
import type Docker from 'dockerode';
import { readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import { parseConfig, type Config } from '../../common/config.js';
import { Failure } from '../../common/errors.js';
import { createLogger, type Logger } from '../../common/logger.js';
import { ChallengeType, RunChallengeRequest, type ChallengeResult, type ResourceSample, type RunChallengeResponse } from '../../common/gen/polarise/v1/miner.js';
import type { EventSink } from '../../miner/server/handlers.js';
import { cgroupPathsOf } from '../../miner/challenges/sampling/cgroup-reader.js';
import { docker } from './docker.js';

export const BASE_IMAGE = 'polarise/base:bookworm';
export const MiB = 1024 * 1024;

let counter = 0;
const made = new Set<string>();

export function runPrefix(): string {
  return `pchal-${process.pid}-`;
}

/** A running container with limits, as the container manager would make it. */
export async function makeContainer(opts: { cpus?: number; memory?: number; pidsLimit?: number } = {}): Promise<Docker.Container> {
  const memory = opts.memory ?? 512 * MiB;
  const name = `${runPrefix()}${++counter}-${Math.random().toString(36).slice(2, 8)}`;
  const container = await docker.createContainer({
    name,
    Image: BASE_IMAGE,
    Cmd: ['sleep', 'infinity'],
    Labels: { 'polarise.test': 'challenge' },
    HostConfig: {
      Init: true,
      NanoCpus: Math.round((opts.cpus ?? 1) * 1e9),
      Memory: memory,
      MemorySwap: memory,
      PidsLimit: opts.pidsLimit ?? 256,
      SecurityOpt: ['no-new-privileges'],
    },
  });
  made.add(container.id);
  await container.start();
  return container;
}

export async function removeContainers(): Promise<void> {
  await Promise.all([...made].map((id) => docker.getContainer(id).remove({ force: true }).catch(() => undefined)));
  made.clear();
}

export function challengeConfig(overrides: Partial<Config['challenge']> = {}): Config['challenge'] {
  return { ...parseConfig({}, 'test').challenge, ...overrides };
}

export function quietLogger(): Logger {
  return createLogger({ component: 'test-runner' }, { level: (process.env.POLARISE_TEST_LOG as 'debug' | undefined) ?? 'warn' });
}

/** A request with the contract's defaults and a compute type, as a client would send it. */
export function request(req: Partial<RunChallengeRequest>): RunChallengeRequest {
  return RunChallengeRequest.fromPartial({ type: ChallengeType.CHALLENGE_TYPE_COMPUTE, ...req });
}

export interface CollectingSink extends EventSink {
  events: RunChallengeResponse[];
  /** Arrival times (performance.now()) of the events. */
  arrivals: number[];
  abort(reason?: unknown): void;
}

/** A real sink: events are kept in order; `delayMs` makes it a slow client. */
export function collectingSink(options: { delayMs?: number } = {}): CollectingSink {
  const controller = new AbortController();
  const events: RunChallengeResponse[] = [];
  const arrivals: number[] = [];
  return {
    events,
    arrivals,
    signal: controller.signal,
    abort: (reason?: unknown) => controller.abort(reason),
    async send(event: RunChallengeResponse) {
      events.push(event);
      arrivals.push(performance.now());
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
    },
  };
}

export function samplesOf(events: RunChallengeResponse[]): ResourceSample[] {
  return events.flatMap((e) => (e.event?.$case === 'sample' ? [e.event.value] : []));
}

export function resultOf(events: RunChallengeResponse[]): ChallengeResult {
  const results = events.flatMap((e) => (e.event?.$case === 'result' ? [e.event.value] : []));
  if (results.length !== 1) throw new Error(`expected exactly one result event, got ${results.length}`);
  if (events[events.length - 1]?.event?.$case !== 'result') throw new Error('the result is not the last event');
  return results[0]!;
}

/** Runs a command in a container (test side, not through the runner) and returns its stdout. */
export async function execText(container: Docker.Container, cmd: string[]): Promise<string> {
  const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const out = new PassThrough();
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  docker.modem.demuxStream(stream, out, new PassThrough().resume());
  await new Promise<void>((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
  });
  return Buffer.concat(chunks).toString('utf8');
}

/** The container's processes other than its init and `sleep infinity`, and the ps itself. */
export async function strayProcesses(container: Docker.Container): Promise<string[]> {
  const text = await execText(container, ['ps', '-eo', 'pid=,args=']);
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .filter((l) => !/^\d+\s+(\/sbin\/docker-init|sleep infinity|ps -eo)/.test(l));
}

/** Mean of cpu_usage over the busy window: skips the first and last `skip` samples. */
export function busyWindow(samples: ResourceSample[], skip = 1): { mean: number; cpuNs: number; wallUs: number } {
  const window = samples.slice(skip, samples.length - skip);
  if (window.length < 2) throw new Error(`too few samples for a busy window: ${samples.length}`);
  const first = window[0]!;
  const lastS = window[window.length - 1]!;
  const cpuNs = lastS.cpuTimeNs - first.cpuTimeNs;
  const wallUs = lastS.elapsedUs - first.elapsedUs;
  // Each sample's cpu_usage weighted by its interval: a late sample (a busy host) covers more time.
  let weighted = 0;
  for (let i = 1; i < window.length; i++) weighted += window[i]!.cpuUsage * (window[i]!.elapsedUs - window[i - 1]!.elapsedUs);
  const mean = wallUs > 0 ? weighted / wallUs : 0;
  return { mean, cpuNs, wallUs };
}

/**
 * The test's own view of a container's CPU: its cgroup counter read
 * directly, on the test's clock. `rate(a, b)` is the percent of one core the
 * container got between two marks: the truth the sampler is held to.
 */
export async function cgroupCpuClock(container: Docker.Container): Promise<{ mark(): { t: number; cpu: number }; rate(a: { t: number; cpu: number }, b: { t: number; cpu: number }): number }> {
  const paths = cgroupPathsOf((await container.inspect()).State.Pid);
  if (!paths) throw new Error('cgroup files of the container are not reachable from the test');
  const file = paths.version === 1 ? `${paths.cpu}/cpuacct.usage` : `${paths.cpu}/cpu.stat`;
  const read = () => {
    const text = readFileSync(file, 'latin1');
    return paths.version === 1 ? Number(text.trim()) : Number(/usage_usec (\d+)/.exec(text)![1]) * 1000;
  };
  return {
    mark: () => ({ t: performance.now(), cpu: read() }),
    rate: (a, b) => ((b.cpu - a.cpu) / ((b.t - a.t) * 1e6)) * 100,
  };
}

/** The Failure a promise rejects with (anything else is rethrown; success is an error). */
export async function failureOf(promise: Promise<unknown>): Promise<Failure> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof Failure) return err;
    throw err;
  }
  throw new Error('expected a Failure');
}
