/**
 * The miner runs as root in the host's pid namespace; Docker reports an
 * exec's host pid, which can be stale (the process exited and a renter
 * cycled the pid space until a host process got that number) or, with a
 * remote engine, another machine's. Whatever pid it is handed, the miner
 * must never signal a process outside the container's cgroup. An unrelated
 * host `sleep` stands in for the victim: the SSH session is made to believe
 * it is its exec's process, and the killer is aimed at it directly.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type Docker from 'dockerode';
import type { Session } from 'ssh2';
import { createLogger } from '../../common/logger.js';
import { ContainerProcesses } from '../../miner/challenges/container-processes.js';
import { readProcStat } from '../../miner/challenges/proc-stat.js';
import { serveSession } from '../../miner/ssh/ssh-session.js';
import { makeContainer, removeContainers } from '../support/challenge-fixtures.js';
import { docker, requireDocker } from '../support/docker.js';

function alive(child: ChildProcess, startTime: string): boolean {
  return child.exitCode === null && child.signalCode === null && readProcStat(child.pid!)?.startTime === startTime;
}

/** A Docker whose exec of `containerId` reports `pid` as its process (the real engine for everything else). */
function dockerReportingPid(pid: number): { docker: Docker; endStream: () => void } {
  const stream = new PassThrough();
  let running = true;
  const exec = {
    start: async () => stream,
    inspect: async () => ({ Pid: pid, Running: running, ExitCode: running ? null : 0 }),
    resize: async () => undefined,
  };
  const fake = {
    modem: docker.modem,
    getContainer: (id: string) => Object.assign(docker.getContainer(id), { exec: async () => exec }),
  } as unknown as Docker;
  return {
    docker: fake,
    endStream: () => {
      running = false;
      stream.end();
    },
  };
}

/** An ssh2 session channel as ServedSession uses it. */
function fakeChannel(): PassThrough & { stderr: PassThrough; exit: () => void } {
  return Object.assign(new PassThrough(), { stderr: new PassThrough(), exit: () => undefined });
}

describe('signals never reach a host process outside the container', function () {
  this.timeout(60_000);
  let container: Docker.Container;
  let victim: ChildProcess;
  let victimStart = '';

  before(async () => {
    await requireDocker();
    container = await makeContainer();
  });
  beforeEach(async () => {
    victim = spawn('sleep', ['600'], { detached: true, stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 100));
    victimStart = readProcStat(victim.pid!)!.startTime;
  });
  afterEach(() => {
    if (victim.exitCode === null && victim.signalCode === null) victim.kill('SIGKILL');
  });
  after(removeContainers);

  it('an SSH session whose exec reports a host pid outside the container: its signal and its end spare that process', async () => {
    const { docker: fakeDocker, endStream } = dockerReportingPid(victim.pid!);
    const session = new EventEmitter();
    const channel = fakeChannel();
    const handle = serveSession(session as unknown as Session, {
      docker: fakeDocker,
      containerId: container.id,
      log: createLogger({ component: 'test' }, { level: 'warn' }),
      remoteIp: '127.0.0.1',
      remotePort: 40000,
      localIp: '127.0.0.1',
      localPort: 2222,
    });
    const signalled = new Promise<boolean>((resolve) => {
      session.emit('exec', () => channel, undefined, { command: 'sleep 600' });
      // Once the session has looked the pid up, the client sends a signal.
      setTimeout(() => session.emit('signal', () => resolve(true), () => resolve(false), { name: 'KILL' }), 500);
    });
    expect(await signalled, 'the signal request is refused: there is no proven process to send it to').to.equal(false);
    channel.emit('close');
    handle.end();
    endStream();
    // SIGHUP at once, SIGKILL after a second's grace: wait past both.
    await new Promise((r) => setTimeout(r, 1600));
    expect(alive(victim, victimStart)).to.equal(true);
  });

  it('the killer, aimed at that host pid, signals nothing', async () => {
    const info = await container.inspect();
    const processes = ContainerProcesses.open(info.Id, info.State.Pid);
    expect(processes, 'the miner can see this container from the host').to.not.equal(undefined);
    const ref = { pid: victim.pid!, startTime: victimStart };
    expect(processes!.verify(ref.pid)).to.equal(undefined);
    expect(processes!.signal(ref, 'SIGKILL')).to.equal(false);
    expect(await processes!.killTree(ref, 'POLARISE_CHALLENGE=x')).to.equal(0);
    processes!.hangUp(ref, 100);
    await new Promise((r) => setTimeout(r, 400));
    expect(alive(victim, victimStart)).to.equal(true);
    // Aimed at the container's own init, by contrast, it is allowed (and the check passes).
    expect(processes!.verify(info.State.Pid)?.pid).to.equal(info.State.Pid);
  });
});
