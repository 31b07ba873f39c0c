/** Compute challenge: plans, argv, parsing and verification of one commit/open (docs/verification.md, "Compute challenge", "Verification cost"). */
import * as nodeCrypto from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { merkleRoot, sha256 } from '../../common/challenge/hash.js';
import {
  DEFAULT_MODULUS,
  LITTLE_ENDIAN,
  MAX_FACTORS,
  MAX_N,
  MIN_FACTORS,
  MIN_N,
  N_MULTIPLE,
  chainMatVec,
  u24RowDot,
} from '../../common/challenge/matrix.js';
import { kernelMemory, matVecKernels } from '../../common/challenge/matvec-wasm.js';
import type { ExecOutcome } from './executor.js';
import { FieldReader, RawText, parseProbeOutput, proverCpuMs } from './probe-output.js';

export interface ComputeParams {
  /** Matrix size; work per worker is (factors − 1)·n³ multiply-adds. */
  n: number;
  /** Prime below 2^24. */
  modulus: number;
  /** Independent Freivalds vectors; a wrong C passes each with probability ≤ 1/modulus. */
  freivaldsRounds: number;
  /** Seeded matrices in each worker's chain C = M_0·M_1·…: 2 is one product, 3 two products. */
  factors: number;
}

/**
 * Two products of 1856×1856 matrices per worker: ~0.95 s of one core with the
 * probe's kernel here, like the single 2048 product before it, with 82% of
 * the bytes of C to ship and hash and 1.6× the work per byte
 * (docs/verification.md, "Verification cost").
 */
export const DEFAULT_COMPUTE: ComputeParams = { n: 1856, modulus: DEFAULT_MODULUS, freivaldsRounds: 1, factors: 3 };

export interface ComputePlan extends ComputeParams {
  seed: string;
  workers: number;
}

export function planCompute(claimedCores: number, params: Partial<ComputeParams> = {}): ComputePlan {
  const p = { ...DEFAULT_COMPUTE, ...params };
  if (!Number.isInteger(claimedCores) || claimedCores < 1 || claimedCores > 256) throw new RangeError(`claimed cores ${claimedCores} not in [1, 256]`);
  if (!Number.isInteger(p.n) || p.n < MIN_N || p.n > MAX_N || p.n % N_MULTIPLE) throw new RangeError(`n ${p.n} must be a multiple of ${N_MULTIPLE} in [${MIN_N}, ${MAX_N}]`);
  if (p.modulus < 1 << 16 || p.modulus >= 1 << 24) throw new RangeError('modulus must be a prime in [2^16, 2^24)');
  if (!Number.isInteger(p.factors) || p.factors < MIN_FACTORS || p.factors > MAX_FACTORS) throw new RangeError(`factors ${p.factors} not in [${MIN_FACTORS}, ${MAX_FACTORS}]`);
  if (!Number.isInteger(p.freivaldsRounds) || p.freivaldsRounds < 1 || p.freivaldsRounds > 8) throw new RangeError(`freivaldsRounds ${p.freivaldsRounds} not in [1, 8]`);
  return { ...p, seed: randomBytes(32).toString('hex'), workers: claimedCores };
}

export function computeCommitArgv(probe: string, plan: ComputePlan, stateDir?: string): string[] {
  const argv = [
    probe, 'cpu', 'commit', '--seed', plan.seed, '--n', String(plan.n), '--workers', String(plan.workers),
    '--modulus', String(plan.modulus), '--factors', String(plan.factors),
  ];
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
  /** Validator CPU (user + sys) for parsing, decoding, Merkle, generation and Freivalds. */
  verifyCpuMs: number;
}

/** n uniform values in [0, p) (48 random bits each: bias < 2^-24). */
function randomVector(n: number, p: number): Float64Array {
  const bytes = randomBytes(6 * n);
  const r = new Float64Array(n);
  for (let i = 0; i < n; i++) r[i] = bytes.readUIntLE(6 * i, 6) % p;
  return r;
}

