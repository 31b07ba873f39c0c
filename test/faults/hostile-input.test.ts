/**
 * Fault suite: hostile strings in every string field of every RPC. A 4 MiB
 * string is refused by the transport (RESOURCE_EXHAUSTED: over the 1 MiB
 * message limit) and a 900 KiB one by the field's own length cap
 * (INVALID_ARGUMENT), each quickly, while a renter's ListContainers keeps
 * being answered; nothing is left behind. Prints the slowest answer; the
 * target is 100 ms, the assertion leaves a noisy CI host a margin.
 */
import { expect } from 'chai';
import { status as Status } from '@grpc/grpc-js';
import { allocate, codeOf, listContainers, minerClient, release, runChallenge } from '../support/clients.js';
import { countResources } from '../support/docker.js';
import { figure, median } from './figures.js';
import { useMiner } from './fault-miner.js';

const SIZES = { '4 MiB': 4 * 2 ** 20, '900 KiB': 900 * 1024 };

describe('faults: hostile strings in every field', function () {
  this.timeout(300_000);
  const minerOf = useMiner();

  it('each is answered with the right code, quickly, and a renter is served meanwhile', async () => {
    const c = minerClient(minerOf().address, { caCert: minerOf().pki.caCert, client: minerOf().pki.client('renter', 'hostile') });
    const own = await allocate(c, { cpuCount: 1, memory: '128m' });
    try {
      const answers: { field: string; size: string; code: number; ms: number }[] = [];
      for (const [size, bytes] of Object.entries(SIZES)) {
        const junk = '1' + ' '.repeat(bytes - 2) + '!';
        const calls: Record<string, () => Promise<unknown>> = {
          'Allocate.memory': () => allocate(c, { memory: junk, cpuCount: 1 }),
          'Allocate.devices': () => allocate(c, { memory: '64m', cpuCount: 1, devices: [junk] }),
          'Allocate.public_keys': () => allocate(c, { memory: '64m', cpuCount: 1, publicKeys: [junk] }),
          'RunChallenge.container_id': () => runChallenge(c, { containerId: junk, command: ['true'] }),
          'RunChallenge.command': () => runChallenge(c, { containerId: own.containerId, command: [junk] }),
          'Release.container_id': () => release(c, junk),
        };
        for (const [field, call] of Object.entries(calls)) {
          const t0 = performance.now();
          const { code } = await codeOf(call());
          answers.push({ field, size, code, ms: performance.now() - t0 });
        }
      }
      // Meanwhile (right after), the miner still answers a renter at once.
      const t0 = performance.now();
      await listContainers(c);
      const renterMs = performance.now() - t0;
      const slowest = answers.reduce((a, b) => (b.ms > a.ms ? b : a));
      figure('hostile-strings', { fields: answers.length / 2, slowest_ms: slowest.ms, slowest: `${slowest.field}@${slowest.size.replace(' ', '')}`, median_ms: median(answers.map((a) => a.ms)), renter_ms: renterMs, target_ms: 100 });
      for (const a of answers) {
        const expected = a.size === '4 MiB' ? [Status.RESOURCE_EXHAUSTED] : [Status.INVALID_ARGUMENT, Status.NOT_FOUND];
        expect(expected, `${a.field} with ${a.size}: code ${a.code}`).to.include(a.code);
        expect(a.ms, `${a.field} with ${a.size}`).to.be.below(2000);
      }
      // Nothing left behind: only the renter's own container.
      expect((await listContainers(c)).containers.map((x) => x.containerId)).to.deep.equal([own.containerId]);
    } finally {
      await release(c, own.containerId);
    }
    expect(await countResources(minerOf().prefix)).to.deep.equal({ containers: 0, networks: 0 });
  });
});
