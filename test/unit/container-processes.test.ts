/**
 * The cgroup-bounded killer against a fake /proc: which processes it picks
 * for a tree, a session and an adoption, and that it never signals a pid
 * whose cgroup is not the container's (another container's, the host's root
 * cgroup, a look-alike path) or whose start time changed (a reused pid),
 * even when the container's cgroup.procs lists it.
 */
import { expect } from 'chai';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ContainerProcesses, cgroupLine, exitedLeader } from '../../miner/challenges/container-processes.js';

const OURS = '/docker/' + 'a'.repeat(64);
const OTHER = '/docker/' + 'b'.repeat(64);

interface FakeProc {
  pid: number;
  ppid: number;
  session?: number;
  pgrp?: number;
  start?: number;
  cgroup?: string;
  nsPid?: number;
  env?: string[];
}

function fakeProc(root: string, p: FakeProc): void {
  const dir = join(root, String(p.pid));
  mkdirSync(dir, { recursive: true });
  const session = p.session ?? p.pid;
  // pid (comm) state ppid pgrp session, 15 fields, starttime (field 22).
  const middle = '0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0';
  writeFileSync(join(dir, 'stat'), `${p.pid} (a) b) S ${p.ppid} ${p.pgrp ?? session} ${session} ${middle} ${p.start ?? 1000 + p.pid} 0 0\n`);
  const path = p.cgroup ?? OURS;
  writeFileSync(join(dir, 'cgroup'), `4:memory:${path}\n2:cpuacct:${path}\n1:name=systemd:${path}\n0::${path}\n`);
  writeFileSync(join(dir, 'status'), `Name:\ta\nNSpid:\t${p.pid}\t${p.nsPid ?? p.pid - 90}\n`);
  writeFileSync(join(dir, 'environ'), (p.env ?? ['PATH=/bin']).join('\0') + '\0');
}

describe('the cgroup-bounded killer (fake /proc)', () => {
  let root: string;
  let sent: [number, string][];
  let killer: ContainerProcesses;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'polarise-proc-'));
    sent = [];
    const procs: FakeProc[] = [
      { pid: 100, ppid: 50, nsPid: 1 }, // the container's init (its parent is the runtime's shim)
      { pid: 101, ppid: 100, session: 100 }, // its command (sleep infinity)
      { pid: 110, ppid: 50, env: ['POLARISE_CHALLENGE=run-1'] }, // a docker exec (a challenge)
      { pid: 111, ppid: 110, session: 110, env: ['POLARISE_CHALLENGE=run-1'] },
      { pid: 112, ppid: 100, session: 112, env: ['X=1', 'POLARISE_CHALLENGE=run-1'] }, // daemonised, carries the marker
      { pid: 120, ppid: 50 }, // another exec (an SSH session)
      { pid: 121, ppid: 100, session: 120 }, // its background child, reparented to init
      { pid: 130, ppid: 100, session: 130 }, // a renter's daemon, in a session of its own
      { pid: 151, ppid: 100, session: 150 }, // left in the session of an exec (150) that has exited
      { pid: 140, ppid: 100, session: 140, env: ['POLARISE_CHALLENGE=run-0'] }, // left by a challenge that ended
      // Listed in the container's cgroup.procs, yet not in its cgroup (the pid was reused, or the file lies):
      { pid: 200, ppid: 110, session: 110, cgroup: OTHER, env: ['POLARISE_CHALLENGE=run-1'] },
      { pid: 201, ppid: 110, session: 110, cgroup: '/' },
      { pid: 202, ppid: 110, session: 110, cgroup: OURS + '-evil' },
      { pid: 203, ppid: 50, cgroup: OTHER }, // looks like an exec root
    ];
    for (const p of procs) fakeProc(root, p);
    const procsFile = join(root, 'cgroup.procs');
    writeFileSync(procsFile, procs.map((p) => p.pid).join('\n') + '\n');
    killer = new ContainerProcesses({ key: { controller: 'cpuacct', path: OURS }, procsFile, procRoot: root, kill: (pid, signal) => void sent.push([pid, signal]) });
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const pids = () => [...new Set(sent.map(([p]) => p))].sort((a, b) => a - b);

  it('reads the container line of /proc/<pid>/cgroup, v1 and v2', () => {
    const text = `3:cpu,cpuacct:/docker/x\n4:memory:/docker/y\n0::/docker/z\n`;
    expect(cgroupLine(text, 'cpuacct')).to.equal('/docker/x');
    expect(cgroupLine(text, 'memory')).to.equal('/docker/y');
    expect(cgroupLine(text, null)).to.equal('/docker/z');
    expect(cgroupLine(text, 'pids')).to.equal(undefined);
  });

  it('refuses to stand for the root cgroup', () => {
    expect(() => new ContainerProcesses({ key: { controller: null, path: '/' }, procsFile: 'x' })).to.throw(/not a container/);
  });

  it('signals a process only while it is in the container and has the same start time', () => {
    expect(killer.signal({ pid: 111, startTime: '1111' }, 'SIGTERM')).to.equal(true);
    expect(killer.signal({ pid: 111, startTime: '999' }, 'SIGTERM')).to.equal(false); // reused pid
    for (const pid of [200, 201, 202]) expect(killer.signal({ pid, startTime: String(1000 + pid) }, 'SIGKILL')).to.equal(false);
    expect(killer.signal({ pid: 99999, startTime: '1' }, 'SIGKILL')).to.equal(false); // gone
    expect(sent).to.deep.equal([[111, 'SIGTERM']]);
  });

  it("a challenge's tree: the root, its session, descendants and marked processes, none outside the cgroup", async () => {
    const left = await killer.killTree({ pid: 110, startTime: '1110' }, 'POLARISE_CHALLENGE=run-1', 0);
    expect(pids()).to.deep.equal([110, 111, 112]);
    expect(sent.every(([, s]) => s === 'SIGKILL')).to.equal(true);
    expect(left).to.equal(3); // the fake processes never die
  });

  it("an SSH session's hang-up: SIGHUP and SIGCONT to the session, never outside the cgroup", () => {
    killer.hangUp({ pid: 120, startTime: '1120' }, 60_000);
    expect(pids()).to.deep.equal([120, 121]);
    expect(sent.map(([, s]) => s).sort()).to.deep.equal(['SIGCONT', 'SIGCONT', 'SIGHUP', 'SIGHUP']);
  });

  it('a root whose pid now names another process is not that root, nor is that process\'s session its session', async () => {
    await killer.killTree({ pid: 120, startTime: '5' }, undefined, 0);
    expect(pids()).to.deep.equal([]);
  });

  it('a root that has exited: the rest of its session still goes', async () => {
    await killer.killTree({ pid: 150, startTime: '1150' }, undefined, 0);
    expect(pids()).to.deep.equal([151]);
    sent = [];
    // Gone before it could be named: the same, without a start time.
    await killer.killTree(exitedLeader(150), undefined, 0);
    expect(pids()).to.deep.equal([151]);
    sent = [];
    // ... unless its pid names a process by now (then its session is over).
    await killer.killTree(exitedLeader(120), undefined, 0);
    expect(pids()).to.deep.equal([]);
  });

  it('adoption ends every exec tree and leaves the init, its command, daemons and finished challenges alone', async () => {
    const result = await killer.endExecs();
    expect(pids()).to.deep.equal([110, 111, 112, 120, 121]);
    // 203 looks like an exec root too (its parent is not in the list), but is never signalled.
    expect(result.roots).to.equal(3);
  });
});
