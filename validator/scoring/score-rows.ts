/** The score database's rows as SQLite returns them, and the objects ScoreStore hands out for them. */
import { FINDING_CODES, type Finding, type FindingCode } from '../findings.js';
import type { ChallengeRecord, Phase, RoundCapacity, SampleRecord } from '../round-types.js';
import type { CurrentScore, ScorePoint, StoredMinerRound, StoredRound } from './score-store.js';

export interface RoundRow {
  id: number;
  started_at: number;
  finished_at: number | null;
}

export interface MinerRoundRow {
  id: number;
  round_id: number;
  miner: string;
  address: string;
  started_at: number;
  finished_at: number;
  claimed_cpu_count: number;
  claimed_memory_bytes: number;
  compute: number;
  memory: number;
  rental: number;
  metrics: number;
  round_score: number;
  ema: number;
  error: string | null;
  lie: number;
  /** JSON of RoundCapacity (schema 3), null before or when the miner stated no offer. */
  capacity: string | null;
}

export interface FindingRow {
  challenge_id: number | null;
  code: string;
  text: string;
  figures: string | null;
}

export interface ChallengeRow {
  id: number;
  kind: ChallengeRecord['kind'];
  step: ChallengeRecord['step'];
  passed: number;
  elapsed_ms: number;
  deadline_ms: number | null;
  details: string;
}

export interface SampleRow {
  phase: Phase;
  elapsed_us: number;
  cpu_usage: number;
  cpu_time_ns: number;
  memory_usage: number;
  memory_limit: number;
  pids: number;
  net_rx_bytes: number | null;
  net_tx_bytes: number | null;
  net_rx_packets: number | null;
  net_tx_packets: number | null;
  host_steal_percent: number | null;
}

export interface CurrentScoreRow {
  miner: string;
  ema: number;
  rounds: number;
  last_score: number;
  last_round_at: number;
  offered_cpus: number | null;
  free_cpus: number | null;
  offered_memory_bytes: number | null;
  free_memory_bytes: number | null;
  proven_cores: number;
  proven_memory_bytes: number;
}

export interface ScorePointRow {
  round_id: number;
  finished_at: number;
  round_score: number;
  ema: number;
}

const FINDING_CODE_SET = new Set<string>(FINDING_CODES);

export function findingOf(row: FindingRow): Finding {
  const code = FINDING_CODE_SET.has(row.code) ? (row.code as FindingCode) : 'unclassified';
  return row.figures === null ? { code, message: row.text } : { code, message: row.text, figures: JSON.parse(row.figures) as Record<string, number> };
}

export function sampleOf(s: SampleRow): SampleRecord {
  return {
    phase: s.phase,
    elapsedUs: s.elapsed_us,
    cpuUsage: s.cpu_usage,
    cpuTimeNs: s.cpu_time_ns,
    memoryUsage: s.memory_usage,
    memoryLimit: s.memory_limit,
    pids: s.pids,
    ...(s.net_rx_bytes !== null && {
      netRxBytes: s.net_rx_bytes,
      netTxBytes: s.net_tx_bytes ?? 0,
      netRxPackets: s.net_rx_packets ?? 0,
      netTxPackets: s.net_tx_packets ?? 0,
    }),
    ...(s.host_steal_percent !== null && { hostStealPercent: s.host_steal_percent }),
  };
}

/** `found` holds every finding of the challenge's miner round; only this challenge's are kept. */
export function challengeOf(ch: ChallengeRow, found: readonly FindingRow[], samples: SampleRecord[]): ChallengeRecord {
  return {
    kind: ch.kind,
    step: ch.step,
    passed: ch.passed === 1,
    elapsedMs: ch.elapsed_ms,
    ...(ch.deadline_ms === null ? {} : { deadlineMs: ch.deadline_ms }),
    findings: found.filter((f) => f.challenge_id === ch.id).map(findingOf),
    details: JSON.parse(ch.details) as Record<string, unknown>,
    samples,
  };
}

/** `found` holds every finding of the miner round; those of no challenge are the round's own. */
export function minerRoundOf(mr: MinerRoundRow, found: readonly FindingRow[], challenges: ChallengeRecord[]): StoredMinerRound {
  return {
    roundId: mr.round_id,
    miner: mr.miner,
    address: mr.address,
    startedAt: new Date(mr.started_at),
    finishedAt: new Date(mr.finished_at),
    claimed: { cpuCount: mr.claimed_cpu_count, memoryBytes: mr.claimed_memory_bytes },
    components: { compute: mr.compute, memory: mr.memory, rental: mr.rental, metrics: mr.metrics },
    roundScore: mr.round_score,
    ema: mr.ema,
    findings: found.filter((f) => f.challenge_id === null).map(findingOf),
    challenges,
    ...(mr.error === null ? {} : { error: mr.error }),
    ...(mr.lie ? { lie: true } : {}),
    ...(mr.capacity === null ? {} : { capacity: JSON.parse(mr.capacity) as RoundCapacity }),
  };
}

export function roundOf(round: RoundRow, miners: StoredMinerRound[]): StoredRound {
  return {
    id: round.id,
    startedAt: new Date(round.started_at),
    ...(round.finished_at === null ? {} : { finishedAt: new Date(round.finished_at) }),
    miners,
  };
}

export function currentScoreOf(r: CurrentScoreRow): CurrentScore {
  return {
    miner: r.miner,
    ema: r.ema,
    rounds: r.rounds,
    lastScore: r.last_score,
    lastRoundAt: new Date(r.last_round_at),
    ...(r.offered_cpus === null ? {} : { offeredCpus: r.offered_cpus, freeCpus: r.free_cpus ?? 0 }),
    ...(r.offered_memory_bytes === null ? {} : { offeredMemoryBytes: r.offered_memory_bytes, freeMemoryBytes: r.free_memory_bytes ?? 0 }),
    provenCores: r.proven_cores,
    provenMemoryBytes: r.proven_memory_bytes,
  };
}

export function scorePointOf(r: ScorePointRow): ScorePoint {
  return { roundId: r.round_id, at: new Date(r.finished_at), score: r.round_score, ema: r.ema };
}
