/**
 * Compute proof: plan, argv, parsing and verification of one commit and its
 * opened rows (docs/verification.md, "Compute proof"). The validator never
 * sees the whole product: it names random rows after the roots are fixed and
 * checks each one against its own Freivalds vector.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { merkleLeaf, merklePathLength, merkleRootFromPath } from '../../common/challenge/hash.js';
import {
  DEFAULT_MODULUS,
  MAX_FACTORS,
  MAX_N,
  MIN_FACTORS,
  MIN_N,
  N_MULTIPLE,
  chainMatVec,
  colKeys,
  matrixKey,
  seededRow,
} from '../../common/challenge/matrix.js';
import type { ExecOutcome } from './executor.js';
import { FieldReader, parseProbeOutput, proverCpuMs } from './probe-output.js';

export interface ComputeParams {
  /** Matrix size; work per worker is (factors − 1)·n³ multiply-adds. */
  n: number;
  /** Prime below 2^24. */
  modulus: number;
  /** Seeded matrices in each worker's chain C = M_0·M_1·…·M_{factors−1}. */
  factors: number;
  /** Rows opened per commit, drawn over all workers' rows: a prover that skipped a share f of them passes with (1 − f)^rows. */
  rowsOpened: number;
}

/**
 * 40 products of 768×768 matrices per worker: 1.81·10¹⁰ multiply-adds,
 * about 1.1 s of one core here (long enough that a run's fixed costs do not
 * blur the core check, docs/verification.md "Cores"). 49 opened rows: a prover skipping a quarter of its
 * rows passes with 0.75^49 < 2^-20, and they cost the validator 49 rows of
 * 2.25 KiB with their paths (docs/verification.md, "Compute proof").
 */
export const DEFAULT_COMPUTE: ComputeParams = { n: 768, modulus: DEFAULT_MODULUS, factors: 41, rowsOpened: 49 };

export interface ComputePlan extends ComputeParams {
  seed: string;
  workers: number;
}

export function planCompute(workers: number, params: Partial<ComputeParams> = {}): ComputePlan {
  const p = { ...DEFAULT_COMPUTE, ...params };
  if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new RangeError(`workers ${workers} not in [1, 256]`);
  if (!Number.isInteger(p.n) || p.n < MIN_N || p.n > MAX_N || p.n % N_MULTIPLE) throw new RangeError(`n ${p.n} must be a multiple of ${N_MULTIPLE} in [${MIN_N}, ${MAX_N}]`);
  if (p.modulus < 1 << 16 || p.modulus >= 1 << 24) throw new RangeError('modulus must be a prime in [2^16, 2^24)');
  if (!Number.isInteger(p.factors) || p.factors < MIN_FACTORS || p.factors > MAX_FACTORS) throw new RangeError(`factors ${p.factors} not in [${MIN_FACTORS}, ${MAX_FACTORS}]`);
  if (!Number.isInteger(p.rowsOpened) || p.rowsOpened < 1 || p.rowsOpened > MAX_ROWS_OPENED) throw new RangeError(`rowsOpened ${p.rowsOpened} not in [1, ${MAX_ROWS_OPENED}]`);
  return { ...p, seed: randomBytes(32).toString('hex'), workers };
}

/** The probe's limit on rows named in one open. */
export const MAX_ROWS_OPENED = 256;

/** Multiply-adds mod p one worker does: (factors − 1)·n³ (the unit of compute, docs/verification.md). */
export const workPerWorker = (plan: Pick<ComputeParams, 'n' | 'factors'>): number => (plan.factors - 1) * plan.n ** 3;

export function computeCommitArgv(probe: string, plan: ComputePlan, stateDir?: string): string[] {
  const argv = [
    probe, 'cpu', 'commit', '--seed', plan.seed, '--n', String(plan.n), '--workers', String(plan.workers),
    '--modulus', String(plan.modulus), '--factors', String(plan.factors),
  ];
  return stateDir ? [...argv, '--state', stateDir] : argv;
}

/** Distinct rows (index = worker·n + row), drawn with the validator's CSPRNG after the roots are known. */
export function pickRows(plan: ComputePlan): number[] {
  const total = plan.workers * plan.n;
  const rows = new Set<number>();
  while (rows.size < Math.min(plan.rowsOpened, total)) rows.add(randomInt(total));
  return [...rows].sort((a, b) => a - b);
}

