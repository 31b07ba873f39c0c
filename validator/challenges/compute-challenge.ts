/**
 * The compute challenge as a round runs it: up to k commit/open cycles, each
 * with a fresh seed, deciding on the fastest (docs/verification.md, "Noise
 * only adds time"). Every cycle's proof must verify: one bad proof is a
 * lie and zeroes the component. A slow commit is a retest, and only the best
 * of k counts; past the deadline it is a finding and a lower component,
 * never a zero on its own.
 */
import { finding, findingsOf, type Finding } from '../findings.js';
import { rateComponent } from '../scoring/scoring.js';
import { computeCommitArgv, computeOpenArgv, parseComputeCommit, planCompute, verifyComputeOpen, type ComputeParams, type ComputePlan } from './compute.js';
import { EXTRA_RETESTS, STEAL_RETEST_PERCENT, meanStealPercent, type ChallengeExecutor, type ExecOutcome } from './executor.js';
import { checkComputeSamples, type MetricsCheck } from './metrics-check.js';
import { parseProbeOutput, proverCpuMs } from './probe-output.js';

export interface ComputeChallengeOptions {
  probePath: string;
  claimedCores: number;
  /** A commit slower than this is a finding (calibration.ts), never derived from the miner. */
  deadlineMs: number;
  /** A commit at or under this time earns the full component; slower ones earn fullMarksMs / time. */
  fullMarksMs: number;
  /** CPU seconds the work needs (calibration.ts: expectedComputeCpuSeconds). */
  expectedCpuSeconds: number;
  /** Commit/open cycles (up to EXTRA_RETESTS more when the host reported steal); stops at the first commit within fullMarksMs. */
  attempts?: number;
  /** The memory the validator allocated: samples above it are a lie. */
  memoryLimitBytes?: number;
  params?: Partial<ComputeParams>;
  stateDir?: string;
  /** The open phase moves 4·n² bytes per worker; its own generous timeout. */
  openTimeoutMs?: number;
}

export const DEFAULT_COMPUTE_ATTEMPTS = 3;

export interface ComputeAttempt {
  commitMs: number;
  /** Mean host steal the miner reported during the commit (a reason to retest, never to pass). */
  stealPercent: number;
  openMs: number;
  verifyCpuMs: number;
  verifiedWorkers: number;
  /** The probe's own CPU for the commit and the open phase (its rusage lines; benchmarks only, never trusted). */
  proverCpuMs?: number;
  openProverCpuMs?: number;
  metrics: MetricsCheck;
}

export interface ComputeResult {
  /** Every proof verified and the best commit met the deadline. */
  passed: boolean;
  /** Every proof verified (the miner did the work it committed to). */
  proofValid: boolean;
  /** The compute component: 0 on a bad proof, else min(1, fullMarksMs / best commit). */
  component: number;
  findings: Finding[];
  plan: ComputePlan;
  attempts: ComputeAttempt[];
  /** The fastest commit, on the validator's clock. */
  commitMs: number;
  deadlineMs: number;
  fullMarksMs: number;
  /** Of the fastest attempt. */
  openMs: number;
  verifyCpuMs: number;
  verifiedWorkers: number;
  proverCpuMs?: number;
  openProverCpuMs?: number;
  /** Lies found in any attempt, and the fastest attempt's mismatches. */
  metrics: MetricsCheck;
}

/** The rusage line at the end of the open output, without parsing the rest. */
function openRusageMs(outcome: ExecOutcome): number | undefined {
  const at = outcome.stdout.lastIndexOf('{"type":"rusage"');
  if (at < 0) return undefined;
  const end = outcome.stdout.indexOf('\n', at);
  return proverCpuMs(parseProbeOutput('', { ...outcome, stdout: outcome.stdout.slice(at, end < 0 ? undefined : end) }).records);
}

interface Cycle {
  plan: ComputePlan;
  attempt: ComputeAttempt;
  proofFindings: string[];
  timedOut: boolean;
}

