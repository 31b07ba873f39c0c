/**
 * Reads a container's resource use straight from its cgroup files (v1 or v2,
 * detected per container from /proc/<pid>/cgroup and /proc/self/mountinfo).
 *
 * The files stay open for the life of the reader and every read is a pread at
 * offset 0 (a few microseconds each), parsed in place from the read buffer,
 * so sampling at 10 Hz or faster costs the miner next to nothing. Runs in
 * the same container share one reader (and one set of reads per tick).
 *
 *   v1: cpuacct.usage (ns); memory.usage_in_bytes − total_inactive_file
 *       (memory.stat); memory.limit_in_bytes; pids.current (or the number of
 *       tasks); oom_kill in memory.oom_control.
 *   v2: usage_usec in cpu.stat; memory.current − inactive_file (memory.stat);
 *       memory.max; pids.current; oom_kill in memory.events.
 *
 * Memory is "in use" the way `docker stats` shows it: without inactive file cache.
 * Network counters come from the container's namespace (net-dev.ts).
 */
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { cgroupPathsOf, type CgroupPaths } from './cgroup-paths.js';
import { KeptFile, NOT_FOUND, statKey } from './kept-file.js';
import { NetDevFile } from './net-dev.js';
import type { ContainerReader, Reading, SourceName } from './reader.js';

export { cgroupMounts, cgroupPathsOf, hostCgroupVersion, type CgroupPaths } from './cgroup-paths.js';
export { statValue } from './kept-file.js';
export type { ContainerReader, Reading, SourceName } from './reader.js';

const KEY = {
  usageUsec: statKey('usage_usec'),
  totalInactiveFile: statKey('total_inactive_file'),
  inactiveFile: statKey('inactive_file'),
  oomKill: statKey('oom_kill'),
};

const HOST_MEMORY = totalmem();

