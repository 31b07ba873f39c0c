/**
 * Runs a challenge command in a container with `docker exec` and streams
 * live resource samples, then one ChallengeResult.
 *
 * Timeline of one run:
 *   validate → inspect the container → open a sampler (cgroup files, else
 *   Docker's stats API) → create the exec → baseline reading (t0) → start →
 *   samples on a grid shared by all runs (sample-clock.ts; the first within
 *   ¾ of an interval) →
 *   exit, timeout (duration + grace) or cancel (the process tree is killed)
 *   → final reading → flush → ChallengeResult.
 *
 * cpu_usage is Δ(container CPU ns) / Δ(wall ns) × 100 between consecutive
 * readings, i.e. percent of one core as `docker stats` shows it. The figures
 * are the whole container's (other processes in it count too).
 */
import { HostStealMeter } from './sampling/host-steal.js';
import type Docker from 'dockerode';
import { randomUUID } from 'node:crypto';
import type { Config } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import { Failure, invalidArgument, notFound, unavailable } from '../../common/errors.js';
import {
  ChallengeStatus,
  ChallengeType,
  OutputStream,
  SampleSource,
  type ChallengeResult,
  type ResourceSample,
  type RunChallengeRequest,
} from '../../common/gen/polarise/v1/miner.js';
import type { EventSink } from '../server/handlers.js';
import { join } from 'node:path';
import { SharedCgroupReader, openCgroupReader, type ContainerReader, type Reading, type SourceName } from './sampling/cgroup-reader.js';
import { DockerStatsReader } from './sampling/docker-stats-reader.js';
import { EventWriter } from './event-writer.js';
import { ChallengeExec } from './challenge-exec.js';
import { sampleClock } from './sample-clock.js';

export interface ChallengeTarget {
  containerId: string;
}

export const SAMPLE_INTERVAL = { min: 20, max: 10_000, default: 100 } as const;

const SOURCES: Record<SourceName, SampleSource> = {
  cgroup_v1: SampleSource.SAMPLE_SOURCE_CGROUP_V1,
  cgroup_v2: SampleSource.SAMPLE_SOURCE_CGROUP_V2,
  docker_stats: SampleSource.SAMPLE_SOURCE_DOCKER_STATS,
};

/** The request's fields, checked and with defaults applied. */
export interface ChallengePlan {
  command: string[];
  type: ChallengeType;
  durationSeconds: number;
  intervalMs: number;
  expectedCpu: number;
  stdin: Buffer;
  streamOutput: boolean;
}

/** Checks a request's own fields; throws INVALID_ARGUMENT naming the field. */
export function planChallenge(request: RunChallengeRequest, config: Config['challenge']): ChallengePlan {
  if (request.type !== ChallengeType.CHALLENGE_TYPE_COMPUTE && request.type !== ChallengeType.CHALLENGE_TYPE_MEMORY) {
    throw invalidArgument('type', 'must be CHALLENGE_TYPE_COMPUTE or CHALLENGE_TYPE_MEMORY');
  }
  if (request.command.length === 0) throw invalidArgument('command', 'must not be empty');
  if (request.command[0] === '') throw invalidArgument('command', 'the program (command[0]) must not be empty');
  if (request.command.some((arg) => arg.includes('\0'))) throw invalidArgument('command', 'arguments must not contain NUL bytes');
  const interval = request.sampleIntervalMs === 0 ? SAMPLE_INTERVAL.default : request.sampleIntervalMs;
  if (!Number.isInteger(interval) || interval < SAMPLE_INTERVAL.min || interval > SAMPLE_INTERVAL.max) {
    throw invalidArgument('sample_interval_ms', `must be between ${SAMPLE_INTERVAL.min} and ${SAMPLE_INTERVAL.max} (or 0 for ${SAMPLE_INTERVAL.default}), got ${request.sampleIntervalMs}`);
  }
  if (!Number.isFinite(request.duration) || request.duration < 0) {
    throw invalidArgument('duration', `must be a non-negative number of seconds, got ${request.duration}`);
  }
  if (request.duration > config.max_duration_seconds) {
    throw invalidArgument('duration', `must be at most ${config.max_duration_seconds} seconds (challenge.max_duration_seconds), got ${request.duration}`);
  }
  if (!Number.isFinite(request.expectedCpu) || request.expectedCpu < 0) {
    throw invalidArgument('expected_cpu', `must be a non-negative number of CPU seconds, got ${request.expectedCpu}`);
  }
  if (request.stdin.length > config.max_output_bytes) {
    throw invalidArgument('stdin', `must be at most ${config.max_output_bytes} bytes`);
  }
  return {
    command: [...request.command],
    type: request.type,
    durationSeconds: request.duration === 0 ? config.default_duration_seconds : request.duration,
    intervalMs: interval,
    expectedCpu: request.expectedCpu,
    stdin: Buffer.from(request.stdin),
    streamOutput: request.streamOutput,
  };
}

