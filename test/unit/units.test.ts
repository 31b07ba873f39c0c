import { expect } from 'chai';
import { Failure } from '../../common/errors.js';
import { formatBytes, parseMemory } from '../../common/units.js';

const failure = (fn: () => unknown): Failure => {
  try {
    fn();
  } catch (err) {
    if (err instanceof Failure) return err;
    throw err;
  }
  throw new Error('expected a Failure');
};

/** Least of 3 runs, in ms: noise only adds time. */
const leastMs = (fn: () => void): number =>
  Math.min(
    ...[0, 1, 2].map(() => {
      const t = performance.now();
      fn();
      return performance.now() - t;
    }),
  );

describe('units: memory sizes', () => {
  it('reads sizes as Docker and the seed API write them', () => {
    expect(parseMemory('512m')).to.equal(512 * 1024 ** 2);
    expect(parseMemory(' 2g ')).to.equal(2 * 1024 ** 3);
    expect(parseMemory('1.5G')).to.equal(1.5 * 1024 ** 3);
    expect(parseMemory('64 MiB')).to.equal(64 * 1024 ** 2);
    expect(parseMemory('1073741824')).to.equal(1024 ** 3);
  });

  it('names the field and what was wrong', () => {
    expect(failure(() => parseMemory('lots', 'docker.default_memory')).message).to.equal(
      'docker.default_memory: "lots" is not a size; write it like "512m", "2g", "1.5G" or a number of bytes',
    );
    expect(failure(() => parseMemory('3x')).message).to.match(/^memory: unknown unit "x"/);
    expect(failure(() => parseMemory('0')).message).to.match(/must be more than zero/);
    expect(failure(() => parseMemory('2p')).message).to.match(/unknown unit/);
  });

  it('answers a hostile string at once, in time linear in nothing (capped before parsing), and never echoes it whole', () => {
    for (const size of [64 * 1024, 4 * 1024 * 1024]) {
      const hostile = '1' + ' '.repeat(size) + '!';
      let message = '';
      const ms = leastMs(() => {
        message = failure(() => parseMemory(hostile)).message;
      });
      expect(ms, `${size} characters`).to.be.below(100);
      expect(message).to.match(/is longer than 32 characters/);
      expect(message.length).to.be.below(200);
    }
  });

  it('formats bytes long and compact', () => {
    expect(formatBytes(1536 * 1024 ** 2)).to.equal('1.5 GiB');
    expect(formatBytes(512 * 1024 ** 2, 'compact')).to.equal('512M');
    expect(formatBytes(100)).to.equal('100 B');
  });
});
