/**
 * Network counters in samples without a Docker engine: the /proc/<pid>/net/dev
 * parser on text as the kernel writes it, the kept-open file, Docker stats
 * frames, and the per-run deltas in SampleSeries. A real container's
 * traffic: test/integration/sample-network.test.ts.
 */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NET_DEV_MAX_BYTES, NetDevFile, netDelta, parseNetDev } from '../../miner/challenges/sampling/net-dev.js';
import { readingFromStats } from '../../miner/challenges/sampling/docker-stats-reader.js';
import { SampleSeries } from '../../miner/challenges/sample-series.js';
import type { NetCounters, Reading } from '../../miner/challenges/sampling/reader.js';

const HEADER =
  'Inter-|   Receive                                                |  Transmit\n' +
  ' face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n';

/** One interface line in the kernel's own format (dev_seq_printf_stats). */
function line(name: string, rxBytes: number, rxPackets: number, txBytes: number, txPackets: number): string {
  const pad = (v: number, w: number) => String(v).padStart(w);
  return `${name.padStart(6)}:${pad(rxBytes, 8)} ${pad(rxPackets, 7)}    0    0    0     0          0         0 ${pad(txBytes, 8)} ${pad(txPackets, 7)}    0    0    0     0       0          0\n`;
}

const CONTAINER = HEADER + line('lo', 11153711088, 1146277, 11153711088, 1146277) + line('eth0', 104232, 812, 22310, 190);

describe('network counters: /proc/<pid>/net/dev', () => {
  it('sums every interface but lo', () => {
    expect(parseNetDev(CONTAINER)).to.deep.equal({ rxBytes: 104232, rxPackets: 812, txBytes: 22310, txPackets: 190 });
    const two = CONTAINER + line('eth1', 1000, 10, 500, 5);
    expect(parseNetDev(two)).to.deep.equal({ rxBytes: 105232, rxPackets: 822, txBytes: 22810, txPackets: 195 });
    // A 15-character name runs into its colon and wide counters into each other's padding.
    const wide = HEADER + 'pz4af90400efe61: 9007199254740000 1 0 0 0 0 0 0 7 2 0 0 0 0 0 0\n';
    expect(parseNetDev(wide)).to.deep.equal({ rxBytes: 9007199254740000, rxPackets: 1, txBytes: 7, txPackets: 2 });
  });

  it('a namespace with only lo counts zero; text that is not net/dev is refused', () => {
    expect(parseNetDev(HEADER + line('lo', 5, 1, 5, 1))).to.deep.equal({ rxBytes: 0, rxPackets: 0, txBytes: 0, txPackets: 0 });
    expect(parseNetDev('')).to.equal(undefined);
    expect(parseNetDev('cpu  1 2 3 4 5 6 7 8\n')).to.equal(undefined);
    expect(parseNetDev(line('eth0', 1, 1, 1, 1))).to.equal(undefined);
  });

  it('skips malformed lines: too few fields, signs, letters, 21 digits, a name over 15 bytes, a line cut short', () => {
    const bad = [
      'eth1: 1 2 3\n',
      'eth2: -1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n',
      'eth3: 1x 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n',
      `eth4: ${'9'.repeat(21)} 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n`,
      'a-name-of-16-chr: 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n',
      ': 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n',
      'no colon here 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n',
    ].join('');
    const cut = line('eth9', 777, 7, 777, 7).slice(0, 30);
    expect(parseNetDev(CONTAINER + bad + cut)).to.deep.equal(parseNetDev(CONTAINER));
  });

  it('reads at most NET_DEV_MAX_BYTES, quickly, whatever the input', () => {
    const huge = CONTAINER + line('eth1', 1, 1, 1, 1).repeat(NET_DEV_MAX_BYTES / 100);
    const parsed = parseNetDev(huge)!;
    expect(parsed.rxPackets).to.be.greaterThan(812).and.below(812 + NET_DEV_MAX_BYTES / 100);
    // Pathological text (no newlines, colons everywhere) is cut, not scanned without end.
    expect(parseNetDev(HEADER + ':'.repeat(10 * NET_DEV_MAX_BYTES))).to.deep.equal({ rxBytes: 0, rxPackets: 0, txBytes: 0, txPackets: 0 });
  });

  it('a kept-open file sees the counters grow on the next read', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'polarise-netdev-')), 'dev');
    writeFileSync(path, CONTAINER);
    const file = new NetDevFile(path);
    try {
      expect(file.read()!.txBytes).to.equal(22310);
      writeFileSync(path, HEADER + line('lo', 1, 1, 1, 1) + line('eth0', 204232, 900, 99310, 300));
      expect(file.read()).to.deep.equal({ rxBytes: 204232, rxPackets: 900, txBytes: 99310, txPackets: 300 });
    } finally {
      file.close();
    }
    expect(() => new NetDevFile(join(path, 'missing'))).to.throw();
  });

  it('deltas never go below zero and are zero where a reading has no counters', () => {
    const a: NetCounters = { rxBytes: 100, rxPackets: 2, txBytes: 50, txPackets: 1 };
    expect(netDelta(a, { rxBytes: 150, rxPackets: 3, txBytes: 40, txPackets: 1 })).to.deep.equal({ rxBytes: 50, rxPackets: 1, txBytes: 0, txPackets: 0 });
    expect(netDelta(undefined, a)).to.deep.equal({ rxBytes: 0, rxPackets: 0, txBytes: 0, txPackets: 0 });
    expect(netDelta(a, undefined)).to.deep.equal({ rxBytes: 0, rxPackets: 0, txBytes: 0, txPackets: 0 });
  });
});

describe('network counters: Docker stats frames and samples', () => {
  it('sums the frame\'s interfaces (none: unknown)', () => {
    const frame = {
      cpu_stats: { cpu_usage: { total_usage: 1 } },
      memory_stats: { usage: 100, limit: 1000 },
      networks: { eth0: { rx_bytes: 10, rx_packets: 1, tx_bytes: 20, tx_packets: 2 }, eth1: { rx_bytes: 5, rx_packets: 1, tx_bytes: 5, tx_packets: 1 } },
    };
    expect(readingFromStats(frame)!.net).to.deep.equal({ rxBytes: 15, rxPackets: 2, txBytes: 25, txPackets: 3 });
    expect(readingFromStats({ ...frame, networks: undefined })!.net).to.equal(undefined);
  });

  it('each sample carries the traffic since the baseline reading (the command\'s start)', () => {
    const reading = (ms: number, net?: NetCounters): Reading => ({ atNs: BigInt(ms) * 1_000_000n, time: new Date(ms), cpuNs: 0n, memoryUsage: 0, memoryLimit: 1, pids: 1, net });
    const series = new SampleSeries(reading(1000, { rxBytes: 5000, rxPackets: 50, txBytes: 7000, txPackets: 70 }), 'cgroup_v1');
    const s1 = series.next(reading(1100, { rxBytes: 5000, rxPackets: 50, txBytes: 7000, txPackets: 70 }))!;
    expect([s1.netRxBytes, s1.netTxBytes, s1.netRxPackets, s1.netTxPackets]).to.deep.equal([0, 0, 0, 0]);
    const s2 = series.next(reading(1200, { rxBytes: 6500, rxPackets: 51, txBytes: 107000, txPackets: 170 }))!;
    expect([s2.netRxBytes, s2.netTxBytes, s2.netRxPackets, s2.netTxPackets]).to.deep.equal([1500, 100000, 1, 100]);
    const s3 = series.next(reading(1300))!;
    expect([s3.netRxBytes, s3.netTxBytes]).to.deep.equal([0, 0]);
  });
});