export function computeOpenArgv(probe: string, plan: ComputePlan, rows: number[], stateDir?: string): string[] {
  const argv = [probe, 'cpu', 'open', '--seed', plan.seed, '--rows', rows.join(',')];
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

export interface OpenedRow {
  index: number;
  /** The row's entries (u24le, 3n bytes). */
  bytes: Buffer;
  siblings: Buffer[];
}

export interface ComputeVerification {
  passed: boolean;
  findings: string[];
  rowsVerified: number;
  /** Bytes of the open call's output the validator received. */
  ingressBytes: number;
  /** Validator CPU (user + sys) for parsing, paths and the Freivalds checks. */
  verifyCpuMs: number;
}

/** Canonical base64 of exactly `bytes` bytes, or undefined. */
function decodeBase64(v: unknown, bytes: number): Buffer | undefined {
  if (typeof v !== 'string' || v.length !== 4 * Math.ceil(bytes / 3)) return undefined;
  const out = Buffer.from(v, 'base64');
  return out.length === bytes && out.toString('base64') === v ? out : undefined;
}

/** The opened rows by index, or findings naming what is missing or malformed. */
function readRows(plan: ComputePlan, wanted: number[], outcome: ExecOutcome, findings: string[]): Map<number, OpenedRow> {
  const { records, findings: parse } = parseProbeOutput('cpu open', outcome);
  findings.push(...parse);
  const read = new FieldReader('cpu open', findings);
  const want = new Set(wanted);
  const rows = new Map<number, OpenedRow>();
  for (const rec of records) {
    if (rec.type !== 'cpu-row') continue;
    const index = read.int(rec, 'index', 0, plan.workers * plan.n - 1);
    if (index === undefined) continue;
    if (!want.has(index) || rows.has(index)) {
      findings.push(`cpu open: row ${index} was not asked for or came twice`);
      continue;
    }
    const row = index % plan.n;
    const depth = merklePathLength(plan.n, row);
    const bytes = decodeBase64(rec.c, 3 * plan.n);
    const path = decodeBase64(rec.path, 32 * depth);
    if (!bytes || !path) {
      findings.push(`cpu open: row ${index}: ${bytes ? 'path' : 'c'} is not canonical base64 of ${bytes ? 32 * depth : 3 * plan.n} bytes`);
      continue;
    }
    const siblings = Array.from({ length: depth }, (_, k) => path.subarray(32 * k, 32 * k + 32));
    rows.set(index, { index, bytes, siblings });
  }
  for (const index of wanted) if (!rows.has(index)) findings.push(`cpu open: row ${index} was not opened`);
  return rows;
}

/** n uniform values in [0, p) (48 random bits each: bias < 2^-24). */
function randomVector(n: number, p: number): Float64Array {
  const bytes = randomBytes(6 * n);
  const r = new Float64Array(n);
  for (let i = 0; i < n; i++) r[i] = bytes.readUIntLE(6 * i, 6) % p;
  return r;
}

/** Σ a_j·v_j mod p, exact in doubles (entries < 2^24: 32 products per reduction stay below 2^53). */
function dotMod(a: ArrayLike<number>, v: Float64Array, p: number): number {
  let acc = 0;
  for (let j = 0; j < v.length; j++) {
    acc += a[j]! * v[j]!;
    if ((j & 31) === 31) acc %= p;
  }
  return acc % p;
}

/** What the row checks of one worker share: its Freivalds vector r, u = M_1·…·M_{F−1}·r, and M_0's key and column keys. */
interface WorkerCheck {
  root: Buffer;
  r: Float64Array;
  u: Float64Array;
  m0: Uint32Array;
  m0Cols: Int32Array;
}

/** One opened row: Merkle path to the worker's root, entries reduced, and c·r = row_i(M_0)·u. */
function checkRow(plan: ComputePlan, row: OpenedRow, wc: WorkerCheck): string | undefined {
  const { n, modulus: p } = plan;
  const w = Math.floor(row.index / n), i = row.index % n;
  if (!merkleRootFromPath(merkleLeaf(row.bytes), i, n, row.siblings).equals(wc.root)) return `worker ${w}: row ${i} does not match the committed Merkle root`;
  const b = row.bytes;
  const c = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    const e = b[3 * j]! | (b[3 * j + 1]! << 8) | (b[3 * j + 2]! << 16);
    if (e >= p) return `worker ${w}: C[${i}][${j}] = ${e} is not reduced mod ${p}`;
    c[j] = e;
  }
  const m0 = seededRow(wc.m0, n, i, wc.m0Cols);
  if (dotMod(c, wc.r, p) !== dotMod(m0, wc.u, p)) return `worker ${w}: row ${i} of C is not row ${i} of ${chainName(plan.factors)} mod ${p} (Freivalds)`;
  return undefined;
}

const chainName = (factors: number): string => (factors <= 4 ? Array.from({ length: factors }, (_, m) => `M${m}`).join('·') : `M0·M1·…·M${factors - 1}`);

/**
 * Verifies the rows the validator named against the committed roots. One
 * fresh Freivalds vector per worker touched; its chain M_1·…·M_{F−1}·r is the
 * validator's only per-worker cost. CPU time is the validator's own.
 */
export function verifyComputeOpen(plan: ComputePlan, roots: (Buffer | undefined)[], wanted: number[], outcome: ExecOutcome, useWasm = true): ComputeVerification {
  const cpu0 = process.cpuUsage();
  const findings: string[] = [];
  const rows = readRows(plan, wanted, outcome, findings);
  const seed = Buffer.from(plan.seed, 'hex');
  const byWorker = new Map<number, OpenedRow[]>();
  for (const row of rows.values()) {
    const w = Math.floor(row.index / plan.n);
    byWorker.set(w, [...(byWorker.get(w) ?? []), row]);
  }
  let verified = 0;
  for (const [w, list] of byWorker) {
    const root = roots[w];
    if (!root) continue;
    const r = randomVector(plan.n, plan.modulus);
    const m0 = matrixKey(seed, w, 0);
    const wc: WorkerCheck = { root, r, u: chainMatVec(seed, w, plan.factors, plan.n, r, plan.modulus, useWasm, 1), m0, m0Cols: colKeys(m0, plan.n) };
    for (const row of list) {
      const problem = checkRow(plan, row, wc);
      if (problem) findings.push(`cpu open: ${problem}`);
      else verified++;
    }
  }
  const used = process.cpuUsage(cpu0);
  return {
    passed: findings.length === 0 && verified === wanted.length,
    findings,
    rowsVerified: verified,
    ingressBytes: Buffer.byteLength(outcome.stdout) + Buffer.byteLength(outcome.stderr),
    verifyCpuMs: (used.user + used.system) / 1000,
  };
}
