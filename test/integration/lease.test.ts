/** Lease expiry: while the miner runs, and while it is down. */
import { expect } from 'chai';
import { allocate, listContainers, minerClient } from '../support/clients.js';
import { removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { footprint, ready } from '../support/miner-state.js';
import { ssh } from '../support/openssh.js';

describe('leases', function () {
  this.timeout(60_000);
  let miner: MinerProcess | undefined;
  let restarted: MinerProcess | undefined;

  before(requireDocker);
  after(async () => {
    await miner?.stop('SIGKILL');
    await restarted?.stop();
    if (miner) await removeResources(miner.prefix);
  });

  it('reclaims an expired lease while running: container, network, SSH endpoint', async () => {
    miner = await startMiner({ config: { docker: { overcommit_ratio: 4 }, leases: { reconcile_interval_seconds: 1 } } });
    const client = minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('renter', 'alice') });
    try {
      await ready(client);
      const a = await allocate(client, { memory: '64m', leaseSeconds: 5 }); // long enough for an SSH login on a loaded host
      const during = await ssh({ host: a.host, port: a.sshPort, password: a.password }, 'echo up');
      expect(during.stdout.toString()).to.equal('up\n');
      await new Promise((r) => setTimeout(r, a.expiresAt!.getTime() - Date.now() + 1500));
      expect((await listContainers(client)).containers).to.deep.equal([]);
      expect(await footprint(miner)).to.deep.equal({ containers: 0, networks: 0, ports: [] });
      expect(miner.logs.some((l) => l.includes('"reason":"lease expired"'))).to.equal(true);
    } finally {
      client.close();
    }
  });

  it('removes a lease that expired while the miner was down', async () => {
    const client = minerClient(miner!.address, { caCert: miner!.pki.caCert, client: miner!.pki.client('renter', 'alice') });
    const a = await allocate(client, { memory: '64m', leaseSeconds: 3 });
    client.close();
    await miner!.stop('SIGKILL');
    expect((await footprint(miner!)).containers).to.equal(1);
    await new Promise((r) => setTimeout(r, a.expiresAt!.getTime() - Date.now() + 500));
    restarted = await startMiner({ reuse: { configPath: miner!.configPath, stateDir: miner!.stateDir, prefix: miner!.prefix } });
    expect(await footprint(restarted)).to.deep.equal({ containers: 0, networks: 0, ports: [] });
  });
});
