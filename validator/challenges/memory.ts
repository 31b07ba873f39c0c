/** Memory challenge: plans, argv, and verification of replayed segments and block derivations (docs/verification.md, "Memory challenge"). */
import { randomBytes } from 'node:crypto';
import { merkleLeaf, merklePathLength, merkleRootFromPath } from '../../common/challenge/hash.js';
import {
  MEM_BLOCK,
  MIB,
  MEM_MAX_LANES,
  firstBlock,
  laneStart,
  mixBlocks,
  parentIndex,
  walkBlockIndex,
  walkInit,
  walkStep,
  words,
} from '../../common/challenge/memfill.js';
import { MAX_OVERHEAD_MS } from './compute-rates.js';

export interface MemoryParams {
  /** Walk steps in the timed open phase. */
  steps: number;
  /** Walk states committed every `interval` steps (a segment). */
  interval: number;
  /** Random segments the validator replays (plus segment 0). */
  segmentChecks: number;
  /** Random blocks whose derivation from their parents the validator checks. */
  blockChecks: number;
}

export const DEFAULT_MEMORY: MemoryParams = { steps: 1 << 20, interval: 64, segmentChecks: 8, blockChecks: 16 };

/**
 * Published bound on one walk step: 1 µs up to 256 MiB. An honest step is one
 * DRAM access plus 4 ChaCha double rounds (0.25–0.5 µs here, latency-bound on
 * any server); a prover missing a block pays at least one full derivation G
 * for it (~3 µs here) (docs/verification.md, "Memory challenge").
 */
export const WALK_STEP_BOUND_NS = 1000;

/**
 * Beyond 256 MiB the bound grows by 0.4 µs per doubling: the data lives in
 * tmpfs with 4 KiB pages (no huge pages for shmem on common kernels), so a
 * random step also misses the TLB, and under a hypervisor's nested paging the
 * page walk costs more DRAM accesses the larger the region. Measured in a
 * container here: 0.36–0.43 µs a step at 256 MiB, 1.3–1.7 µs at 0.9–1.2 GiB.
 */
export const WALK_STEP_BOUND_NS_PER_DOUBLING = 400;
const BASE_BYTES = 256 * MIB;

/** The step bound for a walk over `sizeBytes`. */
export function walkStepBoundNs(sizeBytes: number): number {
  return WALK_STEP_BOUND_NS + WALK_STEP_BOUND_NS_PER_DOUBLING * Math.max(0, Math.log2(sizeBytes / BASE_BYTES));
}

/** The walk deadline: steps × the published bound for the size, plus the call's overhead measured by the round's no-op (capped like compute's). */
export function walkDeadlineMs(plan: Pick<MemoryParams, 'steps'> & { sizeBytes?: number }, overheadMs: number): number {
  const boundNs = walkStepBoundNs(plan.sizeBytes ?? BASE_BYTES);
  return (plan.steps * boundNs) / 1e6 + Math.min(Math.max(overheadMs, 0), MAX_OVERHEAD_MS);
}

export interface MemoryPlan extends MemoryParams {
  seed: string;
  nonce: string;
  sizeBytes: number;
  blocks: number;
  /** Chains filled in parallel, one per rented core (a power of two, at most MEM_MAX_LANES, so it divides the blocks of any MiB multiple). */
  lanes: number;
}

/** Lanes for `cores` CPUs: the largest power of two not above them, at most MEM_MAX_LANES. */
export function lanesFor(cores: number): number {
  let lanes = 1;
  while (lanes * 2 <= Math.min(cores, MEM_MAX_LANES)) lanes *= 2;
  return lanes;
}

export function planMemory(sizeBytes: number, params: Partial<MemoryParams> = {}, lanes = 1): MemoryPlan {
  const p = { ...DEFAULT_MEMORY, ...params };
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes < MIB || sizeBytes % MIB) throw new RangeError(`memory size ${sizeBytes} must be a positive multiple of 1 MiB`);
  if (p.steps % p.interval) throw new RangeError('steps must be a multiple of interval');
  if (lanes !== lanesFor(lanes)) throw new RangeError(`lanes ${lanes} must be a power of two up to ${MEM_MAX_LANES}`);
  return { ...p, seed: randomBytes(32).toString('hex'), nonce: randomBytes(32).toString('hex'), sizeBytes, blocks: sizeBytes / MEM_BLOCK, lanes };
}

const stateArgs = (dir?: string): string[] => (dir ? ['--state', dir] : []);

export function memoryCommitArgv(probe: string, plan: MemoryPlan, stateDir?: string): string[] {
  return [probe, 'mem', 'commit', '--seed', plan.seed, '--size', String(plan.sizeBytes), '--lanes', String(plan.lanes), ...stateArgs(stateDir)];
}

