/** The ChallengeResult a run ends with, assembled from plain figures (pure: tested without Docker). */
import { ChallengeStatus, type ChallengeResult } from '../../common/gen/polarise/v1/miner.js';

/** A stream's size and digest, as the command wrote it (bounded-capture.ts). */
export interface StreamFigures {
  bytes: number;
  sha256: Buffer;
}

export interface RunFigures {
  cancelled: boolean;
  timedOut: boolean;
  exitCode: number;
  /** The tail of standard output (at most RESULT_TAIL_BYTES). */
  stdout: string;
  /** The tail of standard error (at most STDERR_TAIL_BYTES). */
  stderr: string;
  /** True when a tail is not its whole stream. */
  outputTruncated: boolean;
  /** Each whole stream's size and digest; zeros when absent. */
  streams?: { stdout: StreamFigures; stderr: StreamFigures };
  oomKilled: boolean;
  wallNs: number;
  cpuTimeNs: number;
  peakCpu: number;
  peakMemory: number;
  memoryLimit: number;
  sampleCount: number;
  expectedCpu: number;
}

/** Cancelled and timed out win over the exit code (the kill made it). */
export function challengeStatus(f: Pick<RunFigures, 'cancelled' | 'timedOut' | 'exitCode'>): ChallengeStatus {
  if (f.cancelled) return ChallengeStatus.CHALLENGE_STATUS_CANCELLED;
  if (f.timedOut) return ChallengeStatus.CHALLENGE_STATUS_TIMEOUT;
  return f.exitCode === 0 ? ChallengeStatus.CHALLENGE_STATUS_COMPLETED : ChallengeStatus.CHALLENGE_STATUS_FAILED;
}

export function buildResult(f: RunFigures): ChallengeResult {
  const meanCpu = f.wallNs > 0 ? (f.cpuTimeNs / f.wallNs) * 100 : 0;
  const peakPercent = f.memoryLimit > 0 ? (f.peakMemory / f.memoryLimit) * 100 : 0;
  return {
    commandResult: {
      status: challengeStatus(f),
      exitCode: f.exitCode,
      output: f.stdout,
      outputTruncated: f.outputTruncated,
      stderr: f.stderr,
      oomKilled: f.oomKilled,
      stdoutBytes: f.streams?.stdout.bytes ?? 0,
      stderrBytes: f.streams?.stderr.bytes ?? 0,
      stdoutSha256: f.streams?.stdout.sha256 ?? Buffer.alloc(0),
      stderrSha256: f.streams?.stderr.sha256 ?? Buffer.alloc(0),
    },
    metrics: { cpuUsage: meanCpu, memoryUsage: f.peakMemory, memoryLimit: f.memoryLimit, memoryPercent: peakPercent },
    summary: {
      meanCpuUsage: meanCpu,
      peakCpuUsage: f.peakCpu,
      peakMemoryUsage: f.peakMemory,
      memoryLimit: f.memoryLimit,
      peakMemoryPercent: peakPercent,
      sampleCount: f.sampleCount,
      wallTimeMs: Math.round(f.wallNs / 1e6),
      cpuTimeNs: f.cpuTimeNs,
      expectedCpu: f.expectedCpu,
    },
  };
}
