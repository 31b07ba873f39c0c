/**
 * Raw TCP connections that never log in: the pre-auth flood an SSH endpoint
 * has to survive. Each connection remembers whether it is still open and how
 * many bytes the server sent it (an SSH server sends its identification line
 * first, so 0 bytes means it was dropped before any SSH work).
 */
import { connect, type Socket } from 'node:net';

export interface FloodConnection {
  socket: Socket;
  /** Source address it was opened from. */
  from: string;
  open: boolean;
  bytesIn: number;
  /** ms from the start of the flood until the server closed it; undefined while open. */
  closedAfterMs?: number;
}

export interface Flood {
  connections: FloodConnection[];
  openCount(): number;
  /** Closes every connection still open (client side). */
  end(): void;
}

export interface FloodOptions {
  host: string;
  port: number;
  count: number;
  /** Source addresses used in turn (on Linux any 127.x.y.z works towards a loopback listener). */
  from: string[];
  /** Sent on connect, e.g. an SSH identification line; nothing when unset (fully idle). */
  hello?: string;
}

function openOne(options: FloodOptions, from: string, started: number): Promise<FloodConnection> {
  return new Promise((resolve) => {
    const socket = connect({ host: options.host, port: options.port, localAddress: from });
    const c: FloodConnection = { socket, from, open: false, bytesIn: 0 };
    socket.on('data', (b: Buffer) => (c.bytesIn += b.length));
    socket.on('error', () => undefined);
    socket.on('connect', () => {
      c.open = true;
      if (options.hello) socket.write(options.hello);
      resolve(c);
    });
    socket.on('close', () => {
      c.open = false;
      c.closedAfterMs ??= performance.now() - started;
      resolve(c);
    });
  });
}

/** Opens `count` connections at once and resolves when every one has connected or failed. */
export async function flood(options: FloodOptions): Promise<Flood> {
  const started = performance.now();
  const connections = await Promise.all(
    Array.from({ length: options.count }, (_, i) => openOne(options, options.from[i % options.from.length]!, started)),
  );
  return {
    connections,
    openCount: () => connections.filter((c) => c.open).length,
    end: () => connections.forEach((c) => c.socket.destroy()),
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
