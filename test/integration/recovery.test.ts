/**
 * Restart recovery: SIGKILL the miner and start it again on the same config
 * and state. Every allocation is listed again, SSH works on the same port
 * with the same credentials and host key, leases still expire on time, and
 * half-created leftovers are removed: its own and an older miner's (no
 * instance id), never another miner's.
 */
import { expect } from 'chai';
import { allocate, listContainers, minerClient } from '../support/clients.js';
import { countResources, docker, removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { footprint, ready, sshRange } from '../support/miner-state.js';
import { ssh } from '../support/openssh.js';
import { presentedHostKey } from '../support/ssh-host-key.js';
import { rmSync } from 'node:fs';

/** A container named `<name>.pending` and its network, as a crash midway through an Allocate leaves them. */
async function halfCreated(name: string, labels: Record<string, string>): Promise<void> {
  await docker.createNetwork({ Name: name, Labels: { ...labels, 'polarise.kind': 'network', 'polarise.network': name } });
  await docker.createContainer({
    name: `${name}.pending`,
    Image: 'polarise/base:bookworm',
    Cmd: ['sleep', 'infinity'],
    Labels: { ...labels, 'polarise.kind': 'container', 'polarise.network': name },
    HostConfig: { NetworkMode: name },
  });
}

/** A running allocation as a miner without instance ids labelled it: `model`'s labels, another name, network and SSH port. */
async function legacyAllocation(model: string, name: string, sshPort: number): Promise<{ id: string; sshPort: number }> {
  const labels = { ...(await docker.getContainer(model).inspect()).Config.Labels };
  delete labels['polarise.instance'];
  Object.assign(labels, { 'polarise.network': name, 'polarise.ssh_port': String(sshPort), 'polarise.created_at': new Date().toISOString() });
  await docker.createNetwork({ Name: name, Internal: true, Labels: { 'polarise.miner': labels['polarise.miner']!, 'polarise.kind': 'network', 'polarise.network': name } });
  const c = await docker.createContainer({ name, Image: 'polarise/base:bookworm', Cmd: ['sleep', 'infinity'], Labels: labels, HostConfig: { NetworkMode: name, Memory: 64 * 2 ** 20 } });
  await c.start();
  return { id: c.id, sshPort };
}

describe('restart recovery', function () {
  this.timeout(120_000);
  let first: MinerProcess;
  let second: MinerProcess | undefined;

  before(requireDocker);
  after(async () => {
    await first?.stop('SIGKILL');
    await second?.stop();
    if (first) {
      await removeResources(first.prefix);
      rmSync(first.stateDir, { recursive: true, force: true });
    }
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
    // a removal it never did. The first is this miner's (its instance id),
    // the lone network an older miner's (no instance id: claimed once, at
    // start, under the prefix lock), the last another miner's: kept.
    const mine = { 'polarise.miner': prefix, 'polarise.instance': first.instanceId() };
    const theirs = { 'polarise.miner': prefix, 'polarise.instance': 'f'.repeat(32) };
    const leftover = `${prefix}0123456789ab`;
    const foreign = `${prefix}fffffffffff0`;
    await halfCreated(leftover, mine);
    await docker.createNetwork({ Name: `${prefix}ba9876543210`, Labels: { 'polarise.miner': prefix, 'polarise.kind': 'network' } });
    await halfCreated(foreign, theirs);
    // An allocation an older miner (no instance id) made and handed out: adopted, with its SSH port.
    const legacy = await legacyAllocation(long.containerId, `${prefix}00000000000a`, sshRange(first)[1]);
    // The two allocations (container + network each), the leftovers, the legacy allocation.
    expect(await countResources(prefix)).to.deep.equal({ containers: 5, networks: 6 });

    second = await startMiner({ reuse: { configPath: first.configPath, stateDir: first.stateDir, prefix } });
    client = minerClient(second.address, { caCert: second.pki.caCert, client: second.pki.client('renter', 'alice') });
    try {
      await ready(client);
      const listed = (await listContainers(client)).containers;
      expect(listed.map((c) => [c.containerId, c.sshPort, c.expiresAt!.getTime()])).to.deep.equal([
        [long.containerId, long.sshPort, long.expiresAt!.getTime()],
        [short.containerId, short.sshPort, short.expiresAt!.getTime()],
        [legacy.id, legacy.sshPort, long.expiresAt!.getTime()],
      ]);
      // Its own and the older miner's leftovers removed; the allocations and the other miner's leftover remain.
      expect(await countResources(prefix)).to.deep.equal({ containers: 4, networks: 4 });
      expect((await docker.getContainer(`${foreign}.pending`).inspect()).Name).to.equal(`/${foreign}.pending`);
      expect((await footprint(second)).ports).to.have.members([long.sshPort, short.sshPort, legacy.sshPort]);
      const old = await ssh({ host: long.host, port: legacy.sshPort, password: long.password }, 'hostname');
      expect(old.code, old.stderr.toString()).to.equal(0);

      const r = await ssh({ host: long.host, port: long.sshPort, password: long.password }, 'echo back');
      expect(r.code, r.stderr.toString()).to.equal(0);
      expect(r.stdout.toString()).to.equal('back\n');
      expect(await presentedHostKey(long)).to.equal(long.sshHostKeyFingerprint);

      // The short lease still ends on time.
      const wait = short.expiresAt!.getTime() - Date.now();
      await new Promise((r) => setTimeout(r, Math.max(0, wait) + 2500));
      expect((await listContainers(client)).containers.map((c) => c.containerId)).to.deep.equal([long.containerId, legacy.id]);
      expect(await countResources(prefix)).to.deep.equal({ containers: 3, networks: 3 });
      expect((await footprint(second)).ports).to.have.members([long.sshPort, legacy.sshPort]);
    } finally {
      client.close();
    }
  });
});
