import { expect } from 'chai';
import { FullRoundSchedule, MIN_FULL_CHALLENGE_BYTES, planRental, type CapacitySettings } from '../../validator/capacity-plan.js';
import { heldCredit } from '../../validator/scoring/capacity-credit.js';
import { capacityNote } from '../../validator/view/report-capacity.js';
import { walkDeadlineMs, walkStepBoundNs } from '../../validator/challenges/memory.js';
import { GetCapacityResponse } from '../../common/gen/polarise/v1/miner.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const light = { cpuCount: 1, memoryBytes: 512 * MiB, challengeMemoryBytes: 256 * MiB };
const cap: CapacitySettings = { windowSeconds: 3600, memoryFraction: 0.75, challengeFraction: 0.8, bestOf: 3 };
const offer = (o: Partial<GetCapacityResponse>): GetCapacityResponse =>
  GetCapacityResponse.fromPartial({ totalCpus: 4, freeCpus: 4, totalMemoryBytes: 8 * GiB, freeMemoryBytes: 8 * GiB, maxCpusPerAllocation: 16, maxMemoryBytesPerAllocation: 64 * GiB, ...o });

describe('capacity: what a round rents', () => {
  it('a full-capacity round rents every free CPU and the configured share of free memory, whole MiB', () => {
    const r = planRental('full', offer({ freeCpus: 3.5, freeMemoryBytes: 6 * GiB + 123 }), light, cap);
    expect(r).to.deep.equal({ kind: 'full', cpuCount: 3, memoryBytes: 4.5 * GiB, challengeMemoryBytes: Math.floor((4.5 * GiB * 0.8) / MiB) * MiB });
  });

  it('stays within the per-allocation maxima and the configured cap', () => {
    expect(planRental('full', offer({ maxCpusPerAllocation: 2, maxMemoryBytesPerAllocation: 2 * GiB }), light, cap)).to.include({ cpuCount: 2, memoryBytes: 2 * GiB });
    expect(planRental('full', offer({}), light, { ...cap, maxMemoryBytes: GiB })).to.include({ memoryBytes: GiB });
  });

  it('a miner with nothing free is held, not failed: no CPU, or too little memory to prove', () => {
    expect(planRental('full', offer({ freeCpus: 0.5 }), light, cap).kind).to.equal('held');
    expect(planRental('full', offer({ freeMemoryBytes: MIN_FULL_CHALLENGE_BYTES }), light, cap).kind).to.equal('held');
    expect(planRental('light', offer({ freeCpus: 0 }), light, cap).kind).to.equal('held');
    expect(planRental('light', offer({ freeMemoryBytes: 100 * MiB }), light, cap).kind).to.equal('held');
  });

  it('a light round rents the fixed size; a miner without GetCapacity gets light rounds only', () => {
    expect(planRental('light', offer({}), light, cap)).to.deep.equal({ kind: 'light', ...light });
    expect(planRental('full', undefined, light, cap)).to.deep.equal({ kind: 'light', ...light });
  });
});

describe('capacity: when the full-capacity round runs', () => {
  const hour = 3600_000;

  it('once per window, at the drawn offset, never in a miner\'s first round', () => {
    const s = new FullRoundSchedule(3600, () => 20 * 60_000);
    const first = 1_000_000;
    expect(s.kind('m', first, {})).to.equal('light');
    expect(s.kind('m', first + 19 * 60_000, { firstRoundMs: first })).to.equal('light');
    expect(s.kind('m', first + 21 * 60_000, { firstRoundMs: first })).to.equal('full');
    expect(s.kind('m', first + 50 * 60_000, { firstRoundMs: first, lastFullRoundMs: first + 21 * 60_000 })).to.equal('light');
    // The next window: due again at its own offset.
    expect(s.kind('m', first + hour + 10 * 60_000, { firstRoundMs: first, lastFullRoundMs: first + 21 * 60_000 })).to.equal('light');
    expect(s.kind('m', first + hour + 25 * 60_000, { firstRoundMs: first, lastFullRoundMs: first + 21 * 60_000 })).to.equal('full');
  });

  it('draws a fresh offset in each window, within it, and at least 1 s in', () => {
    const draws: number[] = [];
    const s = new FullRoundSchedule(60, (w) => {
      const d = new FullRoundSchedule(60)['drawMs'](w);
      draws.push(d);
      return d;
    });
    for (let t = 0; t < 10 * 60_000; t += 5_000) s.kind('m', t, { firstRoundMs: 0 });
    expect(draws).to.have.length(10);
    for (const d of draws) expect(d).to.be.within(1000, 60_000);
  });

  it('window 0: every round is a full-capacity round; disabled: none is', () => {
    expect(new FullRoundSchedule(0).kind('m', 0, {})).to.equal('full');
    expect(new FullRoundSchedule(undefined).kind('m', 10 * hour, { firstRoundMs: 0 })).to.equal('light');
  });
});