function dockerFailure(err: unknown, containerId: string): Error {
  const e = err as { statusCode?: number; code?: string; message?: string };
  if (e.statusCode === 404) return notFound(`container ${containerId} not found`);
  if (e.statusCode === 409) return new Failure('failed_precondition', `container ${containerId} is not running (${e.message ?? 'conflict'})`);
  if (e.code === 'ECONNREFUSED' || e.code === 'ENOENT' || e.code === 'EACCES') return unavailable(`the Docker engine is not reachable (${e.code})`);
  return err instanceof Error ? err : new Error(String(err));
}

/** Running figures of one run. */
class Tally {
  peakCpu = 0;
  peakMemory = 0;
  memoryLimit = 0;
  taken = 0;

  memory(r: Reading): void {
    if (r.memoryUsage > this.peakMemory) this.peakMemory = r.memoryUsage;
    if (r.memoryLimit > 0) this.memoryLimit = r.memoryLimit;
  }
}

export class ChallengeRunner {
  constructor(
    private readonly docker: Docker,
    private readonly config: Config['challenge'],
    private readonly log: Logger,
  ) {}

  /**
   * Validates the request's own fields (type, command, interval, duration),
   * runs it in `target`, and sends samples and the result to `sink`.
   * The caller has already checked that the container exists and who owns it.
   */
  async run(target: ChallengeTarget, request: RunChallengeRequest, sink: EventSink): Promise<void> {
    const plan = planChallenge(request, this.config);
    const id = target.containerId;
    const container = this.docker.getContainer(id);
    let info: Docker.ContainerInspectInfo;
    try {
      info = await container.inspect();
    } catch (err) {
      throw dockerFailure(err, id);
    }
    if (!info.State.Running || info.State.Paused) {
      throw new Failure('failed_precondition', `container ${id} is not running (state ${info.State.Status})`);
    }
    if (sink.signal.aborted) return;

    const runId = randomUUID();
    const log = this.log.child({ challenge: runId.slice(0, 8), container: info.Id.slice(0, 12) });
    const reader = this.openReader(container, info.State.Pid, log);
    const writer = new EventWriter(sink, { outputBufferBytes: this.config.live_output_buffer_bytes });
    const timers: NodeJS.Timeout[] = [];
    let stopSampling = () => {};
    let onAbort: (() => void) | undefined;
    try {
      let exec: ChallengeExec | undefined = undefined;
      const onOutput = plan.streamOutput
        ? (name: 'stdout' | 'stderr', data: Buffer): boolean => {
            const ok = writer.offerOutput(name === 'stdout' ? OutputStream.OUTPUT_STREAM_STDOUT : OutputStream.OUTPUT_STREAM_STDERR, data);
            if (!ok) writer.onDrain(() => exec?.resumeOutput());
            return ok;
          }
        : undefined;
      try {
        exec = await ChallengeExec.create(this.docker, container, {
          command: plan.command,
          stdin: plan.stdin,
          marker: `POLARISE_CHALLENGE=${runId}`,
          maxOutputBytes: this.config.max_output_bytes,
          onOutput,
          log,
          externalPolling: reader.source !== 'docker_stats',
          cgroupProcs: reader instanceof SharedCgroupReader ? join(reader.paths.cpu, 'cgroup.procs') : undefined,
        });
      } catch (err) {
        throw dockerFailure(err, id);
      }
      const running: ChallengeExec = exec;

      const base = await reader.read(true);
      const t0 = base.atNs;
      const tally = new Tally();
      tally.memory(base);
      let last = base;
      const steal = new HostStealMeter();
      const toSample = (r: Reading, prev: Reading): ResourceSample => {
        const dt = Number(r.atNs - prev.atNs);
        const cpuUsage = dt > 0 ? (Number(r.cpuNs - prev.cpuNs) / dt) * 100 : 0;
        return {
          time: r.time,
          elapsedUs: Math.max(0, Math.round(Number(r.atNs - t0) / 1000)),
          cpuUsage: Math.max(0, cpuUsage),
          cpuTimeNs: Math.max(0, Number(r.cpuNs - base.cpuNs)),
          memoryUsage: r.memoryUsage,
          memoryLimit: r.memoryLimit,
          memoryPercent: r.memoryLimit > 0 ? (r.memoryUsage / r.memoryLimit) * 100 : 0,
          pids: r.pids,
          source: SOURCES[reader.source],
          hostStealPercent: steal.percent(),
        };
      };
      const emit = (r: Reading) => {
        if (r.atNs <= last.atNs) return;
        const sample = toSample(r, last);
        last = r;
        tally.taken++;
        tally.memory(r);
        if (sample.cpuUsage > tally.peakCpu) tally.peakCpu = sample.cpuUsage;
        writer.offerSample(sample);
      };

      try {
        await running.start();
      } catch (err) {
        throw dockerFailure(err, id);
      }
      log.info('challenge started', { type: ChallengeType[plan.type], interval_ms: plan.intervalMs, duration_s: plan.durationSeconds, source: reader.source });
      stopSampling = this.startSampling(reader, plan.intervalMs, t0, emit, () => running.poll(), log);

      let cancelled = false;
      let timedOut = false;
      onAbort = () => {
        cancelled = true;
        log.info('challenge cancelled: killing the command', { reason: String((sink.signal.reason as Error | undefined)?.message ?? sink.signal.reason) });
        void running.kill();
      };
      if (sink.signal.aborted) onAbort();
      else sink.signal.addEventListener('abort', onAbort, { once: true });
      const limitMs = (plan.durationSeconds + this.config.grace_seconds) * 1000;
      const timer = setTimeout(() => {
        // Already over (only its output is still draining to a slow client): not a timeout.
        if (cancelled || running.hasExited) return;
        timedOut = true;
        log.info('challenge timed out: killing the command', { duration_s: plan.durationSeconds });
        void running.kill();
      }, Math.min(limitMs, 2 ** 31 - 1));
      timers.push(timer);

      const outcome = await running.finished();
      if (cancelled || timedOut) await running.kill();
      stopSampling();
      clearTimeout(timer);

      // The final reading closes the run: it settles CPU time and memory.
      let final: Reading;
      try {
        final = await reader.read(true);
      } catch {
        final = last;
      }
      if (final.atNs - last.atNs >= BigInt(plan.intervalMs) * 500_000n) emit(final);
      else tally.memory(final);
      const wallNs = Number(outcome.endedNs - t0);
      const cpuTimeNs = Math.max(0, Number(final.cpuNs - base.cpuNs));
      let oomKilled = false;
      if (base.oomKills !== undefined && final.oomKills !== undefined) oomKilled = final.oomKills > base.oomKills;
      else {
        try {
          oomKilled = (await container.inspect()).State.OOMKilled === true;
        } catch {
          /* the container is gone: nothing to learn */
        }
      }
      const status = cancelled
        ? ChallengeStatus.CHALLENGE_STATUS_CANCELLED
        : timedOut
          ? ChallengeStatus.CHALLENGE_STATUS_TIMEOUT
          : outcome.exitCode === 0
            ? ChallengeStatus.CHALLENGE_STATUS_COMPLETED
            : ChallengeStatus.CHALLENGE_STATUS_FAILED;
      const meanCpu = wallNs > 0 ? (cpuTimeNs / wallNs) * 100 : 0;
      const peakPercent = tally.memoryLimit > 0 ? (tally.peakMemory / tally.memoryLimit) * 100 : 0;

      await writer.flush();
      const result: ChallengeResult = {
        commandResult: {
          status,
          exitCode: outcome.exitCode,
          output: outcome.stdout.text(),
          outputTruncated: outcome.stdout.truncated || outcome.stderr.truncated,
          stderr: outcome.stderr.text(),
          oomKilled,
        },
        metrics: { cpuUsage: meanCpu, memoryUsage: tally.peakMemory, memoryLimit: tally.memoryLimit, memoryPercent: peakPercent },
        summary: {
          meanCpuUsage: meanCpu,
          peakCpuUsage: tally.peakCpu,
          peakMemoryUsage: tally.peakMemory,
          memoryLimit: tally.memoryLimit,
          peakMemoryPercent: peakPercent,
          sampleCount: writer.sentSamples,
          wallTimeMs: Math.round(wallNs / 1e6),
          cpuTimeNs,
          expectedCpu: plan.expectedCpu,
        },
      };
      log.info('challenge ended', {
        status: ChallengeStatus[status],
        exit_code: outcome.exitCode,
        oom: oomKilled,
        wall_ms: result.summary!.wallTimeMs,
        samples: writer.sentSamples,
        coalesced: writer.coalescedSamples,
      });
      await sink.send({ event: { $case: 'result', value: result } });
    } finally {
      stopSampling();
      for (const t of timers) clearTimeout(t);
      if (onAbort) sink.signal.removeEventListener('abort', onAbort);
      reader.close();
    }
  }

