/**
 * Steal time of the host (CPU time the hypervisor gave other guests), from
 * the first line of /proc/stat, as a share of all CPU time between two
 * samples. Streamed with each sample so a validator can retest a run that
 * a noisy neighbour slowed; it never counts towards passing one.
 */
import { readFileSync } from 'node:fs';

interface Ticks {
  steal: number;
  total: number;
}

/** The aggregate "cpu" line: user nice system idle iowait irq softirq steal … (man 5 proc). */
export function parseProcStat(text: string): Ticks | undefined {
  const end = text.indexOf('\n');
  const line = text.slice(0, end < 0 ? Math.min(text.length, 512) : Math.min(end, 512));
  const fields = line.split(' ').filter((f) => f.length > 0);
  if (fields[0] !== 'cpu' || fields.length < 9) return undefined;
  const values = fields.slice(1, 9).map(Number);
  if (values.some((v) => !Number.isFinite(v))) return undefined;
  return { steal: values[7]!, total: values.reduce((a, b) => a + b, 0) };
}

/** Every run's samples on one tick read the file once. */
const CACHE_MS = 20;
const cache = new Map<string, { at: number; ticks: Ticks | undefined }>();

function hostTicks(path: string): Ticks | undefined {
  const now = performance.now();
  const hit = cache.get(path);
  if (hit && now - hit.at < CACHE_MS) return hit.ticks;
  let ticks: Ticks | undefined;
  try {
    ticks = parseProcStat(readFileSync(path, 'latin1'));
  } catch {
    ticks = undefined;
  }
  cache.set(path, { at: now, ticks });
  return ticks;
}

/** Steal % since the previous call of this meter (0 on the first, or where unknown). */
export class HostStealMeter {
  private last: Ticks | undefined;

  constructor(private readonly path = '/proc/stat') {
    this.last = hostTicks(path);
  }

  percent(): number {
    const now = hostTicks(this.path);
    const prev = this.last;
    this.last = now ?? prev;
    if (!now || !prev || now.total <= prev.total) return 0;
    return Math.max(0, Math.min(100, ((now.steal - prev.steal) / (now.total - prev.total)) * 100));
  }
}
