/**
 * One SSH session channel → one `docker exec` in the allocation's container:
 * `shell` and `exec` (with or without a pty), `env`, `window-change`,
 * `signal`, and the `sftp` subsystem through the container's own
 * sftp-server. Without a pty, stdout and stderr stay apart (Docker's
 * multiplexed stream is split here with backpressure). The command's exit
 * status goes back before the channel ends; when the channel closes, the
 * processes the session started are ended.
 */
import type Docker from 'dockerode';
import type { Duplex, Writable } from 'node:stream';
import type { PseudoTtyInfo, ServerChannel, Session } from 'ssh2';
import type { Logger } from '../../common/logger.js';
import { endSession } from '../challenges/process-tree.js';

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
const SIGNALS: Record<string, number> = { HUP: 1, INT: 2, QUIT: 3, KILL: 9, USR1: 10, USR2: 12, TERM: 15, ALRM: 14, PIPE: 13 };

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

async function resizeWhenRunning(exec: Docker.Exec, rows: number, cols: number): Promise<void> {
  for (let i = 0; i < 20; i++) {
    try {
      await exec.resize({ h: rows, w: cols });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 10)); // not running yet
    }
  }
}

export interface SessionHandle {
  /** The connection is gone: end what the session started. */
  end(): void;
}

export function serveSession(session: Session, ctx: SessionContext): SessionHandle {
  const { docker, log } = ctx;
  let pty: PseudoTtyInfo | undefined;
  const env: Record<string, string> = {};
  let started = false;
  let exec: Docker.Exec | undefined;
  let hostPid = 0;
  let channelClosed = false;
  let lastSignal = 0;

  session.on('pty', (accept, reject, info) => {
    if (started) return reject?.();
    pty = info;
    accept?.();
  });
  session.on('window-change', (accept, _reject, info) => {
    if (pty) Object.assign(pty, { cols: info.cols, rows: info.rows });
    if (exec && pty) void resizeWhenRunning(exec, info.rows, info.cols);
    accept?.();
  });
  session.on('env', (accept, reject, info) => {
    if (started || !/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(info.key) || Object.keys(env).length >= MAX_ENV || info.val.length > 8192) {
      return reject?.();
    }
    env[info.key] = info.val;
    accept?.();
  });
  session.on('signal', (accept, reject, info) => {
    const number = SIGNALS[info.name];
    if (!number || !hostPid) return reject?.();
    lastSignal = number;
    try {
      process.kill(hostPid, `SIG${info.name}` as NodeJS.Signals);
    } catch {
      // Already gone.
    }
    accept?.();
  });
  for (const refused of ['auth-agent', 'x11'] as const) {
    session.on(refused as 'auth-agent', (_accept, reject) => reject?.());
  }

  const run = (accept: () => ServerChannel, reject: (() => void) | undefined, argv: string[], tty: boolean, what: string) => {
    if (started) return reject?.();
    started = true;
    const channel = accept();
    channel.on('close', end);
    void execute(channel, argv, tty, what).catch((err) => {
      log.warn('ssh session failed', { what, error: err instanceof Error ? err.message : String(err) });
      if (!channelClosed) {
        channel.stderr.write(`polarise: ${what} failed: ${(err as { json?: { message?: string } }).json?.message ?? (err as Error).message}\r\n`);
        channel.exit(255);
        channel.end();
      }
    });
  };

  const end = () => {
    channelClosed = true;
    if (hostPid) endSession(hostPid);
  };
  session.on('close', end);

  session.on('shell', (accept, reject) => run(accept, reject, ['/bin/sh', '-c', LOGIN_SHELL], pty !== undefined, 'shell'));
  session.on('exec', (accept, reject, info) => run(accept, reject, ['/bin/sh', '-c', RUN_COMMAND, 'sh', info.command], pty !== undefined, 'exec'));
  session.on('subsystem', (accept, reject, info) => {
    if (info.name !== 'sftp') return reject?.();
    run(accept, reject, ['/bin/sh', '-c', SFTP_SERVER], false, 'sftp');
  });

  return { end };

  async function execute(channel: ServerChannel, argv: string[], tty: boolean, what: string): Promise<void> {
    const container = docker.getContainer(ctx.containerId);
    const environment = {
      HOME: '/root',
      USER: 'root',
      LOGNAME: 'root',
      SSH_CLIENT: `${ctx.remoteIp} ${ctx.remotePort} ${ctx.localPort}`,
      SSH_CONNECTION: `${ctx.remoteIp} ${ctx.remotePort} ${ctx.localIp} ${ctx.localPort}`,
      ...(tty && pty ? { TERM: pty.term || 'xterm' } : {}),
      ...env,
    };
    exec = await container.exec({
      Cmd: argv,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: tty,
      Env: Object.entries(environment).map(([k, v]) => `${k}=${v}`),
      User: 'root',
      WorkingDir: '/root',
    });
    const stream = (await exec.start({ hijack: true, stdin: true, Tty: tty })) as Duplex;
    let ended: Promise<void>;
    if (tty) {
      ended = new Promise<void>((resolve) => {
        stream.once('end', resolve);
        stream.once('close', resolve);
        stream.once('error', () => resolve());
      });
      stream.pipe(channel, { end: false });
      // Size the terminal before the client's typed-ahead input reaches the
      // shell (Docker takes the size only once the exec runs; ConsoleSize
      // needs API 1.42).
      if (pty) await resizeWhenRunning(exec, pty.rows || 24, pty.cols || 80);
      channel.pipe(stream, { end: false });
    } else {
      ended = demux(stream, channel).catch(() => undefined);
      channel.pipe(stream); // the client's EOF closes the command's stdin
    }
    stream.on('error', () => undefined);
    channel.on('error', () => undefined);

    // Docker reports the host pid once the process has started, which may
    // be a moment after the attach.
    for (let i = 0; i < 100 && !hostPid; i++) {
      const info = await exec.inspect();
      if (info.Pid) hostPid = info.Pid;
      else if (!info.Running && info.ExitCode !== null) break;
      else await new Promise((r) => setTimeout(r, 10));
    }
    if (channelClosed && hostPid) endSession(hostPid);

    await ended;
    let exitCode: number | null = null;
    for (let i = 0; i < 100; i++) {
      const state = await exec.inspect();
      if (!state.Running) {
        exitCode = state.ExitCode;
        break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    if (channelClosed) return;
    channel.unpipe(stream);
    const code = exitCode ?? 255;
    // A signal the client asked for, reported as OpenSSH reports it.
    const signalName = Object.entries(SIGNALS).find(([, n]) => n === lastSignal && code === 128 + n)?.[0];
    if (signalName) channel.exit(signalName, false, '');
    else channel.exit(code);
    channel.end();
    log.debug('ssh session ended', { what, exitCode: code });
  }
}