  private openReader(container: Docker.Container, pid: number, log: Logger): ContainerReader {
    if (this.config.sampler !== 'docker_stats') {
      const reader = openCgroupReader(pid);
      if (reader) return reader;
      if (this.config.sampler === 'cgroup') {
        throw unavailable('the container\'s cgroup files are not reachable from the miner (challenge.sampler is "cgroup")');
      }
      log.debug('cgroup files not reachable: sampling through Docker\'s stats API (about 1 Hz)');
    }
    return new DockerStatsReader(container);
  }

  /** Starts periodic readings (and exit checks); returns a function that stops them. */
  private startSampling(reader: ContainerReader, intervalMs: number, t0: bigint, emit: (r: Reading) => void, poll: () => void, log: Logger): () => void {
    if (reader instanceof DockerStatsReader) {
      // Docker decides the pace (about 1 Hz); every frame becomes a sample.
      reader.subscribe(emit).catch((err: Error) => log.warn('docker stats stream failed', { error: err.message }));
      return () => reader.close();
    }
    // Exit checks ride on the sample ticks, at least every 100 ms.
    const checkMs = Math.min(intervalMs, 100);
    const stopChecks = checkMs < intervalMs ? sampleClock.every(checkMs, t0, poll) : undefined;
    const stopSamples = sampleClock.every(intervalMs, t0, () => {
      try {
        const r = reader.read();
        if (r instanceof Promise) r.then(emit, () => undefined);
        else emit(r);
      } catch (err) {
        log.debug('sample read failed', { error: (err as Error).message });
      }
      if (!stopChecks) poll();
    });
    return () => {
      stopSamples();
      stopChecks?.();
    };
  }
}
