/**
 * A challenge or an SSH session must not outlive the miner that served it.
 * SIGKILL the miner while a RunChallenge and an SSH session each run
 * `sleep`s in one container; the next miner (same config and state) adopts
 * the allocation and ends what those dead calls started, within moments.
 * What a renter or a finished challenge deliberately left running (a
 * daemon that started its own session, a background child of a challenge
 * that already ended) stays, as it does when a session ends normally.
 */
import { expect } from 'chai';
import type { ClientReadableStream } from '@grpc/grpc-js';
import ssh2 from 'ssh2';
import { ChallengeType, RunChallengeRequest, type AllocateResponse, type RunChallengeResponse } from '../../common/gen/polarise/v1/miner.js';
import { allocate, minerClient, runChallenge } from '../support/clients.js';
import { docker, removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { ready } from '../support/miner-state.js';
import { ssh } from '../support/openssh.js';
import { makeContainer, removeContainers } from '../support/challenge-fixtures.js';
import { endExecsInContainer } from '../../miner/challenges/exec-processes.js';
import { rmSync } from 'node:fs';

/** The command lines of every process in the container, as the host's ps sees them (docker top). */
async function processes(containerId: string): Promise<string[]> {
  const top = (await docker.getContainer(containerId).top({ ps_args: '-eo pid,args' })) as { Processes: string[][] };
  return top.Processes.map((p) => (p[1] ?? '').trim());
}

/** The `sleep N` processes in the container, sorted by N. */
async function sleeps(containerId: string): Promise<number[]> {
  const found: number[] = [];
  for (const args of await processes(containerId)) {
    const m = /^sleep (\d+)$/.exec(args);
    if (m) found.push(Number(m[1]));
  }
  return found.sort((a, b) => a - b);
}

async function waitFor<T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts `command` over SSH (ssh2 client) and leaves the session open. */
function openSession(a: AllocateResponse, command: string): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('error', () => undefined);
    c.on('ready', () =>
      c.exec(command, (err, stream) => {
        if (err) return reject(err);
        stream.on('data', () => undefined).on('error', () => undefined);
        stream.stderr.on('data', () => undefined);
        resolve(c);
      }),
    );
    c.connect({ host: a.host, port: a.sshPort, username: 'root', password: a.password, readyTimeout: 10_000 });
  });
}

