/**
 * Cross-check of the miner's streamed samples (docs/verification.md,
 * "Metrics cross-check"). Two kinds of finding:
 *  - samples-impossible: what no honest sampler can report (CPU beyond the
 *    cores or the validator's wall time, memory beyond the limit, counters
 *    going back, time the validator never saw pass). A lie: the round scores 0.
 *  - samples-mismatch: samples that do not account for the work (too little
 *    CPU or memory shown, one noisy interval over the cores). Lowers the
 *    metrics component only: sampling can miss the ends of a call.
 */
import { finding, type Finding } from '../findings.js';
import type { ExecSample } from './executor.js';

/** 'no-samples' (a local executor) is neither; the caller decides. */
export interface MetricsCheck {
  status: 'ok' | 'mismatch' | 'impossible' | 'no-samples';
  findings: Finding[];
  observedCpuSeconds?: number;
  expectedCpuSeconds?: number;
  /** What the claimed cores could deliver over the validator's own measurement of the call. */
  maxCpuSeconds?: number;
  peakMemoryBytes?: number;
  expectedMemoryBytes?: number;
}

/**
 * Tolerances of the impossibility rules. Each covers timing jitter of an
 * honest sampler (a sample's clock read and its cgroup read can be apart by a
 * scheduling delay) with room to spare; a miner doubling its CPU figures
 * exceeds every one of them.
 */
export const LIE_TOLERANCE = {
  /** Σ CPU ≤ cores × validator wall time × factor + slackSeconds. */
  wallFactor: 1.05,
  wallSlackSeconds: 0.1,
  /** Over any window of at least windowSeconds of sampled time: CPU ≤ cores × window × factor + slack. */
  windowSeconds: 1,
  windowFactor: 1.2,
  windowSlackSeconds: 0.1,
  /** A sampled span may exceed the validator's measurement of the call by this much. */
  spanSlackMs: 250,
  /** memory_usage ≤ limit × factor. */
  memoryFactor: 1.01,
} as const;

export interface ComputeExpectation {
  /** CPU seconds the work needs (single-core CPU time × workers). */
  expectedCpuSeconds: number;
  claimedCores: number;
  /** The validator's own measurement of the call. */
  elapsedMs: number;
  /** The memory the validator allocated: no sample may show more in use. */
  limitBytes?: number;
  /** Least share of expected CPU the samples must show (they miss up to a sample interval at each end). */
  minFraction?: number;
}

const fmt = (x: number): string => x.toFixed(2);
const mib = (x: number): string => `${(x / 2 ** 20).toFixed(1)} MiB`;

function counterLies(samples: ExecSample[]): Finding[] {
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!, b = samples[i]!;
    if (b.elapsedUs < a.elapsedUs)
      return [finding('samples-impossible', `time goes backwards at sample ${i} (${a.elapsedUs} → ${b.elapsedUs} µs)`, { sample: i, fromUs: a.elapsedUs, toUs: b.elapsedUs })];
    if (b.cpuTimeNs < a.cpuTimeNs)
      return [finding('samples-impossible', `cumulative CPU time decreases at sample ${i} (${a.cpuTimeNs} → ${b.cpuTimeNs} ns)`, { sample: i, fromNs: a.cpuTimeNs, toNs: b.cpuTimeNs })];
  }
  return [];
}

/** The first window of ≥ windowSeconds whose CPU time no `cores` could deliver. */
function windowLie(samples: ExecSample[], cores: number): Finding | undefined {
  const t = LIE_TOLERANCE;
  let start = 0;
  for (let end = 1; end < samples.length; end++) {
    while (start < end - 1 && (samples[end]!.elapsedUs - samples[start + 1]!.elapsedUs) / 1e6 >= t.windowSeconds) start++;
    const window = (samples[end]!.elapsedUs - samples[start]!.elapsedUs) / 1e6;
    if (window < t.windowSeconds) continue;
    const cpu = (samples[end]!.cpuTimeNs - samples[start]!.cpuTimeNs) / 1e9;
    const max = cores * window * t.windowFactor + t.windowSlackSeconds;
    if (cpu > max)
      return finding('samples-impossible', `${fmt(cpu)} CPU-s in ${fmt(window)} s of samples: more than ${cores} core(s) can run`, {
        cpuSeconds: cpu,
        windowSeconds: window,
        maxCpuSeconds: max,
        cores,
      });
  }
  return undefined;
}

function memoryLie(samples: ExecSample[], limitBytes?: number): Finding | undefined {
  for (const s of samples) {
    const limit = Math.min(s.memoryLimit > 0 ? s.memoryLimit : Infinity, limitBytes ?? Infinity);
    if (Number.isFinite(limit) && s.memoryUsage > limit * LIE_TOLERANCE.memoryFactor)
      return finding('samples-impossible', `memory_usage ${mib(s.memoryUsage)} is above the limit of ${mib(limit)}`, { memoryBytes: s.memoryUsage, limitBytes: limit });
  }
  return undefined;
}

