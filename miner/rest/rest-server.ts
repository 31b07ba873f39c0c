/**
 * The seed's REST API over HTTPS with mutual TLS (config `rest`): the same
 * CA, certificate and key as gRPC (security.*), the caller's identity and
 * role from its verified certificate through the same authorize(), and the
 * same MinerHandlers. A client without a certificate signed by the subnet CA
 * fails the TLS handshake and reaches no route.
 *
 * Hostile input is bounded before any work: the path length, the body size
 * (rest.max_body_bytes, refused with 413 before parsing), the content type
 * (JSON only, 415), requests at once (rest.max_concurrent_requests, 429) and
 * open connections (rest.max_connections); slow senders are cut off by the
 * header and request timeouts.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Config } from '../../common/config.js';
import { Failure, errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import { authorize } from '../server/authorization.js';
import type { MinerHandlers } from '../server/handlers.js';
import type { TlsFiles } from '../server/tls-credentials.js';
import { errorBody, sendJson } from './http-io.js';
import { findRoute } from './rest-routes.js';

export interface RestServerOptions {
  host: string;
  port: number;
  tls: TlsFiles;
  handlers: MinerHandlers;
  log: Logger;
  maxBodyBytes: number;
  maxConcurrentRequests: number;
  maxConnections: number;
}

export interface RunningRestServer {
  port: number;
  /** Refuses new requests (503), ends running challenges, then closes every connection. */
  stop(graceMs?: number): Promise<void>;
}

const HEADERS_TIMEOUT_MS = 10_000;
/** Receiving a whole request (not answering it: a challenge may run for an hour). */
const REQUEST_TIMEOUT_MS = 30_000;

function readTls(tls: TlsFiles): { ca: Buffer; cert: Buffer; key: Buffer } {
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  };
  return { ca: read(tls.caCert, 'CA certificate (security.ca_cert)'), cert: read(tls.cert, 'certificate (security.cert)'), key: read(tls.key, 'key (security.key)') };
}

class RestApi {
  private active = 0;
  private draining = false;
  private readonly open = new Set<AbortController>();

  constructor(private readonly options: RestServerOptions) {}

  handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const abort = new AbortController();
    // The client left before its answer: end what it started (a challenge's command).
    res.on('close', () => {
      if (!res.writableFinished) abort.abort(new Failure('deadline_exceeded', 'the client went away'));
    });
    void this.serve(req, res, abort).then((status) => {
      this.options.log.debug('rest', { method: req.method, path: req.url?.slice(0, 128), status, ms: Math.round(performance.now() - started) });
    });
  }

  private async serve(req: IncomingMessage, res: ServerResponse, abort: AbortController): Promise<number> {
    let counted = false;
    try {
      if (this.draining) throw new Failure('unavailable', 'the miner is shutting down');
      const route = findRoute(req.method ?? '', req.url ?? '');
      const caller = authorize(route.method, (req.socket as TLSSocket).getPeerCertificate());
      if (this.active >= this.options.maxConcurrentRequests) {
        throw new Failure('resource_exhausted', `${this.options.maxConcurrentRequests} requests are being served already (rest.max_concurrent_requests); try again shortly`);
      }
      this.active++;
      counted = true;
      this.open.add(abort);
      const { handlers, maxBodyBytes } = this.options;
      const answer = await route.run({ req, caller, handlers, maxBodyBytes, signal: abort.signal });
      sendJson(res, answer.status, answer.body);
      return answer.status;
    } catch (err) {
      return this.fail(req, res, err);
    } finally {
      if (counted) this.active--;
      this.open.delete(abort);
    }
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): number {
    let failure: Failure;
    if (err instanceof Failure) failure = err;
    else {
      this.options.log.error('rest handler failed', { method: req.method, error: err instanceof Error ? (err.stack ?? err.message) : errorMessage(err) });
      failure = new Failure('internal', 'internal error; see the miner log');
    }
    const { status, body, headers } = errorBody(failure);
    this.options.log.info('rest failed', { method: req.method, status, message: failure.message });
    // A body left unread (413, refused before it was read) is not read on: the connection closes.
    const unread = headers.connection === 'close' || !req.complete;
    sendJson(res, status, body, unread ? { ...headers, connection: 'close' } : headers);
    if (unread) res.once('finish', () => req.socket.destroySoon());
    return status;
  }

  drain(): void {
    this.draining = true;
    for (const abort of this.open) abort.abort(new Failure('unavailable', 'the miner is shutting down'));
  }
}

/** Starts the REST API; resolves once it listens. */
export async function startRestServer(options: RestServerOptions): Promise<RunningRestServer> {
  const api = new RestApi(options);
  const server: Server = createServer(
    {
      ...readTls(options.tls),
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.2',
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      maxHeaderSize: 16 * 1024,
    },
    (req, res) => api.handle(req, res),
  );
  server.maxConnections = options.maxConnections;
  // Replaced certificates apply to new connections, as on the gRPC port.
  const reload = setInterval(() => {
    try {
      server.setSecureContext({ ...readTls(options.tls), minVersion: 'TLSv1.2' });
    } catch (err) {
      options.log.warn('rest: cannot reload TLS files; keeping the previous ones', { error: errorMessage(err) });
    }
  }, options.tls.reloadMs ?? 60_000);
  reload.unref();
  server.on('tlsClientError', (err) => options.log.debug('rest: TLS handshake refused', { error: err.message }));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  return {
    port,
    stop: async (graceMs = 5_000) => {
      clearInterval(reload);
      api.drain();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

/** The REST API as config `rest` says (nothing when rest.enabled is false), on the gRPC port's TLS files. */
export async function serveRestApi(config: Config, handlers: MinerHandlers, log: Logger): Promise<RunningRestServer | undefined> {
  if (!config.rest.enabled) return undefined;
  const rest = await startRestServer({
    host: config.rest.host,
    port: config.rest.port,
    tls: { caCert: config.security.ca_cert, cert: config.security.cert, key: config.security.key, reloadMs: config.security.reload_seconds * 1000 },
    handlers,
    log: log.child({ part: 'rest' }),
    maxBodyBytes: config.rest.max_body_bytes,
    maxConcurrentRequests: config.rest.max_concurrent_requests,
    maxConnections: config.rest.max_connections,
  });
  log.info('rest api listening (HTTPS, mutual TLS)', { host: config.rest.host, port: rest.port });
  return rest;
}
