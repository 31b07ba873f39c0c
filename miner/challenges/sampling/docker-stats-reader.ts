/**
 * The fallback sampler: Docker's stats API, for engines whose cgroup files
 * the miner cannot read (a remote engine, or a miner without /proc access).
 * Docker produces about one frame a second, whatever interval was asked for.
 *
 * Figures are computed as `docker stats` does: memory = usage minus
 * total_inactive_file (v1) or inactive_file (v2); CPU is the cumulative
 * total_usage, turned into a rate by the runner over the frames' own `read`
 * timestamps.
 */
import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import type { ContainerReader, NetCounters, Reading, SourceName } from './reader.js';

interface StatsFrame {
  read?: string;
  pids_stats?: { current?: number };
  cpu_stats?: { cpu_usage?: { total_usage?: number } };
  memory_stats?: { usage?: number; limit?: number; stats?: Record<string, number> };
  /** Per interface of the container's namespace (Docker leaves lo out). */
  networks?: Record<string, { rx_bytes?: number; rx_packets?: number; tx_bytes?: number; tx_packets?: number }>;
}

/** The frame's interfaces summed; undefined when it has none (network "none", or an engine that omits them). */
function networkOf(frame: StatsFrame): NetCounters | undefined {
  const nets = Object.entries(frame.networks ?? {}).filter(([name]) => name !== 'lo');
  if (nets.length === 0) return undefined;
  const sum: NetCounters = { rxBytes: 0, rxPackets: 0, txBytes: 0, txPackets: 0 };
  for (const [, n] of nets) {
    sum.rxBytes += n.rx_bytes ?? 0;
    sum.rxPackets += n.rx_packets ?? 0;
    sum.txBytes += n.tx_bytes ?? 0;
    sum.txPackets += n.tx_packets ?? 0;
  }
  return sum;
}

/** Nanoseconds since the epoch of an RFC 3339 time with up to 9 fractional digits. */
export function rfc3339Ns(text: string): bigint | undefined {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(text);
  if (!m) return undefined;
  const seconds = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(seconds) || seconds <= 0) return undefined;
  return BigInt(seconds) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0'));
}

/** Turns one stats frame into a reading; `arrivedNs`/`arrivedWall` are when it arrived. */
export function readingFromStats(frame: StatsFrame, arrivedNs = process.hrtime.bigint(), arrivedWall = Date.now()): Reading | undefined {
  const cpu = frame.cpu_stats?.cpu_usage?.total_usage;
  const mem = frame.memory_stats;
  if (cpu === undefined || mem?.usage === undefined) return undefined;
  const stats = mem.stats ?? {};
  const inactive = stats.total_inactive_file ?? stats.inactive_file ?? 0;
  // Place the reading at Docker's own `read` time on our monotonic clock.
  const readNs = frame.read ? rfc3339Ns(frame.read) : undefined;
  let atNs = arrivedNs;
  if (readNs !== undefined) {
    const lag = BigInt(arrivedWall) * 1_000_000n - readNs;
    if (lag > 0n && lag < 5_000_000_000n) atNs = arrivedNs - lag;
  }
  return {
    atNs,
    time: readNs !== undefined ? new Date(Number(readNs / 1_000_000n)) : new Date(arrivedWall),
    cpuNs: BigInt(Math.round(cpu)),
    memoryUsage: inactive < mem.usage ? mem.usage - inactive : mem.usage,
    memoryLimit: mem.limit ?? 0,
    pids: frame.pids_stats?.current ?? 0,
    net: networkOf(frame),
  };
}

export class DockerStatsReader implements ContainerReader {
  readonly source: SourceName = 'docker_stats';
  private stream?: Readable;

  constructor(private readonly container: Docker.Container) {}

  /** One frame now (the one-shot form skips the second of priming). */
  async read(): Promise<Reading> {
    const frame = (await this.container.stats({ stream: false, 'one-shot': true })) as unknown as StatsFrame;
    const reading = readingFromStats(frame);
    if (!reading) throw new Error('docker stats returned no CPU or memory figures (is the container running?)');
    return reading;
  }

  /** Calls `onReading` for every frame of Docker's stats stream until close(). */
  async subscribe(onReading: (r: Reading) => void): Promise<void> {
    const stream = (await this.container.stats({ stream: true })) as unknown as Readable;
    this.stream = stream;
    let pending = '';
    stream.on('data', (chunk: Buffer) => {
      pending += chunk.toString('utf8');
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (!line) continue;
        try {
          const reading = readingFromStats(JSON.parse(line) as StatsFrame);
          if (reading) onReading(reading);
        } catch {
          /* a frame we cannot parse is skipped */
        }
      }
    });
    stream.on('error', () => undefined);
  }

  close(): void {
    this.stream?.destroy();
    this.stream = undefined;
  }
}
