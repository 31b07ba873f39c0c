/**
 * Large output through a real miner over mutual TLS: a command writing 20 MB
 * to stdout and 1 MB to stderr. Every RunChallengeResponse on the wire stays
 * at or under 1 MiB (measured as received, before decoding), the joined
 * OutputChunk events are exactly the streams the result states (byte counts
 * and SHA-256), and the result carries only the documented tails. The
 * validator's own client (stream_output, join, check) gets the whole output.
 */
import { expect } from 'chai';
import { makeGenericClientConstructor, Metadata } from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { MinerServiceClient, MinerServiceService, OutputStream, RunChallengeRequest, ChallengeType, type RunChallengeResponse } from '../../common/gen/polarise/v1/miner.js';
import { MAX_MESSAGE_BYTES, OUTPUT_CHUNK_BYTES, RESULT_TAIL_BYTES, STDERR_TAIL_BYTES } from '../../common/message-limits.js';
import { MinerClient, observeChallengeMessages } from '../../validator/miner-client.js';
import { allocate, channelCredentials, minerClient, release } from '../support/clients.js';
import { removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { resultOf } from '../support/challenge-fixtures.js';
import { LARGE_OUTPUT_COMMAND, LARGE_STDERR_BYTES, LARGE_STDOUT_BYTES } from '../fixtures/large-output.js';

/** The generated client, recording the size of each RunChallengeResponse as it came off the wire. */
function measuringClient(address: string, tls: Parameters<typeof channelCredentials>[0], sizes: number[]): MinerServiceClient {
  const rc = MinerServiceService.runChallenge;
  const service = { ...MinerServiceService, runChallenge: { ...rc, responseDeserialize: (b: Buffer) => (sizes.push(b.length), rc.responseDeserialize(b)) } };
  const Client = makeGenericClientConstructor(service, 'polarise.v1.MinerService') as unknown as typeof MinerServiceClient;
  // No options: a client's default receive limit (4 MiB).
  return new Client(address, channelCredentials(tls));
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('large output: 20 MB stdout and 1 MB stderr through a real miner', function () {
  this.timeout(180_000);
  let miner: MinerProcess;
  let owner: MinerServiceClient;
  let containerId = '';

  before(async () => {
    await requireDocker();
    miner = await startMiner();
    const tls = { caCert: miner.pki.caCert, client: miner.pki.client('validator', 'large') };
    owner = minerClient(miner.address, tls);
    containerId = (await allocate(owner, { memory: '256m', cpuCount: 1 })).containerId;
  });
  after(async () => {
    if (containerId) await release(owner, containerId).catch(() => undefined);
    owner?.close();
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  });

  it('every message is at most 1 MiB; the chunks are the whole streams the result states; the result holds the tails', async () => {
    const sizes: number[] = [];
    const client = measuringClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('validator', 'large') }, sizes);
    const events: RunChallengeResponse[] = [];
    await new Promise<void>((resolve, reject) => {
      const req = RunChallengeRequest.fromPartial({ containerId, type: ChallengeType.CHALLENGE_TYPE_COMPUTE, command: LARGE_OUTPUT_COMMAND, streamOutput: true });
      const stream = client.runChallenge(req, new Metadata(), { deadline: Date.now() + 120_000 });
      stream.on('data', (e: RunChallengeResponse) => events.push(e));
      stream.on('error', reject);
      stream.on('end', resolve);
    });
    client.close();
    expect(sizes).to.have.length(events.length);
    expect(Math.max(...sizes)).to.be.at.most(MAX_MESSAGE_BYTES);
    const chunks = events.flatMap((e) => (e.event?.$case === 'output' ? [e.event.value] : []));
    for (const c of chunks) expect(c.data.length).to.be.at.most(OUTPUT_CHUNK_BYTES);
    const joined = (s: OutputStream) => Buffer.concat(chunks.filter((c) => c.stream === s).map((c) => Buffer.from(c.data)));
    const [stdout, stderr] = [joined(OutputStream.OUTPUT_STREAM_STDOUT), joined(OutputStream.OUTPUT_STREAM_STDERR)];
    const r = resultOf(events).commandResult!;
    expect(r.exitCode).to.equal(0);
    expect([stdout.length, stderr.length]).to.deep.equal([LARGE_STDOUT_BYTES, LARGE_STDERR_BYTES]);
    expect([r.stdoutBytes, sha256(stdout), r.stderrBytes, sha256(stderr)]).to.deep.equal([
      stdout.length, Buffer.from(r.stdoutSha256).toString('hex'), stderr.length, Buffer.from(r.stderrSha256).toString('hex'),
    ]);
    // Tails: the last 256 KiB of stdout and 64 KiB of stderr (ASCII here, so bytes = characters).
    expect(r.output).to.equal(stdout.subarray(stdout.length - RESULT_TAIL_BYTES).toString());
    expect(r.stderr).to.equal(stderr.subarray(stderr.length - STDERR_TAIL_BYTES).toString());
    expect(r.outputTruncated).to.equal(true);
  });

  it('the validator\'s client joins the chunks and checks them: the whole output, no transfer problem, no message over 1 MiB', async () => {
    const sizes: number[] = [];
    observeChallengeMessages((bytes) => sizes.push(bytes));
    const validator = new MinerClient({ name: 'large', address: miner.address }, { caCert: miner.pki.caCert, ...miner.pki.client('validator', 'large') });
    try {
      const outcome = await validator.executor(containerId)(LARGE_OUTPUT_COMMAND, { type: 'compute', step: 'open', timeoutMs: 120_000 });
      expect(outcome.transferProblem).to.equal(undefined);
      expect(outcome.exitCode).to.equal(0);
      expect([Buffer.byteLength(outcome.stdout), Buffer.byteLength(outcome.stderr)]).to.deep.equal([LARGE_STDOUT_BYTES, LARGE_STDERR_BYTES]);
      expect(sizes.length).to.be.greaterThan(LARGE_STDOUT_BYTES / OUTPUT_CHUNK_BYTES);
      expect(Math.max(...sizes)).to.be.at.most(MAX_MESSAGE_BYTES);
    } finally {
      observeChallengeMessages(undefined);
      validator.close();
    }
  });
});
