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
import { dockerFailure } from '../containers/docker-errors.js';
import type Docker from 'dockerode';
import { randomUUID } from 'node:crypto';
import type { Config } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import { failedPrecondition, invalidArgument, unavailable } from '../../common/errors.js';
import { ChallengeStatus, ChallengeType, OutputStream, type RunChallengeRequest } from '../../common/gen/polarise/v1/miner.js';
import type { EventSink } from '../server/handlers.js';
import { openCgroupReader, type ContainerReader, type Reading } from './sampling/cgroup-reader.js';
import { buildResult } from './challenge-result.js';
import { SampleSeries } from './sample-series.js';
import { DockerStatsReader } from './sampling/docker-stats-reader.js';
import { EventWriter } from './event-writer.js';
import { ChallengeExec, type ExecOutcome } from './challenge-exec.js';
import { ContainerSlots } from './challenge-limits.js';
import { CHALLENGE_MARKER, ContainerProcesses } from './container-processes.js';
import { sampleClock } from './sample-clock.js';
import { MAX_COMMAND_ARGS, MAX_COMMAND_BYTES, MAX_STDIN_BYTES } from '../../common/message-limits.js';

export interface ChallengeTarget {
  containerId: string;
}

export const SAMPLE_INTERVAL = { min: 20, max: 10_000, default: 100 } as const;

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
  if (request.command.length > MAX_COMMAND_ARGS) throw invalidArgument('command', `must hold at most ${MAX_COMMAND_ARGS} arguments, got ${request.command.length}`);
  const commandBytes = request.command.reduce((sum, arg) => sum + Buffer.byteLength(arg), 0);
  if (commandBytes > MAX_COMMAND_BYTES) throw invalidArgument('command', `must be at most ${MAX_COMMAND_BYTES} bytes in all, got ${commandBytes}`);
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
  if (request.stdin.length > MAX_STDIN_BYTES) {
    throw invalidArgument('stdin', `must be at most ${MAX_STDIN_BYTES} bytes (512 KiB), got ${request.stdin.length}`);
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

/** How a run is being ended: by the client (cancelled) or by its duration (timed out). */
interface Supervision {
  readonly cancelled: boolean;
  readonly timedOut: boolean;
  /** Stops watching (idempotent). */
  stop(): void;
}

/** What an exec is wired to: the sampler (for its polling), the event writer (live output), the container's processes (the kill). */
interface ExecParts {
  reader: ContainerReader;
  writer: EventWriter;
  processes: ContainerProcesses | undefined;
}

/** Everything a run's end needs. */
interface Ending {
  container: Docker.Container;
  reader: ContainerReader;
  series: SampleSeries;
  emit: (r: Reading) => void;
  writer: EventWriter;
  sink: EventSink;
  plan: ChallengePlan;
  watch: Supervision;
  outcome: ExecOutcome;
  log: Logger;
}

export class ChallengeRunner {
  /** Runs per container at once (challenge.max_concurrent_per_container). */
  private readonly slots: ContainerSlots;

  constructor(
    private readonly docker: Docker,
    private readonly config: Config['challenge'],
    private readonly log: Logger,
  ) {
    this.slots = new ContainerSlots(config.max_concurrent_per_container);
  }

  /**
   * Validates the request's own fields (type, command, interval, duration),
   * runs it in `target`, and sends samples and the result to `sink`.
   * The caller has already checked that the container exists and who owns it.
   */
  async run(target: ChallengeTarget, request: RunChallengeRequest, sink: EventSink): Promise<void> {
    const plan = planChallenge(request, this.config);
    const { container, info } = await this.runningContainer(target.containerId);
    if (sink.signal.aborted) return;

    const runId = randomUUID();
    const log = this.log.child({ challenge: runId.slice(0, 8), container: info.Id.slice(0, 12) });
    const cleanup: (() => void)[] = [this.slots.enter(info.Id)];
    try {
      const reader = this.openReader(container, info.State.Pid, log);
      cleanup.push(() => reader.close());
      const writer = new EventWriter(sink, { outputBufferBytes: this.config.live_output_buffer_bytes });
      const processes = ContainerProcesses.open(info.Id, info.State.Pid);
      const exec = await this.createExec(container, plan, runId, { reader, writer, processes }, log);
      const series = new SampleSeries(await reader.read(true), reader.source);
      const emit = (r: Reading): void => {
        const sample = series.next(r);
        if (sample) writer.offerSample(sample);
      };
      try {
        await exec.start();
      } catch (err) {
        throw dockerFailure(err, 'run a challenge', target.containerId);
      }
      log.info('challenge started', { type: ChallengeType[plan.type], intervalMs: plan.intervalMs, durationS: plan.durationSeconds, source: reader.source });
      const stopSampling = this.startSampling(reader, plan.intervalMs, series.t0, emit, () => exec.poll(), log);
      cleanup.push(stopSampling);
      const watch = this.supervise(exec, plan, sink, log);
      cleanup.push(() => watch.stop());

      const outcome = await exec.finished();
      if (watch.cancelled || watch.timedOut) await exec.kill();
      stopSampling();
      watch.stop();

      await this.finish({ container, reader, series, emit, writer, sink, plan, watch, outcome, log });
    } finally {
      for (const step of cleanup.reverse()) step();
    }
  }

  /** The final reading settles CPU time and memory; then the output is flushed and the result sent. */
  private async finish(r: Ending): Promise<void> {
    const { container, reader, series, emit, writer, sink, plan, watch, outcome, log } = r;
    // The final reading closes the run: it settles CPU time and memory.
    const final = await (async () => reader.read(true))().catch(() => series.lastReading);
    if (final.atNs - series.lastReading.atNs >= BigInt(plan.intervalMs) * 500_000n) emit(final);
    else series.track(final);
    const oomKilled = await this.oomKilled(container, series.base, final);
    await writer.flush();
    const stdout = outcome.stdout.finish();
    const stderr = outcome.stderr.finish();
    const result = buildResult({
      cancelled: watch.cancelled,
      timedOut: watch.timedOut,
      exitCode: outcome.exitCode,
      stdout: stdout.text,
      stderr: stderr.text,
      outputTruncated: !stdout.whole || !stderr.whole,
      streams: { stdout, stderr },
      oomKilled,
      wallNs: Number(outcome.endedNs - series.t0),
      cpuTimeNs: series.cpuTimeNs(final),
      peakCpu: series.peakCpu,
      peakMemory: series.peakMemory,
      memoryLimit: series.memoryLimit,
      sampleCount: writer.sentSamples,
      expectedCpu: plan.expectedCpu,
    });
    log.info('challenge ended', {
      status: ChallengeStatus[result.commandResult!.status],
      exitCode: outcome.exitCode,
      oom: oomKilled,
      wallMs: result.summary!.wallTimeMs,
      samples: writer.sentSamples,
      coalesced: writer.coalescedSamples,
      stdoutBytes: stdout.bytes,
      stderrBytes: stderr.bytes,
      ...(plan.streamOutput && (outcome.stdout.passedLiveLimit || outcome.stderr.passedLiveLimit) ? { streamCut: 'challenge.max_output_bytes' } : {}),
    });
    await sink.send({ event: { $case: 'result', value: result } });
  }

  private async runningContainer(id: string): Promise<{ container: Docker.Container; info: Docker.ContainerInspectInfo }> {
    const container = this.docker.getContainer(id);
    let info: Docker.ContainerInspectInfo;
    try {
      info = await container.inspect();
    } catch (err) {
      throw dockerFailure(err, 'run a challenge', id);
    }
    if (!info.State.Running || info.State.Paused) {
      throw failedPrecondition(`container ${id} is not running (state ${info.State.Status})`);
    }
    return { container, info };
  }

  /** The exec, created but not started; live output (when asked for) goes through the writer with backpressure. */
  private async createExec(container: Docker.Container, plan: ChallengePlan, runId: string, parts: ExecParts, log: Logger): Promise<ChallengeExec> {
    const { reader, writer, processes } = parts;
    let exec: ChallengeExec | undefined;
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
        marker: `${CHALLENGE_MARKER}=${runId}`,
        maxOutputBytes: this.config.max_output_bytes,
        onOutput,
        log,
        externalPolling: reader.source !== 'docker_stats',
        processes,
      });
    } catch (err) {
      throw dockerFailure(err, 'run a challenge', container.id);
    }
    return exec;
  }

  /** Kills the command when the client cancels or its duration (plus grace) runs out. */
  private supervise(exec: ChallengeExec, plan: ChallengePlan, sink: EventSink, log: Logger): Supervision {
    const state = { cancelled: false, timedOut: false };
    const onAbort = (): void => {
      state.cancelled = true;
      log.info('challenge cancelled: killing the command', { reason: String((sink.signal.reason as Error | undefined)?.message ?? sink.signal.reason) });
      void exec.kill();
    };
    if (sink.signal.aborted) onAbort();
    else sink.signal.addEventListener('abort', onAbort, { once: true });
    const limitMs = (plan.durationSeconds + this.config.grace_seconds) * 1000;
    const timer = setTimeout(() => {
      // Already over (only its output is still draining to a slow client): not a timeout.
      if (state.cancelled || exec.hasExited) return;
      state.timedOut = true;
      log.info('challenge timed out: killing the command', { durationS: plan.durationSeconds });
      void exec.kill();
    }, Math.min(limitMs, 2 ** 31 - 1));
    return {
      get cancelled() {
        return state.cancelled;
      },
      get timedOut() {
        return state.timedOut;
      },
      stop: () => {
        clearTimeout(timer);
        sink.signal.removeEventListener('abort', onAbort);
      },
    };
  }

  /** From the memory cgroup's OOM-kill counter when the sampler reads it, else from Docker. */
  private async oomKilled(container: Docker.Container, base: Reading, final: Reading): Promise<boolean> {
    if (base.oomKills !== undefined && final.oomKills !== undefined) return final.oomKills > base.oomKills;
    try {
      return (await container.inspect()).State.OOMKilled === true;
    } catch {
      return false; // the container is gone: nothing to learn
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
