/** What a test miner's config says and what it holds in Docker, for leak checks. */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { countResources } from './docker.js';
import type { MinerProcess } from './miner-process.js';
import { listeningPorts, parseRange } from './ports.js';

export function sshRange(miner: MinerProcess): [number, number] {
  const config = parse(readFileSync(miner.configPath, 'utf8')) as { ssh: { port_range: string } };
  return parseRange(config.ssh.port_range);
}

export interface Footprint {
  containers: number;
  networks: number;
  ports: number[];
}

/** Containers and networks under the miner's prefix, and its listening SSH ports. */
export async function footprint(miner: MinerProcess): Promise<Footprint> {
  const counts = await countResources(miner.prefix);
  return { ...counts, ports: listeningPorts(...sshRange(miner)) };
}

/**
 * Waits until the client's channel is READY. The first TLS handshake with a
 * freshly started miner is now and then reset (seen here with several
 * miners started in one test process); grpc-js reconnects, and this waits
 * for that instead of failing the first call.
 */
export function ready(client: { waitForReady(deadline: Date, cb: (err?: Error) => void): void }, ms = 15_000): Promise<void> {
  return new Promise((resolve, reject) => client.waitForReady(new Date(Date.now() + ms), (err) => (err ? reject(err) : resolve())));
}
