/**
 * Restart recovery: SIGKILL the miner and start it again on the same config
 * and state. Every allocation is listed again, SSH works on the same port
 * with the same credentials and host key, leases still expire on time, and
 * half-created leftovers are removed.
 */
import { expect } from 'chai';
import { allocate, listContainers, minerClient } from '../support/clients.js';
import { countResources, docker, removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { footprint, ready } from '../support/miner-state.js';
import { ssh } from '../support/openssh.js';
import { presentedHostKey } from '../support/ssh-host-key.js';

describe('restart recovery', function () {
  this.timeout(120_000);
  let first: MinerProcess;
  let second: MinerProcess | undefined;

  before(requireDocker);
  after(async () => {
    await first?.stop('SIGKILL');
    await second?.stop();
    if (first) await removeResources(first.prefix);
  });

  it('adopts every allocation after SIGKILL: same port, password, key and host key; leases still expire; leftovers go', async () => {
    first = await startMiner({ config: { docker: { overcommit_ratio: 4 }, leases: { reconcile_interval_seconds: 1 } } });
    const tls = { caCert: first.pki.caCert, client: first.pki.client('renter', 'alice') };
    let client = minerClient(first.address, tls);
    await ready(client);
    const long = await allocate(client, { memory: '96m', leaseSeconds: 600 });
    const short = await allocate(client, { memory: '64m', leaseSeconds: 12 });
    client.close();
    const prefix = first.prefix;

    expect(await first.stop('SIGKILL')).to.equal(null);
    // Killed: nothing answers on the SSH ports any more.
    expect((await footprint(first)).ports).to.deep.equal([]);
    // The containers kept running.
    expect((await docker.getContainer(long.containerId).inspect()).State.Running).to.equal(true);
    // The two allocations, each a container and its network; nothing else.
    expect(await countResources(prefix)).to.deep.equal({ containers: 2, networks: 2 });

    // What a crash midway through an Allocate leaves: a container never
    // marked ready (still named *.pending) and its network; and a network
    // whose container never came. Injected only now, while no miner runs:
    // the first miner's reconciler (every second) would otherwise remove
    // them before the restart could, and the restart would be credited with
    // a removal it never did.
    const leftover = `${prefix}0123456789ab`;
    await docker.createNetwork({ Name: leftover, Labels: { 'polarise.miner': prefix, 'polarise.kind': 'network', 'polarise.network': leftover } });
    await docker.createNetwork({ Name: `${prefix}ba9876543210`, Labels: { 'polarise.miner': prefix, 'polarise.kind': 'network' } });
    await docker.createContainer({
      name: `${leftover}.pending`,
      Image: 'polarise/base:bookworm',
      Cmd: ['sleep', 'infinity'],
      Labels: { 'polarise.miner': prefix, 'polarise.kind': 'container', 'polarise.network': leftover },
      HostConfig: { NetworkMode: leftover },
    });
    // Two allocations (container + network each) plus the leftovers.
    expect(await countResources(prefix)).to.deep.equal({ containers: 3, networks: 4 });

    second = await startMiner({ reuse: { configPath: first.configPath, stateDir: first.stateDir, prefix } });
    client = minerClient(second.address, { caCert: second.pki.caCert, client: second.pki.client('renter', 'alice') });
    try {
      await ready(client);
      const listed = (await listContainers(client)).containers;
      expect(listed.map((c) => [c.containerId, c.sshPort, c.expiresAt!.getTime()])).to.deep.equal([
        [long.containerId, long.sshPort, long.expiresAt!.getTime()],
        [short.containerId, short.sshPort, short.expiresAt!.getTime()],
      ]);
      // Leftovers removed; the two allocations and their networks remain.
      expect(await countResources(prefix)).to.deep.equal({ containers: 2, networks: 2 });
      expect((await footprint(second)).ports).to.have.members([long.sshPort, short.sshPort]);

      const r = await ssh({ host: long.host, port: long.sshPort, password: long.password }, 'echo back');
      expect(r.code, r.stderr.toString()).to.equal(0);
      expect(r.stdout.toString()).to.equal('back\n');
      expect(await presentedHostKey(long)).to.equal(long.sshHostKeyFingerprint);

      // The short lease still ends on time.
      const wait = short.expiresAt!.getTime() - Date.now();
      await new Promise((r) => setTimeout(r, Math.max(0, wait) + 2500));
      expect((await listContainers(client)).containers.map((c) => c.containerId)).to.deep.equal([long.containerId]);
      expect(await countResources(prefix)).to.deep.equal({ containers: 1, networks: 1 });
      expect((await footprint(second)).ports).to.deep.equal([long.sshPort]);
    } finally {
      client.close();
    }
  });
});