// node:crypto's one-shot hash (Node ≥ 20.12) saves a Hash object per row.
const oneShot = (nodeCrypto as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Buffer }).hash;
const leafOf = (input: Buffer): Buffer => (oneShot ? oneShot('sha256', input, 'buffer') : sha256(input));

/** Writes row i of C (3n bytes) into dst; false when its text is not plain, canonical base64. */
type RowSource = (row: number, dst: Buffer) => boolean;

/**
 * One worker's revealed C, row by row: each row lands in the Wasm kernels'
 * memory (or a scratch buffer without them) behind a 0x00 byte, so its Merkle
 * leaf SHA-256(0x00 ‖ row) is one native call; then the rows' dot products
 * with the Freivalds vectors, the root, the range of the entries, and
 * M_0·(M_1·(…·r)) = C·r.
 */
function checkWorker(plan: ComputePlan, worker: number, root: Buffer, source: RowSource, useWasm = true): string[] {
  const { n, modulus: p } = plan;
  const rowBytes = 3 * n;
  const rs = Array.from({ length: plan.freivaldsRounds }, () => randomVector(n, p));
  const leaves: Buffer[] = new Array<Buffer>(n);
  const k = useWasm && n % 4 === 0 ? matVecKernels() : null;
  let crs: Float64Array[];
  let unreduced = -1;
  if (k) {
    // [chain scratch: 24n][rows: n × (4 + 3n), each row after 3 spare bytes and its 0x00 leaf byte][slack: 16]
    const stride = rowBytes + 4;
    const rowsAt = 24 * n + 64;
    const mem = kernelMemory(k, rowsAt + n * stride + 16);
    for (let i = 0; i < n; i++) {
      const at = rowsAt + i * stride + 4;
      mem[at - 1] = 0;
      if (!source(i, mem.subarray(at, at + rowBytes))) return [`worker ${worker}: row ${i} of C is not canonical base64`];
      leaves[i] = leafOf(mem.subarray(at - 1, at + rowBytes));
    }
    crs = rs.map((r) => {
      new Float64Array(k.memory.buffer).set(r, (4 * n) / 8);
      const bad = k.u24Dots(rowsAt + 4, stride, n, n, 4 * n, 12 * n, p, 1 / p, (1 << 24) - p);
      if (bad && unreduced < 0) unreduced = bad - 1;
      return new Float64Array(k.memory.buffer).slice((12 * n) / 8, (12 * n) / 8 + n);
    });
  } else {
    const buf = new ArrayBuffer(rowBytes + 4);
    const scratch = Buffer.from(buf);
    const words = LITTLE_ENDIAN && n % 4 === 0 ? new Int32Array(buf, 4, rowBytes / 4) : undefined;
    crs = rs.map(() => new Float64Array(n));
    for (let i = 0; i < n; i++) {
      scratch[3] = 0;
      const row = scratch.subarray(4);
      if (!source(i, row)) return [`worker ${worker}: row ${i} of C is not canonical base64`];
      leaves[i] = leafOf(scratch.subarray(3));
      for (let r = 0; r < rs.length; r++) {
        const d = words ? u24RowDot(words, n, rs[r]!, p) : rowDotBytes(row, n, rs[r]!, p);
        if (d < 0 && unreduced < 0) unreduced = i;
        crs[r]![i] = d;
      }
    }
  }
  if (!merkleRoot(leaves).equals(root)) return [`worker ${worker}: revealed C does not match the committed Merkle root`];
  if (unreduced >= 0) {
    const row = Buffer.alloc(rowBytes);
    source(unreduced, row);
    for (let j = 0; j < n; j++) {
      const e = row.readUIntLE(3 * j, 3);
      if (e >= p) return [`worker ${worker}: C[${unreduced}][${j}] = ${e} is not reduced mod ${p}`];
    }
  }
  return freivalds(plan, worker, rs, crs, useWasm);
}

