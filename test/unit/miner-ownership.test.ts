/** What a miner may touch (labels), its instance id, and the lock on its prefix (a real abstract socket). */
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { madeBy } from '../../miner/containers/container-labels.js';
import { loadOrCreateInstanceId } from '../../miner/containers/instance-id.js';
import { acquirePrefixLock, PrefixLockError } from '../../miner/containers/prefix-lock.js';

describe('miner ownership', () => {
  const me = { prefix: 'p-', instanceId: 'a'.repeat(32) };

  it('touches only its own instance id, or unlabelled ones it claimed, under its own prefix', () => {
    const claimed = new Set(['old1']);
    expect(madeBy(me, { 'polarise.miner': 'p-', 'polarise.instance': 'a'.repeat(32) }, 'x', claimed)).to.equal(true);
    expect(madeBy(me, { 'polarise.miner': 'p-', 'polarise.instance': 'b'.repeat(32) }, 'x', claimed)).to.equal(false);
    expect(madeBy(me, { 'polarise.miner': 'q-', 'polarise.instance': 'a'.repeat(32) }, 'x', claimed)).to.equal(false);
    expect(madeBy(me, { 'polarise.miner': 'p-' }, 'old1', claimed)).to.equal(true);
    expect(madeBy(me, { 'polarise.miner': 'p-' }, 'old2', claimed)).to.equal(false);
    expect(madeBy(me, undefined, 'old1', claimed)).to.equal(false);
  });

  describe('instance id', () => {
    let dir: string;
    beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'polarise-id-'))));
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('is made once and read back unchanged', () => {
      const id = loadOrCreateInstanceId(join(dir, 'state'));
      expect(id).to.match(/^[0-9a-f]{32}$/);
      expect(loadOrCreateInstanceId(join(dir, 'state'))).to.equal(id);
    });

    it('refuses a file that holds no id, naming it', () => {
      writeFileSync(join(dir, 'instance-id'), 'hello\n');
      expect(() => loadOrCreateInstanceId(dir)).to.throw(`${join(dir, 'instance-id')} does not hold an instance id`);
    });
  });

  describe('prefix lock', () => {
    const endpoint = `unix:///test/${process.pid}/${Math.random()}`;
    const holder = { pid: process.pid, instance: 'a'.repeat(32), prefix: 'lock-test-', stateDir: '/var/x' };

    it('refuses a second holder of the same prefix and engine, naming the prefix and the first holder; released, it can be taken again', async () => {
      const lock = await acquirePrefixLock(endpoint, holder);
      try {
        const err = await acquirePrefixLock(endpoint, { ...holder, instance: 'b'.repeat(32) }).then(
          () => expect.fail('taken twice'),
          (e: Error) => e,
        );
        expect(err).to.be.instanceOf(PrefixLockError);
        expect(err.message).to.include(`another miner (pid ${process.pid}, state dir /var/x) is running with docker.container_prefix "lock-test-"`);
        expect(err.message).to.include('POLARISE_DOCKER_CONTAINER_PREFIX=lock-test2-');
        // Another prefix, or another engine: free.
        await (await acquirePrefixLock(endpoint, { ...holder, prefix: 'other-' })).release();
        await (await acquirePrefixLock(endpoint + '2', holder)).release();
      } finally {
        await lock.release();
      }
      await (await acquirePrefixLock(endpoint, holder)).release();
    });
  });
});
