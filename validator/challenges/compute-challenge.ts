/**
 * The compute challenge as a round runs it (docs/verification.md, "Compute
 * challenge"): each attempt runs a no-op, the all-workers proof and (for
 * more than one claimed core) the single-worker proof, in random order, each
 * proof with a fresh seed and its own opened rows. The fastest verified runs
 * give the throughput in the unit of compute and the parallel efficiency.
 * Every proof must verify: one bad proof zeroes the component.
 */
import { randomInt } from 'node:crypto';
import { finding, findingsOf, type Finding } from '../findings.js';
import { computeCommitArgv, computeOpenArgv, parseComputeCommit, pickRows, planCompute, verifyComputeOpen, workPerWorker, type ComputeParams, type ComputePlan } from './compute.js';
import { CORE_EFFICIENCY_MIN, MIN_CORE_RATE, computeRates, formatRate, settled, type ComputeRates } from './compute-rates.js';
import { EXTRA_RETESTS, STEAL_RETEST_PERCENT, meanStealPercent, type ChallengeExecutor, type ExecOutcome, type ExecSample } from './executor.js';
import { checkComputeSamples, type MetricsCheck } from './metrics-check.js';
import { parseProbeOutput, proverCpuMs } from './probe-output.js';

export interface ComputeChallengeOptions {
  probePath: string;
  claimedCores: number;
  /** Attempts at most (more when the host reported steal); stops once the two fastest runs of each kind agree. */
  attempts?: number;
  /** The memory the validator allocated: samples above it are a lie. */
  memoryLimitBytes?: number;
  params?: Partial<ComputeParams>;
  stateDir?: string;
}

export const DEFAULT_COMPUTE_ATTEMPTS = 3;

export type RunKind = 'all' | 'single' | 'noop';

export interface ComputeRun {
  kind: RunKind;
  workers: number;
  /** The commit (or the no-op) on the validator's clock. */
  commitMs: number;
  timedOut: boolean;
  /** Mean host steal the miner reported during the commit (a reason to retest, never to pass). */
  stealPercent: number;
  openMs: number;
  verifyCpuMs: number;
  rowsVerified: number;
  /** Bytes of the open call's output. */
  ingressBytes: number;
  /** The probe's own rusage for commit and open (benchmarks only, never trusted). */
  proverCpuMs?: number;
  openProverCpuMs?: number;
  samples: ExecSample[];
}

export interface ComputeResult {
  /** Every proof verified, an all-workers run finished and the cores check held. */
  passed: boolean;
  proofValid: boolean;
  /** 0 on a bad proof or no finished run, else min(1, proven core-equivalents / claimed cores). */
  component: number;
  rates?: ComputeRates;
  findings: Finding[];
  /** The all-workers plan's shape (n, factors, workers). */
  plan: ComputePlan;
  runs: ComputeRun[];
  /** Lies from every run; mismatches of the fastest all-workers run. */
  metrics: MetricsCheck;
}

/** A commit slower than this ran below MIN_CORE_RATE twice over: it is killed. */
export const commitTimeoutMs = (plan: ComputePlan): number => Math.ceil((2 * workPerWorker(plan)) / MIN_CORE_RATE) * 1000 + 10_000;

function rusageMs(outcome: ExecOutcome): number | undefined {
  return proverCpuMs(parseProbeOutput('', outcome).records);
}

interface ProofRun {
  run: ComputeRun;
  proofFindings: string[];
}

