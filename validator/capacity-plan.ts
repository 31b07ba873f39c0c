/**
 * What a round rents. A light (liveness) round rents validator.cpu_count CPUs
 * and validator.memory; a full-capacity round rents every CPU the miner says
 * is free and most of its free memory, once per window at a random time the
 * miner cannot foresee (docs/verification.md, "Capacity").
 */
import { randomInt } from 'node:crypto';
import type { GetCapacityResponse } from '../common/gen/polarise/v1/miner.js';

export type RoundKind = 'full' | 'light';

export interface CapacitySettings {
  /** One full-capacity round per miner per window; 0: every round is one. */
  windowSeconds: number;
  memoryFraction: number;
  challengeFraction: number;
  maxMemoryBytes?: number;
  /** Proven capacity is the best of this many recent full-capacity rounds. */
  bestOf: number;
}

export interface LightRental {
  cpuCount: number;
  memoryBytes: number;
  challengeMemoryBytes: number;
}

export interface Rental extends LightRental {
  kind: RoundKind;
}

/** Nothing worth renting is free: renters hold the miner's capacity. Such a round proves nothing and fails nothing. */
export interface Held {
  kind: 'held';
  reason: string;
}

const MIB = 2 ** 20;
const floorMib = (bytes: number): number => Math.floor(bytes / MIB) * MIB;

/** Below this a full-capacity round's memory challenge proves too little to be worth a container. */
export const MIN_FULL_CHALLENGE_BYTES = 64 * MIB;

/**
 * The rental for a round of `kind`. A miner that states no offer (older than
 * contract 1.1.0) gets light rounds only. Claiming more than it has only
 * makes the Allocate fail.
 */
export function planRental(kind: RoundKind, offer: GetCapacityResponse | undefined, light: LightRental, cap: CapacitySettings): Rental | Held {
  if (!offer) return { kind: 'light', ...light };
  if (kind === 'light') {
    if (offer.freeCpus < light.cpuCount || offer.freeMemoryBytes < light.memoryBytes) {
      return { kind: 'held', reason: `a light round needs ${light.cpuCount} CPU and ${light.memoryBytes} bytes; free: ${offer.freeCpus} CPU, ${offer.freeMemoryBytes} bytes` };
    }
    return { kind: 'light', ...light };
  }
  const cpuCount = Math.floor(Math.min(offer.freeCpus, offer.maxCpusPerAllocation || Infinity));
  const memoryBytes = floorMib(
    Math.min(offer.freeMemoryBytes * cap.memoryFraction, offer.maxMemoryBytesPerAllocation || Infinity, cap.maxMemoryBytes ?? Infinity),
  );
  const challengeMemoryBytes = floorMib(memoryBytes * cap.challengeFraction);
  if (cpuCount < 1 || challengeMemoryBytes < MIN_FULL_CHALLENGE_BYTES) {
    return { kind: 'held', reason: `nothing to rent: free ${offer.freeCpus} of ${offer.totalCpus} CPU, ${offer.freeMemoryBytes} of ${offer.totalMemoryBytes} bytes` };
  }
  return { kind: 'full', cpuCount, memoryBytes, challengeMemoryBytes };
}

/**
 * When each miner's full-capacity round is due. Windows are counted from the
 * miner's first round with this validator; in each, the round is due at a
 * random offset (at least 1 s, so a miner's first round is a light one) and
 * runs at the first round after it unless one already ran in that window.
 * Offsets live in memory: a restarted validator draws again, and the store
 * tells which windows already had theirs.
 */
export class FullRoundSchedule {
  private readonly offsets = new Map<string, { window: number; offsetMs: number }>();

  constructor(
    /** undefined: full-capacity rounds are off, every round is light. */
    private readonly windowSeconds: number | undefined,
    private readonly drawMs: (windowMs: number) => number = (windowMs) => randomInt(1000, Math.max(1001, windowMs)),
  ) {}

  kind(miner: string, nowMs: number, history: { firstRoundMs?: number; lastFullRoundMs?: number }): RoundKind {
    if (this.windowSeconds === undefined) return 'light';
    if (this.windowSeconds === 0) return 'full';
    const windowMs = this.windowSeconds * 1000;
    const first = history.firstRoundMs ?? nowMs;
    const window = Math.max(0, Math.floor((nowMs - first) / windowMs));
    const start = first + window * windowMs;
    if (history.lastFullRoundMs !== undefined && history.lastFullRoundMs >= start) return 'light';
    let drawn = this.offsets.get(miner);
    if (drawn?.window !== window) {
      drawn = { window, offsetMs: this.drawMs(windowMs) };
      this.offsets.set(miner, drawn);
    }
    return nowMs >= start + drawn.offsetMs ? 'full' : 'light';
  }
}
