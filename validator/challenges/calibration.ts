/** The validator's own measurement of the probe and the deadlines derived from it (docs/verification.md, "Cores", "Noise only adds time"). */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { cpus, hostname } from 'node:os';
import { dirname } from 'node:path';
import { DEFAULT_COMPUTE, computeCommitArgv, computeOpenArgv, planCompute, type ComputePlan } from './compute.js';
import type { ChallengeExecutor } from './executor.js';
import { localExecutor } from './local-executor.js';
import { DEFAULT_MEMORY, memoryCleanArgv, memoryCommitArgv, memoryOpenArgv, planMemory, type MemoryPlan } from './memory.js';
import { parseProbeOutput, proverCpuMs } from './probe-output.js';

/** The validator's own measurement of the probe on its own host. */
export interface Calibration {
  machine: string;
  probeSha256: string;
  n: number;
  /** Matrices per worker chain at calibration (factors − 1 products); absent in old caches: 2. */
  factors?: number;
  /** Median wall time of `cpu commit` with one worker, validator's clock (informational: load inflates it). */
  computeMs: number;
  /** Least CPU time (user + sys) of those runs: the work one core must do, the base of deadlines. */
  computeCpuMs: number;
  memSizeBytes: number;
  memSteps: number;
  /** Least wall time of `mem open` at memSteps steps (memory-latency bound). */
  memOpenMs: number;
  runs: number;
  measuredAt: string;
}

export interface DeadlinePolicy {
  /** A commit within factor × calibrated time + overhead earns the full compute component. */
  computeFullMarksFactor: number;
  computeSafetyFactor: number;
  computeOverheadMs: number;
  memorySafetyFactor: number;
  memoryOverheadMs: number;
}

/** Chosen from measurements on a shared 2-core host (docs/verification.md).
 * A container with half the claimed cores needs at least 2 × the single-core
 * CPU time of wall time, so factor × base + overhead must stay below 2 × base. */
export const DEFAULT_DEADLINES: DeadlinePolicy = {
  computeFullMarksFactor: 1.25,
  computeSafetyFactor: 1.45,
  computeOverheadMs: 150,
  // An honest walk is retested up to k times before it counts as slow, so the
  // margin over the calibrated walk can be tighter than a one-shot deadline's.
  memorySafetyFactor: 2.0,
  memoryOverheadMs: 150,
};

/** Cache key: what the measurement depends on. */
export function machineKey(): string {
  const list = cpus();
  return `${list[0]?.model.trim() ?? 'unknown-cpu'} x${list.length} @${hostname()}`;
}

const least = (xs: number[]): number => Math.min(...xs);
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

async function fileSha256(path: string): Promise<string> {
  return createHash('sha256').update(await readFile(path)).digest('hex');
}

export interface CalibrateOptions {
  probePath: string;
  cachePath: string;
  n?: number;
  factors?: number;
  runs?: number;
  memSizeBytes?: number;
  memSteps?: number;
  force?: boolean;
  /** Where to run the probe; the validator's own host by default. */
  exec?: ChallengeExecutor;
  stateDir?: string;
}

async function readCache(path: string): Promise<Record<string, Calibration>> {
  try {
    const parsed: unknown = JSON.parse(await readFile(path, 'utf8'));
    return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, Calibration>) : {};
  } catch {
    return {};
  }
}

