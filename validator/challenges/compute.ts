import { randomBytes } from 'node:crypto';
import { merkleLeaf, merkleRoot } from '../../common/challenge/hash.js';
import {
  DEFAULT_MODULUS,
  MAX_N,
  MIN_N,
  N_MULTIPLE,
  decodeU24,
  matVecMod,
  seededMatrix,
} from '../../common/challenge/matrix.js';
import type { ChallengeExecutor, ExecOutcome } from './executor.js';
import { checkComputeSamples, type MetricsCheck } from './metrics-check.js';
import { FieldReader, parseProbeOutput, proverCpuMs } from './probe-output.js';

export interface ComputeParams {
  /** Matrix size; work per worker is n³ multiply-adds. */
  n: number;
  /** Prime below 2^24. */
  modulus: number;
  /** Independent Freivalds vectors; a wrong C passes each with probability ≤ 1/modulus. */
  freivaldsRounds: number;
}

export const DEFAULT_COMPUTE: ComputeParams = { n: 2048, modulus: DEFAULT_MODULUS, freivaldsRounds: 1 };

export interface ComputePlan extends ComputeParams {
  seed: string;
  workers: number;
}

export function planCompute(claimedCores: number, params: Partial<ComputeParams> = {}): ComputePlan {
  const p = { ...DEFAULT_COMPUTE, ...params };
  if (!Number.isInteger(claimedCores) || claimedCores < 1 || claimedCores > 256) throw new RangeError(`claimed cores ${claimedCores} not in [1, 256]`);
  if (!Number.isInteger(p.n) || p.n < MIN_N || p.n > MAX_N || p.n % N_MULTIPLE) throw new RangeError(`n ${p.n} must be a multiple of ${N_MULTIPLE} in [${MIN_N}, ${MAX_N}]`);
  if (p.modulus < 1 << 16 || p.modulus >= 1 << 24) throw new RangeError('modulus must be a prime in [2^16, 2^24)');
  return { ...p, seed: randomBytes(32).toString('hex'), workers: claimedCores };
}

export function computeCommitArgv(probe: string, plan: ComputePlan, stateDir?: string): string[] {
  const argv = [probe, 'cpu', 'commit', '--seed', plan.seed, '--n', String(plan.n), '--workers', String(plan.workers), '--modulus', String(plan.modulus)];
  return stateDir ? [...argv, '--state', stateDir] : argv;
}

export function computeOpenArgv(probe: string, plan: ComputePlan, stateDir?: string): string[] {
  const argv = [probe, 'cpu', 'open', '--seed', plan.seed];
  return stateDir ? [...argv, '--state', stateDir] : argv;
}

export interface ComputeCommit {
  roots: (Buffer | undefined)[];
  findings: string[];
  proverCpuMs?: number;
}

export function parseComputeCommit(plan: ComputePlan, outcome: ExecOutcome): ComputeCommit {
  const { records, findings } = parseProbeOutput('cpu commit', outcome);
  const read = new FieldReader('cpu commit', findings);
  const roots: (Buffer | undefined)[] = new Array(plan.workers).fill(undefined);
  for (const rec of records.filter((r) => r.type === 'cpu-commit')) {
    const w = read.int(rec, 'worker', 0, plan.workers - 1);
    const root = read.hex(rec, 'root', 32);
    if (w === undefined || !root) continue;
    if (roots[w]) findings.push(`cpu commit: worker ${w} committed twice`);
    else roots[w] = root;
  }
  roots.forEach((r, w) => {
    if (!r) findings.push(`cpu commit: no root for worker ${w}`);
  });
  return { roots, findings, proverCpuMs: proverCpuMs(records) };
}

export interface ComputeVerification {
  passed: boolean;
  findings: string[];
  verifiedWorkers: number;
  verifyCpuMs: number;
}

function randomVector(n: number, p: number): Float64Array {
  const bytes = randomBytes(6 * n);
  const r = new Float64Array(n);
  for (let i = 0; i < n; i++) r[i] = bytes.readUIntLE(6 * i, 6) % p;
  return r;
}

/** Checks one worker's revealed C: binding to its root, range, and A(B·r) = C·r. */
export function verifyWorker(plan: ComputePlan, worker: number, root: Buffer, encoded: Buffer): string[] {
  const { n, modulus: p } = plan;
  const rowBytes = 3 * n;
  const leaves: Buffer[] = [];
  for (let i = 0; i < n; i++) leaves.push(merkleLeaf(encoded.subarray(i * rowBytes, (i + 1) * rowBytes)));
  if (!merkleRoot(leaves).equals(root)) return [`worker ${worker}: revealed C does not match the committed Merkle root`];
  const c = decodeU24(encoded, n * n);
  for (let x = 0; x < c.length; x++)
    if (c[x]! >= p) return [`worker ${worker}: C[${Math.floor(x / n)}][${x % n}] = ${c[x]} is not reduced mod ${p}`];
  const seed = Buffer.from(plan.seed, 'hex');
  const a = seededMatrix(seed, worker, 'A', n);
  const b = seededMatrix(seed, worker, 'B', n);
  for (let round = 0; round < plan.freivaldsRounds; round++) {
    const r = randomVector(n, p);
    const abr = matVecMod(a, matVecMod(b, r, n, p), n, p);
    const cr = matVecMod(c, r, n, p);
    for (let i = 0; i < n; i++)
      if (abr[i] !== cr[i]) return [`worker ${worker}: Freivalds check failed (row ${i} of C·r differs from A·(B·r)): C ≠ A·B mod ${p}`];
  }
  return [];
}

