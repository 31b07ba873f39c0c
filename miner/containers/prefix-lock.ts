/**
 * One live miner per container prefix and Docker engine. The lock is an
 * abstract unix socket named after a digest of (engine endpoint, prefix):
 * binding it fails while another process holds it, and the kernel frees it
 * the moment its holder dies, SIGKILL included, so a stale lock never blocks
 * a restart and there is no heartbeat to tune. The holder answers a
 * connection with who it is, so the refusal names the other miner.
 *
 * It covers miners in one network namespace (the same host, not each in a
 * container of its own); those it cannot see still never touch each other's
 * containers, which carry their instance id (instance-id.ts).
 */
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';

export interface LockHolder {
  pid: number;
  instance: string;
  prefix: string;
  stateDir: string;
}

export interface PrefixLock {
  release(): Promise<void>;
}

/** What a Docker client (docker-modem) connects to, in one spelling per engine. */
export async function engineEndpoint(modem: { getSocketPath(): Promise<string> | undefined; host?: unknown; port?: unknown; protocol?: unknown }): Promise<string> {
  const socketPath = await modem.getSocketPath();
  if (typeof socketPath === 'string') {
    try {
      return `unix://${realpathSync(socketPath)}`;
    } catch {
      return `unix://${socketPath}`;
    }
  }
  return `${String(modem.protocol ?? 'http')}://${String(modem.host)}:${String(modem.port ?? '')}`;
}

function socketName(endpoint: string, prefix: string): string {
  return '\0polarise-miner-' + createHash('sha256').update(`${endpoint}\n${prefix}`).digest('hex').slice(0, 40);
}

/** Asks the holder who it is (bounded: 4 KiB, 2 s). */
function askHolder(path: string): Promise<Partial<LockHolder>> {
  return new Promise((resolve) => {
    let text = '';
    const socket = connect({ path });
    const done = () => {
      socket.destroy();
      try {
        const value = JSON.parse(text) as unknown;
        resolve(value && typeof value === 'object' ? (value as Partial<LockHolder>) : {});
      } catch {
        resolve({});
      }
    };
    socket.setTimeout(2000, done);
    socket.on('data', (chunk) => {
      text += chunk.toString('utf8');
      if (text.length > 4096) done();
    });
    socket.on('end', done);
    socket.on('error', done);
  });
}

function describeHolder(h: Partial<LockHolder>): string {
  const parts = [h.pid ? `pid ${h.pid}` : '', h.stateDir ? `state dir ${String(h.stateDir).slice(0, 200)}` : ''].filter(Boolean);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

export class PrefixLockError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PrefixLockError';
  }
}

/** Takes the lock or throws PrefixLockError naming the prefix, the holder and the way out. */
export async function acquirePrefixLock(endpoint: string, me: LockHolder): Promise<PrefixLock> {
  const path = socketName(endpoint, me.prefix);
  const server: Server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.end(JSON.stringify(me) + '\n');
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path }, () => resolve());
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw new PrefixLockError(`cannot take the lock on docker.container_prefix "${me.prefix}": ${(err as Error).message}`);
    const holder = await askHolder(path);
    throw new PrefixLockError(
      `another miner${describeHolder(holder)} is running with docker.container_prefix "${me.prefix}" on the Docker engine ${endpoint}; ` +
        `stop it, or give this miner a prefix of its own (and its own docker.state_dir, network.port and ssh.port_range), ` +
        `e.g. POLARISE_DOCKER_CONTAINER_PREFIX=${me.prefix.replace(/-?$/, '')}2-`,
    );
  }
  server.unref();
  server.on('error', () => undefined);
  return { release: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
