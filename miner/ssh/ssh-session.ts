/**
 * One SSH session channel → one `docker exec` in the allocation's container:
 * `shell` and `exec` (with or without a pty), `env`, `window-change`,
 * `signal`, and the `sftp` subsystem through the container's own
 * sftp-server. Without a pty, stdout and stderr stay apart (Docker's
 * multiplexed stream is split here with backpressure). The command's exit
 * status goes back before the channel ends; when the channel closes, the
 * processes the session started are ended.
 *
 * The exec's process is named by its host pid and start time, and only once
 * it is found in the container's cgroup; every signal (the client's, and the
 * hang-up at the end) goes through container-processes.ts, which checks
 * both again right before it. Without that proof (a remote engine, cgroups
 * out of reach) nothing is signalled from the host.
 */
import type Docker from 'dockerode';
import type { Duplex, Writable } from 'node:stream';
import type { PseudoTtyInfo, ServerChannel, Session, SetEnvInfo, SignalInfo, WindowChangeInfo } from 'ssh2';
import type { Logger } from '../../common/logger.js';
import { ContainerProcesses, exitedLeader, type ProcRef } from '../challenges/container-processes.js';
import { errorMessage } from '../../common/errors.js';

export interface SessionContext {
  docker: Docker;
  containerId: string;
  log: Logger;
  /** For SSH_CONNECTION / SSH_CLIENT. */
  remoteIp: string;
  remotePort: number;
  localIp: string;
  localPort: number;
}

const LOGIN_SHELL = 'if [ -x /bin/bash ]; then exec /bin/bash -l; fi; exec /bin/sh -l';
const RUN_COMMAND = 'if [ -x /bin/bash ]; then exec /bin/bash -c "$1"; fi; exec /bin/sh -c "$1"';
const SFTP_SERVER =
  'for p in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/lib/ssh/sftp-server /usr/libexec/sftp-server; do ' +
  '[ -x "$p" ] && exec "$p"; done; echo "this container has no sftp-server (install openssh-sftp-server)" >&2; exit 127';

const MAX_ENV = 64;
const MAX_ENV_VALUE = 8192;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, USR1: 10, USR2: 12, TERM: 15, ALRM: 14, PIPE: 13 };

/**
 * ssh2 passes no reply function when the client asked for no reply (its
 * typings claim one is always there).
 */
type Reply = (() => void) | undefined;

/** What a `shell`, `exec` or `subsystem` request runs. */
interface Command {
  argv: string[];
  /** Whether the exec gets a terminal (the client asked for a pty first). */
  tty: boolean;
  /** For logs and error messages. */
  what: 'shell' | 'exec' | 'sftp';
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

function drained(target: Writable, channel: ServerChannel): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      target.off('drain', done);
      channel.off('close', done);
      resolve();
    };
    target.once('drain', done);
    channel.once('close', done);
  });
}

/**
 * Splits Docker's multiplexed exec stream (8-byte headers: stream, 0, 0, 0,
 * big-endian length) into stdout and stderr, waiting while a destination is
 * full so a slow client never grows the miner's memory. Resolves at the end.
 */
async function demux(source: Duplex, channel: ServerChannel): Promise<void> {
  let buffer: Buffer = Buffer.alloc(0);
  for await (const chunk of source as AsyncIterable<Buffer>) {
    buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
    while (buffer.length >= 8) {
      const length = buffer.readUInt32BE(4);
      if (buffer.length < 8 + length) break;
      const payload = buffer.subarray(8, 8 + length);
      const target: Writable = buffer[0] === 2 ? channel.stderr : channel;
      buffer = buffer.subarray(8 + length);
      if (payload.length && !target.write(payload)) await drained(target, channel);
    }
  }
}

/** Resolves when a terminal exec's raw stream ends, closes or fails. */
function rawStreamEnded(stream: Duplex): Promise<void> {
  return new Promise<void>((resolve) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', () => resolve());
  });
}

async function resizeWhenRunning(exec: Docker.Exec, rows: number, cols: number): Promise<void> {
  for (let i = 0; i < 20; i++) {
    try {
      await exec.resize({ h: rows, w: cols });
      return;
    } catch {
      await pause(10); // not running yet
    }
  }
}

/** The exec's exit code once Docker sees it stopped; null if it still runs after about a second. */
async function exitCodeOf(exec: Docker.Exec): Promise<number | null> {
  for (let i = 0; i < 100; i++) {
    const state = await exec.inspect();
    if (!state.Running) return state.ExitCode;
    await pause(10);
  }
  return null;
}

