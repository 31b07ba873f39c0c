/** One cgroup sample streamed by the miner while a challenge command runs. */
export interface ExecSample {
  elapsedUs: number;
  cpuUsage: number;
  cpuTimeNs: number;
  memoryUsage: number;
  memoryLimit: number;
  pids: number;
}

export interface ExecOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
  samples: ExecSample[];
  /** Measured on the VALIDATOR's clock around the whole call. */
  elapsedMs: number;
  timedOut: boolean;
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
