/**
 * From the validator's own clock readings of one round's compute runs to
 * rates in the unit of compute (docs/verification.md, "Unit of compute",
 * "Cores"). Pure: no figure here depends on the validator's hardware, only
 * on times it measured and the published constants below.
 */

/** One reference core: 20·10⁹ multiply-adds mod p per second with the probe's kernel (a current server core with AVX2+FMA). */
export const REFERENCE_CORE_RATE = 20e9;
/** Slowest single-worker rate the core check believes; a slower single run is capped to it so it cannot stretch the check. */
export const MIN_CORE_RATE = 1e9;
/**
 * All-workers runs at least this share of the single-worker speed per worker,
 * or the container has fewer cores than claimed. Measured here: honest
 * 0.86–0.96, half the cores under a CFS quota 0.50–0.63 (the quota also
 * slows the single run a little), docs/verification.md "Cores".
 */
export const CORE_EFFICIENCY_MIN = 0.75;
/**
 * The no-op's time (round trip and exec start) subtracted from a run at most,
 * and never more than half the run: enough for a 300 ms round trip and a slow
 * exec, and all a miner padding its no-ops can gain (docs/verification.md).
 */
export const MAX_OVERHEAD_MS = 600;

export interface RunTimes {
  /** Multiply-adds one worker does in one run. */
  workPerWorker: number;
  workers: number;
  /** Validator wall times of verified runs, ms. */
  allMs: number[];
  /** Single-worker runs (only when workers > 1). */
  singleMs: number[];
  noopMs: number[];
}

export interface ComputeRates {
  /** The least no-op time of the round (what is subtracted, capped). */
  overheadMs: number;
  /** Fastest all-workers run, raw and net of the overhead. */
  allMs: number;
  allNetMs: number;
  /** Fastest single-worker run net of the overhead, capped at workPerWorker / MIN_CORE_RATE (workers > 1). */
  singleNetMs?: number;
  /** Proven multiply-adds per second, all claimed cores together. */
  throughput: number;
  /** One worker alone, per second (the all-workers run's share when workers = 1). */
  perCoreRate: number;
  /** singleNet / allNet: 1 when every worker has a core of its own (workers > 1). */
  efficiency?: number;
  /** throughput / REFERENCE_CORE_RATE. */
  coreEquivalents: number;
  /** min(1, coreEquivalents / workers). */
  component: number;
  fewerCores: boolean;
}

const least = (xs: number[]): number => Math.min(...xs);

/** A run's time without the call's overhead: never below half of it, so a slow no-op can at most double a rate. */
export function netMs(ms: number, overheadMs: number): number {
  return ms - Math.min(overheadMs, MAX_OVERHEAD_MS, ms / 2);
}

/** Undefined when no all-workers run verified. */
export function computeRates(t: RunTimes): ComputeRates | undefined {
  if (t.allMs.length === 0) return undefined;
  const overheadMs = t.noopMs.length ? least(t.noopMs) : 0;
  const allMs = least(t.allMs);
  const allNetMs = netMs(allMs, overheadMs);
  const allRate = (t.workers * t.workPerWorker) / (allNetMs / 1000);
  let throughput = allRate;
  let perCoreRate = allRate / t.workers;
  let singleNetMs: number | undefined;
  let efficiency: number | undefined;
  if (t.workers > 1 && t.singleMs.length) {
    singleNetMs = Math.min(netMs(least(t.singleMs), overheadMs), (t.workPerWorker / MIN_CORE_RATE) * 1000);
    perCoreRate = t.workPerWorker / (singleNetMs / 1000);
    throughput = Math.min(allRate, t.workers * perCoreRate);
    efficiency = singleNetMs / allNetMs;
  }
  const coreEquivalents = throughput / REFERENCE_CORE_RATE;
  return {
    overheadMs,
    allMs,
    allNetMs,
    singleNetMs,
    throughput,
    perCoreRate,
    efficiency,
    coreEquivalents,
    component: Math.min(1, coreEquivalents / t.workers),
    fewerCores: efficiency !== undefined && efficiency < CORE_EFFICIENCY_MIN,
  };
}

/** Two fastest of xs within `spread` of each other: more runs would not change the verdict much. */
export function settled(xs: number[], spread = 0.1): boolean {
  if (xs.length < 2) return false;
  const [a, b] = [...xs].sort((x, y) => x - y);
  return b! <= a! * (1 + spread);
}

/** 12.3 GMA/s. */
export const formatRate = (rate: number): string => `${(rate / 1e9).toFixed(1)} GMA/s`;
