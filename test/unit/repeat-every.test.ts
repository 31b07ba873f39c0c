import { expect } from 'chai';
import { setTimeout as sleep } from 'node:timers/promises';
import { repeatEvery } from '../../common/repeat-every.js';

describe('repeatEvery: a background task on an interval', () => {
  it('runs again after each run ends, never two at once, and goes on after a failure', async () => {
    let running = 0;
    let overlapped = false;
    let runs = 0;
    const errors: unknown[] = [];
    const r = repeatEvery(
      2,
      async () => {
        overlapped ||= running > 0;
        running++;
        runs++;
        await sleep(10);
        running--;
        if (runs === 2) throw new Error('second run failed');
      },
      (err) => errors.push(err),
    );
    for (const until = Date.now() + 5000; runs < 4 && Date.now() < until; ) await sleep(5);
    r.stop();
    expect(runs).to.be.at.least(4);
    expect(overlapped).to.equal(false);
    expect(errors.map((e) => (e as Error).message)).to.deep.equal(['second run failed']);
  });

  it('runs no more once stopped, even when stopped during a run', async () => {
    let runs = 0;
    const r = repeatEvery(1, async () => {
      runs++;
      await sleep(20);
    }, () => undefined);
    await sleep(10);
    r.stop();
    const atStop = runs;
    await sleep(60);
    expect(atStop).to.equal(1);
    expect(runs).to.equal(1);
  });
});
