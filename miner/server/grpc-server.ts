/**
 * The miner's gRPC server: MinerService behind the authorization layer,
 * grpc.health.v1.Health and server reflection, on one mutual-TLS port.
 * There is no plaintext listener.
 */
import {
  experimental,
  Server,
  type ServerCredentials,
  status as Status,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
  type sendUnaryData,
} from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MinerServiceService, type MinerServiceServer, type RunChallengeResponse } from '../../common/gen/polarise/v1/miner.js';
import { HealthService } from '../../common/gen/grpc/health/v1/health.js';
import { ServerReflectionService as ReflectionV1 } from '../../common/gen/grpc/reflection/v1/reflection.js';
import { ServerReflectionService as ReflectionV1Alpha } from '../../common/gen/grpc/reflection/v1alpha/reflection.js';
import { Failure, type FailureKind } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { Identity } from '../../common/identity.js';
import { authorize, type MinerMethod } from './authorization.js';
import type { EventSink, MinerHandlers } from './handlers.js';
import { HealthTable, Serving } from './health.js';
import type { MinerMetrics } from '../telemetry/miner-metrics.js';
import { DescriptorIndex, reflectionHandler } from './reflection.js';

const DESCRIPTOR_SET = fileURLToPath(new URL('../../common/gen/polarise.binpb', import.meta.url));
const MINER_SERVICE = 'polarise.v1.MinerService';

const CODES: Record<FailureKind, Status> = {
  invalid_argument: Status.INVALID_ARGUMENT,
  not_found: Status.NOT_FOUND,
  permission_denied: Status.PERMISSION_DENIED,
  unauthenticated: Status.UNAUTHENTICATED,
  resource_exhausted: Status.RESOURCE_EXHAUSTED,
  deadline_exceeded: Status.DEADLINE_EXCEEDED,
  unavailable: Status.UNAVAILABLE,
  failed_precondition: Status.FAILED_PRECONDITION,
  unimplemented: Status.UNIMPLEMENTED,
  internal: Status.INTERNAL,
};

export interface TlsFiles {
  caCert: string;
  cert: string;
  key: string;
  /** How often the files are read again, so certificates rotate without a restart. */
  reloadMs?: number;
}

export interface MinerServerOptions {
  host: string;
  port: number;
  tls: TlsFiles;
  handlers: MinerHandlers;
  log: Logger;
  metrics?: MinerMetrics;
}

export interface RunningServer {
  /** The bound port (useful with port 0). */
  port: number;
  health: HealthTable;
  /** Stops taking work, ends open streams with UNAVAILABLE, then shuts down. */
  stop(graceMs?: number): Promise<void>;
}

interface WatchedCredentials {
  credentials: ServerCredentials;
  /** Resolves once the files have been read, so no handshake meets an empty context. */
  loaded: Promise<void>;
  close(): void;
}

