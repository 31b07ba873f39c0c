/**
 * A container's network counters, from /proc/<pid>/net/dev of one of its
 * processes as the host sees it: that file lists the interfaces of the
 * process's network namespace, so it is the container's own traffic,
 * without Docker's stats API. Every interface but the loopback counts.
 *
 *   Inter-|   Receive                                 |  Transmit
 *    face |bytes packets errs drop fifo frame compressed multicast|bytes packets …
 *       lo:    1296      16    0    0    0     0          0         0     1296      16 …
 *     eth0:  104232     812    0    0    0     0          0         0    22310     190 …
 */
import { closeSync, openSync, readSync } from 'node:fs';

export interface NetCounters {
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
}

/** More than any real namespace's file (about 130 bytes per interface): the rest is ignored. */
export const NET_DEV_MAX_BYTES = 64 * 1024;
/** Linux interface names are at most 15 bytes (IFNAMSIZ − 1). */
const MAX_NAME = 15;
/** A u64 counter has at most 20 decimal digits. */
const MAX_DIGITS = 20;

/** A decimal counter, or undefined for anything else (signs, letters, too many digits). */
function counter(field: string): number | undefined {
  if (field.length === 0 || field.length > MAX_DIGITS) return undefined;
  for (let i = 0; i < field.length; i++) {
    const c = field.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  return Number(field);
}

/** The counters of one interface line, or undefined when the line is not one. */
function interfaceLine(line: string): { name: string; counters: NetCounters } | undefined {
  const colon = line.indexOf(':');
  if (colon < 0) return undefined;
  const name = line.slice(0, colon).trim();
  if (name.length === 0 || name.length > MAX_NAME) return undefined;
  const fields = line
    .slice(colon + 1)
    .split(' ')
    .filter((f) => f.length > 0);
  if (fields.length < 16) return undefined;
  const values = [fields[0]!, fields[1]!, fields[8]!, fields[9]!].map(counter);
  if (values.some((v) => v === undefined)) return undefined;
  const [rxBytes, rxPackets, txBytes, txPackets] = values as number[];
  return { name, counters: { rxBytes: rxBytes!, rxPackets: rxPackets!, txBytes: txBytes!, txPackets: txPackets! } };
}

/**
 * Sums every interface except `lo`. Undefined when the text is not a
 * net/dev file (no header); text past NET_DEV_MAX_BYTES and a last line
 * without its newline (cut short) are ignored.
 */
export function parseNetDev(text: string): NetCounters | undefined {
  let body = text.length > NET_DEV_MAX_BYTES ? text.slice(0, NET_DEV_MAX_BYTES) : text;
  const lastNewline = body.lastIndexOf('\n');
  body = lastNewline < 0 ? '' : body.slice(0, lastNewline);
  const lines = body.split('\n');
  if (lines.length < 2 || !lines[0]!.startsWith('Inter-|') || !lines[1]!.includes('|bytes')) return undefined;
  const sum: NetCounters = { rxBytes: 0, rxPackets: 0, txBytes: 0, txPackets: 0 };
  for (const line of lines.slice(2)) {
    const parsed = interfaceLine(line);
    if (!parsed || parsed.name === 'lo') continue;
    sum.rxBytes += parsed.counters.rxBytes;
    sum.rxPackets += parsed.counters.rxPackets;
    sum.txBytes += parsed.counters.txBytes;
    sum.txPackets += parsed.counters.txPackets;
  }
  return sum;
}

/** `now` minus `base` per counter, never below 0 (an interface that went away takes its counts with it). */
export function netDelta(base: NetCounters | undefined, now: NetCounters | undefined): NetCounters {
  if (!base || !now) return { rxBytes: 0, rxPackets: 0, txBytes: 0, txPackets: 0 };
  const d = (a: number, b: number) => Math.max(0, a - b);
  return { rxBytes: d(now.rxBytes, base.rxBytes), rxPackets: d(now.rxPackets, base.rxPackets), txBytes: d(now.txBytes, base.txBytes), txPackets: d(now.txPackets, base.txPackets) };
}

/**
 * /proc/<pid>/net/dev kept open (the open file stays bound to the namespace
 * it was opened in) and re-read from offset 0 into a fixed buffer.
 */
export class NetDevFile {
  private readonly fd: number;
  private readonly buffer = Buffer.allocUnsafe(NET_DEV_MAX_BYTES);

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
  }

  /** Undefined when the file cannot be read or parsed now. */
  read(): NetCounters | undefined {
    let n = 0;
    try {
      // A proc file may come in more than one read.
      for (let got = -1; got !== 0 && n < this.buffer.length; n += got) got = readSync(this.fd, this.buffer, n, this.buffer.length - n, n);
    } catch {
      return undefined;
    }
    return parseNetDev(this.buffer.toString('latin1', 0, n));
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}
