/**
 * Finding a challenge command's processes, and ending processes from inside
 * a container when the miner cannot signal them from the host. From the
 * host: the container's cgroup.procs and the run's marker in a process's
 * environment (container-processes.ts does the signalling). Inside (a remote
 * engine, or no access to the container's cgroup): `kill` run by another
 * exec, in the container's own pid namespace, so no host process can be hit.
 */
import type Docker from 'dockerode';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, type Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../common/logger.js';
import { readProcStat } from './proc-stat.js';

function environ(pid: number, procRoot: string): string | undefined {
  try {
    return readFileSync(join(procRoot, String(pid), 'environ'), 'latin1');
  } catch {
    return undefined;
  }
}

/** True when the process's environment holds `marker` (NAME=value). */
export function hasMarker(pid: number, marker: string, procRoot = '/proc'): boolean {
  const env = environ(pid, procRoot);
  if (env === undefined) return false;
  return env.startsWith(marker + '\0') || env.includes('\0' + marker + '\0') || env.endsWith('\0' + marker) || env === marker;
}

/** The NAME=value entry of the process's environment for `name`, if it has one. */
export function environEntry(pid: number, name: string, procRoot = '/proc'): string | undefined {
  return environ(pid, procRoot)?.split('\0').find((entry) => entry.startsWith(name + '='));
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

/** Kills, inside the container, every process carrying `marker` (a challenge's run). */
const KILL_MARKED =
  'for i in 1 2 3 4 5; do found=; for d in /proc/[0-9]*; do ' +
  `if tr '\\0' '\\n' < "$d/environ" 2>/dev/null | grep -qxF "$1"; then kill -9 "\${d#/proc/}" 2>/dev/null && found=1; fi; ` +
  'done; [ -z "$found" ] && break; sleep 0.05; done';

/**
 * Kills, inside the container, what `docker exec` started (as
 * ContainerProcesses.endExecs does from the host): processes whose parent is
 * outside the namespace (ppid 0) other than pid 1 and this script's own
 * session, with their session and group members started no earlier, their
 * descendants, and processes carrying the same challenge marker. Prints
 * nothing; three rounds.
 */
const KILL_EXECS = `me=$$; rp=') '
for round in 1 2 3; do
  list=$(for d in /proc/[0-9]*; do
    s=$(cat "$d/stat" 2>/dev/null) || continue
    set -- \${s##*"$rp"}
    m=$(tr '\\0' '\\n' < "$d/environ" 2>/dev/null | grep -m1 '^POLARISE_CHALLENGE=')
    echo "\${d#/proc/} $2 $3 $4 \${20} $m"
  done | awk -v me="$me" '
    { n++; id[n] = $1; pp[$1] = $2; pg[$1] = $3; sid[$1] = $4; st[$1] = $5; mk[$1] = $6 }
    END {
      for (i = 1; i <= n; i++) { p = id[i]; if (pp[p] == 0 && p != 1 && sid[p] != me) root[p] = 1 }
      for (i = 1; i <= n; i++) {
        p = id[i]; if (sid[p] == me) continue
        for (r in root) if (p == r || ((sid[p] == r || pg[p] == r) && st[p] + 0 >= st[r] + 0) || (mk[r] != "" && mk[p] == mk[r])) { pick[p] = 1; break }
      }
      do { grew = 0; for (i = 1; i <= n; i++) { p = id[i]; if (!(p in pick) && (pp[p] in pick) && sid[p] != me) { pick[p] = 1; grew = 1 } } } while (grew)
      for (p in pick) printf "%s ", p
    }')
  [ -z "$list" ] && break
  kill -9 $list 2>/dev/null
  sleep 0.05
done`;

/** Runs a script as root inside the container and waits (at most `withinMs`) for it to end. */
async function runInside(docker: Docker, container: Docker.Container, argv: string[], withinMs: number): Promise<void> {
  const exec = await container.exec({ Cmd: argv, AttachStdout: true, AttachStderr: true, User: '0' });
  const stream = (await exec.start({ hijack: true, stdin: false })) as Duplex;
  const drain = new PassThrough();
  docker.modem.demuxStream(stream, drain, drain);
  drain.resume();
  await new Promise<void>((resolve) => {
    stream.on('end', resolve);
    stream.on('close', resolve);
    stream.on('error', () => resolve());
    setTimeout(resolve, withinMs).unref();
  });
}

/** No host access: find the marked processes inside the container and kill them there. */
export async function killInContainer(docker: Docker, container: Docker.Container, marker: string, log: Logger): Promise<void> {
  try {
    await runInside(docker, container, ['sh', '-c', KILL_MARKED, 'kill-challenge', marker], 3000);
  } catch (err) {
    log.warn('could not kill the challenge inside the container', { error: (err as Error).message });
  }
}

/** No host access: end what earlier `docker exec`s left running, from inside the container (a fork costs ~10 ms here: seconds). */
export async function endExecsInContainer(docker: Docker, container: Docker.Container): Promise<void> {
  await runInside(docker, container, ['sh', '-c', KILL_EXECS, 'end-execs'], 15_000);
}
