/**
 * The validator's side of MinerService: a gRPC client over mutual TLS, and a
 * ChallengeExecutor that runs a command through RunChallenge while timing it
 * on the validator's own clock.
 */
import { credentials, Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import {
  AllocateRequest,
  type GetCapacityResponse,
  ChallengeStatus,
  ChallengeType,
  MinerServiceClient,
  RunChallengeRequest,
  type AllocateResponse,
  type ResourceSample,
  type RunChallengeResponse,
} from '../common/gen/polarise/v1/miner.js';
import type { ChallengeExecutor, ExecOutcome, ExecSample } from './challenges/executor.js';

export interface ClientTlsFiles {
  caCert: string;
  cert: string;
  key: string;
}

export interface MinerAddress {
  name: string;
  address: string;
  server_name?: string;
}

function deadline(ms: number) {
  return { deadline: new Date(Date.now() + ms) };
}

function execSample(s: ResourceSample): ExecSample {
  return {
    elapsedUs: s.elapsedUs,
    cpuUsage: s.cpuUsage,
    cpuTimeNs: s.cpuTimeNs,
    memoryUsage: s.memoryUsage,
    memoryLimit: s.memoryLimit,
    pids: s.pids,
    hostStealPercent: s.hostStealPercent,
  };
}

export class MinerClient {
  private readonly client: MinerServiceClient;

  constructor(
    readonly target: MinerAddress,
    tls: ClientTlsFiles,
  ) {
    const creds = credentials.createSsl(readFileSync(tls.caCert), readFileSync(tls.key), readFileSync(tls.cert));
    const options = {
      // The compute challenge's open phase returns the whole product matrix.
      'grpc.max_receive_message_length': 160 * 1024 * 1024,
      ...(target.server_name ? { 'grpc.ssl_target_name_override': target.server_name } : {}),
    };
    this.client = new MinerServiceClient(target.address, creds, options);
  }

  allocate(request: Partial<AllocateRequest>, timeoutMs = 60_000): Promise<AllocateResponse> {
    const full = AllocateRequest.fromPartial(request);
    return new Promise((resolve, reject) =>
      this.client.allocate(full, new Metadata(), deadline(timeoutMs), (err, res) => (err ? reject(err) : resolve(res))),
    );
  }

  /** The miner's offer, or undefined from a miner older than contract 1.1.0 (UNIMPLEMENTED). */
  getCapacity(timeoutMs = 30_000): Promise<GetCapacityResponse | undefined> {
    return new Promise((resolve, reject) =>
      this.client.getCapacity({}, new Metadata(), deadline(timeoutMs), (err, res) =>
        err ? (err.code === Status.UNIMPLEMENTED ? resolve(undefined) : reject(err)) : resolve(res),
      ),
    );
  }

  release(containerId: string, timeoutMs = 60_000): Promise<void> {
    return new Promise((resolve, reject) =>
      this.client.release({ containerId }, new Metadata(), deadline(timeoutMs), (err) =>
        // Already gone counts as released.
        err && err.code !== Status.NOT_FOUND ? reject(err) : resolve(),
      ),
    );
  }

  /**
   * Runs commands in `containerId`. `elapsedMs` spans the call on this
   * process's monotonic clock: from sending the request to the result.
   */
  executor(containerId: string, onSample?: (sample: ExecSample) => void, sampleIntervalMs = 100): ChallengeExecutor {
    return (argv, opts) =>
      new Promise<ExecOutcome>((resolve, reject) => {
        const samples: ExecSample[] = [];
        const started = performance.now();
        let settled = false;
        const stream = this.client.runChallenge(
          RunChallengeRequest.fromPartial({
            containerId,
            type: opts.type === 'compute' ? ChallengeType.CHALLENGE_TYPE_COMPUTE : ChallengeType.CHALLENGE_TYPE_MEMORY,
            command: argv,
            duration: opts.timeoutMs / 1000,
            expectedCpu: opts.expectedCpuSeconds ?? 0,
            sampleIntervalMs,
            stdin: opts.stdin,
          }),
          new Metadata(),
          deadline(opts.timeoutMs + 5_000),
        );
        stream.on('data', (event: RunChallengeResponse) => {
          const e = event.event;
          if (e?.$case === 'sample') {
            const sample = execSample(e.value);
            samples.push(sample);
            onSample?.(sample);
          } else if (e?.$case === 'result') {
            const elapsedMs = performance.now() - started;
            const r = e.value.commandResult;
            settled = true;
            resolve({
              exitCode: r?.exitCode ?? -1,
              stdout: r?.output ?? '',
              stderr: r?.stderr ?? '',
              samples,
              elapsedMs,
              timedOut: r?.status === ChallengeStatus.CHALLENGE_STATUS_TIMEOUT,
            });
          }
        });
        stream.on('error', (err: ServiceError) => {
          if (settled) return;
          settled = true;
          if (err.code === Status.DEADLINE_EXCEEDED) {
            resolve({ exitCode: -1, stdout: '', stderr: err.details, samples, elapsedMs: performance.now() - started, timedOut: true });
          } else {
            reject(err);
          }
        });
        stream.on('end', () => {
          if (!settled) reject(new Error('the miner ended the challenge stream without a result'));
        });
      });
  }

  close(): void {
    this.client.close();
  }
}
