/**
 * The one way the miner signals processes in a container: bounded by the
 * container's cgroup. Challenges (a command's tree on cancel or timeout), SSH
 * sessions (a session's processes when its channel closes, and the signals a
 * client sends) and adoption (what a dead miner's calls left running) all go
 * through it.
 *
 * A host pid alone proves nothing: the process Docker reported may have
 * exited and a renter can cycle the pid space (kernel.pid_max is 32768 on
 * small hosts) until an unrelated host process gets that number. So a process
 * is named by its pid and its start time (/proc/<pid>/stat), and right before
 * every signal both are read again together with /proc/<pid>/cgroup, which
 * must name this container's cgroup (or one below it). A process that fails
 * any of these is never signalled. What is left is the few microseconds
 * between that check and kill(2), in which the process would have to exit,
 * be reaped and its pid be handed to a new host process (Node has no
 * pidfd_send_signal to close it).
 *
 * Which processes make up a tree: the root (same start time), members of its
 * session or process group started no earlier than it (unless its pid now
 * names another process: then that session is over), every descendant of
 * those, and (challenges) every process carrying the run's marker in its
 * environment, which catches children that daemonised. All are chosen among
 * the container's own processes (its cgroup.procs).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { environEntry, hasMarker, readPids } from './exec-processes.js';
import { readProcStat, type ProcStat } from './proc-stat.js';
import { cgroupPathsOf } from './sampling/cgroup-paths.js';

/** A process named so that a reused pid cannot stand in for it. */
export interface ProcRef {
  pid: number;
  startTime: string;
}

/** Which line of /proc/<pid>/cgroup names the container: a v1 controller's, or v2's "0::" (controller null). */
export interface CgroupKey {
  controller: string | null;
  /** The container's cgroup path on that line, e.g. /docker/<id>. */
  path: string;
}

export interface ContainerProcessesSetup {
  key: CgroupKey;
  /** The container's cgroup.procs file (host pids of its processes). */
  procsFile: string;
  /** Where /proc is (tests use a fake one). */
  procRoot?: string;
  /** How a signal is sent (tests record instead). */
  kill?: (pid: number, signal: NodeJS.Signals) => void;
}

/**
 * Names what is left of a process that exited before it could be named (its
 * start time read): no process matches it, but the rest of its session and
 * group and their descendants still do, unless its pid names another
 * process by now.
 */
export function exitedLeader(pid: number): ProcRef {
  return { pid, startTime: '0' };
}

/** The environment variable a challenge's processes carry (NAME=<run id>). */
export const CHALLENGE_MARKER = 'POLARISE_CHALLENGE';

/** The path on the line of a /proc/<pid>/cgroup text that `controller` names (null: the v2 line). */
export function cgroupLine(text: string, controller: string | null): string | undefined {
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const match = controller === null ? line.slice(0, first) === '0' && controllers === '' : controllers.split(',').includes(controller);
    if (match) return line.slice(second + 1);
  }
  return undefined;
}

export class ContainerProcesses {
  readonly key: CgroupKey;
  readonly procsFile: string;
  private readonly procRoot: string;
  private readonly send: (pid: number, signal: NodeJS.Signals) => void;

  constructor(setup: ContainerProcessesSetup) {
    if (setup.key.path === '/' || !setup.key.path.startsWith('/')) throw new Error(`not a container's cgroup: ${setup.key.path}`);
    this.key = setup.key;
    this.procsFile = setup.procsFile;
    this.procRoot = setup.procRoot ?? '/proc';
    this.send = setup.kill ?? ((pid, signal) => process.kill(pid, signal));
  }

  /**
   * The container's processes as seen from this host, or undefined when the
   * miner cannot signal them (not root, a remote engine, cgroups out of
   * reach). `initPid` is the container's init as Docker reports it
   * (State.Pid); its cgroup must name the container's full id.
   */
  static open(containerId: string, initPid: number | undefined): ContainerProcesses | undefined {
    if (process.getuid?.() !== 0 || !initPid || initPid <= 1 || !/^[0-9a-f]{64}$/.test(containerId)) return undefined;
    const paths = cgroupPathsOf(initPid);
    if (!paths) return undefined;
    const controller = paths.version === 1 ? 'cpuacct' : null;
    let text: string;
    try {
      text = readFileSync(`/proc/${initPid}/cgroup`, 'utf8');
    } catch {
      return undefined;
    }
    const path = cgroupLine(text, controller);
    if (!path || !path.includes(containerId) || path === '/') return undefined;
    return new ContainerProcesses({ key: { controller, path }, procsFile: join(paths.cpu, 'cgroup.procs') });
  }

  /** True when the process is, right now, in this container's cgroup (or one below it). */
  inCgroup(pid: number): boolean {
    let text: string;
    try {
      text = readFileSync(join(this.procRoot, String(pid), 'cgroup'), 'latin1');
    } catch {
      return false;
    }
    const path = cgroupLine(text, this.key.controller);
    return path !== undefined && (path === this.key.path || path.startsWith(this.key.path + '/'));
  }

  /** The process `pid` (started at `startTime` when given) if it is alive and in the container; else undefined. */
  verify(pid: number, startTime?: string): ProcStat | undefined {
    if (!Number.isInteger(pid) || pid <= 1) return undefined;
    const stat = readProcStat(pid, this.procRoot);
    if (!stat || (startTime !== undefined && stat.startTime !== startTime)) return undefined;
    if (!this.inCgroup(pid)) return undefined;
    // The cgroup read could have been of a process that took the pid meanwhile.
    if (readProcStat(pid, this.procRoot)?.startTime !== stat.startTime) return undefined;
    return stat;
  }

