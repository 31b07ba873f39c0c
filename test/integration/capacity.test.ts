/**
 * GetCapacity on a real miner: the offer follows the host, the configured
 * reserve and what allocations hold; any role may ask; versions are stated.
 */
import { expect } from 'chai';
import { cpus, totalmem } from 'node:os';
import { CONTRACT_VERSION, SOFTWARE_VERSION } from '../../common/versions.js';
import { allocate, getCapacity, minerClient, release } from '../support/clients.js';
import { removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';

const GIB = 2 ** 30;

describe('GetCapacity: what a miner offers', function () {
  this.timeout(120_000);
  let miner: MinerProcess;
  const client = (role: 'validator' | 'renter' | 'operator') => minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client(role, `${role}-cap`) });

  before(async () => {
    await requireDocker();
    miner = await startMiner({ config: { docker: { host_reserve_cpus: 1, host_reserve_memory: '2g' } } });
  });
  after(async () => {
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  });

  it('states the host minus the reserve, all of it free, with the versions; every role may ask', async () => {
    for (const role of ['validator', 'renter', 'operator'] as const) {
      const c = await getCapacity(client(role));
      expect(c.totalCpus, role).to.equal(cpus().length - 1);
      expect(c.freeCpus).to.equal(c.totalCpus);
      // The engine's memory (docker info) is the host's, less the 2 GiB reserve.
      expect(c.totalMemoryBytes).to.be.within(totalmem() - 2 * GIB - 0.1 * GIB, totalmem() - 2 * GIB + 0.1 * GIB);
      expect(c.freeMemoryBytes).to.equal(c.totalMemoryBytes);
      expect(c.allocations).to.equal(0);
      expect(c.maxCpusPerAllocation).to.equal(cpus().length - 1);
      expect(c.contractVersion).to.equal(CONTRACT_VERSION);
      expect(c.minerVersion).to.equal(SOFTWARE_VERSION);
    }
  });

  it('what an allocation holds is no longer free, and comes back on release', async () => {
    const renter = client('renter');
    const a = await allocate(renter, { cpuCount: 1, memory: '256m' });
    try {
      const held = await getCapacity(renter);
      expect(held.freeCpus).to.equal(held.totalCpus - 1);
      expect(held.freeMemoryBytes).to.equal(held.totalMemoryBytes - 256 * 2 ** 20);
      expect(held.allocations).to.equal(1);
    } finally {
      await release(renter, a.containerId);
    }
    const after = await getCapacity(renter);
    expect(after.freeCpus).to.equal(after.totalCpus);
    expect(after.allocations).to.equal(0);
  });
});
