import { expect } from 'chai';
import {
  capacityUnits,
  capacityWeights,
  deadlineComponent,
  checksComponent,
  clampUnit,
  normaliseComponentWeights,
  normaliseWeights,
  roundScore,
  updateEma,
  zeroComponents,
} from '../../validator/scoring/scoring.js';

const weights = { compute: 0.4, memory: 0.3, rental: 0.15, metrics: 0.15 };

describe('scoring', () => {
  describe('components', () => {
    it('checks component is the share of checks that held', () => {
      expect(checksComponent([true, false, true, true])).to.equal(0.75);
      expect(checksComponent([])).to.equal(0);
      expect(clampUnit(Number.NaN)).to.equal(0);
      expect(clampUnit(1.5)).to.equal(1);
    });
  });

  describe('roundScore', () => {
    it('is the weighted mean of the components with weights normalised to sum 1', () => {
      expect(roundScore({ compute: 1, memory: 1, rental: 1, metrics: 1 }, weights)).to.be.closeTo(1, 1e-12);
      expect(roundScore({ compute: 1, memory: 0, rental: 0, metrics: 0 }, weights)).to.be.closeTo(0.4, 1e-12);
      // Same proportions, different scale: same score.
      const scaled = { compute: 4, memory: 3, rental: 1.5, metrics: 1.5 };
      const c = { compute: 0.9, memory: 0.5, rental: 1, metrics: 0.2 };
      expect(roundScore(c, scaled)).to.be.closeTo(roundScore(c, weights), 1e-12);
      expect(roundScore(c, weights)).to.be.closeTo(0.4 * 0.9 + 0.3 * 0.5 + 0.15 + 0.15 * 0.2, 1e-12);
    });

    it('clamps each component to [0, 1]', () => {
      expect(roundScore({ compute: 7, memory: -2, rental: Number.NaN, metrics: 1 }, weights)).to.be.closeTo(0.4 + 0.15, 1e-12);
      expect(roundScore(zeroComponents(), weights)).to.equal(0);
    });

    it('refuses negative or all-zero weights', () => {
      expect(() => roundScore(zeroComponents(), { compute: 0, memory: 0, rental: 0, metrics: 0 })).to.throw(RangeError, /above zero/);
      expect(() => normaliseComponentWeights({ ...weights, memory: -1 })).to.throw(RangeError, /memory/);
      const n = normaliseComponentWeights({ compute: 2, memory: 2, rental: 0, metrics: 0 });
      expect(n).to.deep.equal({ compute: 0.5, memory: 0.5, rental: 0, metrics: 0 });
    });
  });

  describe('updateEma', () => {
    it('starts at the first score, then moves by alpha towards each new score', () => {
      const first = updateEma(undefined, 0.8, 0.3);
      expect(first).to.equal(0.8);
      const second = updateEma(first, 0, 0.3);
      expect(second).to.be.closeTo(0.56, 1e-12);
      expect(updateEma(second, 1, 1)).to.equal(1);
    });

    it('converges to a constant score and rejects alpha outside (0, 1]', () => {
      let ema: number | undefined;
      for (let i = 0; i < 100; i++) ema = updateEma(ema ?? 0, 0.9, 0.3);
      expect(ema).to.be.closeTo(0.9, 1e-9);
      expect(() => updateEma(0.5, 0.5, 0)).to.throw(RangeError);
      expect(() => updateEma(0.5, 0.5, 1.2)).to.throw(RangeError);
    });
  });

  describe('normaliseWeights', () => {
    it('gives each miner its share of the total, summing to 1', () => {
      const w = normaliseWeights(new Map([['honest', 0.9], ['lazy', 0.3], ['down', 0]]));
      expect(w.get('honest')).to.be.closeTo(0.75, 1e-12);
      expect(w.get('lazy')).to.be.closeTo(0.25, 1e-12);
      expect(w.get('down')).to.equal(0);
      expect([...w.values()].reduce((a, b) => a + b)).to.be.closeTo(1, 1e-12);
    });

    it('all zero gives all zero; negatives and NaN count as zero', () => {
      expect([...normaliseWeights(new Map([['a', 0], ['b', 0]])).values()]).to.deep.equal([0, 0]);
      const w = normaliseWeights(new Map([['a', -1], ['b', Number.NaN], ['c', 0.2]]));
      expect([...w.values()]).to.deep.equal([0, 0, 1]);
      expect(normaliseWeights(new Map()).size).to.equal(0);
    });
  });

  describe('graded timed proofs (no cliff)', () => {
    it('deadlineComponent: 1 within the deadline, linear to 0 at 1.25 × the deadline', () => {
      expect(deadlineComponent(400, 1000)).to.equal(1);
      expect(deadlineComponent(1000, 1000)).to.equal(1);
      expect(deadlineComponent(1100, 1000)).to.be.closeTo(0.6, 1e-12);
      expect(deadlineComponent(1250, 1000)).to.equal(0);
      expect(deadlineComponent(3000, 1000)).to.equal(0);
      expect(deadlineComponent(Infinity, 1000)).to.equal(0);
    });
  });

  describe('weights follow proven capacity', () => {
    const GIB = 2 ** 30;
    it('capacity units: cores plus 4 GiB per core-equivalent', () => {
      expect(capacityUnits({ provenCores: 1.5, provenMemoryBytes: 2 * GIB })).to.equal(2);
      expect(capacityUnits({ provenCores: -1, provenMemoryBytes: 0 })).to.equal(0);
    });
    it('weight ∝ proven capacity × reliability; nothing proven weighs nothing', () => {
      const w = capacityWeights([
        { miner: 'big', ema: 0.9, provenCores: 2, provenMemoryBytes: 0 },
        { miner: 'small', ema: 0.9, provenCores: 1, provenMemoryBytes: 0 },
        { miner: 'flaky', ema: 0.45, provenCores: 2, provenMemoryBytes: 0 },
        { miner: 'claims-only', ema: 1, provenCores: 0, provenMemoryBytes: 0 },
      ]);
      expect(w.get('big')! / w.get('small')!).to.be.closeTo(2, 1e-12);
      expect(w.get('flaky')! / w.get('big')!).to.be.closeTo(0.5, 1e-12);
      expect(w.get('claims-only')).to.equal(0);
      expect([...w.values()].reduce((a, b) => a + b, 0)).to.be.closeTo(1, 1e-12);
    });
  });
});
