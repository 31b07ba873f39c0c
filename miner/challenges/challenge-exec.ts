/**
 * One challenge command run with `docker exec` (an argument array, no TTY,
 * no host shell): stdout and stderr counted, hashed and their tails kept
 * (bounded-capture.ts), exit detection, and
 * killing the command's whole process tree, which Docker itself cannot do.
 *
 * The exec'd process is a session and process-group leader (runc calls
 * setsid). Its host pid is found in the container's cgroup.procs (the new
 * process carrying this run's marker whose parent is outside the container),
 * or from `exec inspect`, and is then named by its start time too. When the
 * miner can signal the container's processes from the host
 * (container-processes.ts: only processes proven to be in the container's
 * cgroup) the kill is done from here: SIGKILL to the command's tree (its
 * session and group, descendants, and every process carrying this run's
 * marker, which catches daemonised children) until none is left. Otherwise
 * (a remote engine, no access to its cgroups) it runs `kill` inside the
 * container through another exec.
 */
import type Docker from 'dockerode';
import { closeSync, openSync, readSync } from 'node:fs';
import { Writable, type Duplex } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../common/logger.js';
import { RESULT_TAIL_BYTES, STDERR_TAIL_BYTES } from '../../common/message-limits.js';
import { StreamCapture } from './bounded-capture.js';
import type { ContainerProcesses } from './container-processes.js';
import { execPidFromCgroup, hasMarker, killInContainer, readPids } from './exec-processes.js';
import { readProcStat } from './proc-stat.js';

export { BoundedCapture, StreamCapture } from './bounded-capture.js';

export type OutputName = 'stdout' | 'stderr';

export interface ExecOutcome {
  exitCode: number;
  stdout: StreamCapture;
  stderr: StreamCapture;
  /** When the exit was seen (process.hrtime.bigint()). */
  endedNs: bigint;
}

export interface ChallengeExecOptions {
  command: string[];
  stdin: Buffer;
  /** Marker put in the command's environment (NAME=value), used to find its processes. */
  marker: string;
  /** Bytes of each stream that may go out live (challenge.max_output_bytes); all of it is counted and hashed. */
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
   * The container's processes, when the miner can signal them from the host:
   * the exec's host pid is then found in its cgroup.procs (the process
   * carrying `marker` whose parent is outside the container) instead of by
   * polling Docker's exec inspect, and the kill is done through it.
   */
  processes?: ContainerProcesses;
}

export class ChallengeExec {
  readonly stdout: StreamCapture;
  readonly stderr: StreamCapture;
  /** Host pid of the exec'd process, once known (0 before). */
  pid = 0;
  private pidStart = '';
  private preexisting = new Set<number>();
  /** True when the exec's process was found in the container's cgroup: its tree is then killed from the host. */
  private hostAccess = false;
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
    this.stdout = new StreamCapture(RESULT_TAIL_BYTES, options.maxOutputBytes);
    this.stderr = new StreamCapture(STDERR_TAIL_BYTES, options.maxOutputBytes);
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
    if (this.options.processes) this.preexisting = new Set(readPids(this.options.processes.procsFile) ?? []);
    const stream = (await this.exec.start({ hijack: true, stdin: withStdin })) as Duplex;
    this.stream = stream;
    const sink = (name: OutputName, capture: StreamCapture) =>
      new Writable({
        write: (chunk: Buffer, _enc, done) => {
          this.lastDataAt = Date.now();
          const live = capture.append(chunk);
          if (live.length > 0 && this.options.onOutput && !this.options.onOutput(name, live)) stream.pause();
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
    // result (300 ms without data ends the wait). The quiet time counts from
    // the exit at the earliest: what a command wrote just before it exited
    // can reach Docker's stream after the host saw the exit.
    const exitSeenAt = Date.now();
    while (!this.streamEnded && !this.killing) {
      const idle = Date.now() - Math.max(this.lastDataAt, exitSeenAt);
      if (!this.stream?.isPaused() && idle > 300) break;
      await sleep(10);
    }
    this.stream?.destroy();
    return { exitCode: info.ExitCode ?? -1, stdout: this.stdout, stderr: this.stderr, endedNs };
  }

  private async findPid(): Promise<void> {
    try {
      const { processes, marker } = this.options;
      if (processes) this.pid = await execPidFromCgroup(processes.procsFile, marker, this.preexisting, () => this.streamEnded);
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
      // Only a process in the container's cgroup that carries our marker is ours.
      const stat = this.pid && processes ? processes.verify(this.pid) : undefined;
      if (stat && hasMarker(this.pid, marker)) this.watchHostProcess(stat.startTime);
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

  /** Keeps /proc/<pid>/stat open: reading it tells the exit apart from a reused pid. */
  private watchHostProcess(startTime: string): void {
    this.hostAccess = true;
    this.pidStart = startTime;
    try {
      this.statFd = openSync(`/proc/${this.pid}/stat`, 'r');
      // It could have been reused between the two looks: check it is still ours.
      if (readProcStat(this.pid)?.startTime !== startTime) this.closeStat();
    } catch {
      this.statFd = undefined;
    }
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
   * kill(pid, 0), which fails once the process is reaped (signal 0 delivers
   * nothing: it only asks whether the pid exists), and every tenth time a
   * read of the kept-open /proc/<pid>/stat, which also sees a zombie and
   * cannot be fooled by a reused pid. No promise, no timer.
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
    const { processes, marker } = this.options;
    if (this.hostAccess && processes) {
      const left = await processes.killTree({ pid: this.pid, startTime: this.pidStart }, marker);
      if (left > 0) this.options.log.warn('processes survived SIGKILL', { pid: this.pid, left });
    } else {
      await killInContainer(this.docker, this.container, this.options.marker, this.options.log);
    }
    this.exitSeen();
  }
}