function execOptions(command: Command, environment: Record<string, string>): Docker.ExecCreateOptions {
  return {
    Cmd: command.argv,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: command.tty,
    Env: Object.entries(environment).map(([k, v]) => `${k}=${v}`),
    User: 'root',
    WorkingDir: '/root',
  };
}

/** Docker's own message when it sent one (dockerode keeps the response body on `json`). */
function failureMessage(err: unknown): string | undefined {
  return (err as { json?: { message?: string } }).json?.message ?? (err as Error).message;
}

export interface SessionHandle {
  /** The connection is gone: end what the session started. */
  end(): void;
}

export function serveSession(session: Session, ctx: SessionContext): SessionHandle {
  const served = new ServedSession(ctx);
  served.listen(session);
  return { end: served.end };
}

class ServedSession {
  private pty: PseudoTtyInfo | undefined;
  private readonly env: Record<string, string> = {};
  private started = false;
  private exec: Docker.Exec | undefined;
  /**
   * The exec's process and what every signal goes through. `alive` when it
   * was proven to be in the container; else it had exited (or was never
   * there) and only what is left of its session in the container is ended.
   */
  private leader: { proc: ProcRef; processes: ContainerProcesses; alive: boolean } | undefined;
  private channelClosed = false;
  private lastSignal = 0;

  constructor(private readonly ctx: SessionContext) {}

  /** The channel or the connection is gone: end what the session started. */
  readonly end = (): void => {
    this.channelClosed = true;
    this.leader?.processes.hangUp(this.leader.proc);
  };

  listen(session: Session): void {
    session.on('pty', (accept, reject, info) => this.onPty(accept, reject, info));
    session.on('window-change', (accept, _reject, info) => this.onWindowChange(accept, info));
    session.on('env', (accept, reject, info) => this.onEnv(accept, reject, info));
    session.on('signal', (accept, reject, info) => this.onSignal(accept, reject, info));
    for (const refused of ['auth-agent', 'x11'] as const) {
      session.on(refused as 'auth-agent', (_accept, reject) => reject?.());
    }
    session.on('close', this.end);
    session.on('shell', (accept, reject) =>
      this.start(accept, reject, { argv: ['/bin/sh', '-c', LOGIN_SHELL], tty: this.pty !== undefined, what: 'shell' }),
    );
    session.on('exec', (accept, reject, info) =>
      this.start(accept, reject, { argv: ['/bin/sh', '-c', RUN_COMMAND, 'sh', info.command], tty: this.pty !== undefined, what: 'exec' }),
    );
    session.on('subsystem', (accept, reject, info) => {
      if (info.name !== 'sftp') return reject?.();
      this.start(accept, reject, { argv: ['/bin/sh', '-c', SFTP_SERVER], tty: false, what: 'sftp' });
    });
  }

  private onPty(accept: Reply, reject: Reply, info: PseudoTtyInfo): void {
    if (this.started) return reject?.();
    this.pty = info;
    accept?.();
  }

  private onWindowChange(accept: Reply, info: WindowChangeInfo): void {
    if (this.pty) Object.assign(this.pty, { cols: info.cols, rows: info.rows });
    if (this.exec && this.pty) void resizeWhenRunning(this.exec, info.rows, info.cols);
    accept?.();
  }

  private onEnv(accept: Reply, reject: Reply, info: SetEnvInfo): void {
    if (this.started || !ENV_NAME.test(info.key) || Object.keys(this.env).length >= MAX_ENV || info.val.length > MAX_ENV_VALUE) {
      return reject?.();
    }
    this.env[info.key] = info.val;
    accept?.();
  }

  private onSignal(accept: Reply, reject: Reply, info: SignalInfo): void {
    const number = SIGNALS[info.name];
    if (!number || !this.leader?.alive) return reject?.();
    this.lastSignal = number;
    this.leader.processes.signal(this.leader.proc, `SIG${info.name}` as NodeJS.Signals);
    accept?.();
  }

  /** Only the first shell, exec or subsystem request of a session runs. */
  private start(accept: () => ServerChannel, reject: Reply, command: Command): void {
    if (this.started) return reject?.();
    this.started = true;
    const channel = accept();
    channel.on('close', this.end);
    void this.execute(channel, command).catch((err) => this.reportFailure(channel, command.what, err));
  }