function serverCredentials(tls: TlsFiles): WatchedCredentials {
  // Fail at start with a clear message rather than on the first handshake.
  for (const [path, what] of [
    [tls.caCert, 'CA certificate (security.ca_cert)'],
    [tls.cert, 'certificate (security.cert)'],
    [tls.key, 'key (security.key)'],
  ] as const) {
    try {
      readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  }
  // The files are watched: replaced certificates apply to new connections
  // without a restart. requireClientCertificate: a client without a
  // certificate signed by our CA fails the handshake and reaches no handler.
  const files = new experimental.FileWatcherCertificateProvider({
    caCertificateFile: tls.caCert,
    certificateFile: tls.cert,
    privateKeyFile: tls.key,
    refreshIntervalMs: tls.reloadMs ?? 60_000,
  });
  let identity = false;
  let ca = false;
  let done: () => void = () => undefined;
  const loaded = new Promise<void>((resolve) => (done = resolve));
  const onIdentity = (update: unknown) => {
    identity ||= Boolean(update);
    if (identity && ca) done();
  };
  const onCa = (update: unknown) => {
    ca ||= Boolean(update);
    if (identity && ca) done();
  };
  files.addIdentityCertificateListener(onIdentity);
  files.addCaCertificateListener(onCa);
  return {
    credentials: experimental.createCertificateProviderServerCredentials(files, files, true),
    loaded,
    close: () => {
      files.removeIdentityCertificateListener(onIdentity);
      files.removeCaCertificateListener(onCa);
    },
  };
}

function toServiceError(err: unknown, log: Logger, method: string): Partial<ServiceError> {
  if (err instanceof Failure) return { code: CODES[err.kind], details: err.message };
  log.error('handler failed', { method, error: err instanceof Error ? err.stack ?? err.message : String(err) });
  return { code: Status.INTERNAL, details: 'internal error; see the miner log' };
}

export async function startMinerServer(options: MinerServerOptions): Promise<RunningServer> {
  const { handlers, log, metrics } = options;
  const observe = (method: string, code: Status, started: number) => {
    metrics?.rpcs.inc({ method, code: Status[code] });
    metrics?.rpcSeconds.observe({ method }, (performance.now() - started) / 1000);
  };
  const server = new Server({ 'grpc.max_send_message_length': 160 * 1024 * 1024 });
  const health = new HealthTable();
  const openStreams = new Set<AbortController>();
  let draining = false;

  const identify = (method: MinerMethod, call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>): Identity => {
    if (draining) throw new Failure('unavailable', 'the miner is shutting down');
    return authorize(method, call.getAuthContext().sslPeerCertificate);
  };

  function unary<Req, Res>(method: MinerMethod, run: (req: Req, caller: Identity) => Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
      const started = performance.now();
      // grpc-js ignores a handler's promise: every failure is caught here.
      void (async () => {
        try {
          const caller = identify(method, call as ServerUnaryCall<unknown, unknown>);
          const response = await run(call.request, caller);
          callback(null, response);
          log.debug('rpc', { method, ms: Math.round(performance.now() - started) });
          observe(method, Status.OK, started);
        } catch (err) {
          const e = toServiceError(err, log, method);
          log.info('rpc failed', { method, code: Status[e.code!], details: e.details });
          callback(e);
          observe(method, e.code!, started);
        }
      })();
    };
  }

  const implementation: MinerServiceServer = {
    allocate: unary('allocate', (req, caller) => handlers.allocate(req, caller)),
    listContainers: unary('listContainers', (req, caller) => handlers.listContainers(req, caller)),
    release: unary('release', (req, caller) => handlers.release(req, caller)),
    runChallenge: (call) => {
      const abort = new AbortController();
      call.on('cancelled', () => abort.abort(new Failure('deadline_exceeded', 'the client cancelled or its deadline passed')));
      const sink: EventSink = {
        signal: abort.signal,
        send: (event: RunChallengeResponse) =>
          new Promise<void>((resolve) => {
            if (abort.signal.aborted || call.cancelled) return resolve();
            // Respect backpressure: wait for 'drain' before the next event.
            if (call.write(event)) resolve();
            else call.once('drain', () => resolve());
          }),
      };
      const started = performance.now();
      void (async () => {
        let code = Status.OK;
        try {
          const caller = identify('runChallenge', call as ServerWritableStream<unknown, unknown>);
          openStreams.add(abort);
          metrics?.activeChallenges.inc();
          await handlers.runChallenge(call.request, caller, sink);
          if (abort.signal.aborted && abort.signal.reason instanceof Failure && abort.signal.reason.kind === 'unavailable') {
            code = Status.UNAVAILABLE;
            call.emit('error', { code, details: abort.signal.reason.message });
          } else if (call.cancelled) {
            code = Status.CANCELLED;
          } else {
            call.end();
          }
        } catch (err) {
          const e = toServiceError(err, log, 'runChallenge');
          code = e.code!;
          log.info('rpc failed', { method: 'runChallenge', code: Status[code], details: e.details });
          if (!call.cancelled) call.emit('error', e);
        } finally {
          if (openStreams.delete(abort)) metrics?.activeChallenges.dec();
          observe('runChallenge', code, started);
        }
      })();
    },
  };

  server.addService(MinerServiceService, implementation);
  server.addService(HealthService, health.implementation);
  const index = new DescriptorIndex(readFileSync(DESCRIPTOR_SET));
  const services = () => [MINER_SERVICE, 'grpc.health.v1.Health', 'grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'];
  server.addService(ReflectionV1, { serverReflectionInfo: reflectionHandler(index, services) });
  server.addService(ReflectionV1Alpha, { serverReflectionInfo: reflectionHandler(index, services) });

  const address = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`;
  const tls = serverCredentials(options.tls);
  await tls.loaded;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(address, tls.credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  // The server's own listeners receive the certificates on the next tick.
  await new Promise((resolve) => setImmediate(resolve));
  health.set('', Serving.SERVING);
  health.set(MINER_SERVICE, Serving.SERVING);

  const stop = async (graceMs = 5000) => {
    if (draining) return;
    draining = true;
    health.setAll(Serving.NOT_SERVING);
    health.endWatches();
    for (const stream of openStreams) stream.abort(new Failure('unavailable', 'the miner is shutting down'));
    tls.close();
    await new Promise<void>((resolve) => {
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
  };
  return { port, health, stop };
}
