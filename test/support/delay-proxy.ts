/**
 * A TCP proxy that holds every chunk for a fixed time in each direction, in
 * order, without touching the bytes (TLS passes through): a miner far away,
 * e.g. 150 ms each way for a validator in Europe and a miner in Asia.
 */
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';

export interface DelayProxy {
  address: string;
  close(): Promise<void>;
}

/** Forwards a → b, each chunk `ms` after it arrived (pipelined: delay, not a bandwidth limit). */
function delayed(from: Socket, to: Socket, ms: number): void {
  from.on('data', (chunk) => setTimeout(() => to.write(chunk), ms));
  from.on('end', () => setTimeout(() => to.end(), ms));
  from.on('error', () => to.destroy());
}

export async function startDelayProxy(upstream: string, oneWayMs: number): Promise<DelayProxy> {
  const colon = upstream.lastIndexOf(':');
  const [host, port] = [upstream.slice(0, colon), Number(upstream.slice(colon + 1))];
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const target = connect({ host, port });
    for (const s of [client, target]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    delayed(client, target, oneWayMs);
    delayed(target, client, oneWayMs);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
