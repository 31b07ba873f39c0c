/** What one validation round produces for one miner: plain data, stored and shown. */
import type { ExecSample } from './challenges/executor.js';
import type { Finding } from './findings.js';

export type Phase =
  | 'allocate'
  | 'ssh'
  | 'upload'
  | 'compute-commit'
  | 'compute-open'
  | 'memory-commit'
  | 'memory-open'
  | 'release'
  | 'done'
  | 'failed';

export const PHASES: readonly Phase[] = [
  'allocate',
  'ssh',
  'upload',
  'compute-commit',
  'compute-open',
  'memory-commit',
  'memory-open',
  'release',
  'done',
];

/** One live resource sample as streamed by the miner (evidence, not fact), and when it came. */
export interface SampleRecord extends ExecSample {
  phase: Phase;
}

/** Each in [0, 1]. A failed proof zeroes its component. */
export interface ComponentScores {
  compute: number;
  memory: number;
  rental: number;
  metrics: number;
}

export type ComponentWeights = ComponentScores;

export interface ChallengeRecord {
  kind: 'compute' | 'memory';
  step: 'commit' | 'open';
  passed: boolean;
  /** On the validator's clock. */
  elapsedMs: number;
  deadlineMs?: number;
  /** Why the challenge scored less than 1, with the figures. */
  findings: Finding[];
  /** Parameters and figures worth keeping (seed prefix, n, size, rates...). */
  details: Record<string, unknown>;
  samples: SampleRecord[];
}

/**
 * What the miner offered (GetCapacity, a claim) and what the round proved of
 * it. A full-capacity round rents what is free; a light round a fixed size
 * (it proves liveness, not capacity); a held round found nothing free.
 */
export interface RoundCapacity {
  kind?: 'full' | 'light' | 'held';
  offeredCpus: number;
  freeCpus: number;
  offeredMemoryBytes: number;
  freeMemoryBytes: number;
  /** CPUs the round rented. */
  rentedCpus: number;
  rentedMemoryBytes?: number;
  /**
   * The miner's proven capacity after this round, in core-equivalents
   * (throughput / reference core): the best of this full round (its proofs
   * plus the credit for capacity renters hold) and the recent full rounds
   * that still count (validator.capacity.best_of). A light round raises it to
   * its own proof when that is larger; a lie or an invalid proof in any round
   * sets it to 0 (scoring/capacity-standing.ts).
   */
  provenCores?: number;
  /** Bytes proven after this round, likewise. */
  provenMemoryBytes?: number;
  /** What this round proved by itself, credit included: what later rounds take the best of. */
  roundProvenCores?: number;
  roundProvenMemoryBytes?: number;
  /** An invalid proof or a lie: nothing proven before this round counts again. */
  invalid?: boolean;
  /** The part of provenCores credited at the last proven value for capacity renters hold. */
  creditedCores?: number;
  creditedMemoryBytes?: number;
}

export interface MinerRoundResult {
  miner: string;
  address: string;
  startedAt: Date;
  finishedAt: Date;
  claimed: { cpuCount: number; memoryBytes: number };
  components: ComponentScores;
  /** Weighted sum of the components for this round, in [0, 1]. */
  roundScore: number;
  /** Round-level findings (rental, errors, release); each challenge keeps its own. */
  findings: Finding[];
  challenges: ChallengeRecord[];
  /** Set when the round could not complete (miner down, refused, SSH broken...). */
  error?: string;
  /** The miner reported what cannot be true (a samples-impossible finding): the round scored 0. */
  lie?: boolean;
  capacity?: RoundCapacity;
  /** Why the round was not scored (nothing free to rent): the moving average stays as it was. */
  unscored?: string;
}

/** Every finding of a round: its own, then each challenge's, each once. */
export function allFindings(result: Pick<MinerRoundResult, 'findings' | 'challenges'>): Finding[] {
  return [...result.findings, ...result.challenges.flatMap((ch) => ch.findings)];
}
