/**
 * Network isolation against real Docker, a real miner and the host's real
 * firewall, with something listening wherever a container must not get to:
 * the host over IPv6, private and link-local networks behind the host (cloud
 * metadata at 169.254.169.254, 10/8, 172.16/12, 192.168/16, 100.64/10) when
 * allocations have a route out, and the miner failing closed when its
 * firewall rules are deleted or cannot be made.
 */
import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:net';
import type { AllocateResponse, MinerServiceClient } from '../../common/gen/polarise/v1/miner.js';
import { allocate, codeOf, minerClient, release } from '../support/clients.js';
import { docker, removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { ready } from '../support/miner-state.js';
import { ssh } from '../support/openssh.js';
import {
  enableContainerIpv6,
  HOST_LINK_LOCAL,
  hostCanConnect,
  hostListener,
  linkLocalOf,
  PRIVATE_TARGETS,
  PUBLIC_TARGET,
  run,
  startUpstream,
  type Upstream,
} from '../support/host-network.js';

/** Tries a TCP connection from inside `from`; "rc=0" means it connected. */
async function probe(from: AllocateResponse, host: string, port: number): Promise<string> {
  const r = await ssh({ host: from.host, port: from.sshPort, password: from.password }, `timeout 3 bash -c 'echo > /dev/tcp/${host}/${port}' 2>&1; echo "rc=$?"`);
  return r.stdout.toString().trim();
}

async function bridgeAndPid(a: AllocateResponse): Promise<{ bridge: string; pid: number }> {
  const info = await docker.getContainer(a.containerId).inspect();
  const net = await docker.getNetwork(info.HostConfig.NetworkMode!).inspect();
  return { bridge: net.Options!['com.docker.network.bridge.name']!, pid: info.State.Pid };
}

function renter(miner: MinerProcess, name = 'alice'): MinerServiceClient {
  return minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('renter', name) });
}

const tag = String(process.pid % 100_000);