describe('nothing a dead miner started outlives it', function () {
  this.timeout(120_000);
  let first: MinerProcess | undefined;
  let second: MinerProcess | undefined;

  before(requireDocker);
  after(async () => {
    await first?.stop('SIGKILL');
    await second?.stop();
    if (first) {
      await removeResources(first.prefix);
      rmSync(first.stateDir, { recursive: true, force: true });
    }
    await removeContainers();
  });

  it('after SIGKILL mid-challenge and mid-session, the restarted miner ends those processes on adoption', async () => {
    first = await startMiner({ config: { docker: { overcommit_ratio: 4 } } });
    const client = minerClient(first.address, { caCert: first.pki.caCert, client: first.pki.client('validator', 'vera') });
    await ready(client);
    const box = await allocate(client, { memory: '128m', cpuCount: 1 });
    const id = box.containerId;

    // Left on purpose, and kept: a finished challenge's background child, and
    // a daemon a renter started in its own session over SSH (the session ended).
    await runChallenge(client, { containerId: id, command: ['sh', '-c', 'sleep 398 >/dev/null 2>&1 & echo started'] });
    const daemon = await ssh({ host: box.host, port: box.sshPort, password: box.password }, 'setsid -f sleep 399 >/dev/null 2>&1 </dev/null');
    expect(daemon.code, daemon.stderr.toString()).to.equal(0);

    // In flight when the miner dies: a challenge (its own sleep, a background
    // child, and a grandchild that left for a session of its own) ...
    const request = RunChallengeRequest.fromPartial({
      containerId: id,
      type: ChallengeType.CHALLENGE_TYPE_COMPUTE,
      command: ['bash', '-c', '(setsid sleep 303 >/dev/null 2>&1 &); sleep 301 & sleep 300'],
      duration: 600,
    });
    const stream: ClientReadableStream<RunChallengeResponse> = client.runChallenge(request);
    stream.on('data', () => undefined).on('error', () => undefined);
    // ... and an SSH session (a command and its background child).
    const session = await openSession(box, 'sleep 311 & sleep 310');

    const running = [300, 301, 303, 310, 311, 398, 399];
    await waitFor('the sleeps to start', () => sleeps(id), (s) => running.every((n) => s.includes(n)));

    expect(await first.stop('SIGKILL')).to.equal(null);
    session.end();
    client.close();
    // The bug this guards against: Docker cannot kill an exec, so all of it still runs.
    await new Promise((r) => setTimeout(r, 500));
    expect(await sleeps(id)).to.deep.equal(running);

    const restartedAt = Date.now();
    second = await startMiner({ reuse: { configPath: first.configPath, stateDir: first.stateDir, prefix: first.prefix } });
    const listening = Date.now() - restartedAt;
    const left = await waitFor('orphans to be ended', () => sleeps(id), (s) => s.join() === '398,399', 3000);
    const clean = Date.now() - restartedAt;
    console.log(`      restart to listening ${listening} ms, to no orphan ${clean} ms`);
    expect(left).to.deep.equal([398, 399]);
    // The container's own command is untouched, and the allocation still works.
    expect(await processes(id)).to.include('sleep infinity');
    const r = await ssh({ host: box.host, port: box.sshPort, password: box.password }, 'echo alive');
    expect(r.stdout.toString()).to.equal('alive\n');
    const reaped = second.logs.find((l) => l.includes('ended processes a previous miner left running'));
    expect(reaped, 'the adoption logs what it ended').to.be.a('string');
    const { execs, processes: ended, ms } = JSON.parse(reaped!) as { execs: number; processes: number; ms: number };
    console.log(`      adoption ended ${ended} processes of ${execs} execs in ${ms} ms`);
    // Two execs (the challenge, the session); 300, 301, 303 and its subshell, 310, 311 and the shells.
    expect(execs).to.equal(2);
  });

  it('without access to the container from the host, the same is done from inside it', async () => {
    const box = await makeContainer({ memory: 96 * 1024 * 1024 });
    const start = (cmd: string, env: string[] = []) =>
      box.exec({ Cmd: ['sh', '-c', cmd], Env: env, AttachStdout: false, AttachStderr: false }).then((e) => e.start({ Detach: true }));
    await start('setsid -f sleep 399 >/dev/null 2>&1 </dev/null'); // a daemon, kept
    await start('(setsid sleep 303 >/dev/null 2>&1 &); sleep 301 & sleep 300', ['POLARISE_CHALLENGE=run-x']);
    await start('sleep 311 & sleep 310');
    await waitFor('the sleeps to start', () => sleeps(box.id), (s) => s.join() === '300,301,303,310,311,399');
    const t = Date.now();
    await endExecsInContainer(docker, box);
    console.log(`      from inside: ${Date.now() - t} ms`);
    expect(await waitFor('orphans to be ended', () => sleeps(box.id), (s) => s.join() === '399', 2000)).to.deep.equal([399]);
    expect(await processes(box.id)).to.include('sleep infinity');
  });

  it('a session whose command exits at once: what it left in its session ends with the channel', async () => {
    const miner = await startMiner({ config: { docker: { overcommit_ratio: 4 } } });
    const client = minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('renter', 'rita') });
    try {
      await ready(client);
      const box = await allocate(client, { memory: '96m' });
      const r = await ssh({ host: box.host, port: box.sshPort, password: box.password }, 'sleep 4300 >/dev/null 2>&1 </dev/null &');
      expect(r.code).to.equal(0);
      expect(await waitFor('the background sleep to end', () => sleeps(box.containerId), (s) => s.length === 0, 3000)).to.deep.equal([]);
    } finally {
      client.close();
      await miner.stop();
      await removeResources(miner.prefix);
      rmSync(miner.stateDir, { recursive: true, force: true });
    }
  });
});
