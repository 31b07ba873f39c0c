/**
 * Scoring, pure functions only.
 *
 * Per round each miner gets four components in [0, 1] (compute, memory,
 * rental, metrics); a failed proof zeroes its component. The round score is
 * their weighted mean, the miner's standing score an exponential moving
 * average (EMA) of round scores, and a miner's weight its EMA's share of all
 * miners' EMAs.
 */
import type { ComponentScores, ComponentWeights } from '../round-types.js';

const COMPONENTS = ['compute', 'memory', 'rental', 'metrics'] as const satisfies readonly (keyof ComponentScores)[];

/** x clamped to [0, 1]; NaN (nothing measurable) counts as 0. */
export function clampUnit(x: number): number {
  if (Number.isNaN(x)) return 0;
  return Math.min(1, Math.max(0, x));
}

/**
 * A deadline's component: 1 at or under the deadline, falling linearly to 0
 * at 1.25 × the deadline. The memory deadline already sits at 2–3× an honest
 * walk, so only a walk that missed it k times in a row lands here: a little
 * past it costs a little, a prover recomputing half its data (≥ 3× an honest
 * walk) earns little or nothing.
 */
export function deadlineComponent(bestMs: number, deadlineMs: number): number {
  if (!(deadlineMs > 0) || !(bestMs >= 0) || !Number.isFinite(bestMs)) return 0;
  return clampUnit((1.25 * deadlineMs - bestMs) / (0.25 * deadlineMs));
}

/** Share of checks that held, in [0, 1]; 0 when there were none (nothing was checked). */
export function checksComponent(checks: readonly boolean[]): number {
  return checks.length === 0 ? 0 : checks.filter(Boolean).length / checks.length;
}

/** All components zero: a round that could not run. */
export function zeroComponents(): ComponentScores {
  return { compute: 0, memory: 0, rental: 0, metrics: 0 };
}

/**
 * Weights scaled to sum to 1: w_i / Σ w. Throws a RangeError when a weight is
 * negative or not finite, or when they sum to 0 (config already refuses both).
 */
export function normaliseComponentWeights(weights: ComponentWeights): ComponentWeights {
  for (const key of COMPONENTS) {
    const w = weights[key];
    if (!Number.isFinite(w) || w < 0) throw new RangeError(`weight ${key} must be a finite number >= 0, got ${w}`);
  }
  const sum = COMPONENTS.reduce((total, key) => total + weights[key], 0);
  if (!(sum > 0)) throw new RangeError('at least one component weight must be above zero');
  return {
    compute: weights.compute / sum,
    memory: weights.memory / sum,
    rental: weights.rental / sum,
    metrics: weights.metrics / sum,
  };
}

/**
 * Round score = Σ_i (w_i / Σ_j w_j) · clamp(c_i, 0, 1) over the components
 * compute, memory, rental and metrics. Always in [0, 1].
 */
export function roundScore(components: ComponentScores, weights: ComponentWeights): number {
  const w = normaliseComponentWeights(weights);
  const score = COMPONENTS.reduce((total, key) => total + w[key] * clampUnit(components[key]), 0);
  return clampUnit(score);
}

/**
 * Exponential moving average: ema_n = α · score_n + (1 − α) · ema_{n−1}, with
 * ema_1 = score_1 (no previous value: the first round counts in full).
 * α in (0, 1] is the weight of the newest round; the score is clamped to [0, 1].
 */
export function updateEma(previous: number | undefined, score: number, alpha: number): number {
  if (!(alpha > 0 && alpha <= 1)) throw new RangeError(`EMA alpha must be in (0, 1], got ${alpha}`);
  const s = clampUnit(score);
  return previous === undefined ? s : clampUnit(alpha * s + (1 - alpha) * previous);
}

/**
 * Miner weights: weight_m = s_m / Σ_k s_k, summing to 1. Negative or NaN
 * scores count as 0; when every score is 0, every weight is 0 (nobody earned
 * anything, so nothing is handed out).
 */
export function normaliseWeights(scores: ReadonlyMap<string, number>): Map<string, number> {
  const clean = new Map([...scores].map(([miner, s]) => [miner, Number.isFinite(s) && s > 0 ? s : 0] as const));
  const sum = [...clean.values()].reduce((a, b) => a + b, 0);
  return new Map([...clean].map(([miner, s]) => [miner, sum > 0 ? s / sum : 0]));
}

/** Proven memory per core-equivalent in a weight: 4 GiB, the usual ratio of memory to vCPU in cloud offers. */
export const GIB_PER_CORE = 4;

export interface ProvenStanding {
  miner: string;
  /** Reliability: the moving average of round scores. */
  ema: number;
  provenCores: number;
  provenMemoryBytes: number;
}

/** Proven capacity in core-equivalents: cores plus memory at GIB_PER_CORE. */
export function capacityUnits(s: Pick<ProvenStanding, 'provenCores' | 'provenMemoryBytes'>): number {
  return Math.max(0, s.provenCores) + Math.max(0, s.provenMemoryBytes) / (GIB_PER_CORE * 2 ** 30);
}

/**
 * Weights ∝ proven capacity × reliability, normalised to sum 1
 * (docs/verification.md, "Weights"). Only proofs count: what a miner merely
 * claims never enters, and a claim it cannot back fails its rounds.
 */
export function capacityWeights(standings: readonly ProvenStanding[]): Map<string, number> {
  return normaliseWeights(new Map(standings.map((s) => [s.miner, capacityUnits(s) * s.ema])));
}
