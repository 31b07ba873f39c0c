import { expect } from 'chai';
import type { RoundCapacity } from '../../validator/round-types.js';
import { NOTHING, recentBest, settleCapacity } from '../../validator/scoring/capacity-standing.js';

const GiB = 2 ** 30;
const offer: RoundCapacity = { kind: 'full', offeredCpus: 2, freeCpus: 2, offeredMemoryBytes: 2 * GiB, freeMemoryBytes: 2 * GiB, rentedCpus: 2 };
const proven = (cores: number, memoryBytes: number) => ({ cores, memoryBytes });
const full = (cores: number, gib: number): RoundCapacity => settleCapacity(offer, proven(cores, gib * GiB), true, NOTHING, NOTHING);

describe('capacity standing: the best of recent full rounds', () => {
  it('a slow full round does not cut the standing below the best recent one; it is recorded as what it proved', () => {
    const c = settleCapacity(offer, proven(0.6, 1.2 * GiB), true, proven(1.5, 1.2 * GiB), proven(1.5, 1.2 * GiB));
    expect(c).to.deep.include({ provenCores: 1.5, provenMemoryBytes: 1.2 * GiB, roundProvenCores: 0.6, roundProvenMemoryBytes: 1.2 * GiB });
  });

  it('a faster round raises the standing at once', () => {
    const c = settleCapacity(offer, proven(1.7, 1.2 * GiB), true, proven(1.5, GiB), proven(1.5, GiB));
    expect(c).to.deep.include({ provenCores: 1.7, provenMemoryBytes: 1.2 * GiB });
  });

  it('an invalid proof proves nothing, whatever was proven before, and ends the run', () => {
    const c = settleCapacity(offer, proven(1.5, GiB), false, proven(1.5, GiB), proven(1.5, GiB));
    expect(c).to.deep.include({ provenCores: 0, provenMemoryBytes: 0, invalid: true });
    expect(recentBest([c, full(1.5, 1)], 3)).to.deep.equal(NOTHING);
  });

  it('takes at most best_of − 1 earlier full rounds, newest first, reading past light rounds', () => {
    const light = settleCapacity({ ...offer, kind: 'light' }, proven(0.9, 0.25 * GiB), true, proven(1.5, GiB), NOTHING);
    const history = [full(0.6, 1), light, full(0.8, 1), full(1.5, 1.2)];
    expect(recentBest(history, 3)).to.deep.equal(proven(0.8, GiB));
    expect(recentBest(history, 4)).to.deep.equal(proven(1.5, 1.2 * GiB));
    expect(recentBest(history, 1)).to.deep.equal(NOTHING);
  });

  it('a lie in a light round ends the run too: the full rounds before it never count again', () => {
    const lie = settleCapacity({ ...offer, kind: 'light' }, proven(0.9, 0.25 * GiB), false, proven(1.5, GiB), NOTHING);
    expect(recentBest([full(0.6, 1), lie, full(1.5, 1.2)], 24)).to.deep.equal(proven(0.6, GiB));
  });

  it('records from before this rule (no round figure) end the run: they may hide a lie', () => {
    const old: RoundCapacity = { ...offer, provenCores: 1.5, provenMemoryBytes: GiB };
    expect(recentBest([full(0.6, 1), old, full(1.5, 1.2)], 24)).to.deep.equal(proven(0.6, GiB));
  });

  it('renter-held capacity: credited at the held share of the last standing, never past it', () => {
    const c = settleCapacity({ ...offer, freeCpus: 1, freeMemoryBytes: GiB }, proven(0.9, 0.6 * GiB), true, proven(1.5, 1.2 * GiB), NOTHING);
    expect(c.creditedCores).to.be.closeTo(0.6, 1e-9);
    expect(c.provenCores).to.be.closeTo(1.5, 1e-9);
    expect(c.provenMemoryBytes).to.be.closeTo(1.2 * GiB, 1);
  });
});
