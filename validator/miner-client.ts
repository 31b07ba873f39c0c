/**
 * The validator's side of MinerService: a gRPC client over mutual TLS, and a
 * ChallengeExecutor that runs a command through RunChallenge while timing it
 * on the validator's own clock. Output arrives as OutputChunk events
 * (stream_output), joined and checked against the result (output-join.ts).
 */
import { credentials, makeGenericClientConstructor, Metadata, status as Status, type ServiceError } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import {
  AllocateRequest,
  type GetCapacityResponse,
  ChallengeStatus,
  ChallengeType,
  MinerServiceClient,
  MinerServiceService,
  RunChallengeRequest,
  type AllocateResponse,
  type CommandResult,
  type ResourceSample,
  type RunChallengeResponse,
} from '../common/gen/polarise/v1/miner.js';
import type { ChallengeExecutor, ExecOutcome, ExecSample } from './challenges/executor.js';
import { MAX_MESSAGE_BYTES } from '../common/message-limits.js';
import { OutputJoin } from './output-join.js';

let messageObserver: ((bytes: number) => void) | undefined;

/** Calls `fn` with the encoded size of every RunChallengeResponse any MinerClient receives (benchmarks); undefined stops. */
export function observeChallengeMessages(fn: ((bytes: number) => void) | undefined): void {
  messageObserver = fn;
}

/** The generated client, with RunChallenge responses measured on their way in when an observer is set. */
const MeasuredClient = makeGenericClientConstructor(
  {
    ...MinerServiceService,
    runChallenge: {
      ...MinerServiceService.runChallenge,
      responseDeserialize: (bytes: Buffer) => {
        messageObserver?.(bytes.length);
        return MinerServiceService.runChallenge.responseDeserialize(bytes);
      },
    },
  },
  'polarise.v1.MinerService',
) as unknown as typeof MinerServiceClient;

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
    netRxBytes: s.netRxBytes,
    netTxBytes: s.netTxBytes,
    netRxPackets: s.netRxPackets,
    netTxPackets: s.netTxPackets,
  };
}

/** A call's outcome: the joined output, checked against the result's counts and digests. */
function outcomeOf(r: CommandResult | undefined, output: OutputJoin, samples: ExecSample[], elapsedMs: number): ExecOutcome {
  const joined = output.finish(r);
  return {
    exitCode: r?.exitCode ?? -1,
    stdout: joined.stdout,
    stderr: joined.stderr,
    samples,
    elapsedMs,
    timedOut: r?.status === ChallengeStatus.CHALLENGE_STATUS_TIMEOUT,
    ...(joined.problem ? { transferProblem: joined.problem } : {}),
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
      // The miner sends no message over 1 MiB (output travels in chunks).
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      ...(target.server_name ? { 'grpc.ssl_target_name_override': target.server_name } : {}),
    };
    this.client = new MeasuredClient(target.address, creds, options);
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
        const output = new OutputJoin();
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
            streamOutput: true,
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
          } else if (e?.$case === 'output') {
            output.add(e.value);
          } else if (e?.$case === 'result') {
            settled = true;
            resolve(outcomeOf(e.value.commandResult, output, samples, performance.now() - started));
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
