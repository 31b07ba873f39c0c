/**
 * Connections that have not logged in yet, counted across every SSH listener
 * of the miner: in total and per source. Like OpenSSH's MaxStartups and
 * PerSourceMaxStartups, but a hard cap (no random early drop): a connection
 * over either cap is closed before the SSH server sees it. Logged-in
 * connections are not counted.
 *
 * A source is an IPv4 address or an IPv6 /64 (one host usually holds a whole
 * /64, so counting single IPv6 addresses would not limit anyone). The
 * per-source map only holds sources with a connection open, so it never
 * holds more than the total cap.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface PreauthSlot {
  readonly source: string;
  /** Gives the slot back; later calls do nothing. */
  release(): void;
}

export type PreauthRefusal = 'total' | 'source';

export class PreauthLimiter {
  private total = 0;
  private readonly bySource = new Map<string, number>();

  constructor(
    private readonly maxTotal: number,
    private readonly maxPerSource: number,
  ) {}

  /** A slot for a new connection from `ip`, or which cap it would exceed. */
  acquire(ip: string): PreauthSlot | PreauthRefusal {
    const source = sourceKey(ip);
    const fromSource = this.bySource.get(source) ?? 0;
    if (this.total >= this.maxTotal) return 'total';
    if (fromSource >= this.maxPerSource) return 'source';
    this.total++;
    this.bySource.set(source, fromSource + 1);
    let released = false;
    return {
      source,
      release: () => {
        if (released) return;
        released = true;
        this.give(source);
      },
    };
  }

  private give(source: string): void {
    this.total--;
    const left = (this.bySource.get(source) ?? 1) - 1;
    if (left > 0) this.bySource.set(source, left);
    else this.bySource.delete(source);
  }

  /** Connections counted now, and sources holding them (for tests and logs). */
  usage(): { total: number; sources: number } {
    return { total: this.total, sources: this.bySource.size };
  }
}

/** "1.2.3.4" for IPv4 (also when IPv4-mapped), "2001:db8:0:1::/64" for IPv6. */
export function sourceKey(address: string): string {
  const zone = address.indexOf('%');
  const ip = (zone >= 0 ? address.slice(0, zone) : address).toLowerCase();
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return ip;
  if (ip.startsWith('::ffff:') && isIPv4(ip.slice(7))) return ip.slice(7);
  return ipv6Groups(ip).slice(0, 4).join(':') + '::/64';
}

/** The eight 16-bit groups of a valid IPv6 address, in hex without leading zeros. */
function ipv6Groups(ip: string): string[] {
  const split = ip.indexOf('::');
  const part = (text: string) => (text ? text.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []);
  const head = part(split >= 0 ? ip.slice(0, split) : ip);
  const tail = split >= 0 ? part(ip.slice(split + 2)) : [];
  const zeros = Array<string>(Math.max(0, 8 - head.length - tail.length)).fill('0');
  return [...head, ...zeros, ...tail].map((g) => parseInt(g, 16).toString(16));
}