describe('capacity: credit for what renters hold', () => {
  const offered = { offeredCpus: 2, offeredMemoryBytes: 4 * GiB };

  it('credits the held share of the last proven value, up to what this round fell short of it', () => {
    const c = heldCredit({ cores: 0.98, memoryBytes: GiB }, { cores: 1.4, memoryBytes: 3 * GiB }, { ...offered, freeCpus: 1, freeMemoryBytes: 2 * GiB });
    expect(c.cores).to.be.closeTo(0.42, 1e-9);
    expect(c.memoryBytes).to.equal(1.5 * GiB);
  });

  it('never credits capacity that was never proven, nor more than was proven', () => {
    expect(heldCredit({ cores: 0, memoryBytes: 0 }, { cores: 0, memoryBytes: 0 }, { ...offered, freeCpus: 0, freeMemoryBytes: 0 })).to.deep.equal({ cores: 0, memoryBytes: 0 });
    expect(heldCredit({ cores: 2, memoryBytes: 4 * GiB }, { cores: 1.4, memoryBytes: 3 * GiB }, { ...offered, freeCpus: 0, freeMemoryBytes: 0 })).to.deep.equal({ cores: 0, memoryBytes: 0 });
  });

  it('nothing held, nothing credited: claiming more than is free earns no credit', () => {
    expect(heldCredit({ cores: 0, memoryBytes: 0 }, { cores: 1.4, memoryBytes: 3 * GiB }, { offeredCpus: 4, freeCpus: 4, offeredMemoryBytes: 8 * GiB, freeMemoryBytes: 8 * GiB })).to.deep.equal({ cores: 0, memoryBytes: 0 });
  });
});

describe('capacity: what the report says of a round', () => {
  const base = { offeredCpus: 2, freeCpus: 1, offeredMemoryBytes: 4 * GiB, freeMemoryBytes: 3 * GiB, rentedCpus: 1, rentedMemoryBytes: 2 * GiB };

  it('names the kind of round and the credit for capacity renters hold', () => {
    expect(capacityNote({ ...base, kind: 'full', provenCores: 1.4, creditedCores: 0.42, creditedMemoryBytes: GiB })).to.equal(
      'full-capacity round: rented 1 CPU, 2.0 GiB; 0.42 cores and 1.0 GiB credited at the last proven value for capacity renters hold',
    );
    expect(capacityNote({ ...base, kind: 'full', creditedCores: 0, creditedMemoryBytes: 0 })).to.equal('full-capacity round: rented 1 CPU, 2.0 GiB');
    expect(capacityNote({ ...base, kind: 'held', creditedCores: 1.4, creditedMemoryBytes: 0 })).to.match(/^nothing free \(renters hold the capacity\): not scored; 1\.40 cores/);
    expect(capacityNote({ ...base, kind: 'light' })).to.match(/^light round/);
    const slow = { ...base, kind: 'full' as const, provenCores: 1.5, provenMemoryBytes: GiB, roundProvenCores: 0.6, roundProvenMemoryBytes: GiB };
    expect(capacityNote(slow)).to.equal(
      'full-capacity round: rented 1 CPU, 2.0 GiB; proved 0.60 cores and 1.0 GiB, standing at 1.50 cores and 1.0 GiB (the best of the recent full rounds)',
    );
    expect(capacityNote({ ...slow, roundProvenCores: 1.5 })).to.equal('full-capacity round: rented 1 CPU, 2.0 GiB');
    expect(capacityNote({ ...slow, provenCores: 0, provenMemoryBytes: 0, invalid: true })).to.match(/an invalid proof or a lie: nothing proven counts/);
    expect(capacityNote({ ...base })).to.equal('');
  });
});

describe('capacity: the walk bound for large memory', () => {
  it('is 1 µs a step up to 256 MiB and grows by 0.4 µs per doubling beyond', () => {
    expect(walkStepBoundNs(64 * MiB)).to.equal(1000);
    expect(walkStepBoundNs(256 * MiB)).to.equal(1000);
    expect(walkStepBoundNs(512 * MiB)).to.equal(1400);
    expect(walkStepBoundNs(4 * GiB)).to.equal(2600);
    expect(walkDeadlineMs({ steps: 1 << 20, sizeBytes: GiB }, 100)).to.be.closeTo(((1 << 20) * 1800) / 1e6 + 100, 1e-9);
    expect(walkDeadlineMs({ steps: 1 << 20 }, 0)).to.be.closeTo(1048.576, 1e-9);
  });
});
