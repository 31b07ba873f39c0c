/**
 * One challenge command run with `docker exec` (an argument array, no TTY,
 * no host shell): bounded capture of stdout and stderr, exit detection, and
 * killing the command's whole process tree, which Docker itself cannot do.
 *
 * The exec'd process is a session and process-group leader (runc calls
 * setsid). Its host pid is found in the container's cgroup.procs (the new
 * process carrying this run's marker whose parent is outside the container),
 * or from `exec inspect` when the cgroup is out of reach. When the miner shares the
 * engine's host (and may signal its processes) the kill is done from here:
 * SIGKILL to the process group, then to every process in the container's
 * cgroup that is a descendant, in the same session or group, or carries this
 * run's marker in its environment (which catches daemonised children), until
 * none is left. Otherwise (a remote engine) it runs `kill` inside the
 * container through another exec.
 */
import { readProcStat, type ProcStat } from './proc-stat.js';
import type Docker from 'dockerode';
import { closeSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Writable, type Duplex } from 'node:stream';
import type { Logger } from '../../common/logger.js';
import { cgroupPathsOf } from './sampling/cgroup-reader.js';

export type OutputName = 'stdout' | 'stderr';

/** Keeps the first `limit` bytes of a stream and remembers whether more came. */
export class BoundedCapture {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly limit: number) {}

  /** Stores what fits; returns the part that was kept. */
  append(data: Buffer): Buffer {
    const room = this.limit - this.size;
    if (room <= 0) {
      if (data.length > 0) this.truncated = true;
      return data.subarray(0, 0);
    }
    const kept = data.length > room ? data.subarray(0, room) : data;
    if (kept.length < data.length) this.truncated = true;
    this.chunks.push(Buffer.from(kept));
    this.size += kept.length;
    return kept;
  }

  get bytes(): number {
    return this.size;
  }

  /** The kept bytes as UTF-8, without a character cut in half at the bound. */
  text(): string {
    let buf = Buffer.concat(this.chunks, this.size);
    if (this.truncated) {
      // Drop an incomplete multi-byte sequence at the cut.
      let end = buf.length;
      let back = 0;
      while (end > 0 && back < 4 && (buf[end - 1]! & 0xc0) === 0x80) {
        end--;
        back++;
      }
      if (end > 0) {
        const lead = buf[end - 1]!;
        const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
        if (need > back + 1) buf = buf.subarray(0, end - 1);
      }
    }
    return buf.toString('utf8');
  }
}

export interface ExecOutcome {
  exitCode: number;
  stdout: BoundedCapture;
  stderr: BoundedCapture;
  /** When the exit was seen (process.hrtime.bigint()). */
  endedNs: bigint;
}

export interface ChallengeExecOptions {
  command: string[];
  stdin: Buffer;
  /** Marker put in the command's environment (NAME=value), used to find its processes. */
  marker: string;
  maxOutputBytes: number;
  /** Live output (only what fits under the bound); return false to pause the source. */
  onOutput?: (stream: OutputName, data: Buffer) => boolean;
  log: Logger;
  /**
   * The caller calls poll() often (every sample tick): then no timer of our
   * own watches for the exit while the host's /proc can be read.
   */
  externalPolling?: boolean;
  /**
   * The container's cgroup.procs file, when the miner can read it: the exec's
   * host pid is then found there (the process carrying `marker` whose parent
   * is outside the container) instead of by polling Docker's exec inspect.
   */
  cgroupProcs?: string;
}

function hasMarker(pid: number, marker: string): boolean {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'latin1');
    return env.startsWith(marker + '\0') || env.includes('\0' + marker + '\0') || env.endsWith('\0' + marker);
  } catch {
    return false;
  }
}

