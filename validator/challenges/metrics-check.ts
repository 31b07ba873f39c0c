import type { ExecSample } from './executor.js';

/** Cross-check of the miner's streamed samples against what the work needs.
 * 'no-samples' (a local executor) is not a mismatch; the caller decides. */
export interface MetricsCheck {
  status: 'ok' | 'mismatch' | 'no-samples';
  findings: string[];
  observedCpuSeconds?: number;
  expectedCpuSeconds?: number;
  /** What the claimed cores could deliver over the sampled span. */
  maxCpuSeconds?: number;
  peakMemoryBytes?: number;
  expectedMemoryBytes?: number;
}

export interface ComputeExpectation {
  /** From the validator's calibration: single-core CPU time × workers. */
  expectedCpuSeconds: number;
  claimedCores: number;
  /** The validator's own measurement of the call. */
  elapsedMs: number;
  /** Least share of expected CPU the samples must show (they miss up to a sample interval at each end). */
  minFraction?: number;
  /** Slack on the physical bound (cores × time): scheduler and sampling jitter. */
  slack?: number;
}

const fmt = (x: number): string => x.toFixed(2);

function orderFindings(samples: ExecSample[]): string[] {
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!, b = samples[i]!;
    if (b.elapsedUs < a.elapsedUs) return [`samples: time goes backwards at sample ${i} (${a.elapsedUs} → ${b.elapsedUs} µs)`];
    if (b.cpuTimeNs < a.cpuTimeNs) return [`samples: cumulative CPU time decreases at sample ${i} (${a.cpuTimeNs} → ${b.cpuTimeNs} ns)`];
  }
  return [];
}

export function checkComputeSamples(samples: ExecSample[], e: ComputeExpectation): MetricsCheck {
  if (samples.length < 2) return { status: 'no-samples', findings: [], expectedCpuSeconds: e.expectedCpuSeconds };
  const minFraction = e.minFraction ?? 0.7;
  const slack = e.slack ?? 1.1;
  const findings = orderFindings(samples);
  const first = samples[0]!, last = samples[samples.length - 1]!;
  const spanS = (last.elapsedUs - first.elapsedUs) / 1e6;
  const observed = (last.cpuTimeNs - first.cpuTimeNs) / 1e9;
  const maxCpu = spanS * e.claimedCores * slack + 0.05;
  if (spanS * 1000 > e.elapsedMs + 250)
    findings.push(`samples: span ${fmt(spanS)} s is longer than the call took on the validator's clock (${fmt(e.elapsedMs / 1000)} s)`);
  if (observed > maxCpu)
    findings.push(`samples: ${fmt(observed)} CPU-s in ${fmt(spanS)} s is more than ${e.claimedCores} cores can deliver (max ${fmt(maxCpu)} CPU-s)`);
  if (observed < e.expectedCpuSeconds * minFraction)
    findings.push(`samples: ${fmt(observed)} CPU-s used, the work needs ${fmt(e.expectedCpuSeconds)} CPU-s (at least ${Math.round(minFraction * 100)}% must show)`);
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!, b = samples[i]!;
    const dt = (b.elapsedUs - a.elapsedUs) / 1e6;
    const dc = (b.cpuTimeNs - a.cpuTimeNs) / 1e9;
    if (dc > dt * e.claimedCores * slack + 0.02) {
      findings.push(`samples: interval ${i} shows ${fmt(dc)} CPU-s in ${fmt(dt)} s (more than ${e.claimedCores} cores)`);
      break;
    }
  }
  const badPct = samples.find((s) => s.cpuUsage > e.claimedCores * 100 * slack + 5);
  if (badPct) findings.push(`samples: cpu_usage ${fmt(badPct.cpuUsage)} % exceeds ${e.claimedCores} cores`);
  return {
    status: findings.length ? 'mismatch' : 'ok',
    findings,
    observedCpuSeconds: observed,
    expectedCpuSeconds: e.expectedCpuSeconds,
    maxCpuSeconds: maxCpu,
  };
}

export interface MemoryExpectation {
  filledBytes: number;
  /** Share of the filled size the peak memory_usage must reach (page cache accounting varies). */
  minFraction?: number;
}

/** `runs`: the samples of each call (commit, open); every call's clock starts at zero. */
export function checkMemorySamples(runs: ExecSample[][], e: MemoryExpectation): MetricsCheck {
  const samples = runs.flat();
  if (samples.length === 0) return { status: 'no-samples', findings: [], expectedMemoryBytes: e.filledBytes };
  const minFraction = e.minFraction ?? 0.9;
  const findings = runs.flatMap(orderFindings);
  const peak = Math.max(...samples.map((s) => s.memoryUsage));
  const mib = (x: number): string => `${(x / 2 ** 20).toFixed(1)} MiB`;
  if (peak < e.filledBytes * minFraction)
    findings.push(`samples: memory_usage peaked at ${mib(peak)}, the filled data is ${mib(e.filledBytes)} (at least ${Math.round(minFraction * 100)}% must show)`);
  const over = samples.find((s) => s.memoryLimit > 0 && s.memoryUsage > s.memoryLimit * 1.01);
  if (over) findings.push(`samples: memory_usage ${mib(over.memoryUsage)} above the limit ${mib(over.memoryLimit)}`);
  return { status: findings.length ? 'mismatch' : 'ok', findings, peakMemoryBytes: peak, expectedMemoryBytes: e.filledBytes };
}
