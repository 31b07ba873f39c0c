/**
 * Host-side network fixtures for the isolation tests (root only): a network
 * namespace that plays "the rest of the network" behind the host (cloud
 * metadata, private LAN hosts and one ordinary address) with a TCP listener,
 * IPv6 switched on inside a container's network namespace (as an engine
 * that leaves it on would), and listeners on the host.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createServer, connect, type Server } from 'node:net';

export function run(binary: string, args: string[]): string {
  return execFileSync(binary, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function quiet(binary: string, args: string[]): void {
  try {
    run(binary, args);
  } catch {
    // already gone
  }
}

/** Private and link-local addresses the upstream answers on, one per blocked range. */
export const PRIVATE_TARGETS = ['169.254.169.254', '10.253.77.2', '172.29.253.2', '192.168.253.2', '100.64.253.2'];
/** An ordinary address (198.18.0.0/15, benchmarking) the upstream answers on too: reachable from a NAT allocation. */
export const PUBLIC_TARGET = '198.18.77.2';
/** A link-local address of the host itself (on the host's end of the veth). */
export const HOST_LINK_LOCAL = '169.254.77.1';

export interface Upstream {
  port: number;
  close(): void;
}

/**
 * A namespace joined to the host by a veth pair (host end 198.18.77.1/30),
 * answering on PRIVATE_TARGETS and PUBLIC_TARGET, routed from the host. A
 * node listener in it accepts and closes on `port`.
 */
export async function startUpstream(tag: string, port: number): Promise<Upstream> {
  const ns = `pzt-up-${tag}`;
  const host = `ptv${tag}h`.slice(0, 15);
  const peer = `ptv${tag}n`.slice(0, 15);
  removeStaleUpstreams();
  removeUpstream(ns, host);
  run('ip', ['netns', 'add', ns]);
  run('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer]);
  run('ip', ['link', 'set', peer, 'netns', ns]);
  run('ip', ['addr', 'add', '198.18.77.1/30', 'dev', host]);
  run('ip', ['addr', 'add', `${HOST_LINK_LOCAL}/32`, 'dev', host]);
  run('ip', ['link', 'set', host, 'up']);
  const inNs = (...args: string[]) => run('ip', ['netns', 'exec', ns, 'ip', ...args]);
  inNs('addr', 'add', `${PUBLIC_TARGET}/30`, 'dev', peer);
  for (const ip of PRIVATE_TARGETS) inNs('addr', 'add', `${ip}/32`, 'dev', peer);
  inNs('link', 'set', peer, 'up');
  inNs('link', 'set', 'lo', 'up');
  inNs('route', 'add', 'default', 'via', '198.18.77.1');
  for (const ip of PRIVATE_TARGETS) run('ip', ['route', 'add', `${ip}/32`, 'via', PUBLIC_TARGET, 'dev', host]);
  const listener = await spawnListener(['ip', 'netns', 'exec', ns, process.execPath], port);
  return {
    port,
    close() {
      listener.kill('SIGKILL');
      removeUpstream(ns, host);
    },
  };
}

/**
 * Upstreams a killed test run left behind (any tag): their host end holds
 * 198.18.77.1/30 too, and two routes to one subnet break the next run's.
 */
function removeStaleUpstreams(): void {
  const names = run('ip', ['netns', 'list']).split('\n').map((line) => line.split(' ')[0]!);
  for (const ns of names.filter((n) => n.startsWith('pzt-up-'))) removeUpstream(ns, `ptv${ns.slice('pzt-up-'.length)}h`.slice(0, 15));
}

function removeUpstream(ns: string, host: string): void {
  for (const ip of PRIVATE_TARGETS) quiet('ip', ['route', 'del', `${ip}/32`]);
  quiet('ip', ['link', 'del', host]);
  quiet('ip', ['netns', 'del', ns]);
}

/** `argv... -e <server>`: a TCP server on 0.0.0.0:port that writes "hi" and closes; resolves once it listens. */
function spawnListener(argv: string[], port: number): Promise<ChildProcess> {
  const code = `require('net').createServer((s) => { s.on('error', () => {}); s.end('hi'); }).listen(${port}, '0.0.0.0', () => console.log('listening'))`;
  const child = spawn(argv[0]!, [...argv.slice(1), '-e', code], { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the upstream listener did not start')), 10_000);
    child.stdout!.on('data', (b: Buffer) => {
      if (b.toString().includes('listening')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.on('exit', (c) => reject(new Error(`the upstream listener exited with ${c}`)));
  });
}

/** A TCP listener in this process that answers "hi" (host services the containers must not reach). */
export function hostListener(host: string): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => {
    s.on('error', () => undefined);
    s.end('hi');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port: 0, ipv6Only: false }, () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

/** Connects from this process (the host): proves a listener answers. */
export function hostCanConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 3000 }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
    socket.on('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/**
 * What an engine that leaves IPv6 on gives a container: IPv6 enabled in its
 * network namespace, `address` (with prefix) on its eth0, a default route
 * through `gateway`, and `gateway` on the host's end of its bridge.
 */
export function enableContainerIpv6(pid: number, bridge: string, address: string, gateway: string): void {
  const inContainer = (...args: string[]) => run('nsenter', ['-t', String(pid), '-n', ...args]);
  inContainer('sysctl', '-q', '-w', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0', 'net.ipv6.conf.eth0.disable_ipv6=0');
  inContainer('ip', '-6', 'addr', 'add', address, 'dev', 'eth0', 'nodad');
  inContainer('ip', '-6', 'route', 'add', 'default', 'via', gateway.split('/')[0]!, 'dev', 'eth0');
  run('sysctl', ['-q', '-w', `net.ipv6.conf.${bridge}.disable_ipv6=0`]);
  run('ip', ['-6', 'addr', 'add', gateway, 'dev', bridge, 'nodad']);
}

/** The host's link-local address on `bridge` (fe80::...), without the prefix length. */
export function linkLocalOf(bridge: string): string | undefined {
  const text = run('ip', ['-6', '-o', 'addr', 'show', 'dev', bridge, 'scope', 'link']);
  return /inet6 (fe80:[0-9a-f:]+)\//.exec(text)?.[1];
}