/** The pids listed in a cgroup.procs file, or undefined when it cannot be read. */
function readPids(file: string): number[] | undefined {
  try {
    return readFileSync(file, 'latin1').split('\n').filter(Boolean).map(Number);
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class ChallengeExec {
  readonly stdout: BoundedCapture;
  readonly stderr: BoundedCapture;
  /** Host pid of the exec'd process, once known (0 before). */
  pid = 0;
  private pidStart = '';
  /** True when this process may signal the exec's processes directly. */
  private hostAccess = false;
  private procsFile?: string;
  private stream?: Duplex;
  private exitSeen!: () => void;
  private readonly exited = new Promise<void>((resolve) => (this.exitSeen = () => {
    this.hasExited = true;
    resolve();
  }));
  /** True once the command's exit (or its kill) was seen. */
  hasExited = false;
  private watcher?: NodeJS.Timeout;
  private streamEnded = false;
  private lastDataAt = Date.now();
  private killing?: Promise<void>;
  private readonly pidKnown: Promise<void>;
  private statFd?: number;
  private readonly statBuf = Buffer.allocUnsafe(1024);
  private pidResolve!: () => void;

  private constructor(
    private readonly docker: Docker,
    private readonly container: Docker.Container,
    private readonly exec: Docker.Exec,
    private readonly options: ChallengeExecOptions,
  ) {
    this.stdout = new BoundedCapture(options.maxOutputBytes);
    this.stderr = new BoundedCapture(options.maxOutputBytes);
    this.pidKnown = new Promise((resolve) => (this.pidResolve = resolve));
  }

  /** Creates the exec (nothing runs yet). */
  static async create(docker: Docker, container: Docker.Container, options: ChallengeExecOptions): Promise<ChallengeExec> {
    const exec = await container.exec({
      Cmd: options.command,
      AttachStdout: true,
      AttachStderr: true,
      AttachStdin: options.stdin.length > 0,
      Tty: false,
      Env: [options.marker],
    });
    return new ChallengeExec(docker, container, exec, options);
  }

  /** Starts the command and returns once it is under way; `finished()` resolves at its exit. */
  async start(): Promise<void> {
    const withStdin = this.options.stdin.length > 0;
    // What ran in the container before: none of it can be ours.
    if (this.options.cgroupProcs) this.preexisting = new Set(readPids(this.options.cgroupProcs) ?? []);
    const stream = (await this.exec.start({ hijack: true, stdin: withStdin })) as Duplex;
    this.stream = stream;
    const sink = (name: OutputName, capture: BoundedCapture) =>
      new Writable({
        write: (chunk: Buffer, _enc, done) => {
          this.lastDataAt = Date.now();
          const kept = capture.append(chunk);
          if (kept.length > 0 && this.options.onOutput && !this.options.onOutput(name, kept)) stream.pause();
          done();
        },
      });
    this.docker.modem.demuxStream(stream, sink('stdout', this.stdout), sink('stderr', this.stderr));
    const ended = () => {
      if (this.streamEnded) return;
      this.streamEnded = true;
      this.exitSeen();
    };
    stream.on('end', ended);
    stream.on('close', ended);
    stream.on('error', (err) => {
      this.options.log.debug('exec stream error', { error: err.message });
      ended();
    });
    if (withStdin) {
      stream.write(this.options.stdin);
      // Half-close: the command sees the end of its standard input.
      stream.end();
    }
    void this.findPid();
  }

  /** Resumes a source paused by onOutput returning false. */
  resumeOutput(): void {
    this.stream?.resume();
  }

  /** Waits for the exit and returns the exit code and captured output. */
  async finished(): Promise<ExecOutcome> {
    await this.exited;
    const endedNs = process.hrtime.bigint();
    if (this.watcher) clearInterval(this.watcher);
    this.closeStat();
    // Docker may report the exit a moment after the process went away.
    let info = await this.exec.inspect();
    for (let i = 0; info.Running && i < 250; i++) {
      await sleep(20);
      info = await this.exec.inspect();
    }
    // Let the last output arrive. Output still buffered for a slow client
    // (the source is paused) is waited for until it drains or the run is
    // killed; children that keep stdout open without writing do not hold the
    // result (300 ms without data ends the wait).
    while (!this.streamEnded && !this.killing) {
      const idle = Date.now() - this.lastDataAt;
      if (!this.stream?.isPaused() && idle > 300) break;
      await sleep(10);
    }
    this.stream?.destroy();
    return { exitCode: info.ExitCode ?? -1, stdout: this.stdout, stderr: this.stderr, endedNs };
  }

  private preexisting = new Set<number>();

  /**
   * The exec's host pid from the container's cgroup.procs: the new process
   * carrying this run's marker whose parent is not in the container (the
   * runtime's shim; a daemonised child's parent is the container's init).
   * Polls the file (microseconds a look) for up to a second; 0 if not seen.
   */
  private async pidFromCgroup(file: string): Promise<number> {
    const deadline = Date.now() + 1000;
    for (let wait = 1; !this.streamEnded && Date.now() < deadline; wait = Math.min(wait * 2, 20)) {
      const pids = readPids(file);
      if (!pids) return 0;
      const inside = new Set(pids);
      for (const p of pids) {
        if (this.preexisting.has(p) || !hasMarker(p, this.options.marker)) continue;
        const stat = readProcStat(p);
        if (stat && !inside.has(stat.ppid)) return p;
      }
      await sleep(wait);
    }
    return 0;
  }

  private async findPid(): Promise<void> {
    try {
      if (this.options.cgroupProcs && process.getuid?.() === 0) this.pid = await this.pidFromCgroup(this.options.cgroupProcs);
      // Otherwise (a remote engine, no access to its cgroups) ask Docker.
      for (let i = 0; !this.pid && i < 500 && !this.streamEnded; i++) {
        const info = await this.exec.inspect();
        if (info.Pid) {
          this.pid = info.Pid;
          break;
        }
        if (!info.Running && info.ExitCode !== null) break; // already over
        await sleep(10);
      }
      if (this.pid) {
        const stat = readProcStat(this.pid);
        // Only a process that carries our marker is ours: with a remote engine
        // the pid means nothing here.
        if (stat && hasMarker(this.pid, this.options.marker) && process.getuid?.() === 0) {
          this.hostAccess = true;
          this.pidStart = stat.startTime;
          try {
            this.statFd = openSync(`/proc/${this.pid}/stat`, 'r');
            // It could have been reused between the two looks: check it is still ours.
            if (readProcStat(this.pid)?.startTime !== stat.startTime) this.closeStat();
          } catch {
            this.statFd = undefined;
          }
          const paths = cgroupPathsOf(this.pid);
          if (paths) this.procsFile = join(paths.cpu, 'cgroup.procs');
        }
      }
    } catch (err) {
      this.options.log.debug('exec pid lookup failed', { error: (err as Error).message });
    } finally {
      this.pidResolve();
    }
    // Watch for the exit: the stream can stay open after it (children holding stdout).
    if (this.hostAccess && this.options.externalPolling) return;
    this.watcher = setInterval(() => void this.checkAlive(), this.hostAccess ? 100 : 500);
    this.watcher.unref();
  }

  private closeStat(): void {
    if (this.statFd === undefined) return;
    try {
      closeSync(this.statFd);
    } catch {
      /* already closed */
    }
    this.statFd = undefined;
  }

  private polls = 0;

  /**
   * A cheap liveness check for callers that tick anyway (every sample): a
   * kill(pid, 0), which fails once the process is reaped, and every tenth
   * time a read of the kept-open /proc/<pid>/stat, which also sees a zombie
   * and cannot be fooled by a reused pid. No promise, no timer.
   */
  poll(): void {
    if (!this.hostAccess || this.hasExited) return;
    if (this.polls++ % 10 !== 0) {
      try {
        process.kill(this.pid, 0);
        return;
      } catch {
        /* gone: confirm through /proc below */
      }
    }
    this.checkHost();
  }

  /** Host access: is the exec'd process still there? (Sees the exit when not.) */
  private checkHost(): void {
    if (this.statFd === undefined) {
      const stat = readProcStat(this.pid);
      if (!stat || stat.startTime !== this.pidStart) this.exitSeen();
      return;
    }
    // A kept-open /proc/<pid>/stat names this very process: reading it
    // fails (ESRCH) once it is reaped; a zombie shows state Z.
    try {
      const n = readSync(this.statFd, this.statBuf, 0, this.statBuf.length, 0);
      const close = this.statBuf.lastIndexOf(0x29 /* ')' */, n - 1);
      const state = this.statBuf[close + 2];
      if (state === 0x5a /* Z */ || state === 0x58 /* X */) this.exitSeen();
    } catch {
      this.exitSeen();
    }
    if (this.hasExited) this.closeStat();
  }

  private async checkAlive(): Promise<void> {
    if (this.hostAccess) {
      this.checkHost();
      return;
    }
    try {
      const info = await this.exec.inspect();
      if (!info.Running) this.exitSeen();
    } catch {
      this.exitSeen();
    }
  }

  /**
   * Kills the command and every process it started. Resolves once none is
   * left (or after about a second of trying).
   */
  kill(): Promise<void> {
    this.killing ??= this.doKill();
    return this.killing;
  }

  private async doKill(): Promise<void> {
    await this.pidKnown;
    if (!this.pid) {
      // Never started, or over before we could see it.
      return;
    }
    if (this.hostAccess) {
      const deadline = Date.now() + 1000;
      for (let round = 0; ; round++) {
        const left = this.killHostTree();
        if (left === 0 || Date.now() > deadline) {
          if (left > 0) this.options.log.warn('processes survived SIGKILL', { pid: this.pid, left });
          break;
        }
        await sleep(round < 5 ? 10 : 50);
      }
    } else {
      await this.killInContainer();
    }
    this.exitSeen();
  }

  /** One round of SIGKILL from the host; returns how many processes were signalled. */
  private killHostTree(): number {
    const root = this.pid;
    try {
      process.kill(-root, 'SIGKILL');
    } catch {
      /* no such group any more */
    }
    const members = this.containerPids();
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
      if (s.pid === root ? s.startTime === this.pidStart : s.pgrp === root || s.session === root || isDescendant(s) || hasMarker(s.pid, this.options.marker)) {
        chosen.add(s.pid);
      }
    }
    for (const p of chosen) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone already */
      }
    }
    return chosen.size;
  }

  private containerPids(): number[] {
    const listed = this.procsFile ? readPids(this.procsFile) : undefined;
    if (listed) return listed;
    // Otherwise scan /proc.
    return readdirSync('/proc')
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .filter((p) => {
        try {
          return statSync(`/proc/${p}`).isDirectory() && hasMarker(p, this.options.marker);
        } catch {
          return false;
        }
      });
  }

  /** Remote engine: find the marked processes inside the container and kill them there. */
  private async killInContainer(): Promise<void> {
    const marker = this.options.marker;
    const script =
      'for i in 1 2 3 4 5; do found=; for d in /proc/[0-9]*; do ' +
      `if tr '\\0' '\\n' < "$d/environ" 2>/dev/null | grep -qxF "$1"; then kill -9 "\${d#/proc/}" 2>/dev/null && found=1; fi; ` +
      'done; [ -z "$found" ] && break; sleep 0.05; done';
    try {
      const exec = await this.container.exec({ Cmd: ['sh', '-c', script, 'kill-challenge', marker], AttachStdout: true, AttachStderr: true, User: '0' });
      const stream = (await exec.start({ hijack: true, stdin: false })) as Duplex;
      const drain = new PassThrough();
      this.docker.modem.demuxStream(stream, drain, drain);
      drain.resume();
      await new Promise<void>((resolve) => {
        stream.on('end', resolve);
        stream.on('close', resolve);
        stream.on('error', () => resolve());
        setTimeout(resolve, 3000).unref();
      });
    } catch (err) {
      this.options.log.warn('could not kill the challenge inside the container', { error: (err as Error).message });
    }
  }
}