/** One commit (timed) → open of rows named after the roots → verify, with a fresh seed. */
async function proofRun(exec: ChallengeExecutor, o: ComputeChallengeOptions, kind: 'all' | 'single'): Promise<ProofRun> {
  const plan = planCompute(kind === 'all' ? o.claimedCores : 1, o.params);
  const commit = await exec(computeCommitArgv(o.probePath, plan, o.stateDir), { type: 'compute', step: 'commit', timeoutMs: commitTimeoutMs(plan) });
  const run: ComputeRun = {
    kind,
    workers: plan.workers,
    commitMs: commit.elapsedMs,
    timedOut: commit.timedOut,
    stealPercent: meanStealPercent(commit.samples),
    openMs: 0,
    verifyCpuMs: 0,
    rowsVerified: 0,
    ingressBytes: Buffer.byteLength(commit.stdout) + Buffer.byteLength(commit.stderr),
    proverCpuMs: rusageMs(commit),
    samples: commit.samples,
  };
  if (commit.timedOut) return { run, proofFindings: [] };
  const parsed = parseComputeCommit(plan, commit);
  if (parsed.findings.length) return { run, proofFindings: parsed.findings };
  const rows = pickRows(plan);
  const open = await exec(computeOpenArgv(o.probePath, plan, rows, o.stateDir), { type: 'compute', step: 'open', timeoutMs: 60_000 });
  const v = verifyComputeOpen(plan, parsed.roots, rows, open);
  Object.assign(run, { openMs: open.elapsedMs, verifyCpuMs: v.verifyCpuMs, rowsVerified: v.rowsVerified, openProverCpuMs: rusageMs(open) });
  run.ingressBytes += v.ingressBytes;
  return { run, proofFindings: v.passed ? [] : v.findings.length ? v.findings : ['cpu open: not every row verified'] };
}

/** The call's fixed cost: the probe started, printing one line, on the same path as a commit. */
async function noopRun(exec: ChallengeExecutor, o: ComputeChallengeOptions): Promise<ComputeRun | undefined> {
  const out = await exec([o.probePath, 'noop'], { type: 'compute', step: 'commit', timeoutMs: 30_000 });
  if (out.timedOut || out.exitCode !== 0 || !out.stdout.startsWith('{"type":"noop"}')) return undefined;
  return { kind: 'noop', workers: 0, commitMs: out.elapsedMs, timedOut: false, stealPercent: 0, openMs: 0, verifyCpuMs: 0, rowsVerified: 0, ingressBytes: out.stdout.length, samples: [] };
}

function shuffled<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

const verified = (runs: ComputeRun[], kind: RunKind): number[] => runs.filter((r) => r.kind === kind && !r.timedOut).map((r) => r.commitMs);

/**
 * Runs attempts until a proof fails, the budget is spent, or the fastest runs
 * agree and pass the core check. Steal reported by the miner, or a core check
 * that fails, earns up to EXTRA_RETESTS more: noise only adds time, so more
 * runs can only bring an honest container closer to what it has.
 */
async function runAttempts(exec: ChallengeExecutor, o: ComputeChallengeOptions): Promise<{ runs: ComputeRun[]; proofFindings: string[] }> {
  const k = o.attempts ?? DEFAULT_COMPUTE_ATTEMPTS;
  if (!Number.isInteger(k) || k < 1 || k > 10) throw new RangeError(`compute attempts ${k} not in [1, 10]`);
  const kinds: RunKind[] = o.claimedCores > 1 ? ['noop', 'all', 'single'] : ['noop', 'all'];
  const work = workPerWorker(planCompute(o.claimedCores, o.params));
  const runs: ComputeRun[] = [];
  let budget = k;
  for (let i = 0; i < budget; i++) {
    for (const kind of shuffled(kinds)) {
      if (kind === 'noop') {
        const noop = await noopRun(exec, o);
        if (noop) runs.push(noop);
        continue;
      }
      const { run, proofFindings } = await proofRun(exec, o, kind);
      runs.push(run);
      if (proofFindings.length) return { runs, proofFindings };
    }
    const rates = computeRates({ workPerWorker: work, workers: o.claimedCores, allMs: verified(runs, 'all'), singleMs: verified(runs, 'single'), noopMs: verified(runs, 'noop') });
    const doubtful = rates?.fewerCores === true;
    if (!doubtful && settled(verified(runs, 'all')) && (o.claimedCores === 1 || settled(verified(runs, 'single')))) break;
    const stolen = runs.slice(-kinds.length).some((r) => r.stealPercent >= STEAL_RETEST_PERCENT);
    if ((stolen || doubtful) && budget < k + EXTRA_RETESTS) budget++;
  }
  return { runs, proofFindings: [] };
}

