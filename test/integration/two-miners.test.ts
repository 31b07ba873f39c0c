/**
 * Two miners on one Docker engine. Each owns only what it made (its
 * instance id is in its containers' and networks' labels); a second miner
 * with a prefix another live miner holds refuses to start and says why; a
 * SIGKILLed miner's lock does not outlive it.
 */
import { expect } from 'chai';
import { linkSync, rmSync } from 'node:fs';
import { allocate, listContainers, minerClient } from '../support/clients.js';
import { docker, requireDocker } from '../support/docker.js';
import { removeResourcesPatiently } from '../support/cleanup.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { footprint, ready } from '../support/miner-state.js';
import { ssh } from '../support/openssh.js';

const started: MinerProcess[] = [];
const prefixes = new Set<string>();

async function miner(options: Parameters<typeof startMiner>[0]): Promise<MinerProcess> {
  const m = await startMiner(options);
  started.push(m);
  prefixes.add(m.prefix);
  return m;
}

function operator(m: MinerProcess) {
  return minerClient(m.address, { caCert: m.pki.caCert, client: m.pki.client('operator', 'ops') });
}

describe('two miners on one Docker engine', function () {
  this.timeout(180_000);
  const aliases: string[] = [];

  before(requireDocker);
  afterEach(async () => {
    const miners = started.splice(0);
    for (const m of miners) await m.stop('SIGKILL');
    for (const p of prefixes) await removeResourcesPatiently(p);
    for (const m of miners) rmSync(m.stateDir, { recursive: true, force: true });
    for (const a of aliases.splice(0)) rmSync(a, { force: true });
  });

  it('a second miner with a prefix a live miner holds refuses to start, naming the prefix and the way out; after SIGKILL a restart adopts', async () => {
    const first = await miner({});
    const client = minerClient(first.address, { caCert: first.pki.caCert, client: first.pki.client('renter', 'ann') });
    await ready(client);
    const held = await allocate(client, { memory: '64m' });
    client.close();

    // Its own state folder and ports, the same prefix: refused before it touches Docker.
    const refused = await miner({ config: { docker: { container_prefix: first.prefix } } }).then(
      () => expect.fail('the second miner started'),
      (err: Error) => err.message,
    );
    expect(refused).to.include(`miner: another miner (pid ${first.child.pid}`);
    expect(refused).to.include(`is running with docker.container_prefix "${first.prefix}" on the Docker engine`);
    expect(refused).to.include('give this miner a prefix of its own');
    expect((await docker.getContainer(held.containerId).inspect()).State.Running).to.equal(true);

    // SIGKILL leaves no stale lock: the same miner starts again at once and adopts its allocation.
    expect(await first.stop('SIGKILL')).to.equal(null);
    const again = await miner({ reuse: { configPath: first.configPath, stateDir: first.stateDir, prefix: first.prefix } });
    const ops = operator(again);
    await ready(ops);
    expect((await listContainers(ops)).containers.map((c) => c.containerId)).to.deep.equal([held.containerId]);
    ops.close();
    const r = await ssh({ host: held.host, port: held.sshPort, password: held.password }, 'echo mine');
    expect(r.stdout.toString()).to.equal('mine\n');
  });

  it("same prefix, different instances (a miner the lock cannot see): one's reconciler never touches what the other makes", async () => {
    const a = await miner({ config: { docker: { overcommit_ratio: 4 }, leases: { reconcile_interval_seconds: 0.2 } } });
    // Another path to the same engine (as a miner in another network namespace would have): the lock cannot see it.
    const alias = `/run/polarise-test-${process.pid}.sock`;
    linkSync('/var/run/docker.sock', alias);
    aliases.push(alias);
    const b = await miner({ config: { docker: { container_prefix: a.prefix, overcommit_ratio: 4 }, leases: { reconcile_interval_seconds: 0.2 } }, env: { DOCKER_HOST: `unix://${alias}` } });
    expect(a.instanceId()).to.not.equal(b.instanceId());

    // A third miner's half-created allocation (it is not running): neither may remove it.
    const stray = `${a.prefix}0123456789ab`;
    const strayLabels = { 'polarise.miner': a.prefix, 'polarise.instance': 'f'.repeat(32), 'polarise.kind': 'container', 'polarise.network': stray };
    await docker.createNetwork({ Name: stray, Labels: { ...strayLabels, 'polarise.kind': 'network' } });
    await docker.createContainer({ name: `${stray}.pending`, Image: 'polarise/base:bookworm', Cmd: ['sleep', 'infinity'], Labels: strayLabels, HostConfig: { NetworkMode: stray } });

    const ca = minerClient(a.address, { caCert: a.pki.caCert, client: a.pki.client('renter', 'ann') });
    const cb = minerClient(b.address, { caCert: b.pki.caCert, client: b.pki.client('renter', 'ann') });
    await Promise.all([ready(ca), ready(cb)]);
    const mineA = await allocate(ca, { memory: '64m' });
    // B creates containers one after another while A's reconciler runs every 200 ms.
    const mineB = [];
    for (let i = 0; i < 3; i++) mineB.push(await allocate(cb, { memory: '64m' }));
    await new Promise((r) => setTimeout(r, 1500)); // several passes of both reconcilers
    ca.close();
    cb.close();

    const [opsA, opsB] = [operator(a), operator(b)];
    try {
      expect((await listContainers(opsA)).containers.map((c) => c.containerId)).to.deep.equal([mineA.containerId]);
      expect((await listContainers(opsB)).containers.map((c) => c.containerId)).to.have.members(mineB.map((x) => x.containerId));
    } finally {
      opsA.close();
      opsB.close();
    }
    expect((await footprint(a)).ports).to.deep.equal([mineA.sshPort]);
    for (const x of mineB) {
      const r = await ssh({ host: x.host, port: x.sshPort, password: x.password }, 'echo b');
      expect(r.stdout.toString(), r.stderr.toString()).to.equal('b\n');
    }
    const touched = /"msg":"(adopted|removing a half-created container|removing an orphaned network|removing a managed container with unreadable labels)"/;
    expect(a.logs.filter((l) => touched.test(l))).to.deep.equal([]);
    expect(b.logs.filter((l) => touched.test(l))).to.deep.equal([]);
    expect((await docker.getContainer(`${stray}.pending`).inspect()).Name).to.equal(`/${stray}.pending`);
    expect((await docker.listNetworks({ filters: { name: [stray] } })).map((n) => n.Name)).to.include(stray);
  });
});
