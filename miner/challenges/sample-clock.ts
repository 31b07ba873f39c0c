/**
 * One timer for every live challenge in the process. Sampling times sit on a
 * grid shared by all runs (multiples of the interval on the monotonic
 * clock), so that twenty 10 Hz streams wake the miner ten times a second,
 * not two hundred, and their writes leave in the same turn of the event
 * loop. A wake-up costs far more than the few microseconds of reading
 * cgroup files, so this is where the miner's CPU per sample goes down.
 *
 * A run's first tick is the first half-interval grid point at least a
 * quarter interval after its start (so it comes within ¾ of an interval and
 * never measures a sliver); the following ticks are the multiples of the
 * interval at least half an interval after the previous one.
 */

interface Subscription {
  interval: bigint;
  due: bigint;
  fn: () => void;
}

function ceilTo(value: bigint, step: bigint): bigint {
  const r = value % step;
  return r === 0n ? value : value + step - r;
}

/** The first tick for a run starting at `t0` (ns) with `interval` (ns). */
export function firstTick(t0: bigint, interval: bigint): bigint {
  return ceilTo(t0 + interval / 4n, interval / 2n);
}

/** The tick after `prev`. */
export function nextTick(prev: bigint, interval: bigint): bigint {
  return ceilTo(prev + interval / 2n, interval);
}

export class SampleClock {
  private readonly subs = new Set<Subscription>();
  private timer?: NodeJS.Timeout;
  private armedFor?: bigint;

  constructor(private readonly now: () => bigint = () => process.hrtime.bigint()) {}

  /** Calls `fn` on the shared grid from `t0` every `intervalMs`; returns a function that stops it. */
  every(intervalMs: number, t0: bigint, fn: () => void): () => void {
    const interval = BigInt(Math.round(intervalMs * 1e6));
    const sub: Subscription = { interval, due: firstTick(t0, interval), fn };
    this.subs.add(sub);
    this.arm();
    return () => {
      this.subs.delete(sub);
      if (this.subs.size === 0 && this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
        this.armedFor = undefined;
      }
    };
  }

  /** Live subscriptions (for tests). */
  get size(): number {
    return this.subs.size;
  }

  private arm(): void {
    let earliest: bigint | undefined;
    for (const s of this.subs) if (earliest === undefined || s.due < earliest) earliest = s.due;
    if (earliest === undefined) return;
    if (this.timer && this.armedFor !== undefined && this.armedFor <= earliest) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = earliest;
    const wait = Math.max(0, Number(earliest - this.now()) / 1e6);
    this.timer = setTimeout(() => this.fire(), wait);
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = undefined;
    const now = this.now();
    // Everything due now or within a millisecond runs in this one wake-up.
    const horizon = now + 1_000_000n;
    for (const s of [...this.subs]) {
      if (s.due > horizon) continue;
      let next = nextTick(s.due, s.interval);
      // Far behind (a blocked event loop): skip missed slots instead of bunching samples.
      if (next <= now) next = nextTick(now, s.interval);
      s.due = next;
      try {
        s.fn();
      } catch {
        /* a subscriber's failure is its own */
      }
    }
    this.arm();
  }
}

/** The process's shared clock. */
export const sampleClock = new SampleClock();