/** Lies from every run (one each), the fastest all-workers run's mismatches; CPU expected at the fastest per-core rate proven. */
function checkSamples(o: ComputeChallengeOptions, runs: ComputeRun[], rates: ComputeRates | undefined, work: number): MetricsCheck {
  const checks = runs
    .filter((r) => r.kind !== 'noop')
    .map((r) => ({
      run: r,
      check: checkComputeSamples(r.samples, {
        expectedCpuSeconds: rates ? (r.workers * work) / Math.max(rates.perCoreRate, rates.throughput / o.claimedCores) : 0,
        claimedCores: o.claimedCores,
        elapsedMs: r.commitMs,
        limitBytes: o.memoryLimitBytes,
      }),
    }));
  const fastest = checks.filter((c) => c.run.kind === 'all' && !c.run.timedOut).sort((a, b) => a.run.commitMs - b.run.commitMs)[0] ?? checks[checks.length - 1];
  const lies = checks.flatMap((c) => c.check.findings.filter((f) => f.code === 'samples-impossible').slice(0, 1));
  if (!fastest) return { status: 'no-samples', findings: lies };
  const mismatches = fastest.check.findings.filter((f) => f.code !== 'samples-impossible');
  return { ...fastest.check, status: lies.length ? 'impossible' : fastest.check.status, findings: [...lies, ...mismatches] };
}

function rateFindings(o: ComputeChallengeOptions, runs: ComputeRun[], rates: ComputeRates | undefined, plan: ComputePlan): Finding[] {
  if (!rates) {
    const timeoutMs = commitTimeoutMs(plan);
    return [finding('compute-too-slow', `every all-workers commit was killed at the published timeout of ${timeoutMs} ms (slower than ${formatRate(MIN_CORE_RATE)} per core; ${o.claimedCores} claimed cores)`, { timeoutMs, claimedCores: o.claimedCores })];
  }
  if (!rates.fewerCores) return [];
  const single = verified(runs, 'single').map(Math.round).join(', ');
  const all = verified(runs, 'all').map(Math.round).join(', ');
  return [
    finding(
      'fewer-cores',
      `fewer cores than claimed: ${o.claimedCores} workers took ${Math.round(rates.allNetMs)} ms where one took ${Math.round(rates.singleNetMs!)} ms, parallel efficiency ${rates.efficiency!.toFixed(2)} < ${CORE_EFFICIENCY_MIN} (about ${(rates.efficiency! * o.claimedCores).toFixed(1)} cores; single runs ${single} ms, all-workers runs ${all} ms, no-op ${Math.round(rates.overheadMs)} ms)`,
      { claimedCores: o.claimedCores, efficiency: rates.efficiency!, singleNetMs: rates.singleNetMs!, allNetMs: rates.allNetMs, overheadMs: rates.overheadMs },
    ),
  ];
}

export async function runComputeChallenge(exec: ChallengeExecutor, o: ComputeChallengeOptions): Promise<ComputeResult> {
  const plan = planCompute(o.claimedCores, o.params);
  const work = workPerWorker(plan);
  const { runs, proofFindings } = await runAttempts(exec, o);
  const proofValid = proofFindings.length === 0;
  const rates = proofValid ? computeRates({ workPerWorker: work, workers: o.claimedCores, allMs: verified(runs, 'all'), singleMs: verified(runs, 'single'), noopMs: verified(runs, 'noop') }) : undefined;
  const findings = proofValid ? rateFindings(o, runs, rates, plan) : findingsOf('compute-proof-invalid', proofFindings);
  return {
    passed: proofValid && !!rates && !rates.fewerCores,
    proofValid,
    component: rates?.component ?? 0,
    rates,
    findings,
    plan,
    runs,
    metrics: checkSamples(o, runs, rates, work),
  };
}
