/**
 * Finding and killing a challenge command's processes. From the host: the
 * container's cgroup.procs, the run's marker in a process's environment, and
 * the choice of which processes make up the command's tree. With a remote
 * engine: a `kill` run inside the container through another exec.
 */
import type Docker from 'dockerode';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { PassThrough, type Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../common/logger.js';
import { readProcStat, type ProcStat } from './proc-stat.js';

/** True when the process's environment holds `marker` (NAME=value). */
export function hasMarker(pid: number, marker: string): boolean {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'latin1');
    return env.startsWith(marker + '\0') || env.includes('\0' + marker + '\0') || env.endsWith('\0' + marker);
  } catch {
    return false;
  }
}

/** The pids listed in a cgroup.procs file, or undefined when it cannot be read. */
export function readPids(file: string): number[] | undefined {
  try {
    return readFileSync(file, 'latin1').split('\n').filter(Boolean).map(Number);
  } catch {
    return undefined;
  }
}

/**
 * The exec's host pid from the container's cgroup.procs: the new process
 * (not in `preexisting`) carrying this run's marker whose parent is not in
 * the container (the runtime's shim; a daemonised child's parent is the
 * container's init). Polls the file (microseconds a look) for up to a second,
 * or until `ended()`; 0 if not seen.
 */
export async function execPidFromCgroup(file: string, marker: string, preexisting: Set<number>, ended: () => boolean): Promise<number> {
  const deadline = Date.now() + 1000;
  for (let wait = 1; !ended() && Date.now() < deadline; wait = Math.min(wait * 2, 20)) {
    const pids = readPids(file);
    if (!pids) return 0;
    const inside = new Set(pids);
    for (const p of pids) {
      if (preexisting.has(p) || !hasMarker(p, marker)) continue;
      const stat = readProcStat(p);
      if (stat && !inside.has(stat.ppid)) return p;
    }
    await sleep(wait);
  }
  return 0;
}

/**
 * One round of SIGKILL from the host to the tree of `root` (whose start time
 * is `rootStart`): its process group, then every process in the container
 * (`procsFile`, else every marked process on the host) that is a descendant,
 * in the same session or group, or carries the marker. Returns how many
 * processes were signalled.
 */
export function killHostTree(root: number, rootStart: string, marker: string, procsFile: string | undefined): number {
  try {
    process.kill(-root, 'SIGKILL');
  } catch {
    /* no such group any more */
  }
  const chosen = selectTree(containerPids(procsFile, marker), root, rootStart, marker);
  for (const p of chosen) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone already */
    }
  }
  return chosen.size;
}

function selectTree(members: number[], root: number, rootStart: string, marker: string): Set<number> {
  const stats = new Map<number, ProcStat>();
  for (const p of members) {
    const s = readProcStat(p);
    if (s) stats.set(p, s);
  }
  const chosen = new Set<number>();
  const isDescendant = (s: ProcStat): boolean => {
    for (let cur: ProcStat | undefined = s, hops = 0; cur && hops < 64; cur = stats.get(cur.ppid), hops++) {
      if (cur.pid === root || cur.ppid === root) return true;
    }
    return false;
  };
  for (const s of stats.values()) {
    if (s.pid === root ? s.startTime === rootStart : s.pgrp === root || s.session === root || isDescendant(s) || hasMarker(s.pid, marker)) {
      chosen.add(s.pid);
    }
  }
  return chosen;
}

function containerPids(procsFile: string | undefined, marker: string): number[] {
  const listed = procsFile ? readPids(procsFile) : undefined;
  if (listed) return listed;
  // Otherwise scan /proc.
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .map(Number)
    .filter((p) => {
      try {
        return statSync(`/proc/${p}`).isDirectory() && hasMarker(p, marker);
      } catch {
        return false;
      }
    });
}

/** Remote engine: find the marked processes inside the container and kill them there. */
export async function killInContainer(docker: Docker, container: Docker.Container, marker: string, log: Logger): Promise<void> {
  const script =
    'for i in 1 2 3 4 5; do found=; for d in /proc/[0-9]*; do ' +
    `if tr '\\0' '\\n' < "$d/environ" 2>/dev/null | grep -qxF "$1"; then kill -9 "\${d#/proc/}" 2>/dev/null && found=1; fi; ` +
    'done; [ -z "$found" ] && break; sleep 0.05; done';
  try {
    const exec = await container.exec({ Cmd: ['sh', '-c', script, 'kill-challenge', marker], AttachStdout: true, AttachStderr: true, User: '0' });
    const stream = (await exec.start({ hijack: true, stdin: false })) as Duplex;
    const drain = new PassThrough();
    docker.modem.demuxStream(stream, drain, drain);
    drain.resume();
    await new Promise<void>((resolve) => {
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', () => resolve());
      setTimeout(resolve, 3000).unref();
    });
  } catch (err) {
    log.warn('could not kill the challenge inside the container', { error: (err as Error).message });
  }
}
