/**
 * The sampler's parts that need no Docker engine: stat-file and Docker stats
 * parsing, cgroup reading on fake v1 and v2 trees, the coalescing event
 * writer, the bounded output capture, the shared sample clock and host steal
 * time. The cgroup files of a real container: test/integration/sampler-real-cgroup.test.ts.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CgroupReader, cgroupPathsOf, statValue } from '../../miner/challenges/sampling/cgroup-reader.js';
import { readingFromStats, rfc3339Ns } from '../../miner/challenges/sampling/docker-stats-reader.js';
import { EventWriter } from '../../miner/challenges/event-writer.js';
import { SampleClock, firstTick, nextTick } from '../../miner/challenges/sample-clock.js';
import { BoundedCapture } from '../../miner/challenges/challenge-exec.js';
import { HostStealMeter, parseProcStat } from '../../miner/challenges/sampling/host-steal.js';
import { OutputStream, type ResourceSample, type RunChallengeResponse } from '../../common/gen/polarise/v1/miner.js';
import type { EventSink } from '../../miner/server/handlers.js';
import { MiB } from '../support/challenge-fixtures.js';

function sample(n: number): ResourceSample {
  return { elapsedUs: n, cpuUsage: n, cpuTimeNs: n, memoryUsage: 0, memoryLimit: 0, memoryPercent: 0, pids: 1, source: 1, hostStealPercent: 0, netRxBytes: 0, netTxBytes: 0, netRxPackets: 0, netTxPackets: 0 };
}

describe('sampler: parsing', () => {
  it('reads keys from stat files', () => {
    const text = 'cache 10\ntotal_inactive_file 344064\ninactive_file 7\n';
    expect(statValue(text, 'inactive_file')).to.equal(7n);
    expect(statValue(text, 'total_inactive_file')).to.equal(344064n);
    expect(statValue(text, 'cache')).to.equal(10n);
    expect(statValue(text, 'missing')).to.equal(undefined);
  });

  it('parses Docker stats frames as `docker stats` does', () => {
    expect(rfc3339Ns('2024-05-01T10:00:00.123456789Z')).to.equal(BigInt(Date.parse('2024-05-01T10:00:00Z')) * 1_000_000n + 123456789n);
    expect(rfc3339Ns('0001-01-01T00:00:00Z')).to.equal(undefined);
    const wall = Date.parse('2024-05-01T10:00:00.5Z');
    const r = readingFromStats(
      {
        read: '2024-05-01T10:00:00.400000000Z',
        pids_stats: { current: 4 },
        cpu_stats: { cpu_usage: { total_usage: 5_000_000 } },
        memory_stats: { usage: 300 * MiB, limit: 512 * MiB, stats: { total_inactive_file: 20 * MiB } },
      },
      10_000_000_000n,
      wall,
    )!;
    expect(r.memoryUsage).to.equal(280 * MiB);
    expect(r.memoryLimit).to.equal(512 * MiB);
    expect(r.pids).to.equal(4);
    expect(r.cpuNs).to.equal(5_000_000n);
    // Placed at Docker's read time: 100 ms before it arrived.
    expect(r.atNs).to.equal(10_000_000_000n - 100_000_000n);
    const v2 = readingFromStats({ cpu_stats: { cpu_usage: { total_usage: 1 } }, memory_stats: { usage: 100, limit: 1000, stats: { inactive_file: 30 } } })!;
    expect(v2.memoryUsage).to.equal(70);
    expect(readingFromStats({})).to.equal(undefined);
  });
});

describe('sampler: cgroup v2 (a fake unified tree)', () => {
  it('finds the scope from /proc/<pid>/cgroup and reads cpu.stat, memory and pids', () => {
    const root = mkdtempSync(join(tmpdir(), 'polarise-cg2-'));
    const proc = join(root, 'proc');
    const cg = join(root, 'cgroup');
    const scope = join(cg, 'system.slice', 'docker-abc.scope');
    mkdirSync(join(proc, '42'), { recursive: true });
    mkdirSync(scope, { recursive: true });
    writeFileSync(join(proc, '42', 'cgroup'), '0::/system.slice/docker-abc.scope\n');
    writeFileSync(join(scope, 'cpu.stat'), 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n');
    writeFileSync(join(scope, 'memory.current'), String(300 * MiB) + '\n');
    writeFileSync(join(scope, 'memory.max'), 'max\n');
    writeFileSync(join(scope, 'memory.stat'), `anon ${250 * MiB}\nfile ${50 * MiB}\nactive_file ${10 * MiB}\ninactive_file ${40 * MiB}\n`);
    writeFileSync(join(scope, 'memory.events'), 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n');
    writeFileSync(join(scope, 'pids.current'), '5\n');
    const mounts = [{ root: '/', mountPoint: cg, fsType: 'cgroup2', superOptions: ['rw'] }];
    const paths = cgroupPathsOf(42, proc, mounts)!;
    expect(paths).to.deep.include({ version: 2, cpu: scope, memory: scope, pids: scope });
    const reader = new CgroupReader(paths);
    try {
      expect(reader.source).to.equal('cgroup_v2');
      const r = reader.read();
      expect(r.cpuNs).to.equal(1_500_000n);
      expect(r.memoryUsage).to.equal(260 * MiB);
      expect(r.memoryLimit).to.be.greaterThan(0); // "max": the host's memory
      expect(r.pids).to.equal(5);
      expect(r.oomKills).to.equal(1);
      // Kept open, re-read at offset 0: a rewrite is seen on the next read.
      writeFileSync(join(scope, 'cpu.stat'), 'usage_usec 2500\n');
      writeFileSync(join(scope, 'memory.max'), String(512 * MiB));
      const r2 = reader.read(true);
      expect(r2.cpuNs).to.equal(2_500_000n);
      expect(r2.memoryLimit).to.equal(512 * MiB);
    } finally {
      reader.close();
    }
  });
});

describe('sampler: cgroup v1 (a fake tree)', () => {
  it('parses counters in place: the right key among look-alikes, big counters exact, a rewrite seen', () => {
    const root = mkdtempSync(join(tmpdir(), 'polarise-cg1-'));
    const proc = join(root, 'proc');
    const dirs = { cpuacct: join(root, 'cpuacct', 'docker', 'abc'), memory: join(root, 'memory', 'docker', 'abc'), pids: join(root, 'pids', 'docker', 'abc') };
    for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
    mkdirSync(join(proc, '7'), { recursive: true });
    writeFileSync(join(proc, '7', 'cgroup'), '12:pids:/docker/abc\n5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n');
    // More than 2^53 ns of CPU: parsed exactly.
    writeFileSync(join(dirs.cpuacct, 'cpuacct.usage'), '12345678901234567\n');
    writeFileSync(join(dirs.memory, 'memory.usage_in_bytes'), `${100 * MiB}\n`);
    // inactive_file (this cgroup alone) comes first; total_inactive_file (with children) is the one docker stats uses.
    writeFileSync(join(dirs.memory, 'memory.stat'), `cache ${30 * MiB}\ninactive_file ${5 * MiB}\ntotal_cache ${30 * MiB}\ntotal_inactive_file ${20 * MiB}\n`);
    writeFileSync(join(dirs.memory, 'memory.limit_in_bytes'), '9223372036854771712\n');
    writeFileSync(join(dirs.memory, 'memory.oom_control'), 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n');
    writeFileSync(join(dirs.pids, 'pids.current'), '3\n');
    const mounts = [
      { root: '/', mountPoint: join(root, 'cpuacct'), fsType: 'cgroup', superOptions: ['rw', 'cpu', 'cpuacct'] },
      { root: '/', mountPoint: join(root, 'memory'), fsType: 'cgroup', superOptions: ['rw', 'memory'] },
      { root: '/', mountPoint: join(root, 'pids'), fsType: 'cgroup', superOptions: ['rw', 'pids'] },
    ];
    const reader = new CgroupReader(cgroupPathsOf(7, proc, mounts)!);
    try {
      expect(reader.source).to.equal('cgroup_v1');
      const r = reader.read();
      expect(r.cpuNs).to.equal(12345678901234567n);
      expect(r.memoryUsage).to.equal(80 * MiB);
      expect(r.memoryLimit).to.be.greaterThan(0).and.below(2 ** 62); // unlimited: the host's memory
      expect(r.oomKills).to.equal(2);
      expect(r.pids).to.equal(3);
      // A shorter rewrite (the old bytes must not linger) and a first-line key.
      writeFileSync(join(dirs.cpuacct, 'cpuacct.usage'), '42\n');
      writeFileSync(join(dirs.memory, 'memory.stat'), `total_inactive_file ${MiB}\n`);
      const r2 = reader.read(true);
      expect(r2.cpuNs).to.equal(42n);
      expect(r2.memoryUsage).to.equal(99 * MiB);
    } finally {
      reader.close();
    }
  });
});

describe('sampler: coalescing event writer', () => {
  function slowSink(delayMs: number) {
    const events: RunChallengeResponse[] = [];
    const controller = new AbortController();
    const sink: EventSink = {
      signal: controller.signal,
      send: async (e) => {
        events.push(e);
        await new Promise((r) => setTimeout(r, delayMs));
      },
    };
    return { sink, events, controller };
  }

  it('keeps only the latest sample for a slow client', async () => {
    const { sink, events } = slowSink(50);
    const writer = new EventWriter(sink, { outputBufferBytes: 1024 });
    for (let i = 1; i <= 1000; i++) writer.offerSample(sample(i));
    await writer.flush();
    const got = events.map((e) => (e.event?.$case === 'sample' ? e.event.value.elapsedUs : -1));
    // The first went out at once; everything else coalesced into the newest.
    expect(got).to.deep.equal([1, 1000]);
    expect(writer.sentSamples).to.equal(2);
    expect(writer.coalescedSamples).to.equal(998);
  });

  it('bounds queued output and asks the source to pause until it drains', async () => {
    const { sink, events } = slowSink(5);
    const writer = new EventWriter(sink, { outputBufferBytes: 4096 });
    let accepted = 0;
    let ok = true;
    while (ok) {
      ok = writer.offerOutput(OutputStream.OUTPUT_STREAM_STDOUT, Buffer.alloc(1024, 'x'));
      accepted++;
    }
    expect(accepted).to.be.lessThan(8);
    expect(writer.bufferedOutputBytes).to.be.at.most(5 * 1024);
    await new Promise<void>((resolve) => writer.onDrain(resolve));
    expect(writer.bufferedOutputBytes).to.be.at.most(2048);
    writer.offerSample(sample(7));
    await writer.flush();
    expect(events.filter((e) => e.event?.$case === 'output')).to.have.length(accepted);
    expect(events.some((e) => e.event?.$case === 'sample')).to.equal(true);
  });

  it('drops what waits once the client is gone', async () => {
    const { sink, events, controller } = slowSink(20);
    const writer = new EventWriter(sink, { outputBufferBytes: 4096 });
    writer.offerSample(sample(1));
    writer.offerOutput(OutputStream.OUTPUT_STREAM_STDERR, Buffer.from('late'));
    controller.abort();
    await writer.flush();
    expect(events).to.have.length(1);
    expect(writer.bufferedOutputBytes).to.equal(0);
  });
});

describe('sampler: bounded output capture', () => {
  it('keeps the first bytes, flags the cut and never splits a character', () => {
    const c = new BoundedCapture(10);
    expect(c.append(Buffer.from('hello ')).toString()).to.equal('hello ');
    expect(c.append(Buffer.from('abcö!')).length).to.equal(4); // cuts the two-byte ö in half
    expect(c.truncated).to.equal(true);
    expect(c.bytes).to.equal(10);
    expect(c.append(Buffer.from('more')).length).to.equal(0);
    expect(c.text()).to.equal('hello abc');
    const exact = new BoundedCapture(5);
    exact.append(Buffer.from('abcde'));
    expect(exact.truncated).to.equal(false);
    expect(exact.text()).to.equal('abcde');
  });
});

describe('sampler: shared sample clock', () => {
  it('puts the first tick within ¾ of an interval and then on the shared grid', () => {
    const ms = 1_000_000n;
    for (const interval of [20n * ms, 100n * ms, 1000n * ms]) {
      for (let i = 0; i < 200; i++) {
        const t0 = BigInt(Math.floor(Math.random() * 1e12));
        const first = firstTick(t0, interval);
        expect(first - t0 >= interval / 4n && first - t0 <= (interval * 3n) / 4n, `t0 ${t0}`).to.equal(true);
        const second = nextTick(first, interval);
        expect(second % interval).to.equal(0n);
        expect(second - first >= interval / 2n && second - first <= interval).to.equal(true);
      }
    }
  });

  it('wakes once for streams on the same grid', async () => {
    const clock = new SampleClock();
    const t0 = process.hrtime.bigint();
    const seen: bigint[][] = [[], [], []];
    const stops = seen.map((list) => clock.every(50, t0, () => list.push(process.hrtime.bigint())));
    await new Promise((r) => setTimeout(r, 330));
    stops.forEach((s) => s());
    expect(clock.size).to.equal(0);
    expect(seen[0]!.length).to.be.within(5, 8);
    // All three ran in the same wake-ups.
    for (let i = 0; i < seen[0]!.length; i++) expect(Number(seen[2]![i]! - seen[0]![i]!) / 1e6).to.be.below(1);
  });
});

describe('sampler: host steal time', () => {
  it('parses the aggregate cpu line of /proc/stat (steal is the 8th value)', () => {
    expect(parseProcStat('cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 1 2 3\n')).to.deep.equal({ steal: 35, total: 1000 });
    expect(parseProcStat('cpu0 1 2 3 4 5 6 7 8\n')).to.equal(undefined);
    expect(parseProcStat('cpu  1 2 x 4 5 6 7 8\n')).to.equal(undefined);
    expect(parseProcStat('')).to.equal(undefined);
  });

  it('reports the share stolen between two samples, from the real file too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'polarise-stat-'));
    const path = join(dir, 'stat');
    writeFileSync(path, 'cpu  100 0 0 900 0 0 0 0 0 0\n');
    const meter = new HostStealMeter(path);
    await new Promise((r) => setTimeout(r, 30));
    writeFileSync(path, 'cpu  150 0 0 1000 0 0 0 50 0 0\n');
    expect(meter.percent()).to.be.closeTo(25, 1e-9);
    const real = new HostStealMeter();
    await new Promise((r) => setTimeout(r, 30));
    expect(real.percent()).to.be.within(0, 100);
  });
});
