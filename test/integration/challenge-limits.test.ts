/**
 * Bounds on what RunChallenge may hold in the miner: challenges at once per
 * container, per owner (client identity) and in total, each refused with
 * RESOURCE_EXHAUSTED naming its config key while the first runs carry on;
 * and a stream whose client stops reading and then cancels still ends (its
 * slot is freed, its command killed), although grpc-js emits no 'drain'
 * after a cancel.
 */
import { expect } from 'chai';
import { status } from '@grpc/grpc-js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  ChallengeStatus,
  ChallengeType,
  RunChallengeRequest,
  type MinerServiceClient,
  type RunChallengeResponse,
} from '../../common/gen/polarise/v1/miner.js';
import { allocate, codeOf, minerClient, release, runChallenge } from '../support/clients.js';
import { docker, removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { ready } from '../support/miner-state.js';
import { resultOf } from '../support/challenge-fixtures.js';

const run = promisify(execFile);

const LIMITS = { max_concurrent_total: 4, max_concurrent_per_owner: 3, max_concurrent_per_container: 2 };

/** Starts a challenge; resolves `started` at its first event, `done` with all of them. */
function start(client: MinerServiceClient, containerId: string, command: string[]): { started: Promise<void>; done: Promise<RunChallengeResponse[]> } {
  let first: () => void = () => undefined;
  const started = new Promise<void>((resolve) => (first = resolve));
  const done = runChallenge(client, { containerId, command, type: ChallengeType.CHALLENGE_TYPE_COMPUTE }, { onEvent: () => first() });
  done.catch(() => first());
  return { started, done };
}

async function refused(client: MinerServiceClient, containerId: string): Promise<{ code: number; details: string; ms: number }> {
  const t = performance.now();
  const e = await codeOf(runChallenge(client, { containerId, command: ['true'] }));
  return { ...e, ms: Math.round(performance.now() - t) };
}

/** PUT /challenge/{id} on the REST API as bob: the HTTP status and body. */
async function restChallenge(miner: MinerProcess, containerId: string): Promise<{ status: number; body: string }> {
  const line = miner.logs.find((l) => l.includes('"msg":"rest api listening'));
  const port = /"port":(\d+)/.exec(line ?? '')?.[1];
  const bob = miner.pki.client('renter', 'bob');
  const body = JSON.stringify({ type: 'compute', data: { command: 'true', duration: 10 } });
  const args = ['-sS', '--max-time', '30', '--cacert', miner.pki.caCert, '--cert', bob.cert, '--key', bob.key, '-X', 'PUT', '-w', '\n%{http_code}'];
  const { stdout } = await run('curl', [...args, '-H', 'Content-Type: application/json', '--data-binary', body, `https://localhost:${port}/challenge/${containerId}`]);
  const cut = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

async function processArgs(containerId: string): Promise<string[]> {
  const top = (await docker.getContainer(containerId).top({ ps_args: '-eo pid,args' })) as { Processes: string[][] };
  return top.Processes.map((p) => (p[1] ?? '').trim());
}

describe('RunChallenge bounds (real miner process)', function () {
  this.timeout(120_000);
  let miner: MinerProcess;
  let alice: MinerServiceClient;
  let bob: MinerServiceClient;
  const boxes = { a: '', b: '', c: '' };

  before(async () => {
    await requireDocker();
    miner = await startMiner({
      config: { docker: { overcommit_ratio: 8 }, challenge: { ...LIMITS, grace_seconds: 0.3 }, rest: { enabled: true, host: '127.0.0.1', port: 0 } },
    });
    alice = minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('validator', 'alice') });
    bob = minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('renter', 'bob') });
    await Promise.all([ready(alice), ready(bob)]);
    const [a, b, c] = await Promise.all([allocate(alice, { memory: '96m' }), allocate(alice, { memory: '96m' }), allocate(bob, { memory: '96m' })]);
    Object.assign(boxes, { a: a.containerId, b: b.containerId, c: c.containerId });
  });
  after(async () => {
    if (boxes.a) await release(alice, boxes.a).catch(() => undefined);
    if (boxes.b) await release(alice, boxes.b).catch(() => undefined);
    if (boxes.c) await release(bob, boxes.c).catch(() => undefined);
    alice?.close();
    bob?.close();
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  });

  it('one over the per-container, per-owner or total limit gets RESOURCE_EXHAUSTED while the first ones run', async () => {
    const sleep = ['sh', '-c', 'sleep 3; echo ok'];
    const runs = [start(alice, boxes.a, sleep), start(alice, boxes.a, sleep)];
    await Promise.all(runs.map((r) => r.started));
    const perContainer = await refused(alice, boxes.a);
    runs.push(start(alice, boxes.b, sleep));
    await runs[2]!.started;
    const perOwner = await refused(alice, boxes.b);
    runs.push(start(bob, boxes.c, sleep));
    await runs[3]!.started;
    const total = await refused(bob, boxes.c);
    // The REST API shares the counts.
    const rest = await restChallenge(miner, boxes.c);
    console.log(`      refused in ${perContainer.ms} / ${perOwner.ms} / ${total.ms} ms (container / owner / total)`);

    expect(perContainer.code).to.equal(status.RESOURCE_EXHAUSTED);
    expect(perContainer.details).to.match(/is running 2 challenges, the limit per container \(challenge\.max_concurrent_per_container\)/);
    expect(perOwner.code).to.equal(status.RESOURCE_EXHAUSTED);
    expect(perOwner.details).to.match(/spiffe:\/\/polarise\/validator\/alice is running 3 challenges, .*\(challenge\.max_concurrent_per_owner\)/);
    expect(total.code).to.equal(status.RESOURCE_EXHAUSTED);
    expect(total.details).to.match(/this miner is running 4 challenges, its limit \(challenge\.max_concurrent_total\)/);
    expect(rest.status).to.equal(429);
    expect(rest.body).to.match(/challenge\.max_concurrent_total/);

    // The four admitted runs were not disturbed.
    for (const events of await Promise.all(runs.map((r) => r.done))) {
      expect(resultOf(events).commandResult).to.deep.include({ status: ChallengeStatus.CHALLENGE_STATUS_COMPLETED, output: 'ok\n' });
    }
    // Their slots are free again.
    const again = await Promise.all([runChallenge(alice, { containerId: boxes.a, command: ['true'] }), runChallenge(alice, { containerId: boxes.a, command: ['true'] })]);
    for (const events of again) expect(resultOf(events).commandResult!.status).to.equal(ChallengeStatus.CHALLENGE_STATUS_COMPLETED);
  });

  it('a client that stops reading and then cancels: the run still ends, its command dies and its slot is freed', async () => {
    const request = RunChallengeRequest.fromPartial({
      containerId: boxes.c,
      type: ChallengeType.CHALLENGE_TYPE_COMPUTE,
      command: ['sh', '-c', 'exec yes polarise-drain-test'],
      streamOutput: true,
      duration: 60,
    });
    // No 'data' listener: the client reads nothing, HTTP/2 flow control fills
    // and the miner's writes wait for 'drain'.
    const stream = bob.runChallenge(request);
    stream.on('error', () => undefined);
    await new Promise((r) => setTimeout(r, 2500));
    expect((await processArgs(boxes.c)).some((a) => a.includes('polarise-drain-test'))).to.equal(true);
    const cancelledAt = performance.now();
    stream.cancel();

    // Both of the container's slots can be taken again, and the command is gone.
    let freedMs = -1;
    for (let i = 0; i < 50 && freedMs < 0; i++) {
      const both = await Promise.allSettled([runChallenge(bob, { containerId: boxes.c, command: ['true'] }), runChallenge(bob, { containerId: boxes.c, command: ['true'] })]);
      if (both.every((r) => r.status === 'fulfilled')) freedMs = Math.round(performance.now() - cancelledAt);
      else await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`      slot free ${freedMs} ms after the cancel`);
    expect(freedMs, 'the cancelled run never released its slot').to.be.at.least(0);
    expect((await processArgs(boxes.c)).some((a) => a.includes('polarise-drain-test'))).to.equal(false);
    expect(miner.logs.some((l) => l.includes('"msg":"challenge ended"') && l.includes('"status":"CHALLENGE_STATUS_CANCELLED"'))).to.equal(true);
  });
});
