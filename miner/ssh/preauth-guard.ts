/**
 * The gate every TCP connection to an SSH listener passes before the SSH
 * server sees it: over the pre-auth caps (preauth-limits.ts) it is closed at
 * once, before a single byte of SSH; otherwise it must log in within the
 * login grace time or it is closed (OpenSSH's LoginGraceTime). Logging in
 * frees its slot and stops its clock.
 */
import type { Socket } from 'node:net';
import type { Logger } from '../../common/logger.js';
import { PreauthLimiter, type PreauthRefusal } from './preauth-limits.js';

export interface PreauthOptions {
  /** Connections not logged in yet, across all listeners. */
  maxStartups: number;
  /** The same, per source address (IPv6: per /64). */
  perSourceMaxStartups: number;
  /** A connection not logged in after this long is closed. */
  loginGraceMs: number;
}

/** Refusals are summed up in one warning at most this often (a flood must not flood the log). */
const REPORT_EVERY_MS = 10_000;

export class PreauthGuard {
  private readonly limiter: PreauthLimiter;
  /** Connections still waiting to log in: what ends their wait. */
  private readonly waiting = new WeakMap<Socket, () => void>();
  private refused = { total: 0, source: 0 };
  private lastReport = -Infinity;

  constructor(
    private readonly options: PreauthOptions,
    private readonly log: Logger,
  ) {
    this.limiter = new PreauthLimiter(options.maxStartups, options.perSourceMaxStartups);
  }

  /** Called first for every accepted connection; false: it was over a cap and is closed. */
  admit(socket: Socket, port: number): boolean {
    socket.on('error', () => undefined);
    const ip = socket.remoteAddress;
    const slot = ip === undefined ? 'total' : this.limiter.acquire(ip);
    if (typeof slot === 'string') {
      socket.destroy();
      this.refuse(slot, ip, port);
      return false;
    }
    const timer = setTimeout(() => this.expire(socket, ip, port), this.options.loginGraceMs);
    timer.unref();
    const settle = () => {
      clearTimeout(timer);
      slot.release();
      this.waiting.delete(socket);
    };
    socket.once('close', settle);
    this.waiting.set(socket, settle);
    return true;
  }

  /** The connection logged in: it no longer counts and has no deadline. */
  loggedIn(socket: Socket): void {
    this.waiting.get(socket)?.();
  }

  private expire(socket: Socket, ip: string | undefined, port: number): void {
    this.log.info('ssh connection closed: not logged in within the login grace time', {
      sshPort: port,
      remote: ip,
      graceSeconds: this.options.loginGraceMs / 1000,
    });
    socket.destroy();
  }

  private refuse(cap: PreauthRefusal, ip: string | undefined, port: number): void {
    this.refused[cap]++;
    this.log.debug('ssh connection refused: too many connections not logged in', { sshPort: port, remote: ip, cap });
    const now = performance.now();
    if (now - this.lastReport < REPORT_EVERY_MS) return;
    this.lastReport = now;
    this.log.warn('ssh connections refused: too many not logged in', {
      overTotalCap: this.refused.total,
      overSourceCap: this.refused.source,
      maxStartups: this.options.maxStartups,
      perSourceMaxStartups: this.options.perSourceMaxStartups,
    });
    this.refused = { total: 0, source: 0 };
  }
}