/** Returns the cached calibration for this machine and probe, measuring it once if missing. */
export async function loadOrCalibrate(o: CalibrateOptions): Promise<Calibration> {
  const n = o.n ?? DEFAULT_COMPUTE.n;
  const factors = o.factors ?? DEFAULT_COMPUTE.factors;
  const memSizeBytes = o.memSizeBytes ?? 256 * 2 ** 20;
  const memSteps = o.memSteps ?? DEFAULT_MEMORY.steps;
  const key = `${machineKey()} | probe ${await fileSha256(o.probePath)} | n=${n}x${factors} | mem=${memSizeBytes}/${memSteps}`;
  const cache = await readCache(o.cachePath);
  const hit = cache[key];
  if (hit && !o.force) return hit;
  const cal = await calibrate({ ...o, n, factors, memSizeBytes, memSteps });
  cache[key] = cal;
  await mkdir(dirname(o.cachePath), { recursive: true });
  const tmp = `${o.cachePath}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, `${JSON.stringify(cache, null, 2)}\n`);
  await rename(tmp, o.cachePath);
  return cal;
}

/** Measures the probe: `runs` single-worker compute commits and `runs` memory walks. */
export async function calibrate(o: CalibrateOptions & { n: number; memSizeBytes: number; memSteps: number }): Promise<Calibration> {
  const factors = o.factors ?? DEFAULT_COMPUTE.factors;
  const exec = o.exec ?? localExecutor;
  const runs = o.runs ?? 5;
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const plan = planCompute(1, { n: o.n, factors });
    const c0 = process.cpuUsage();
    const out = await exec(computeCommitArgv(o.probePath, plan, o.stateDir), { type: 'compute', step: 'commit', timeoutMs: 600_000 });
    const parsed = parseProbeOutput('calibration cpu commit', out);
    if (parsed.findings.length) throw new Error(`calibration failed: ${parsed.findings.join('; ')}`);
    const own = process.cpuUsage(c0);
    wall.push(out.elapsedMs);
    cpu.push(proverCpuMs(parsed.records) ?? (own.user + own.system) / 1000);
    await exec(computeOpenArgv(o.probePath, plan, o.stateDir), { type: 'compute', step: 'open', timeoutMs: 600_000 });
  }
  const walks: number[] = [];
  const mplan = planMemory(o.memSizeBytes, { steps: o.memSteps });
  const commit = await exec(memoryCommitArgv(o.probePath, mplan, o.stateDir), { type: 'memory', step: 'commit', timeoutMs: 600_000 });
  const cf = parseProbeOutput('calibration mem commit', commit).findings;
  if (cf.length) throw new Error(`calibration failed: ${cf.join('; ')}`);
  for (let i = 0; i < runs; i++) {
    const out = await exec(memoryOpenArgv(o.probePath, { ...mplan, nonce: randomBytes(32).toString('hex') }, o.stateDir), { type: 'memory', step: 'open', timeoutMs: 600_000 });
    const f = parseProbeOutput('calibration mem open', out).findings;
    if (f.length) throw new Error(`calibration failed: ${f.join('; ')}`);
    walks.push(out.elapsedMs);
  }
  await exec(memoryCleanArgv(o.probePath, mplan, o.stateDir), { type: 'memory', step: 'open', timeoutMs: 60_000 });
  return {
    machine: machineKey(),
    probeSha256: await fileSha256(o.probePath),
    n: o.n,
    factors,
    computeMs: median(wall),
    computeCpuMs: least(cpu),
    memSizeBytes: o.memSizeBytes,
    memSteps: o.memSteps,
    memOpenMs: least(walks),
    runs,
    measuredAt: new Date().toISOString(),
  };
}

/** What a plan's commit may name: its size and, optionally, its chain length (defaults otherwise). */
export type WorkShape = Pick<ComputePlan, 'n'> & Partial<Pick<ComputePlan, 'factors'>>;

/** Work of `plan` per worker relative to the calibrated one: (factors − 1)·n³ multiply-adds. */
const workScale = (cal: Calibration, plan: WorkShape): number =>
  (plan.n / cal.n) ** 3 * (((plan.factors ?? DEFAULT_COMPUTE.factors) - 1) / ((cal.factors ?? 2) - 1));

/** Each worker has a core of its own: the commit takes about one single-core CPU time. */
export function computeDeadlineMs(cal: Calibration, plan: WorkShape, policy: DeadlinePolicy = DEFAULT_DEADLINES): number {
  return cal.computeCpuMs * workScale(cal, plan) * policy.computeSafetyFactor + policy.computeOverheadMs;
}

/** At or under this commit time the compute component is 1 (an honest commit lands near 1.1 × the calibrated time). */
export function computeFullMarksMs(cal: Calibration, plan: WorkShape, policy: DeadlinePolicy = DEFAULT_DEADLINES): number {
  return cal.computeCpuMs * workScale(cal, plan) * policy.computeFullMarksFactor + policy.computeOverheadMs;
}

/** True when the deadline is shorter than the least time a container with half the claimed cores needs. */
export function deadlineSeparatesHalfCores(cal: Calibration, plan: WorkShape, policy: DeadlinePolicy = DEFAULT_DEADLINES): boolean {
  return computeDeadlineMs(cal, plan, policy) < 2 * cal.computeCpuMs * workScale(cal, plan);
}

export function expectedComputeCpuSeconds(cal: Calibration, plan: WorkShape & Pick<ComputePlan, 'workers'>): number {
  return (cal.computeCpuMs * workScale(cal, plan) * plan.workers) / 1000;
}

export function memoryOpenDeadlineMs(cal: Calibration, plan: Pick<MemoryPlan, 'steps'>, policy: DeadlinePolicy = DEFAULT_DEADLINES): number {
  return cal.memOpenMs * (plan.steps / cal.memSteps) * policy.memorySafetyFactor + policy.memoryOverheadMs;
}
