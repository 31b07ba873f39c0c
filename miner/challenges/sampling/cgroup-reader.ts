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
 */
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';

/** One reading of a container's counters. */
export interface Reading {
  /** Monotonic time of the read (process.hrtime.bigint()). */
  atNs: bigint;
  /** Wall-clock time of the read. */
  time: Date;
  /** Cumulative CPU nanoseconds the container has used. */
  cpuNs: bigint;
  /** Bytes in use, without inactive file cache. */
  memoryUsage: number;
  /** The memory limit in bytes (the host's memory when unlimited). */
  memoryLimit: number;
  /** Processes and threads. */
  pids: number;
  /** OOM kills in the container's memory cgroup so far (undefined when unknown). */
  oomKills?: number;
}

export type SourceName = 'cgroup_v1' | 'cgroup_v2' | 'docker_stats';

/** Something that can read a container's counters now. */
export interface ContainerReader {
  readonly source: SourceName;
  /** `fresh`: re-read everything now (the limit and OOM count are otherwise refreshed every tenth reading). */
  read(fresh?: boolean): Promise<Reading> | Reading;
  close(): void;
}

interface Mount {
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

/** Parses /proc/self/mountinfo for cgroup and cgroup2 mounts. */
export function cgroupMounts(mountinfo = '/proc/self/mountinfo'): Mount[] {
  const mounts: Mount[] = [];
  for (const line of readFileSync(mountinfo, 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fsType = right[0] ?? '';
    if (fsType !== 'cgroup' && fsType !== 'cgroup2') continue;
    const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    mounts.push({ root: unescape(left[3] ?? '/'), mountPoint: unescape(left[4] ?? ''), fsType, superOptions: (right[2] ?? '').split(',') });
  }
  return mounts;
}

/** The whole host's cgroup mode: 2 when /sys/fs/cgroup itself is cgroup2, 1 when v1 hierarchies exist, else null. */
export function hostCgroupVersion(mounts = cgroupMounts()): 1 | 2 | null {
  if (mounts.some((m) => m.fsType === 'cgroup2' && m.mountPoint === '/sys/fs/cgroup')) return 2;
  if (mounts.some((m) => m.fsType === 'cgroup')) return 1;
  if (mounts.some((m) => m.fsType === 'cgroup2')) return 2;
  return null;
}

function under(mount: Mount, path: string): string {
  // When the miner itself sits in a cgroup namespace the mount's root is a
  // prefix of the paths /proc/<pid>/cgroup shows.
  let rel = path;
  if (mount.root !== '/' && (rel === mount.root || rel.startsWith(mount.root + '/'))) rel = rel.slice(mount.root.length);
  return join(mount.mountPoint, rel);
}

export interface CgroupPaths {
  version: 1 | 2;
  /** v1: per controller directory; v2: the one directory under every key. */
  cpu: string;
  memory: string;
  pids?: string;
}

/**
 * Where a process's cgroup files are, from /proc/<pid>/cgroup.
 * Prefers v1 controllers when the process has them (hybrid hosts mount an
 * empty cgroup2 tree beside the v1 hierarchies).
 */
export function cgroupPathsOf(pid: number, procRoot = '/proc', mounts = cgroupMounts()): CgroupPaths | null {
  let text: string;
  try {
    text = readFileSync(join(procRoot, String(pid), 'cgroup'), 'utf8');
  } catch {
    return null;
  }
  const v1 = new Map<string, string>();
  let v2Path: string | undefined;
  for (const line of text.split('\n')) {
    const first = line.indexOf(':');
    const second = line.indexOf(':', first + 1);
    if (first < 0 || second < 0) continue;
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1);
    if (line.slice(0, first) === '0' && controllers === '') v2Path = path;
    else for (const c of controllers.split(',')) v1.set(c, path);
  }
  const v1Dir = (controller: string): string | undefined => {
    const path = v1.get(controller);
    if (path === undefined) return undefined;
    const mount = mounts.find((m) => m.fsType === 'cgroup' && m.superOptions.includes(controller));
    return mount ? under(mount, path) : undefined;
  };
  const cpu = v1Dir('cpuacct');
  const memory = v1Dir('memory');
  if (cpu && memory && existsSync(join(cpu, 'cpuacct.usage')) && existsSync(join(memory, 'memory.usage_in_bytes'))) {
    const pids = v1Dir('pids');
    return { version: 1, cpu, memory, pids: pids && existsSync(join(pids, 'pids.current')) ? pids : undefined };
  }
  if (v2Path !== undefined) {
    for (const mount of mounts.filter((m) => m.fsType === 'cgroup2')) {
      const dir = under(mount, v2Path);
      if (existsSync(join(dir, 'cpu.stat')) && existsSync(join(dir, 'memory.current'))) {
        return { version: 2, cpu: dir, memory: dir, pids: existsSync(join(dir, 'pids.current')) ? dir : undefined };
      }
    }
  }
  return null;
}

const NOT_FOUND = -2;

/**
 * A file kept open and re-read from offset 0. Numbers are parsed straight
 * from the read buffer: no string, no BigInt, no garbage per reading.
 */
class KeptFile {
  private readonly fd: number;
  private buffer: Buffer;
  private length = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    this.buffer = Buffer.allocUnsafe(4096);
  }

