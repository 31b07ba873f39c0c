/**
 * Failed SSH logins per source address in a sliding window. Once a source
 * reaches the limit it is refused, even with the right password, until its
 * oldest failure leaves the window.
 */
export class AuthThrottle {
  private readonly failures = new Map<string, number[]>();

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
    return this.recent(source).length >= this.maxFailures;
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