describe('network isolation', function () {
  this.timeout(120_000);
  before(requireDocker);

  describe('IPv6 (internal allocation networks)', () => {
    let miner: MinerProcess;
    let client: MinerServiceClient;
    let a: AllocateResponse;
    let b: AllocateResponse;
    let listener: Server;
    let port: number;

    before(async () => {
      miner = await startMiner({ config: { docker: { overcommit_ratio: 4 } } });
      client = renter(miner);
      await ready(client);
      [a, b] = await Promise.all([allocate(client, { memory: '64m' }), allocate(client, { memory: '64m' })]);
      ({ server: listener, port } = await hostListener('::'));
    });
    after(async () => {
      listener?.close();
      client?.close();
      await miner?.stop();
      if (miner) await removeResources(miner.prefix);
    });

    it('a container has no global or ULA IPv6 address (allocation networks are IPv4-only)', async () => {
      const r = await ssh({ host: a.host, port: a.sshPort, password: a.password }, 'cat /proc/net/if_inet6; echo end');
      const addresses = r.stdout.toString().split('\n').filter((l) => /^[0-9a-f]{32} /.test(l));
      // Scope 00 is global (ULA fc00::/7 included); 20 is link-local, 10 host.
      expect(addresses.filter((l) => l.split(/\s+/)[3] === '00'), r.stdout.toString()).to.deep.equal([]);
      expect(r.stdout.toString()).to.match(/end\n$/);
    });

    it('with IPv6 switched on in the container, the host and the other allocation stay unreachable over IPv6', async () => {
      const mine = await bridgeAndPid(a);
      const theirs = await bridgeAndPid(b);
      const ula = `fd7a:${Number(tag).toString(16)}`;
      enableContainerIpv6(mine.pid, mine.bridge, `${ula}:1::2/64`, `${ula}:1::1/64`);
      enableContainerIpv6(theirs.pid, theirs.bridge, `${ula}:2::2/64`, `${ula}:2::1/64`);
      // The listener answers on the host's new address and on its link-local one.
      expect(await hostCanConnect(`${ula}:1::1`, port)).to.equal(true);
      const linkLocal = linkLocalOf(mine.bridge);
      expect(linkLocal, 'the host end of the bridge has a link-local address').to.be.a('string');
      // The container can use IPv6: its own address answers (refused: nothing listens).
      expect(await probe(a, `${ula}:1::2`, 9)).to.match(/refused[\s\S]*rc=1/);
      expect(await probe(a, `${ula}:1::1`, port)).to.match(/rc=124$/);
      expect(await probe(a, `${linkLocal}%eth0`, port)).to.match(/rc=124$/);
      // The other allocation, through the host: nothing gets through.
      expect(await probe(a, `${ula}:2::2`, 22)).to.not.match(/rc=0$|refused/);
    });

    it('the miner keeps IPv6 rules for allocation bridges in place', () => {
      const rules = run('ip6tables', ['-w', '5', '-S']);
      expect(rules).to.include('-A INPUT -i pz+ -j DROP');
      expect(rules).to.match(/-A (FORWARD|DOCKER-USER) -i pz\+ -j DROP/);
    });
  });

  describe('with a route out (docker.internal_network false)', () => {
    let miner: MinerProcess;
    let client: MinerServiceClient;
    let a: AllocateResponse;
    let upstream: Upstream;
    let local: { server: Server; port: number };

    before(async () => {
      upstream = await startUpstream(tag, 18_000 + (Number(tag) % 1000));
      local = await hostListener(HOST_LINK_LOCAL);
      miner = await startMiner({ config: { docker: { overcommit_ratio: 4, internal_network: false } } });
      client = renter(miner);
      await ready(client);
      a = await allocate(client, { memory: '64m' });
      const net = await docker.getNetwork((await docker.getContainer(a.containerId).inspect()).HostConfig.NetworkMode!).inspect();
      expect(net.Internal).to.equal(false);
    });
    after(async () => {
      local?.server.close();
      client?.close();
      await miner?.stop();
      if (miner) await removeResources(miner.prefix);
      upstream?.close();
    });

    it('reaches an ordinary address behind the host (the route out works)', async () => {
      expect(await hostCanConnect(PUBLIC_TARGET, upstream.port)).to.equal(true);
      expect(await probe(a, PUBLIC_TARGET, upstream.port)).to.match(/rc=0$/);
    });

    for (const ip of PRIVATE_TARGETS) {
      it(`cannot reach ${ip} behind the host`, async () => {
        expect(await hostCanConnect(ip, upstream.port), 'the listener answers the host').to.equal(true);
        expect(await probe(a, ip, upstream.port)).to.match(/rc=124$/);
      });
    }

    it("cannot reach a listener on the host's own link-local address", async () => {
      expect(await hostCanConnect(HOST_LINK_LOCAL, local.port)).to.equal(true);
      expect(await probe(a, HOST_LINK_LOCAL, local.port)).to.match(/rc=124$/);
    });
  });

  describe('fails closed', () => {
    it('a deleted isolation rule is back within one reconcile interval', async () => {
      const miner = await startMiner({ config: { leases: { reconcile_interval_seconds: 1 } } });
      try {
        const rules: [string, string[]][] = [
          ['iptables', ['INPUT', '-i', 'pz+', '-j', 'DROP']],
          ['ip6tables', ['INPUT', '-i', 'pz+', '-j', 'DROP']],
        ];
        // Whatever of them is there goes (the seed's miner made only the first).
        for (const [binary, rule] of rules) if (isThere(binary, rule)) run(binary, ['-w', '5', '-D', ...rule]);
        const deleted = Date.now();
        const present = () => rules.every(([binary, rule]) => isThere(binary, rule));
        while (!present() && Date.now() - deleted < 5000) await new Promise((r) => setTimeout(r, 100));
        expect(present(), 'rules restored').to.equal(true);
        // One interval (1 s) plus the check itself and scheduling.
        expect(Date.now() - deleted).to.be.below(2500);
      } finally {
        await miner.stop();
      }
    });

    it('refuses Allocate (UNAVAILABLE) while its rules cannot be made, and allocates again once they can', async () => {
      const bin = mkdtempSync(join(tmpdir(), 'polarise-fakefw-'));
      const broken = join(bin, 'broken');
      for (const tool of ['iptables', 'ip6tables']) {
        const real = run('sh', ['-c', `command -v ${tool}`]).trim();
        const script = `#!/bin/sh\nif [ -e '${broken}' ]; then echo "${tool}: simulated failure" >&2; exit 4; fi\nexec '${real}' "$@"\n`;
        writeFileSync(join(bin, tool), script);
        chmodSync(join(bin, tool), 0o755);
      }
      writeFileSync(broken, '');
      const miner = await startMiner({ config: { docker: { overcommit_ratio: 4 }, leases: { reconcile_interval_seconds: 1 } }, env: { PATH: `${bin}:${process.env.PATH}` } });
      const client = renter(miner);
      try {
        await ready(client);
        const refused = await codeOf(allocate(client, { memory: '64m' }));
        expect(refused.code, refused.details).to.equal(status.UNAVAILABLE);
        expect(refused.details).to.match(/network isolation .* not in place/);
        expect(miner.logs.some((l) => l.includes('network isolation is NOT in place'))).to.equal(true);
        rmSync(broken);
        await new Promise((r) => setTimeout(r, 2500));
        const ok = await allocate(client, { memory: '64m' });
        // Broken again while running: refused again within a reconcile interval.
        writeFileSync(broken, '');
        await new Promise((r) => setTimeout(r, 2500));
        const again = await codeOf(allocate(client, { memory: '64m' }));
        expect(again.code, again.details).to.equal(status.UNAVAILABLE);
        await release(client, ok.containerId);
      } finally {
        client.close();
        await miner.stop();
        await removeResources(miner.prefix);
        rmSync(bin, { recursive: true, force: true });
      }
    });
  });
});

function isThere(binary: string, rule: string[]): boolean {
  try {
    run(binary, ['-w', '5', '-C', ...rule]);
    return true;
  } catch {
    return false;
  }
}