function limitOf(raw: bigint): number {
  // "max" (v2) or the page-rounded 2^63 (v1) mean "no limit": like `docker
  // stats`, report the host's memory then.
  if (raw < 0n || raw >= BigInt(HOST_MEMORY)) return HOST_MEMORY;
  return Number(raw);
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

export class CgroupReader implements ContainerReader {
  readonly source: SourceName;
  private readonly files: KeptFile[] = [];
  private readonly cpu: KeptFile;
  private readonly memUsage: KeptFile;
  private readonly memStat: KeptFile;
  private readonly memLimit: KeptFile;
  private readonly pids: KeptFile;
  private readonly pidsIsTaskList: boolean;
  private readonly oom?: KeptFile;
  private readonly net?: NetDevFile;

  /** `netDevPath`: /proc/<pid>/net/dev of a process in the container, when its network counters are wanted. */
  constructor(
    readonly paths: CgroupPaths,
    netDevPath?: string,
  ) {
    const open = (dir: string, name: string) => {
      const f = new KeptFile(join(dir, name));
      this.files.push(f);
      return f;
    };
    const tryOpen = (dir: string, name: string) => {
      try {
        return open(dir, name);
      } catch {
        return undefined;
      }
    };
    try {
      if (paths.version === 1) {
        this.source = 'cgroup_v1';
        this.cpu = open(paths.cpu, 'cpuacct.usage');
        this.memUsage = open(paths.memory, 'memory.usage_in_bytes');
        this.memStat = open(paths.memory, 'memory.stat');
        this.memLimit = open(paths.memory, 'memory.limit_in_bytes');
        this.oom = tryOpen(paths.memory, 'memory.oom_control');
        this.pids = paths.pids ? open(paths.pids, 'pids.current') : open(paths.cpu, 'tasks');
      } else {
        this.source = 'cgroup_v2';
        this.cpu = open(paths.cpu, 'cpu.stat');
        this.memUsage = open(paths.memory, 'memory.current');
        this.memStat = open(paths.memory, 'memory.stat');
        this.memLimit = open(paths.memory, 'memory.max');
        this.oom = tryOpen(paths.memory, 'memory.events');
        this.pids = paths.pids ? open(paths.pids, 'pids.current') : open(paths.cpu, 'cgroup.threads');
      }
      this.pidsIsTaskList = !paths.pids;
      this.net = netDevPath === undefined ? undefined : openNetDev(netDevPath);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private reads = 0;
  private cachedLimit = 0;
  private cachedOom: number | undefined;

  read(fresh = false): Reading {
    const slow = fresh || this.reads++ % 10 === 0;
    const atNs = process.hrtime.bigint();
    const time = new Date();
    const v1 = this.paths.version === 1;
    let cpuNs: bigint;
    if (v1) cpuNs = this.cpu.bigint();
    else {
      this.cpu.load();
      const usec = this.cpu.stat(KEY.usageUsec);
      cpuNs = usec === NOT_FOUND ? 0n : BigInt(usec) * 1000n;
    }
    const usage = this.memUsage.number();
    this.memStat.load();
    const inactive = this.memStat.stat(v1 ? KEY.totalInactiveFile : KEY.inactiveFile);
    const memoryUsage = inactive > 0 && inactive < usage ? usage - inactive : usage;
    const pids = this.pidsIsTaskList ? countLines(this.pids.text()) : this.pids.number();
    if (slow) {
      // The limit and the OOM count change rarely: read them every tenth time (and when asked).
      this.cachedLimit = limitOf(this.memLimit.bigint());
      if (this.oom) {
        this.oom.load();
        const kills = this.oom.stat(KEY.oomKill);
        this.cachedOom = kills === NOT_FOUND ? 0 : kills;
      }
    }
    return { atNs, time, cpuNs, memoryUsage, memoryLimit: this.cachedLimit, pids, oomKills: this.cachedOom, net: this.net?.read() };
  }

  close(): void {
    for (const f of this.files) f.close();
    this.files.length = 0;
    this.net?.close();
  }
}

/** Network counters are optional: a reader without them still samples CPU and memory. */
function openNetDev(path: string): NetDevFile | undefined {
  try {
    return new NetDevFile(path);
  } catch {
    return undefined;
  }
}

interface SharedEntry {
  reader: CgroupReader;
  users: number;
  last?: Reading;
}

/** One reader per cgroup, shared by every run in that container. */
const sharedReaders = new Map<string, SharedEntry>();

/**
 * Readings this recent are handed to another run in the same container
 * instead of reading the files again: runs on the shared sample grid tick in
 * the same wake-up, so N challenges in one container cost one set of reads
 * per tick. Each reading carries its own time, so rates stay exact.
 */
const SAME_TICK_NS = 1_000_000n;

/** A run's handle on a shared per-cgroup reader. */
export class SharedCgroupReader implements ContainerReader {
  readonly source: SourceName;
  private closed = false;

  constructor(
    private readonly key: string,
    private readonly entry: SharedEntry,
  ) {
    this.source = entry.reader.source;
  }

  get paths(): CgroupPaths {
    return this.entry.reader.paths;
  }

  read(fresh = false): Reading {
    const e = this.entry;
    if (!fresh && e.last !== undefined && process.hrtime.bigint() - e.last.atNs < SAME_TICK_NS) return e.last;
    const r = e.reader.read(fresh);
    e.last = r;
    return r;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (--this.entry.users === 0) {
      this.entry.reader.close();
      if (sharedReaders.get(this.key) === this.entry) sharedReaders.delete(this.key);
    }
  }
}

/** Cgroups with an open shared reader (for tests). */
export function sharedReaderCount(): number {
  return sharedReaders.size;
}

/**
 * Opens a reader on the cgroup of the container whose main process is
 * `pid` (a host pid, from `docker inspect` State.Pid), or null when its
 * cgroup files are not reachable from here (remote engine, no /proc access).
 * Runs in the same container share one set of open files.
 */
export function openCgroupReader(pid: number, procRoot = '/proc'): SharedCgroupReader | null {
  if (!pid) return null;
  let paths: CgroupPaths | null;
  try {
    paths = cgroupPathsOf(pid, procRoot);
  } catch {
    return null;
  }
  if (!paths) return null;
  const key = `${paths.version}\0${paths.cpu}\0${paths.memory}\0${paths.pids ?? ''}`;
  let entry = sharedReaders.get(key);
  if (!entry) {
    try {
      entry = { reader: new CgroupReader(paths, join(procRoot, String(pid), 'net', 'dev')), users: 0 };
    } catch {
      return null;
    }
    sharedReaders.set(key, entry);
  }
  entry.users++;
  return new SharedCgroupReader(key, entry);
}
