/** Counting challenges at once (miner-wide, per owner, per container) and the config keys that bound them. */
import { expect } from 'chai';
import { ConfigError, parseConfig } from '../../common/config.js';
import { Failure } from '../../common/errors.js';
import { ChallengeAdmission, ContainerSlots, Slots } from '../../miner/challenges/challenge-limits.js';

function failureOf(fn: () => unknown): Failure {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(Failure);
    return err as Failure;
  }
  throw new Error('expected a failure');
}

describe('challenge limits', () => {
  it('slots count per key and release once, however often release is called', () => {
    const slots = new Slots(2);
    const a = slots.tryTake('x')!;
    slots.tryTake('x');
    expect(slots.tryTake('x')).to.equal(undefined);
    expect(slots.tryTake('y')).to.be.a('function');
    a();
    a();
    expect(slots.count('x')).to.equal(1);
    expect(slots.tryTake('x')).to.be.a('function');
    expect(slots.tryTake('x')).to.equal(undefined);
  });

  it('admission: per owner first within the total, RESOURCE_EXHAUSTED naming the key, nothing held by a refusal', () => {
    const admission = new ChallengeAdmission({ max_concurrent_total: 3, max_concurrent_per_owner: 2 });
    const alice = [admission.admit('alice'), admission.admit('alice')];
    const owner = failureOf(() => admission.admit('alice'));
    expect(owner.kind).to.equal('resource_exhausted');
    expect(owner.message).to.match(/^alice is running 2 challenges, .*challenge\.max_concurrent_per_owner/);
    expect(admission.running).to.equal(2);
    admission.admit('bob');
    const total = failureOf(() => admission.admit('carol'));
    expect(total.message).to.match(/this miner is running 3 challenges, .*challenge\.max_concurrent_total/);
    alice[0]!();
    admission.admit('carol');
    expect(admission.running).to.equal(3);
  });

  it('per container, by full id, naming the short id', () => {
    const slots = new ContainerSlots(1);
    const id = 'c'.repeat(64);
    const release = slots.enter(id);
    expect(failureOf(() => slots.enter(id)).message).to.match(/^container c{12} is running 1 challenges, .*challenge\.max_concurrent_per_container/);
    release();
    slots.enter(id);
  });

  it('config: defaults, and a bad value is refused naming the key', () => {
    const c = parseConfig({}, 'test').challenge;
    expect([c.max_concurrent_total, c.max_concurrent_per_owner, c.max_concurrent_per_container]).to.deep.equal([64, 16, 8]);
    expect([c.max_streams_per_connection, c.session_memory_mb]).to.deep.equal([128, 256]);
    expect(() => parseConfig({ challenge: { max_concurrent_total: 2.5 } }, 'f')).to.throw(ConfigError, /challenge\.max_concurrent_total/);
    expect(() => parseConfig({ challenge: { session_memory_mb: 1 } }, 'f')).to.throw(ConfigError, /challenge\.session_memory_mb/);
    expect(() => parseConfig({ challenge: { max_concurrent_per_container: 0 } }, 'f')).to.throw(ConfigError, /challenge\.max_concurrent_per_container/);
    expect(parseConfig({}, 'f', { POLARISE_CHALLENGE_MAX_CONCURRENT_TOTAL: '7', POLARISE_CHALLENGE_MAX_CONCURRENT_PER_OWNER: '7' }).challenge.max_concurrent_total).to.equal(7);
  });
});