/** Verifies the open phase against the committed roots. CPU time is the validator's own. */
export function verifyComputeOpen(plan: ComputePlan, roots: (Buffer | undefined)[], outcome: ExecOutcome): ComputeVerification {
  const cpu0 = process.cpuUsage();
  const { records, findings } = parseProbeOutput('cpu open', outcome);
  const read = new FieldReader('cpu open', findings);
  const seen = new Set<number>();
  let verified = 0;
  for (const rec of records.filter((r) => r.type === 'cpu-open')) {
    const w = read.int(rec, 'worker', 0, plan.workers - 1);
    const n = read.int(rec, 'n', plan.n, plan.n);
    if (w === undefined || n === undefined) continue;
    if (rec.encoding !== 'u24le-base64') {
      findings.push(`cpu open: worker ${w}: unknown encoding ${JSON.stringify(rec.encoding)}`);
      continue;
    }
    if (seen.has(w)) {
      findings.push(`cpu open: worker ${w} revealed twice`);
      continue;
    }
    seen.add(w);
    const enc = read.base64(rec, 'c', 3 * n * n);
    const root = roots[w];
    if (!enc || !root) continue;
    const problems = verifyWorker(plan, w, root, enc);
    findings.push(...problems.map((p) => `cpu open: ${p}`));
    if (problems.length === 0) verified++;
  }
  for (let w = 0; w < plan.workers; w++) if (!seen.has(w)) findings.push(`cpu open: worker ${w} revealed nothing`);
  const used = process.cpuUsage(cpu0);
  return { passed: findings.length === 0 && verified === plan.workers, findings, verifiedWorkers: verified, verifyCpuMs: (used.user + used.system) / 1000 };
}

export interface ComputeChallengeOptions {
  probePath: string;
  claimedCores: number;
  /** From the validator's calibration (calibration.ts), never from the miner. */
  deadlineMs: number;
  /** CPU seconds the work needs (calibration.ts: expectedComputeCpuSeconds). */
  expectedCpuSeconds: number;
  params?: Partial<ComputeParams>;
  stateDir?: string;
  /** The open phase moves 4·n² bytes per worker; its own generous timeout. */
  openTimeoutMs?: number;
}

export interface ComputeResult {
  passed: boolean;
  findings: string[];
  plan: ComputePlan;
  commitMs: number;
  deadlineMs: number;
  openMs: number;
  verifyCpuMs: number;
  verifiedWorkers: number;
  proverCpuMs?: number;
  metrics: MetricsCheck;
}

/** commit (timed against the deadline) → open → verify, through any executor. */
export async function runComputeChallenge(exec: ChallengeExecutor, o: ComputeChallengeOptions): Promise<ComputeResult> {
  const plan = planCompute(o.claimedCores, o.params);
  const findings: string[] = [];
  const commit = await exec(computeCommitArgv(o.probePath, plan, o.stateDir), {
    type: 'compute',
    timeoutMs: Math.ceil(o.deadlineMs * 1.5),
    expectedCpuSeconds: o.expectedCpuSeconds,
  });
  const parsed = parseComputeCommit(plan, commit);
  findings.push(...parsed.findings);
  if (commit.elapsedMs > o.deadlineMs)
    findings.push(`cpu commit: took ${Math.round(commit.elapsedMs)} ms on the validator's clock, deadline ${Math.round(o.deadlineMs)} ms (${plan.workers} workers, n=${plan.n})`);
  const metrics = checkComputeSamples(commit.samples, {
    expectedCpuSeconds: o.expectedCpuSeconds,
    claimedCores: o.claimedCores,
    elapsedMs: commit.elapsedMs,
  });
  findings.push(...metrics.findings);

  const open = await exec(computeOpenArgv(o.probePath, plan, o.stateDir), { type: 'compute', timeoutMs: o.openTimeoutMs ?? 60_000 });
  const verification = commit.timedOut
    ? { passed: false, findings: [], verifiedWorkers: 0, verifyCpuMs: 0 }
    : verifyComputeOpen(plan, parsed.roots, open);
  findings.push(...verification.findings);
  return {
    passed: findings.length === 0 && verification.passed,
    findings,
    plan,
    commitMs: commit.elapsedMs,
    deadlineMs: o.deadlineMs,
    openMs: open.elapsedMs,
    verifyCpuMs: verification.verifyCpuMs,
    verifiedWorkers: verification.verifiedWorkers,
    proverCpuMs: parsed.proverCpuMs,
    metrics,
  };
}
