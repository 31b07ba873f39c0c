/**
 * A miner's capacity standing after a round (docs/verification.md, "Capacity").
 * Noise on a shared host only ever slows a prover: a valid proof cannot run
 * faster than the machine it ran on. So a full-capacity round stands at the
 * best of what it and the miner's previous full rounds proved (up to
 * validator.capacity.best_of rounds); an invalid proof or a lie, in any kind
 * of round, proves 0 and ends that run: nothing proven before it counts again.
 */
import type { RoundCapacity } from '../round-types.js';
import { heldCredit, type Proven } from './capacity-credit.js';

export const NOTHING: Proven = { cores: 0, memoryBytes: 0 };

const best = (a: Proven, b: Proven): Proven => ({ cores: Math.max(a.cores, b.cores), memoryBytes: Math.max(a.memoryBytes, b.memoryBytes) });

/** What a round's capacity record says it proved by itself (credit included), or undefined when it ends the run. */
export function roundProven(c: RoundCapacity): Proven | undefined {
  if (c.invalid || c.roundProvenCores === undefined) return undefined;
  return { cores: c.roundProvenCores, memoryBytes: c.roundProvenMemoryBytes ?? 0 };
}

/**
 * The best of the previous full and held rounds that still count: newest
 * first, at most `bestOf − 1` of them, stopping at the first that ends the
 * run (an invalid proof or a lie, or a record older than this rule).
 */
export function recentBest(newestFirst: RoundCapacity[], bestOf: number): Proven {
  let result = NOTHING;
  let counted = 0;
  for (const c of newestFirst) {
    if (counted >= bestOf - 1) break;
    const proven = roundProven(c);
    if (!proven) break;
    if (c.kind === 'light') continue;
    result = best(result, proven);
    counted++;
  }
  return result;
}

/** A round that proves nothing and ends the run: a lie anywhere in it. */
export function provedNothing(c: RoundCapacity): RoundCapacity {
  return { ...c, provenCores: 0, provenMemoryBytes: 0, roundProvenCores: 0, roundProvenMemoryBytes: 0, invalid: true };
}

/**
 * The standing after a round that proved `now` of what it rented. A light
 * round's proof is a lower bound: the standing becomes the larger of it and
 * the last one (a miner's first rounds weigh what they proved before its
 * first full round). A full or held round proves `now` plus the credit for
 * what renters hold, and stands at the best of that and `earlier` (the
 * recent full rounds that still count).
 */
export function settleCapacity(capacity: RoundCapacity, now: Proven, valid: boolean, last: Proven, earlier: Proven): RoundCapacity {
  if (!valid) return provedNothing(capacity);
  if (capacity.kind === 'light') {
    const standing = best(last, now);
    return { ...capacity, provenCores: standing.cores, provenMemoryBytes: standing.memoryBytes, roundProvenCores: now.cores, roundProvenMemoryBytes: now.memoryBytes };
  }
  const held = capacity.kind === 'held' ? { offeredCpus: 1, freeCpus: 0, offeredMemoryBytes: 1, freeMemoryBytes: 0 } : capacity;
  const credit = heldCredit(now, last, held);
  const round = { cores: now.cores + credit.cores, memoryBytes: now.memoryBytes + credit.memoryBytes };
  const standing = best(round, earlier);
  return {
    ...capacity,
    provenCores: standing.cores,
    provenMemoryBytes: standing.memoryBytes,
    roundProvenCores: round.cores,
    roundProvenMemoryBytes: round.memoryBytes,
    creditedCores: credit.cores,
    creditedMemoryBytes: credit.memoryBytes,
  };
}
