/** The SSH login throttle counts attempts still being checked, not only finished failures. */
import { expect } from 'chai';
import { AuthThrottle } from '../../miner/ssh/auth-throttle.js';

describe('SSH auth throttle', () => {
  it('password checks in flight count against the source at once', () => {
    const throttle = new AuthThrottle(3, 60_000, () => 1000);
    const settles = [throttle.begin('10.0.0.1'), throttle.begin('10.0.0.1')];
    expect(throttle.isBlocked('10.0.0.1')).to.equal(false);
    settles.push(throttle.begin('10.0.0.1'));
    // Three slow checks running: a fourth connection is refused before it starts its own.
    expect(throttle.isBlocked('10.0.0.1')).to.equal(true);
    expect(throttle.isBlocked('10.0.0.2')).to.equal(false);
    settles.forEach((settle) => settle());
    expect(throttle.isBlocked('10.0.0.1')).to.equal(false);
  });

  it('a check that ends in a failure is counted once, as the failure', () => {
    const throttle = new AuthThrottle(2, 60_000, () => 1000);
    const settle = throttle.begin('s');
    throttle.recordFailure('s');
    settle();
    settle(); // a second call changes nothing
    expect(throttle.isBlocked('s')).to.equal(false);
    throttle.recordFailure('s');
    expect(throttle.isBlocked('s')).to.equal(true);
  });

  it('failures leave the window', () => {
    let now = 0;
    const throttle = new AuthThrottle(1, 1000, () => now);
    throttle.recordFailure('s');
    expect(throttle.isBlocked('s')).to.equal(true);
    now = 1001;
    expect(throttle.isBlocked('s')).to.equal(false);
  });
});