/** One commit (timed) → open → verify with a fresh seed. */
async function cycle(exec: ChallengeExecutor, o: ComputeChallengeOptions): Promise<Cycle> {
  const plan = planCompute(o.claimedCores, o.params);
  const commit = await exec(computeCommitArgv(o.probePath, plan, o.stateDir), {
    type: 'compute',
    step: 'commit',
    // Generous: a slow honest machine earns a small component rather than nothing.
    timeoutMs: Math.ceil(o.fullMarksMs * 5),
    expectedCpuSeconds: o.expectedCpuSeconds,
  });
  const parsed = parseComputeCommit(plan, commit);
  const metrics = checkComputeSamples(commit.samples, {
    expectedCpuSeconds: o.expectedCpuSeconds,
    claimedCores: o.claimedCores,
    elapsedMs: commit.elapsedMs,
    limitBytes: o.memoryLimitBytes,
  });
  const attempt = (extra: Partial<ComputeAttempt>): ComputeAttempt => ({
    commitMs: commit.elapsedMs,
    stealPercent: meanStealPercent(commit.samples),
    openMs: 0,
    verifyCpuMs: 0,
    verifiedWorkers: 0,
    proverCpuMs: parsed.proverCpuMs,
    metrics,
    ...extra,
  });
  if (commit.timedOut) return { plan, attempt: attempt({}), proofFindings: [], timedOut: true };
  const open = await exec(computeOpenArgv(o.probePath, plan, o.stateDir), { type: 'compute', step: 'open', timeoutMs: o.openTimeoutMs ?? 60_000 });
  const v = verifyComputeOpen(plan, parsed.roots, open);
  return {
    plan,
    attempt: attempt({ openMs: open.elapsedMs, verifyCpuMs: v.verifyCpuMs, verifiedWorkers: v.verifiedWorkers, openProverCpuMs: openRusageMs(open) }),
    proofFindings: [...parsed.findings, ...v.findings],
    timedOut: false,
  };
}

const stolen = (a: ComputeAttempt): boolean => a.stealPercent >= STEAL_RETEST_PERCENT;

/** Lies from every attempt (one each), the chosen attempt's mismatches. */
function mergeMetrics(attempts: ComputeAttempt[], chosen: ComputeAttempt): MetricsCheck {
  const lies = attempts.flatMap((a) => a.metrics.findings.filter((f) => f.code === 'samples-impossible').slice(0, 1));
  const mismatches = chosen.metrics.findings.filter((f) => f.code !== 'samples-impossible');
  const findings = [...lies, ...mismatches];
  const status = lies.length ? 'impossible' : chosen.metrics.status;
  return { ...chosen.metrics, status, findings };
}

/** Every commit missed the deadline: the finding names each commit's time (bestMs undefined: all were killed). */
function tooSlow(o: ComputeChallengeOptions, attempts: ComputeAttempt[], bestMs: number | undefined): Finding {
  const timeoutMs = Math.round(o.fullMarksMs * 5);
  const message =
    bestMs === undefined
      ? `every commit was killed at the ${timeoutMs} ms timeout (${o.claimedCores} claimed cores)`
      : `the fastest of ${attempts.length} commits took ${Math.round(bestMs)} ms on the validator's clock, deadline ${Math.round(o.deadlineMs)} ms (${o.claimedCores} claimed cores; commits: ${attempts.map((a) => Math.round(a.commitMs)).join(', ')} ms)`;
  return finding('compute-too-slow', message, { bestMs: bestMs ?? timeoutMs, deadlineMs: o.deadlineMs, fullMarksMs: o.fullMarksMs, attempts: attempts.length, claimedCores: o.claimedCores });
}

export async function runComputeChallenge(exec: ChallengeExecutor, o: ComputeChallengeOptions): Promise<ComputeResult> {
  const k = o.attempts ?? DEFAULT_COMPUTE_ATTEMPTS;
  if (!Number.isInteger(k) || k < 1 || k > 10) throw new RangeError(`compute attempts ${k} not in [1, 10]`);
  const attempts: ComputeAttempt[] = [];
  const findings: Finding[] = [];
  let plan: ComputePlan | undefined;
  let best: ComputeAttempt | undefined;
  let proofValid = true;
  let budget = k;
  for (let i = 0; i < budget; i++) {
    const c = await cycle(exec, o);
    plan = c.plan;
    attempts.push(c.attempt);
    if (c.proofFindings.length) {
      proofValid = false;
      findings.push(...findingsOf('compute-proof-invalid', c.proofFindings));
      break;
    }
    if (!c.timedOut && (!best || c.attempt.commitMs < best.commitMs)) best = c.attempt;
    if (best && best.commitMs <= o.fullMarksMs) break;
    if (stolen(c.attempt) && budget < k + EXTRA_RETESTS) budget++;
  }
  const chosen = best ?? attempts[attempts.length - 1]!;
  const bestMs = best?.commitMs ?? Infinity;
  if (proofValid && bestMs > o.deadlineMs) findings.push(tooSlow(o, attempts, best ? bestMs : undefined));
  const metrics = mergeMetrics(attempts, chosen);
  return {
    passed: proofValid && bestMs <= o.deadlineMs,
    proofValid,
    component: proofValid && best ? rateComponent(o.fullMarksMs, bestMs) : 0,
    findings,
    plan: plan!,
    attempts,
    commitMs: chosen.commitMs,
    deadlineMs: o.deadlineMs,
    fullMarksMs: o.fullMarksMs,
    openMs: chosen.openMs,
    verifyCpuMs: chosen.verifyCpuMs,
    verifiedWorkers: chosen.verifiedWorkers,
    proverCpuMs: chosen.proverCpuMs,
    openProverCpuMs: chosen.openProverCpuMs,
    metrics,
  };
}
