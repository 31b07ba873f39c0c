/**
 * The sampler against a real container's cgroup files (this host's cgroup
 * version), checked against Docker stats. The parts that need no Docker
 * engine: test/unit/sampler.test.ts.
 */
import { expect } from 'chai';
import type Docker from 'dockerode';
import { cgroupMounts, hostCgroupVersion, openCgroupReader, sharedReaderCount } from '../../miner/challenges/sampling/cgroup-reader.js';
import { DockerStatsReader } from '../../miner/challenges/sampling/docker-stats-reader.js';
import { requireDocker } from '../support/docker.js';
import { MiB, execText, makeContainer, removeContainers } from '../support/challenge-fixtures.js';

describe('sampler: cgroup files of a real container', function () {
  let container: Docker.Container;
  before(async () => {
    await requireDocker();
    container = await makeContainer({ cpus: 1, memory: 256 * MiB, pidsLimit: 64 });
  });
  after(removeContainers);

  it('detects the host cgroup version and agrees with Docker stats on memory, limit, pids and network counters', async () => {
    expect(hostCgroupVersion(cgroupMounts())).to.be.oneOf([1, 2]);
    const info = await container.inspect();
    const reader = openCgroupReader(info.State.Pid);
    expect(reader, 'cgroup files reachable').to.not.equal(null);
    try {
      expect(reader!.source).to.match(/^cgroup_v[12]$/);
      const mine = reader!.read();
      const theirs = await new DockerStatsReader(container).read();
      expect(mine.memoryLimit).to.equal(256 * MiB);
      expect(theirs.memoryLimit).to.equal(256 * MiB);
      expect(Math.abs(mine.memoryUsage - theirs.memoryUsage)).to.be.lessThan(2 * MiB);
      expect(mine.pids).to.equal(theirs.pids);
      expect(mine.cpuNs > 0n).to.equal(true);
      expect(mine.oomKills).to.equal(0);
      // The container's own namespace, read at /proc/<pid>/net/dev: what Docker reports for its interfaces.
      expect(mine.net, 'network counters').to.not.equal(undefined);
      expect(theirs.net, "Docker reports the interfaces").to.not.equal(undefined);
      // Read a moment apart: a stray packet (ARP) may fall between the two.
      expect(mine.net!.rxBytes).to.be.closeTo(theirs.net!.rxBytes, 1024);
      expect(mine.net!.txBytes).to.be.closeTo(theirs.net!.txBytes, 1024);
      expect(mine.net!.rxPackets).to.be.closeTo(theirs.net!.rxPackets, 4);
      expect(mine.net!.txPackets).to.be.closeTo(theirs.net!.txPackets, 4);
    } finally {
      reader!.close();
    }
  });

  it('gives no reader when no cgroup is reachable (then the runner uses Docker stats)', () => {
    expect(openCgroupReader(0)).to.equal(null);
    expect(openCgroupReader(2 ** 22 + 12345)).to.equal(null);
  });

  it('costs a few microseconds per reading', async () => {
    const reader = openCgroupReader((await container.inspect()).State.Pid)!;
    try {
      const n = 2000;
      const t = process.hrtime.bigint();
      for (let i = 0; i < n; i++) reader.read();
      const perReadUs = Number(process.hrtime.bigint() - t) / n / 1000;
      expect(perReadUs).to.be.lessThan(200);
    } finally {
      reader.close();
    }
  });

  it('runs in one container share one reader: one set of reads per tick, fresh reads on demand', async () => {
    const pid = (await container.inspect()).State.Pid;
    const before = sharedReaderCount();
    const a = openCgroupReader(pid)!;
    const b = openCgroupReader(pid)!;
    try {
      expect(sharedReaderCount()).to.equal(before + 1);
      const ra = a.read();
      // The same tick (within a millisecond): the other run gets that very reading.
      expect(b.read()).to.equal(ra);
      // Asked for fresh (a run's first and last reading), or a tick later: read again.
      const fresh = b.read(true);
      expect(fresh).to.not.equal(ra);
      expect(fresh.atNs > ra.atNs).to.equal(true);
      await new Promise((r) => setTimeout(r, 5));
      const later = a.read();
      expect(later.atNs > fresh.atNs).to.equal(true);
      expect(later.memoryLimit).to.equal(256 * MiB);
    } finally {
      a.close();
      a.close(); // twice is harmless
      expect(sharedReaderCount()).to.equal(before + 1);
      b.close();
    }
    expect(sharedReaderCount()).to.equal(before);
  });

  it('counts processes and sees CPU time grow under load', async () => {
    const reader = openCgroupReader((await container.inspect()).State.Pid)!;
    try {
      const before = reader.read();
      await execText(container, ['sh', '-c', 'sleep 0.3 & sleep 0.3 & i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; wait']);
      const after = reader.read();
      expect(after.cpuNs > before.cpuNs).to.equal(true);
    } finally {
      reader.close();
    }
  });
});