  private reportFailure(channel: ServerChannel, what: Command['what'], err: unknown): void {
    this.ctx.log.warn('ssh session failed', { what, error: errorMessage(err) });
    if (!this.channelClosed) {
      channel.stderr.write(`polarise: ${what} failed: ${failureMessage(err)}\r\n`);
      channel.exit(255);
      channel.end();
    }
  }

  private async execute(channel: ServerChannel, command: Command): Promise<void> {
    const container = this.ctx.docker.getContainer(this.ctx.containerId);
    const exec = await container.exec(execOptions(command, this.environment(command.tty)));
    this.exec = exec;
    const stream = (await exec.start({ hijack: true, stdin: true, Tty: command.tty })) as Duplex;
    const { ended } = await this.connectStdio(exec, stream, channel, command.tty);
    await this.learnLeader(exec);
    if (this.channelClosed) this.leader?.processes.hangUp(this.leader.proc);

    await ended;
    const exitCode = await exitCodeOf(exec);
    if (this.channelClosed) return;
    channel.unpipe(stream);
    this.sendExitStatus(channel, exitCode ?? 255, command.what);
  }

  private environment(tty: boolean): Record<string, string> {
    const { ctx, pty } = this;
    return {
      HOME: '/root',
      USER: 'root',
      LOGNAME: 'root',
      SSH_CLIENT: `${ctx.remoteIp} ${ctx.remotePort} ${ctx.localPort}`,
      SSH_CONNECTION: `${ctx.remoteIp} ${ctx.remotePort} ${ctx.localIp} ${ctx.localPort}`,
      ...(tty && pty ? { TERM: pty.term || 'xterm' } : {}),
      ...this.env,
    };
  }

  /**
   * Joins the channel to the exec's stream. Resolves once the client's input
   * may flow, with `ended` for the end of the command's output (wrapped, so
   * awaiting this does not wait for the output).
   */
  private async connectStdio(exec: Docker.Exec, stream: Duplex, channel: ServerChannel, tty: boolean): Promise<{ ended: Promise<void> }> {
    let ended: Promise<void>;
    if (tty) {
      ended = rawStreamEnded(stream);
      stream.pipe(channel, { end: false });
      // Size the terminal before the client's typed-ahead input reaches the
      // shell (Docker takes the size only once the exec runs; ConsoleSize
      // needs API 1.42).
      if (this.pty) await resizeWhenRunning(exec, this.pty.rows || 24, this.pty.cols || 80);
      channel.pipe(stream, { end: false });
    } else {
      ended = demux(stream, channel).catch(() => undefined);
      channel.pipe(stream); // the client's EOF closes the command's stdin
    }
    stream.on('error', () => undefined);
    channel.on('error', () => undefined);
    return { ended };
  }

  /**
   * Docker reports the host pid once the process has started, which may be a
   * moment after the attach. It is named (pid and start time) only if it is
   * in the container's cgroup now; it may already have exited (its pid
   * perhaps taken by another process), and then only the members of its
   * session still in the container can be ended.
   */
  private async learnLeader(exec: Docker.Exec): Promise<void> {
    let pid = 0;
    for (let i = 0; i < 100 && !pid; i++) {
      const info = await exec.inspect();
      if (info.Pid) pid = info.Pid;
      else if (!info.Running && info.ExitCode !== null) return;
      else await pause(10);
    }
    if (!pid) return;
    const container = await this.ctx.docker
      .getContainer(this.ctx.containerId)
      .inspect()
      .catch(() => undefined);
    const processes = container && ContainerProcesses.open(container.Id, container.State.Pid);
    if (!processes) return this.ctx.log.debug('the container\'s processes are out of reach: the session\'s are not signalled from the host', { pid });
    const stat = processes.verify(pid);
    this.leader = { proc: stat ? { pid, startTime: stat.startTime } : exitedLeader(pid), processes, alive: stat !== undefined };
  }

  /** The exit status (or the signal the client asked for, as OpenSSH reports it) goes before the channel ends. */
  private sendExitStatus(channel: ServerChannel, code: number, what: Command['what']): void {
    const signalName = Object.entries(SIGNALS).find(([, n]) => n === this.lastSignal && code === 128 + n)?.[0];
    if (signalName) channel.exit(signalName, false, '');
    else channel.exit(code);
    channel.end();
    this.ctx.log.debug('ssh session ended', { what, exitCode: code });
  }
}
