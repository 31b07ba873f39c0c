/** Parsing of cgroup files: a file kept open and re-read in place, and "key value" per line files. */
import { closeSync, openSync, readSync } from 'node:fs';

/** What KeptFile.stat returns for a key the file does not have. */
export const NOT_FOUND = -2;

/**
 * A file kept open and re-read from offset 0. Numbers are parsed straight
 * from the read buffer: no string, no BigInt, no garbage per reading.
 */
export class KeptFile {
  private readonly fd: number;
  private buffer: Buffer;
  private length = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    this.buffer = Buffer.allocUnsafe(4096);
  }

  /** Reads the whole file into the buffer; returns its length. */
  load(): number {
    for (;;) {
      const n = readSync(this.fd, this.buffer, 0, this.buffer.length, 0);
      if (n < this.buffer.length) return (this.length = n);
      // The file is bigger than the buffer: grow and read again.
      this.buffer = Buffer.allocUnsafe(this.buffer.length * 2);
    }
  }

  text(): string {
    return this.buffer.toString('latin1', 0, this.load());
  }

  /** The decimal number at `at` of the loaded buffer (-1 for "max"); NaN when there is none. */
  private numberAt(at: number): number {
    const b = this.buffer;
    const end = this.length;
    while (at < end && (b[at] === 0x20 || b[at] === 0x09)) at++;
    if (b[at] === 0x6d /* m */ && b[at + 1] === 0x61 && b[at + 2] === 0x78) return -1;
    let value = 0;
    let digits = 0;
    for (let c = b[at]!; at < end && c >= 0x30 && c <= 0x39; c = b[++at]!) {
      value = value * 10 + (c - 0x30);
      digits++;
    }
    return digits === 0 ? NaN : value;
  }

  /** The file as one number ("max" → -1). Exact below 2^53. */
  number(): number {
    this.load();
    const v = this.numberAt(0);
    if (Number.isNaN(v)) throw new Error(`${this.path}: not a number`);
    return v;
  }

  /** The file as one bigint ("max" → -1n), exact at any size. */
  bigint(): bigint {
    const v = this.number();
    // Fifteen digits or fewer are exact in a double; longer values go through the text.
    if (v < 1e15) return BigInt(v);
    const t = this.buffer.toString('latin1', 0, this.length).trim();
    return t === 'max' ? -1n : BigInt(t);
  }

  /**
   * The value of `key` (given as "\nkey " bytes) in a "key value" per line
   * file, from the buffer loaded last; NOT_FOUND when absent.
   */
  stat(key: Buffer): number {
    let at: number;
    // The first line has no newline before it.
    if (this.length >= key.length - 1 && this.buffer.compare(key, 1, key.length, 0, key.length - 1) === 0) at = key.length - 1;
    else {
      at = this.buffer.indexOf(key);
      if (at < 0 || at + key.length > this.length) return NOT_FOUND;
      at += key.length;
    }
    const v = this.numberAt(at);
    return Number.isNaN(v) ? NOT_FOUND : v;
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}

export const statKey = (key: string) => Buffer.from(`\n${key} `, 'latin1');

/** The value of `key` in a "key value" per line file (memory.stat, cpu.stat, memory.events). */
export function statValue(text: string, key: string): bigint | undefined {
  let at = text.startsWith(key + ' ') ? 0 : text.indexOf('\n' + key + ' ');
  if (at < 0) return undefined;
  if (at > 0) at += 1;
  const start = at + key.length + 1;
  const end = text.indexOf('\n', start);
  return BigInt(text.slice(start, end < 0 ? undefined : end).trim());
}
