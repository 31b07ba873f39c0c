/**
 * How each RPC is served: the caller identified and authorized, the handler
 * run with every failure caught (grpc-js ignores a handler's promise), the
 * outcome mapped to a status code, logged and counted. Domain code throws
 * Failures; only this layer knows gRPC status codes.
 */
import { status as Status, type ServerUnaryCall, type ServerWritableStream, type ServiceError, type sendUnaryData } from '@grpc/grpc-js';
import type { RunChallengeRequest, RunChallengeResponse } from '../../common/gen/polarise/v1/miner.js';
import { Failure, errorMessage, type FailureKind } from '../../common/errors.js';
import type { Identity } from '../../common/identity.js';
import type { Logger } from '../../common/logger.js';
import type { MinerMetrics } from '../telemetry/miner-metrics.js';
import { authorize, type MinerMethod } from './authorization.js';
import type { EventSink, MinerHandlers } from './handlers.js';

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

function toServiceError(err: unknown, log: Logger, method: string): Partial<ServiceError> & { code: Status } {
  if (err instanceof Failure) return { code: CODES[err.kind], details: err.message };
  log.error('handler failed', { method, error: err instanceof Error ? (err.stack ?? err.message) : errorMessage(err) });
  return { code: Status.INTERNAL, details: 'internal error; see the miner log' };
}

type AnyCall = ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>;

/** What every call shares: who may call, whether the miner still takes work, the open streams to end on shutdown. */
export class RpcCalls {
  private draining = false;
  private readonly openStreams = new Set<AbortController>();

  constructor(
    private readonly log: Logger,
    private readonly metrics?: MinerMetrics,
  ) {}

  /** Stops taking work and ends every open stream with `reason`. */
  drain(reason: Failure): void {
    this.draining = true;
    for (const stream of this.openStreams) stream.abort(reason);
  }

  get isDraining(): boolean {
    return this.draining;
  }

  unary<Req, Res>(method: MinerMethod, run: (req: Req, caller: Identity) => Promise<Res>) {
    return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
      const started = performance.now();
      void (async () => {
        try {
          const response = await run(call.request, this.identify(method, call as AnyCall));
          callback(null, response);
          this.log.debug('rpc', { method, ms: Math.round(performance.now() - started) });
          this.observe(method, Status.OK, started);
        } catch (err) {
          const e = toServiceError(err, this.log, method);
          this.log.info('rpc failed', { method, code: Status[e.code], details: e.details });
          callback(e);
          this.observe(method, e.code, started);
        }
      })();
    };
  }

  runChallenge(handlers: MinerHandlers) {
    return (call: ServerWritableStream<RunChallengeRequest, RunChallengeResponse>): void => {
      const abort = new AbortController();
      call.on('cancelled', () => abort.abort(new Failure('deadline_exceeded', 'the client cancelled or its deadline passed')));
      const started = performance.now();
      void (async () => {
        let code = Status.OK;
        try {
          const caller = this.identify('runChallenge', call as AnyCall);
          this.openStreams.add(abort);
          this.metrics?.activeChallenges.inc();
          await handlers.runChallenge(call.request, caller, streamSink(call, abort.signal));
          code = endStream(call, abort.signal);
        } catch (err) {
          const e = toServiceError(err, this.log, 'runChallenge');
          code = e.code;
          this.log.info('rpc failed', { method: 'runChallenge', code: Status[code], details: e.details });
          if (!call.cancelled) call.emit('error', e);
        } finally {
          if (this.openStreams.delete(abort)) this.metrics?.activeChallenges.dec();
          this.observe('runChallenge', code, started);
        }
      })();
    };
  }

  private identify(method: MinerMethod, call: AnyCall): Identity {
    if (this.draining) throw new Failure('unavailable', 'the miner is shutting down');
    return authorize(method, call.getAuthContext().sslPeerCertificate);
  }

  private observe(method: string, code: Status, started: number): void {
    this.metrics?.rpcs.inc({ method, code: Status[code] });
    this.metrics?.rpcSeconds.observe({ method }, (performance.now() - started) / 1000);
  }
}

/**
 * The stream's events with backpressure: after a write the buffer refused,
 * wait for 'drain' — or for the call to be cancelled or closed, after which
 * grpc-js never emits 'drain' and the wait would never end.
 */
function streamSink(call: ServerWritableStream<unknown, RunChallengeResponse>, signal: AbortSignal): EventSink {
  return {
    signal,
    send: (event) =>
      new Promise<void>((resolve) => {
        if (signal.aborted || call.cancelled) return resolve();
        if (call.write(event)) return resolve();
        const done = (): void => {
          call.off('drain', done);
          call.off('close', done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        call.once('drain', done);
        call.once('close', done);
        signal.addEventListener('abort', done, { once: true });
      }),
  };
}

/** Ends a stream whose handler returned: UNAVAILABLE when the miner shut it down, nothing when the client left. */
function endStream(call: ServerWritableStream<unknown, RunChallengeResponse>, signal: AbortSignal): Status {
  if (signal.aborted && signal.reason instanceof Failure && signal.reason.kind === 'unavailable') {
    call.emit('error', { code: Status.UNAVAILABLE, details: signal.reason.message });
    return Status.UNAVAILABLE;
  }
  if (call.cancelled) return Status.CANCELLED;
  call.end();
  return Status.OK;
}