const statusOf = (findings: Finding[]): MetricsCheck['status'] =>
  findings.some((f) => f.code === 'samples-impossible') ? 'impossible' : findings.length ? 'mismatch' : 'ok';

export function checkComputeSamples(samples: ExecSample[], e: ComputeExpectation): MetricsCheck {
  if (samples.length < 2) return { status: 'no-samples', findings: [], expectedCpuSeconds: e.expectedCpuSeconds };
  const t = LIE_TOLERANCE;
  const minFraction = e.minFraction ?? 0.7;
  const findings = counterLies(samples);
  const first = samples[0]!, last = samples[samples.length - 1]!;
  const spanS = (last.elapsedUs - first.elapsedUs) / 1e6;
  const observed = (last.cpuTimeNs - first.cpuTimeNs) / 1e9;
  const wallS = e.elapsedMs / 1000;
  const maxCpu = e.claimedCores * wallS * t.wallFactor + t.wallSlackSeconds;
  if (spanS * 1000 > e.elapsedMs + t.spanSlackMs)
    findings.push(finding('samples-impossible', `samples span ${fmt(spanS)} s, the call took ${fmt(wallS)} s on the validator's clock`, { spanSeconds: spanS, wallSeconds: wallS }));
  if (observed > maxCpu)
    findings.push(
      finding('samples-impossible', `${fmt(observed)} CPU-s in a call of ${fmt(wallS)} s: more than ${e.claimedCores} core(s) can run`, {
        cpuSeconds: observed,
        wallSeconds: wallS,
        maxCpuSeconds: maxCpu,
        cores: e.claimedCores,
      }),
    );
  const window = windowLie(samples, e.claimedCores);
  if (window) findings.push(window);
  const over = memoryLie(samples, e.limitBytes);
  if (over) findings.push(over);
  if (observed < e.expectedCpuSeconds * minFraction)
    findings.push(
      finding('samples-mismatch', `${fmt(observed)} CPU-s used, the work needs ${fmt(e.expectedCpuSeconds)} CPU-s (at least ${Math.round(minFraction * 100)}% must show)`, {
        cpuSeconds: observed,
        expectedCpuSeconds: e.expectedCpuSeconds,
      }),
    );
  const badPct = samples.find((s) => s.cpuUsage > e.claimedCores * 110 + 5);
  if (badPct && !window)
    findings.push(finding('samples-mismatch', `cpu_usage ${fmt(badPct.cpuUsage)} % in one sample exceeds ${e.claimedCores} core(s)`, { cpuPercent: badPct.cpuUsage, cores: e.claimedCores }));
  return { status: statusOf(findings), findings, observedCpuSeconds: observed, expectedCpuSeconds: e.expectedCpuSeconds, maxCpuSeconds: maxCpu };
}

export interface MemoryExpectation {
  filledBytes: number;
  claimedCores: number;
  /** The memory the validator allocated: no sample may show more in use. */
  limitBytes?: number;
  /** The validator's own measurement of each call (same order as the runs). */
  elapsedMs?: number[];
  /** Share of the filled size the peak memory_usage must reach (page cache accounting varies). */
  minFraction?: number;
}

/** `runs`: the samples of each call (commit, open); every call's clock starts at zero. */
export function checkMemorySamples(runs: ExecSample[][], e: MemoryExpectation): MetricsCheck {
  const samples = runs.flat();
  if (samples.length === 0) return { status: 'no-samples', findings: [], expectedMemoryBytes: e.filledBytes };
  const minFraction = e.minFraction ?? 0.9;
  const findings = runs.flatMap(counterLies);
  runs.forEach((run, i) => {
    const wall = e.elapsedMs?.[i];
    if (run.length < 2 || wall === undefined) return;
    const cpu = (run[run.length - 1]!.cpuTimeNs - run[0]!.cpuTimeNs) / 1e9;
    const max = e.claimedCores * (wall / 1000) * LIE_TOLERANCE.wallFactor + LIE_TOLERANCE.wallSlackSeconds;
    if (cpu > max)
      findings.push(finding('samples-impossible', `${fmt(cpu)} CPU-s in a call of ${fmt(wall / 1000)} s: more than ${e.claimedCores} core(s) can run`, { cpuSeconds: cpu, wallSeconds: wall / 1000, maxCpuSeconds: max }));
  });
  for (const run of runs) {
    const window = windowLie(run, e.claimedCores);
    if (window) {
      findings.push(window);
      break;
    }
  }
  const over = memoryLie(samples, e.limitBytes);
  if (over) findings.push(over);
  const peak = Math.max(...samples.map((s) => s.memoryUsage));
  if (peak < e.filledBytes * minFraction)
    findings.push(
      finding('samples-mismatch', `memory_usage peaked at ${mib(peak)}, the filled data is ${mib(e.filledBytes)} (at least ${Math.round(minFraction * 100)}% must show)`, {
        peakBytes: peak,
        filledBytes: e.filledBytes,
      }),
    );
  return { status: statusOf(findings), findings, peakMemoryBytes: peak, expectedMemoryBytes: e.filledBytes };
}
