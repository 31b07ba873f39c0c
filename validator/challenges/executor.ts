/** One cgroup sample streamed by the miner while a challenge command runs. */
export interface ExecSample {
  elapsedUs: number;
  cpuUsage: number;
  cpuTimeNs: number;
  memoryUsage: number;
  memoryLimit: number;
  pids: number;
  /** Host steal time since the previous sample, % (miner-reported: only ever a reason to retest). */
  hostStealPercent?: number;
  /** Network traffic of the container since the command started (bytes, packets). */
  netRxBytes?: number;
  netTxBytes?: number;
  netRxPackets?: number;
  netTxPackets?: number;
}

export interface ExecOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
  samples: ExecSample[];
  /** Measured on the VALIDATOR's clock around the whole call. */
  elapsedMs: number;
  timedOut: boolean;
  /**
   * Set when the output that arrived (OutputChunk events) does not match the
   * byte counts or SHA-256 digests the miner's result states: the proof that
   * reads this output then fails with it as a finding (probe-output.ts).
   */
  transferProblem?: string;
}

export type ChallengeKind = 'compute' | 'memory';

export interface ExecOptions {
  type: ChallengeKind;
  /** Which half of a commit-then-open challenge the call is (the live view follows it). */
  step: 'commit' | 'open';
  stdin?: Buffer;
  timeoutMs: number;
  expectedCpuSeconds?: number;
}

/** Runs argv (no shell) where the probe lives: a miner's container via RunChallenge, or locally. */
export type ChallengeExecutor = (argv: string[], opts: ExecOptions) => Promise<ExecOutcome>;

/** Mean steal a miner reported over a call's samples, 0 when none. */
export function meanStealPercent(samples: readonly ExecSample[]): number {
  const xs = samples.map((s) => s.hostStealPercent ?? 0);
  return xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
}

/**
 * Steal at or above this mean during a slow run earns one more retest (at
 * most EXTRA_RETESTS per challenge). The figure comes from the miner, so it
 * can only ever cost the validator time, never turn a slow run into a pass.
 */
export const STEAL_RETEST_PERCENT = 5;
export const EXTRA_RETESTS = 2;