  /** Sends `signal` to the process if (and only if) it is still that process and in the container. */
  signal(proc: ProcRef, signal: NodeJS.Signals): boolean {
    if (!this.verify(proc.pid, proc.startTime)) return false;
    try {
      this.send(proc.pid, signal);
      return true;
    } catch {
      return false; // gone meanwhile
    }
  }

  /** Every live process the container's cgroup lists (a zombie runs nothing and is left out). */
  members(): ProcStat[] {
    const out: ProcStat[] = [];
    for (const pid of readPids(this.procsFile) ?? []) {
      const stat = readProcStat(pid, this.procRoot);
      if (stat) out.push(stat);
    }
    return out;
  }

  /** The processes of `root`'s tree (see the top of this file), among `members`. */
  treeOf(root: ProcRef, marker?: string, members = this.members()): ProcStat[] {
    const rootStart = Number(root.startTime);
    // The kernel keeps a pid while a session or group uses it as its id: if
    // another process has the root's pid now, the root's session is over.
    const usurped = members.some((s) => s.pid === root.pid && s.startTime !== root.startTime);
    const chosen = new Map<number, ProcStat>();
    for (const s of members) {
      const isRoot = s.pid === root.pid && s.startTime === root.startTime;
      const joined = !usurped && (s.session === root.pid || s.pgrp === root.pid) && Number(s.startTime) >= rootStart;
      if (isRoot || joined || (marker !== undefined && hasMarker(s.pid, marker, this.procRoot))) chosen.set(s.pid, s);
    }
    const children = new Map<number, ProcStat[]>();
    for (const s of members) {
      const siblings = children.get(s.ppid);
      if (siblings) siblings.push(s);
      else children.set(s.ppid, [s]);
    }
    const queue = [...chosen.values()];
    for (let s = queue.pop(); s; s = queue.pop()) {
      for (const child of children.get(s.pid) ?? []) {
        if (chosen.has(child.pid)) continue;
        chosen.set(child.pid, child);
        queue.push(child);
      }
    }
    return [...chosen.values()];
  }

  /** One `signal` to each process of `root`'s tree (and `also`, if still in the container); returns what was signalled. */
  signalTree(root: ProcRef, signal: NodeJS.Signals, marker?: string, also: ProcRef[] = []): ProcRef[] {
    const targets = new Map<string, ProcRef>();
    for (const p of [...this.treeOf(root, marker), ...also]) targets.set(`${p.pid}:${p.startTime}`, { pid: p.pid, startTime: p.startTime });
    return [...targets.values()].filter((p) => this.signal(p, signal));
  }

  /**
   * SIGKILL to `root`'s tree, again and again until none of it is left or
   * `withinMs` passed. Returns how many processes were still there at the end.
   */
  async killTree(root: ProcRef, marker?: string, withinMs = 1000): Promise<number> {
    const deadline = Date.now() + withinMs;
    for (let round = 0; ; round++) {
      const hit = this.signalTree(root, 'SIGKILL', marker).length;
      if (hit === 0) return 0;
      if (Date.now() > deadline) return hit;
      await sleep(round < 5 ? 10 : 50);
    }
  }

  /**
   * Ends a session as a hung-up terminal would: SIGHUP and SIGCONT to its
   * tree now, SIGKILL to what is left of it (and of what was signalled)
   * after `graceMs`.
   */
  hangUp(leader: ProcRef, graceMs = 1000): void {
    const first = this.signalTree(leader, 'SIGHUP');
    if (first.length === 0) return;
    for (const p of first) this.signal(p, 'SIGCONT');
    setTimeout(() => {
      this.signalTree(leader, 'SIGKILL', undefined, first);
      void this.killTree(leader, undefined, 500);
    }, graceMs).unref();
  }

  /**
   * What `docker exec` started and nobody serves any more (after a miner
   * restart): every process whose parent is outside the container but is not
   * the container's init, with its tree, and for a challenge every process
   * carrying its run's marker. The container's init and its command, and
   * what left those trees on purpose (a daemon in a session of its own, the
   * background child of a challenge that already ended), stay.
   */
  async endExecs(): Promise<{ roots: number; killed: number; left: number }> {
    const members = this.members();
    const roots = this.execRoots(members);
    let killed = 0;
    let left = 0;
    for (const root of roots) {
      const marker = environEntry(root.pid, CHALLENGE_MARKER, this.procRoot);
      killed += this.treeOf(root, marker, members).length;
      left += await this.killTree(root, marker);
    }
    return { roots: roots.length, killed, left };
  }

  /** Processes whose parent is not in the container, less its init (pid 1 in its own namespace). */
  execRoots(members: ProcStat[]): ProcStat[] {
    const inside = new Set(members.map((m) => m.pid));
    const outside = members.filter((s) => !inside.has(s.ppid));
    const nsPid = (pid: number): string | undefined => {
      try {
        const line = readFileSync(join(this.procRoot, String(pid), 'status'), 'latin1').split('\n').find((l) => l.startsWith('NSpid:'));
        return line?.trim().split(/\s+/).pop();
      } catch {
        return undefined;
      }
    };
    let init = outside.find((s) => nsPid(s.pid) === '1');
    // Kernels without NSpid: the init is the oldest of them.
    if (!init && outside.every((s) => nsPid(s.pid) === undefined)) init = [...outside].sort((a, b) => Number(a.startTime) - Number(b.startTime))[0];
    return outside.filter((s) => s !== init);
  }
}
