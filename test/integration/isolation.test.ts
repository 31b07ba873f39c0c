/**
 * Isolation between allocations and from the host: networks, pids, memory.
 */
import { expect } from 'chai';
import type { AllocateResponse, MinerServiceClient } from '../../common/gen/polarise/v1/miner.js';
import { allocate, listContainers, minerClient, release } from '../support/clients.js';
import type { Server } from 'node:net';
import { containerCgroup } from '../support/container-cgroup.js';
import { docker, removeResources, requireDocker } from '../support/docker.js';
import { hostCanConnect, hostListener } from '../support/host-network.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { ready } from '../support/miner-state.js';
import { ssh, type SshTarget } from '../support/openssh.js';

const target = (a: AllocateResponse): SshTarget => ({ host: a.host, port: a.sshPort, password: a.password });

async function address(a: AllocateResponse): Promise<{ ip: string; gateway: string }> {
  const info = await docker.getContainer(a.containerId).inspect();
  const net = Object.values(info.NetworkSettings.Networks)[0]!;
  return { ip: net.IPAddress, gateway: net.Gateway };
}

/** Tries a TCP connection from inside `from`; returns how it ended. */
async function probe(from: AllocateResponse, ip: string, port: number): Promise<string> {
  const r = await ssh(target(from), `timeout 3 bash -c 'echo > /dev/tcp/${ip}/${port}' 2>&1; echo "rc=$?"`);
  return r.stdout.toString().trim();
}

describe('isolation', function () {
  this.timeout(120_000);
  let miner: MinerProcess;
  let client: MinerServiceClient;
  let a: AllocateResponse;
  let b: AllocateResponse;
  /** A listener on every host address (IPv4 and IPv6): what a container must not reach. */
  let host: { server: Server; port: number };

  before(async () => {
    host = await hostListener('::');
    await requireDocker();
    miner = await startMiner({ config: { docker: { overcommit_ratio: 4, pids_limit: 100 } } });
    client = minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('renter', 'alice') });
    await ready(client);
    [a, b] = await Promise.all([allocate(client, { memory: '128m' }), allocate(client, { memory: '128m' })]);
  });
  after(async () => {
    host?.server.close();
    client?.close();
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  });

  it('one allocation cannot reach another\'s address, the host, or the outside', async () => {
    const mine = await address(a);
    const theirs = await address(b);
    expect(mine.ip).to.not.equal('');
    expect(theirs.ip).to.not.equal('');
    // The probe works: a closed port on its own address is refused at once.
    expect(await probe(a, mine.ip, 9)).to.match(/refused[\s\S]*rc=1/);
    // The other allocation's address: nothing gets through (no refusal, no connection).
    const other = await probe(a, theirs.ip, 9);
    expect(other).to.not.match(/refused|rc=0/);
    // The host through the network's gateway, where something does listen (the host
    // itself connects): the container's attempt times out (dropped), neither connects
    // nor is refused. IPv6 to the host: network-isolation.test.ts.
    expect(mine.gateway, 'the allocation network has a gateway address on the host').to.match(/^\d+\.\d+\.\d+\.\d+$/);
    expect(await hostCanConnect(mine.gateway, host.port), 'the listener answers on the gateway address').to.equal(true);
    expect(await probe(a, mine.gateway, host.port)).to.match(/rc=124$/);
    // An outside address: unreachable.
    expect(await probe(a, '1.1.1.1', 53)).to.not.match(/rc=0$/);
    const info = await docker.getNetwork((await docker.getContainer(a.containerId).inspect()).HostConfig.NetworkMode!).inspect();
    expect(info.Options?.['com.docker.network.bridge.name']).to.match(/^pz/);
  });

  it('a fork bomb stays inside its pids limit and the miner keeps answering', async () => {
    const bomb = ssh(target(a), 'f(){ f | f & }; f; sleep 4', { timeoutMs: 30_000 }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 2500));
    const current = (await containerCgroup(a.containerId)).pidsCurrent();
    expect(current).to.be.at.most(100);
    expect(current).to.be.at.least(50); // it really did hit the ceiling
    const started = Date.now();
    const listed = await listContainers(client);
    expect(listed.containers).to.have.length(2);
    const neighbour = await ssh(target(b), 'echo fine');
    expect(neighbour.stdout.toString()).to.equal('fine\n');
    expect(Date.now() - started).to.be.below(10_000);
    await bomb;
  });

  it('a memory hog is killed inside its container only', async () => {
    const c = await allocate(client, { memory: '96m' });
    try {
      const hog = await ssh(target(c), 'head -c 400m /dev/zero | tail > /dev/null; echo "tail=${PIPESTATUS[1]}"');
      expect(hog.stdout.toString()).to.match(/tail=137/);
      const after = await ssh(target(c), 'echo still-here');
      expect(after.stdout.toString()).to.equal('still-here\n');
      // The kernel's own count in the container's cgroup (memory.oom_control on v1, memory.events on v2).
      expect((await containerCgroup(c.containerId)).oomKills()).to.be.above(0);
      expect((await docker.getContainer(c.containerId).inspect()).State.Running).to.equal(true);
      expect((await ssh(target(b), 'echo fine')).stdout.toString()).to.equal('fine\n');
    } finally {
      await release(client, c.containerId);
    }
  });
});
