/** gRPC clients of a test miner, with promise helpers. */
import { credentials, Metadata, type ServiceError, type CallOptions } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import {
  MinerServiceClient,
  type AllocateRequest,
  type AllocateResponse,
  type GetCapacityResponse,
  type ListContainersResponse,
  type ReleaseResponse,
  ChallengeType,
  RunChallengeRequest,
  type RunChallengeResponse,
} from '../../common/gen/polarise/v1/miner.js';
import { HealthClient, type HealthCheckResponse } from '../../common/gen/grpc/health/v1/health.js';
import type { PemFiles } from './pki.js';

export interface ClientTls {
  caCert: string;
  client?: PemFiles;
}

export function channelCredentials(tls: ClientTls) {
  return credentials.createSsl(
    readFileSync(tls.caCert),
    tls.client ? readFileSync(tls.client.key) : null,
    tls.client ? readFileSync(tls.client.cert) : null,
  );
}

export function minerClient(address: string, tls: ClientTls): MinerServiceClient {
  return new MinerServiceClient(address, channelCredentials(tls));
}

export function healthClient(address: string, tls: ClientTls): HealthClient {
  return new HealthClient(address, channelCredentials(tls));
}

function deadline(ms: number): CallOptions {
  return { deadline: new Date(Date.now() + ms) };
}

type Unary<Req, Res> = (req: Req, md: Metadata, options: Partial<CallOptions>, cb: (err: ServiceError | null, res: Res) => void) => unknown;

export function call<Req, Res>(fn: Unary<Req, Res>, self: object, req: Req, timeoutMs = 30_000): Promise<Res> {
  return new Promise((resolve, reject) =>
    fn.call(self, req, new Metadata(), deadline(timeoutMs), (err, res) => (err ? reject(err) : resolve(res))),
  );
}

export const allocate = (c: MinerServiceClient, req: Partial<AllocateRequest>): Promise<AllocateResponse> =>
  call(c.allocate, c, { memory: '', cpuCount: 0, devices: [], publicKeys: [], leaseSeconds: 0, ...req });

export const listContainers = (c: MinerServiceClient): Promise<ListContainersResponse> => call(c.listContainers, c, {});

export const release = (c: MinerServiceClient, containerId: string): Promise<ReleaseResponse> => call(c.release, c, { containerId });

export const getCapacity = (c: MinerServiceClient): Promise<GetCapacityResponse> => call(c.getCapacity, c, {});

export const healthCheck = (c: HealthClient, service = ''): Promise<HealthCheckResponse> => call(c.check, c, { service }, 10_000);

/** Runs a challenge and collects every event of the stream. */
export function runChallenge(
  c: MinerServiceClient,
  req: Partial<RunChallengeRequest>,
  options: { timeoutMs?: number; onEvent?: (e: RunChallengeResponse) => void } = {},
): Promise<RunChallengeResponse[]> {
  const full = RunChallengeRequest.fromPartial({ type: ChallengeType.CHALLENGE_TYPE_COMPUTE, ...req });
  return new Promise((resolve, reject) => {
    const events: RunChallengeResponse[] = [];
    const stream = c.runChallenge(full, new Metadata(), deadline(options.timeoutMs ?? 60_000));
    stream.on('data', (e: RunChallengeResponse) => {
      events.push(e);
      options.onEvent?.(e);
    });
    stream.on('error', reject);
    stream.on('end', () => resolve(events));
  });
}

/** The gRPC status code of a rejected promise (fails the test if it resolved). */
export async function codeOf(promise: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as ServiceError;
    return { code: e.code, details: e.details };
  }
  throw new Error('expected the call to fail, but it succeeded');
}