export function memoryOpenArgv(probe: string, plan: MemoryPlan, stateDir?: string): string[] {
  return [probe, 'mem', 'open', '--seed', plan.seed, '--nonce', plan.nonce, '--steps', String(plan.steps), '--interval', String(plan.interval), ...stateArgs(stateDir)];
}

/** keep: leave the filled data in place for another open (a retest). */
export function memoryProveArgv(probe: string, plan: MemoryPlan, segments: number[], blocks: number[], stateDir?: string, keep = false): string[] {
  const argv = [probe, 'mem', 'prove', '--seed', plan.seed, '--segments', segments.join(','), '--blocks', blocks.join(','), ...stateArgs(stateDir)];
  return keep ? [...argv, '--keep', '1'] : argv;
}

export function memoryCleanArgv(probe: string, plan: MemoryPlan, stateDir?: string): string[] {
  return [probe, 'mem', 'clean', '--seed', plan.seed, ...stateArgs(stateDir)];
}

/** Reads a proof blob front to back; running past its end is a finding, not a crash. */
class ProofReader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  take(n: number): Buffer {
    if (this.at + n > this.buf.length) throw new RangeError(`proof truncated at byte ${this.at} (needs ${n} more)`);
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  path(leaves: number, index: number): Buffer[] {
    const k = merklePathLength(leaves, index);
    return Array.from({ length: k }, () => this.take(32));
  }
  get done(): boolean {
    return this.at === this.buf.length;
  }
}

function sameWords(a: Uint32Array, b: Uint32Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Replays walk segment j from its committed start state with Merkle-proven blocks. */
export function verifySegment(plan: MemoryPlan, root: Buffer, traceRoot: Buffer, points: number, j: number, proof: Buffer): string | undefined {
  try {
    const r = new ProofReader(proof);
    const start = r.take(64);
    if (!merkleRootFromPath(merkleLeaf(start), j, points, r.path(points, j)).equals(traceRoot)) return `segment ${j}: start state not in the committed trace`;
    const end = r.take(64);
    if (!merkleRootFromPath(merkleLeaf(end), j + 1, points, r.path(points, j + 1)).equals(traceRoot)) return `segment ${j}: end state not in the committed trace`;
    const s = words(start);
    if (j === 0 && !sameWords(s, walkInit(Buffer.from(plan.nonce, 'hex'), root))) return 'segment 0: the walk does not start from the nonce';
    for (let t = 0; t < plan.interval; t++) {
      const idx = walkBlockIndex(s, plan.blocks);
      const block = r.take(MEM_BLOCK);
      if (!merkleRootFromPath(merkleLeaf(block), idx, plan.blocks, r.path(plan.blocks, idx)).equals(root))
        return `segment ${j}: step ${t} used block ${idx}, which is not the committed one`;
      walkStep(s, words(block));
    }
    if (!r.done) return `segment ${j}: trailing bytes in the proof`;
    if (!sameWords(s, words(end))) return `segment ${j}: replaying the walk does not reach the committed state`;
    return undefined;
  } catch (e) {
    return `segment ${j}: ${(e as Error).message}`;
  }
}

/** Checks that block i is correctly derived: L[i] = G(L[i-1], L[parent], i) (L[0] from the seed). */
export function verifyBlock(plan: MemoryPlan, root: Buffer, i: number, proof: Buffer): string | undefined {
  try {
    const r = new ProofReader(proof);
    const readBlock = (index: number): Uint32Array | undefined => {
      const b = r.take(MEM_BLOCK);
      return merkleRootFromPath(merkleLeaf(b), index, plan.blocks, r.path(plan.blocks, index)).equals(root) ? words(b) : undefined;
    };
    const block = readBlock(i);
    if (!block) return `block ${i}: not the committed block`;
    const laneBlocks = plan.blocks / plan.lanes;
    let expected: Uint32Array;
    if (i === laneStart(i, laneBlocks)) expected = firstBlock(Buffer.from(plan.seed, 'hex'), i / laneBlocks);
    else {
      const prev = readBlock(i - 1);
      if (!prev) return `block ${i}: its predecessor is not the committed block`;
      const parent = parentIndex(prev, i, laneBlocks);
      const par = readBlock(parent);
      if (!par) return `block ${i}: its parent ${parent} is not the committed block`;
      expected = mixBlocks(prev, par, i);
    }
    if (!r.done) return `block ${i}: trailing bytes in the proof`;
    return sameWords(block, expected) ? undefined : `block ${i}: not derived from the seed (committed data is not the challenge's fill)`;
  } catch (e) {
    return `block ${i}: ${(e as Error).message}`;
  }
}
