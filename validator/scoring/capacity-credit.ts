/**
 * Capacity that renters hold cannot be proven while they hold it. It is
 * credited at the value last proven for the miner, in proportion to the share
 * of the offer that is held, and never beyond what was last proven: capacity
 * never proven earns nothing (docs/verification.md, "Capacity").
 */

export interface Proven {
  cores: number;
  memoryBytes: number;
}

export interface HeldShare {
  offeredCpus: number;
  freeCpus: number;
  offeredMemoryBytes: number;
  freeMemoryBytes: number;
}

const share = (offered: number, free: number): number => (offered > 0 ? Math.min(1, Math.max(0, (offered - free) / offered)) : 0);

/** One resource's credit: the held share of the last proven value, at most what this round's proof fell short of it. */
function credit(last: number, now: number, heldShare: number): number {
  return Math.max(0, Math.min(heldShare * last, last - now));
}

/** The credit for held capacity in a round that proved `now` of the free part. */
export function heldCredit(now: Proven, last: Proven, offer: HeldShare): Proven {
  return {
    cores: credit(last.cores, now.cores, share(offer.offeredCpus, offer.freeCpus)),
    memoryBytes: credit(last.memoryBytes, now.memoryBytes, share(offer.offeredMemoryBytes, offer.freeMemoryBytes)),
  };
}
