/**
 * Failed SSH logins per source address in a sliding window, plus the
 * password checks still running for it. Once a source reaches the limit it is
 * refused, even with the right password, until its oldest failure leaves the
 * window: many connections' attempts at once count as soon as they start, not
 * only once their (slow) password hashes end.
 */
export class AuthThrottle {
  private readonly failures = new Map<string, number[]>();
  private readonly inFlight = new Map<string, number>();

  constructor(
    private readonly maxFailures: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  private recent(source: string): number[] {
    const cutoff = this.now() - this.windowMs;
    const list = (this.failures.get(source) ?? []).filter((t) => t > cutoff);
    if (list.length) this.failures.set(source, list);
    else this.failures.delete(source);
    return list;
  }

  isBlocked(source: string): boolean {
    return this.recent(source).length + (this.inFlight.get(source) ?? 0) >= this.maxFailures;
  }

  /**
   * An attempt begins: it counts against `source` until the returned function
   * is called (once, whatever the outcome; a failure is then recorded apart).
   */
  begin(source: string): () => void {
    this.inFlight.set(source, (this.inFlight.get(source) ?? 0) + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const left = (this.inFlight.get(source) ?? 1) - 1;
      if (left > 0) this.inFlight.set(source, left);
      else this.inFlight.delete(source);
    };
  }

  recordFailure(source: string): void {
    const list = this.recent(source);
    list.push(this.now());
    this.failures.set(source, list);
    if (this.failures.size > 10_000) this.prune();
  }

  private prune(): void {
    for (const source of [...this.failures.keys()]) this.recent(source);
  }
}
