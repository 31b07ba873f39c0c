/**
 * SSH ports from the configured range. Ports are handed out round-robin so
 * that a just-freed port is not reused at once (a renter's stale client then
 * reaches nothing rather than someone else's container).
 */
export class PortPool {
  private readonly used = new Set<number>();
  private cursor: number;

  constructor(
    readonly first: number,
    readonly last: number,
  ) {
    this.cursor = first;
  }

  get size(): number {
    return this.last - this.first + 1;
  }

  get free(): number {
    return this.size - this.used.size;
  }

  /** The next free port, marked used; undefined when the range is full. */
  take(skip: ReadonlySet<number> = new Set()): number | undefined {
    for (let i = 0; i < this.size; i++) {
      const port = this.first + ((this.cursor - this.first + i) % this.size);
      if (this.used.has(port) || skip.has(port)) continue;
      this.used.add(port);
      this.cursor = port + 1 > this.last ? this.first : port + 1;
      return port;
    }
    return undefined;
  }

  /** Marks a specific port used (adoption); false if it is outside the range or taken. */
  claim(port: number): boolean {
    if (port < this.first || port > this.last || this.used.has(port)) return false;
    this.used.add(port);
    return true;
  }

  release(port: number): void {
    this.used.delete(port);
  }

  isUsed(port: number): boolean {
    return this.used.has(port);
  }
}
