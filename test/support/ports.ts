/** Listening TCP ports on the host, for "nothing was left open" checks. */
import { execFileSync } from 'node:child_process';

/** Listening TCP ports within [first, last]. */
export function listeningPorts(first: number, last: number): number[] {
  const out = execFileSync('ss', ['-ltnH'], { encoding: 'utf8' });
  const ports = new Set<number>();
  for (const line of out.split('\n')) {
    const local = line.trim().split(/\s+/)[3];
    const port = Number(local?.slice(local.lastIndexOf(':') + 1));
    if (port >= first && port <= last) ports.add(port);
  }
  return [...ports].sort((a, b) => a - b);
}

/** Parses a port range "a-b" from a miner's config. */
export function parseRange(range: string): [number, number] {
  const [a, b] = range.split('-').map(Number);
  return [a!, b!];
}