/** M_0·(M_1·(…·r)) = C·r for each of the validator's vectors r; C·r alone is never accepted (it was computed from the committed rows). */
function freivalds(plan: ComputePlan, worker: number, rs: Float64Array[], crs: Float64Array[], useWasm: boolean): string[] {
  const { n, modulus: p } = plan;
  const seed = Buffer.from(plan.seed, 'hex');
  for (let r = 0; r < rs.length; r++) {
    const expected = chainMatVec(seed, worker, plan.factors, n, rs[r]!, p, useWasm);
    const cr = crs[r]!;
    for (let i = 0; i < n; i++)
      if (expected[i] !== cr[i])
        return [`worker ${worker}: Freivalds check failed (row ${i} of C·r differs from the chain applied to r): C ≠ ${chainName(plan.factors)} mod ${p}`];
  }
  return [];
}

const chainName = (factors: number): string => Array.from({ length: factors }, (_, m) => `M${m}`).join('·');

/** Portable row dot product (big-endian hosts). */
function rowDotBytes(row: Uint8Array, n: number, v: Float64Array, p: number): number {
  let acc = 0;
  for (let j = 0; j < n; j++) {
    const e = row[3 * j]! | (row[3 * j + 1]! << 8) | (row[3 * j + 2]! << 16);
    if (e >= p) return -1;
    acc += e * v[j]!;
    if ((j & 31) === 31) acc %= p;
  }
  return acc % p;
}

/**
 * Checks one worker's revealed C (the probe's row encoding): binding to its
 * root, range, Freivalds. useWasm = false forces the plain TypeScript kernels.
 */
export function verifyWorker(plan: ComputePlan, worker: number, root: Buffer, encoded: Buffer, useWasm = true): string[] {
  const rowBytes = 3 * plan.n;
  if (encoded.length !== rowBytes * plan.n) return [`worker ${worker}: C holds ${encoded.length} bytes, expected ${rowBytes * plan.n}`];
  const source: RowSource = (i, dst) => {
    encoded.copy(dst, 0, i * rowBytes, (i + 1) * rowBytes);
    return true;
  };
  return checkWorker(plan, worker, root, source, useWasm);
}

/** Base64 text of exactly `bytes` bytes, or the finding that says why not. */
function base64Text(rec: Record<string, unknown>, field: string, bytes: number): RawText | string {
  const v = rec[field];
  const text = typeof v === 'string' ? new RawText(v, 0, v.length) : v instanceof RawText ? v : undefined;
  if (!text || text.length % 4 !== 0) return `cpu-open.${field} is not canonical base64`;
  const held = (text.length / 4) * 3 - (text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0);
  if (held !== bytes) return `cpu-open.${field} holds ${held} bytes, expected ${bytes}`;
  return text;
}

/** Verifies the open phase against the committed roots. CPU time is the validator's own. */
export function verifyComputeOpen(plan: ComputePlan, roots: (Buffer | undefined)[], outcome: ExecOutcome): ComputeVerification {
  const cpu0 = process.cpuUsage();
  const { records, findings } = parseProbeOutput('cpu open', outcome, { rawField: { type: 'cpu-open', field: 'c' } });
  const read = new FieldReader('cpu open', findings);
  const seen = new Set<number>();
  let verified = 0;
  for (const rec of records) {
    if (rec.type !== 'cpu-open') continue;
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
    const text = base64Text(rec, 'c', 3 * n * n);
    if (typeof text === 'string') {
      findings.push(`cpu open: ${text}`);
      continue;
    }
    const root = roots[w];
    if (!root) continue;
    // Each row is 3n bytes = 4n base64 characters (3n is a multiple of 3: no padding inside).
    const chars = 4 * n;
    const problems = checkWorker(plan, w, root, (i, dst) => dst.write(text.slice(i * chars, (i + 1) * chars), 0, 3 * n, 'base64') === 3 * n);
    findings.push(...problems.map((p) => `cpu open: ${p}`));
    if (problems.length === 0) verified++;
  }
  for (let w = 0; w < plan.workers; w++) if (!seen.has(w)) findings.push(`cpu open: worker ${w} revealed nothing`);
  const used = process.cpuUsage(cpu0);
  return { passed: findings.length === 0 && verified === plan.workers, findings, verifiedWorkers: verified, verifyCpuMs: (used.user + used.system) / 1000 };
}
