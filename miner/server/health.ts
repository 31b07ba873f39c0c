/** grpc.health.v1.Health: Check and Watch over a small status table. */
import { status as Status, type ServerWritableStream, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import {
  HealthCheckResponse_ServingStatus as Serving,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthServer,
} from '../../common/gen/grpc/health/v1/health.js';

export { Serving };

export class HealthTable {
  private readonly statuses = new Map<string, Serving>();
  private readonly watchers = new Set<{ service: string; call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse> }>();

  /** `service` "" is the server as a whole. */
  set(service: string, status: Serving): void {
    this.statuses.set(service, status);
    for (const w of this.watchers) if (w.service === service) w.call.write({ status });
  }

  setAll(status: Serving): void {
    for (const service of this.statuses.keys()) this.set(service, status);
  }

  /** Ends every Watch stream, so that a graceful shutdown is not held open. */
  endWatches(): void {
    for (const w of this.watchers) w.call.end();
    this.watchers.clear();
  }

  readonly implementation: HealthServer = {
    check: (call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: sendUnaryData<HealthCheckResponse>) => {
      const status = this.statuses.get(call.request.service);
      if (status === undefined) {
        callback({ code: Status.NOT_FOUND, details: `unknown service "${call.request.service}"` });
        return;
      }
      callback(null, { status });
    },
    watch: (call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) => {
      const watcher = { service: call.request.service, call };
      this.watchers.add(watcher);
      call.write({ status: this.statuses.get(call.request.service) ?? Serving.SERVICE_UNKNOWN });
      call.on('cancelled', () => this.watchers.delete(watcher));
    },
  };
}
