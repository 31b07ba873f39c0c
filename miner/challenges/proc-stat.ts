/** The one parser of /proc/<pid>/stat (man 5 proc): the fields the miner uses to find and name processes. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcStat {
  pid: number;
  ppid: number;
  pgrp: number;
  session: number;
  /** Start time in clock ticks since boot: with the pid, names a process even if the pid is reused. */
  startTime: string;
}

/** undefined when the process is gone or a zombie (a zombie runs nothing). */
export function readProcStat(pid: number, procRoot = '/proc'): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(join(procRoot, String(pid), 'stat'), 'latin1');
  } catch {
    return undefined;
  }
  // The command name may contain spaces and parentheses: parse after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
  return { pid, ppid: Number(rest[1]), pgrp: Number(rest[2]), session: Number(rest[3]), startTime: rest[19] ?? '' };
}
