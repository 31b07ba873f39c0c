/**
 * Ends what an SSH session started in a container. Every `docker exec`
 * process is a session leader (its pid is its session id), so the processes
 * to end are those of that session on the host, plus any descendants that
 * started sessions of their own. The miner runs in the host's pid namespace
 * as root, so it signals them directly (Docker cannot kill an exec).
 *
 * Deliberately apart from exec-processes.ts (a challenge's tree, chosen
 * within the container's cgroup.procs): a session is found by its session id
 * over the host's /proc. Both become one cgroup-bounded killer, which signals
 * only processes proven to be in the container, with the hostile-tenant work
 * (signals by host PID).
 */
import { readdirSync } from 'node:fs';
import { readProcStat, type ProcStat } from './proc-stat.js';

type Proc = ProcStat;

function readProcs(): Proc[] {
  const out: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    if (entry < '0' || entry > '9' || !Number.isInteger(Number(entry))) continue;
    const stat = readProcStat(Number(entry));
    if (stat) out.push(stat);
  }
  return out;
}

/** The session led by `leader` and every descendant of its members. */
function sessionMembers(leader: number, procs: Proc[], also: ReadonlySet<string> = new Set()): Proc[] {
  const members = new Map<number, Proc>();
  for (const p of procs) if (p.pid === leader || p.session === leader || also.has(`${p.pid}:${p.startTime}`)) members.set(p.pid, p);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of procs) {
      if (!members.has(p.pid) && members.has(p.ppid)) {
        members.set(p.pid, p);
        grew = true;
      }
    }
  }
  return [...members.values()];
}

function signalAll(procs: Proc[], signal: NodeJS.Signals): void {
  for (const p of procs) {
    try {
      process.kill(p.pid, signal);
    } catch {
      // Already gone.
    }
  }
}

/** SIGHUP (as a hung-up terminal would), then SIGKILL what is left after `graceMs`. */
export function endSession(leader: number, graceMs = 1000): void {
  if (!(leader > 1)) return;
  const first = sessionMembers(leader, readProcs());
  if (!first.length) return;
  signalAll(first, 'SIGHUP');
  signalAll(first, 'SIGCONT');
  const seen = new Set(first.map((p) => `${p.pid}:${p.startTime}`));
  setTimeout(() => signalAll(sessionMembers(leader, readProcs(), seen), 'SIGKILL'), graceMs).unref();
}