  /** Reads the whole file into the buffer; returns its length. */
  load(): number {
    for (;;) {
      const n = readSync(this.fd, this.buffer, 0, this.buffer.length, 0);
      if (n < this.buffer.length) return (this.length = n);
      // The file is bigger than the buffer: grow and read again.
      this.buffer = Buffer.allocUnsafe(this.buffer.length * 2);
    }
  }

  text(): string {
    return this.buffer.toString('latin1', 0, this.load());
  }

  /** The decimal number at `at` of the loaded buffer (-1 for "max"); NaN when there is none. */
  private numberAt(at: number): number {
    const b = this.buffer;
    const end = this.length;
    while (at < end && (b[at] === 0x20 || b[at] === 0x09)) at++;
    if (b[at] === 0x6d /* m */ && b[at + 1] === 0x61 && b[at + 2] === 0x78) return -1;
    let value = 0;
    let digits = 0;
    for (let c = b[at]!; at < end && c >= 0x30 && c <= 0x39; c = b[++at]!) {
      value = value * 10 + (c - 0x30);
      digits++;
    }
    return digits === 0 ? NaN : value;
  }

  /** The file as one number ("max" → -1). Exact below 2^53. */
  number(): number {
    this.load();
    const v = this.numberAt(0);
    if (Number.isNaN(v)) throw new Error(`${this.path}: not a number`);
    return v;
  }

  /** The file as one bigint ("max" → -1n), exact at any size. */
  bigint(): bigint {
    const v = this.number();
    // Fifteen digits or fewer are exact in a double; longer values go through the text.
    if (v < 1e15) return BigInt(v);
    const t = this.buffer.toString('latin1', 0, this.length).trim();
    return t === 'max' ? -1n : BigInt(t);
  }

  /**
   * The value of `key` (given as "\nkey " bytes) in a "key value" per line
   * file, from the buffer loaded last; NOT_FOUND when absent.
   */
  stat(key: Buffer): number {
    let at: number;
    // The first line has no newline before it.
    if (this.length >= key.length - 1 && this.buffer.compare(key, 1, key.length, 0, key.length - 1) === 0) at = key.length - 1;
    else {
      at = this.buffer.indexOf(key);
      if (at < 0 || at + key.length > this.length) return NOT_FOUND;
      at += key.length;
    }
    const v = this.numberAt(at);
    return Number.isNaN(v) ? NOT_FOUND : v;
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}

const statKey = (key: string) => Buffer.from(`\n${key} `, 'latin1');
const KEY = {
  usageUsec: statKey('usage_usec'),
  totalInactiveFile: statKey('total_inactive_file'),
  inactiveFile: statKey('inactive_file'),
  oomKill: statKey('oom_kill'),
};

/** The value of `key` in a "key value" per line file (memory.stat, cpu.stat, memory.events). */
export function statValue(text: string, key: string): bigint | undefined {
  let at = text.startsWith(key + ' ') ? 0 : text.indexOf('\n' + key + ' ');
  if (at < 0) return undefined;
  if (at > 0) at += 1;
  const start = at + key.length + 1;
  const end = text.indexOf('\n', start);
  return BigInt(text.slice(start, end < 0 ? undefined : end).trim());
}

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

  constructor(readonly paths: CgroupPaths) {
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
    return { atNs, time, cpuNs, memoryUsage, memoryLimit: this.cachedLimit, pids, oomKills: this.cachedOom };
  }

  close(): void {
    for (const f of this.files) f.close();
    this.files.length = 0;
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
      entry = { reader: new CgroupReader(paths), users: 0 };
    } catch {
      return null;
    }
    sharedReaders.set(key, entry);
  }
  entry.users++;
  return new SharedCgroupReader(key, entry);
}
