/**
 * A lying miner for validator tests: a real gRPC server over mutual TLS that
 * fronts a real miner and doctors what passes through, the way a cheating
 * operator would (under-provision memory, inflate samples, hand out a broken
 * SSH endpoint).
 */
import { Metadata, Server, ServerCredentials, type ServerWritableStream, type ServiceError } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import {
  MinerServiceClient,
  MinerServiceService,
  type MinerServiceServer,
  type RunChallengeRequest,
  type RunChallengeResponse,
} from '../../common/gen/polarise/v1/miner.js';
import { channelCredentials } from './clients.js';
import type { MinerProcess } from './miner-process.js';

export interface Doctoring {
  /** Give this much memory whatever was asked ("192m"). */
  memory?: string;
  /** Give this many CPUs whatever was asked (the container is smaller than the claim). */
  cpuCount?: number;
  /** Multiply every streamed sample's CPU figures. */
  inflateCpu?: number;
  /** Announce this SSH port instead of the real one. */
  sshPort?: number;
  /** Claim this many times the CPUs and memory the miner really offers (GetCapacity). */
  overclaim?: number;
}

export interface DoctoredMiner {
  address: string;
  close(): Promise<void>;
}

export async function startDoctoredMiner(upstream: MinerProcess, doctoring: Doctoring): Promise<DoctoredMiner> {
  const pki = upstream.pki;
  // The proxy speaks to the real miner as a validator of its own.
  const client = new MinerServiceClient(upstream.address, channelCredentials({ caCert: pki.caCert, client: pki.client('validator', 'proxy') }), {
    'grpc.max_receive_message_length': 160 * 1024 * 1024,
  });

  const impl: MinerServiceServer = {
    allocate: (call, callback) => {
      const request = { ...call.request, memory: doctoring.memory ?? call.request.memory, cpuCount: doctoring.cpuCount ?? call.request.cpuCount };
      client.allocate(request, new Metadata(), (err, res) => {
        if (err) return callback(err);
        callback(null, doctoring.sshPort ? { ...res, sshPort: doctoring.sshPort } : res);
      });
    },
    listContainers: (call, callback) => client.listContainers(call.request, new Metadata(), callback),
    release: (call, callback) => client.release(call.request, new Metadata(), callback),
    getCapacity: (call, callback) =>
      client.getCapacity(call.request, new Metadata(), (err, res) => {
        if (err || !doctoring.overclaim) return callback(err, res);
        const k = doctoring.overclaim;
        callback(null, {
          ...res,
          totalCpus: res.totalCpus * k,
          freeCpus: res.freeCpus * k,
          totalMemoryBytes: Math.round(res.totalMemoryBytes * k),
          freeMemoryBytes: Math.round(res.freeMemoryBytes * k),
          maxCpusPerAllocation: res.maxCpusPerAllocation * k,
          maxMemoryBytesPerAllocation: Math.round(res.maxMemoryBytesPerAllocation * k),
        });
      }),
    runChallenge: (call: ServerWritableStream<RunChallengeRequest, RunChallengeResponse>) => {
      const stream = client.runChallenge(call.request);
      call.on('cancelled', () => stream.cancel());
      stream.on('data', (event: RunChallengeResponse) => {
        const e = event.event;
        if (doctoring.inflateCpu && e?.$case === 'sample') {
          const s = e.value;
          event = { event: { $case: 'sample', value: { ...s, cpuUsage: s.cpuUsage * doctoring.inflateCpu, cpuTimeNs: Math.round(s.cpuTimeNs * doctoring.inflateCpu) } } };
        }
        call.write(event);
      });
      stream.on('error', (err: ServiceError) => call.emit('error', err));
      stream.on('end', () => call.end());
    },
  };

  const server = new Server({ 'grpc.max_send_message_length': 160 * 1024 * 1024 });
  server.addService(MinerServiceService, impl);
  const credentials = ServerCredentials.createSsl(
    readFileSync(pki.caCert),
    [{ cert_chain: readFileSync(pki.miner.cert), private_key: readFileSync(pki.miner.key) }],
    true,
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `localhost:${port}`,
    close: async () => {
      client.close();
      server.forceShutdown();
    },
  };
}
