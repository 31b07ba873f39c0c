/**
 * The miner's gRPC server: MinerService behind the authorization layer,
 * grpc.health.v1.Health and server reflection, on one mutual-TLS port.
 * There is no plaintext listener.
 */
import { Server } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MinerServiceService, type MinerServiceServer } from '../../common/gen/polarise/v1/miner.js';
import { HealthService } from '../../common/gen/grpc/health/v1/health.js';
import { ServerReflectionService as ReflectionV1 } from '../../common/gen/grpc/reflection/v1/reflection.js';
import { ServerReflectionService as ReflectionV1Alpha } from '../../common/gen/grpc/reflection/v1alpha/reflection.js';
import { Failure } from '../../common/errors.js';
import type { Config } from '../../common/config.js';
import type { Logger } from '../../common/logger.js';
import type { MinerHandlers } from './handlers.js';
import { RpcCalls } from './rpc-calls.js';
import { serverCredentials, type TlsFiles, type WatchedCredentials } from './tls-credentials.js';
import { HealthTable, Serving } from './health.js';
import type { MinerMetrics } from '../telemetry/miner-metrics.js';
import { DescriptorIndex, reflectionHandler } from './reflection.js';
import { MAX_MESSAGE_BYTES } from '../../common/message-limits.js';

const DESCRIPTOR_SET = fileURLToPath(new URL('../../common/gen/polarise.binpb', import.meta.url));
const MINER_SERVICE = 'polarise.v1.MinerService';

export type { TlsFiles } from './tls-credentials.js';

export interface MinerServerOptions {
  host: string;
  port: number;
  tls: TlsFiles;
  handlers: MinerHandlers;
  log: Logger;
  metrics?: MinerMetrics;
  /** The HTTP/2 bounds of one client connection (challenges at once are counted by the handlers: challenge-limits.ts). */
  limits: Pick<Config['challenge'], 'max_streams_per_connection' | 'session_memory_mb'>;
}

export interface RunningServer {
  /** The bound port (useful with port 0). */
  port: number;
  health: HealthTable;
  /** Stops taking work, ends open streams with UNAVAILABLE, then shuts down. */
  stop(graceMs?: number): Promise<void>;
}

export async function startMinerServer(options: MinerServerOptions): Promise<RunningServer> {
  const { handlers, log } = options;
  const { limits } = options;
  const server = new Server({
    // No message over 1 MiB in either direction (common/message-limits.ts):
    // output travels in OutputChunk events of at most 256 KiB and the result
    // carries bounded tails, so a send over it is a bug that fails the call
    // (RESOURCE_EXHAUSTED) instead of reaching a client whose default limit
    // (4 MiB everywhere) would refuse it. A request over it (stdin is capped
    // at 512 KiB and the command at 256 KiB) is refused by grpc-js with
    // RESOURCE_EXHAUSTED before any handler runs.
    'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
    'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
    // Per client connection: streams open at once, and frames buffered (MiB)
    // before new streams are refused. grpc-js sets neither by default.
    'grpc.max_concurrent_streams': limits.max_streams_per_connection,
    'grpc-node.max_session_memory': limits.session_memory_mb,
  });
  const health = new HealthTable();
  const calls = new RpcCalls(log, options.metrics);
  const implementation: MinerServiceServer = {
    allocate: calls.unary('allocate', (req, caller) => handlers.allocate(req, caller)),
    listContainers: calls.unary('listContainers', (req, caller) => handlers.listContainers(req, caller)),
    release: calls.unary('release', (req, caller) => handlers.release(req, caller)),
    getCapacity: calls.unary('getCapacity', (req, caller) => handlers.getCapacity(req, caller)),
    runChallenge: calls.runChallenge(handlers),
  };

  server.addService(MinerServiceService, implementation);
  addStandardServices(server, health);
  const tls = serverCredentials({ ...options.tls, warn: (message) => log.warn(message) });
  const port = await listen(server, options, tls);
  health.set('', Serving.SERVING);
  health.set(MINER_SERVICE, Serving.SERVING);

  const stop = async (graceMs = 5000): Promise<void> => {
    if (calls.isDraining) return;
    calls.drain(new Failure('unavailable', 'the miner is shutting down'));
    health.setAll(Serving.NOT_SERVING);
    health.endWatches();
    tls.close();
    await shutdown(server, graceMs, log);
  };
  return { port, health, stop };
}

/** Health, and reflection (v1 and v1alpha) from the exact descriptor set buf built. */
function addStandardServices(server: Server, health: HealthTable): void {
  server.addService(HealthService, health.implementation);
  const index = new DescriptorIndex(readFileSync(DESCRIPTOR_SET));
  const services = () => [MINER_SERVICE, 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];
  server.addService(ReflectionV1, { serverReflectionInfo: reflectionHandler(index, services) });
  server.addService(ReflectionV1Alpha, { serverReflectionInfo: reflectionHandler(index, services) });
}

/** Binds once the certificates are loaded; returns the bound port. */
async function listen(server: Server, options: MinerServerOptions, tls: WatchedCredentials): Promise<number> {
  const address = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  await tls.loaded;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, tls.credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  // The server's own listeners receive the certificates on the next tick.
  await new Promise((resolve) => setImmediate(resolve));
  return port;
}

/** Waits for open calls to finish, then forces the rest after `graceMs`. */
function shutdown(server: Server, graceMs: number, log: Logger): Promise<void> {
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => {
      log.warn('forcing shutdown: calls still open after the grace period', { graceMs });
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
}
