/**
 * The SSH gateway: one ssh2 listener per allocation, on that allocation's
 * port, routing every session to its container with `docker exec`
 * (ssh-session.ts). Password (scrypt, constant-time) and public-key logins as
 * root; failed logins are rate-limited per source address across all
 * listeners; every kind of forwarding is refused, so no socket is ever opened
 * from the host's network namespace on a renter's behalf.
 */
import type Docker from 'dockerode';
import ssh2, { type AuthContext, type Connection, type ParsedKey } from 'ssh2';
import type { Logger } from '../../common/logger.js';
import { AuthThrottle } from './auth-throttle.js';
import { PasswordMemo, verifyPassword } from './passwords.js';
import { serveSession, type SessionHandle } from './ssh-session.js';

export interface GatewayOptions {
  /** Address the listeners bind to. */
  host: string;
  hostKey: string;
  maxAuthFailures: number;
  authWindowMs: number;
  /** Told of every connection opened and closed, and of every refused login (metrics). */
  observer?: GatewayObserver;
}

export interface GatewayObserver {
  connected(): void;
  disconnected(): void;
  loginFailed(): void;
}

/** Who may log in through one endpoint, and where sessions go. */
export interface GatewayTarget {
  containerId: string;
  name: string;
  passwordHash: string;
  /** "type base64" lines. */
  publicKeys: string[];
  /** PasswordMemo tag of the password once it is known good (memory only). */
  passwordTag?: Buffer;
}

/** Failed attempts one connection may make before it is dropped. */
const MAX_TRIES_PER_CONNECTION = 6;

export class SshEndpoint {
  private target: GatewayTarget | undefined;
  private keys: ParsedKey[] = [];
  readonly connections = new Set<Connection>();
  private closed = false;

  constructor(
    readonly port: number,
    private readonly server: ssh2.Server,
  ) {}

  /** Until a target is set, connections get the banner but every login fails. */
  setTarget(target: GatewayTarget): void {
    this.target = target;
    this.keys = target.publicKeys.flatMap((line) => {
      const parsed = ssh2.utils.parseKey(line);
      return parsed instanceof Error || Array.isArray(parsed) ? [] : [parsed];
    });
  }

  getTarget(): GatewayTarget | undefined {
    return this.target;
  }

  allowedKey(blob: Buffer): ParsedKey | undefined {
    return this.keys.find((k) => k.getPublicSSH().equals(blob));
  }

  /** Stops listening and drops every connection (their sessions end). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const done = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const c of this.connections) c.end();
    await done;
  }
}

export class SshGateway {
  private readonly throttle: AuthThrottle;
  /** Verified passwords, remembered in memory (see PasswordMemo). */
  readonly memo = new PasswordMemo();

  constructor(
    private readonly docker: Docker,
    private readonly options: GatewayOptions,
    private readonly log: Logger,
  ) {
    this.throttle = new AuthThrottle(options.maxAuthFailures, options.authWindowMs);
  }

  /** Opens a listener on `port`; rejects (e.g. EADDRINUSE) if it cannot bind. */
  async listen(port: number): Promise<SshEndpoint> {
    let endpoint!: SshEndpoint;
    const server = new ssh2.Server({ hostKeys: [this.options.hostKey], ident: 'Polarise_1.0' }, (client, info) =>
      this.onConnection(endpoint, client, info.ip, info.port),
    );
    endpoint = new SshEndpoint(port, server);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once('error', onError);
      server.listen(port, this.options.host, () => {
        server.off('error', onError);
        server.on('error', (err: Error) => this.log.warn('ssh listener error', { port, error: err.message }));
        resolve();
      });
    });
    return endpoint;
  }

  private async checkPassword(password: string, target: GatewayTarget): Promise<boolean> {
    if (target.passwordTag) return this.memo.matches(password, target.passwordTag);
    const ok = await verifyPassword(password, target.passwordHash);
    if (ok) target.passwordTag = this.memo.tag(password);
    return ok;
  }

  private onConnection(endpoint: SshEndpoint, client: Connection, ip: string, remotePort: number): void {
    const log = this.log.child({ sshPort: endpoint.port, remote: ip });
    endpoint.connections.add(client);
    this.options.observer?.connected();
    // Interactive traffic: without TCP_NODELAY every round trip of the
    // handshake waits on Nagle and delayed ACKs (about 40 ms each).
    (client as unknown as { _sock?: { setNoDelay?: (on: boolean) => void } })._sock?.setNoDelay?.(true);
    let tries = 0;
    let target: GatewayTarget | undefined;
    const refuse = (ctx: AuthContext) => {
      tries++;
      this.throttle.recordFailure(ip);
      this.options.observer?.loginFailed();
      ctx.reject(['publickey', 'password']);
      if (tries >= MAX_TRIES_PER_CONNECTION || this.throttle.isBlocked(ip)) client.end();
    };

    client.on('error', (err) => log.debug('ssh connection error', { error: err.message }));
    const sessions: SessionHandle[] = [];
    client.on('close', () => {
      endpoint.connections.delete(client);
      this.options.observer?.disconnected();
      for (const s of sessions) s.end();
    });
    client.on('authentication', (ctx) => {
      void (async () => {
        const current = endpoint.getTarget();
        if (this.throttle.isBlocked(ip)) {
          log.warn('ssh login refused: too many failed logins from this address');
          ctx.reject([]);
          client.end();
          return;
        }
        if (!current) return ctx.reject(['publickey', 'password']);
        if (ctx.method === 'password') {
          const ok = ctx.username === 'root' && (await this.checkPassword(ctx.password, current));
          if (!ok) {
            log.info('ssh login failed', { method: 'password', user: ctx.username });
            return refuse(ctx);
          }
        } else if (ctx.method === 'publickey') {
          const key = ctx.username === 'root' ? endpoint.allowedKey(ctx.key.data) : undefined;
          if (!key) return ctx.reject(['publickey', 'password']); // an unknown key offered: not a failed login
          if (ctx.signature && ctx.blob) {
            if (key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) {
              log.info('ssh login failed', { method: 'publickey', reason: 'bad signature' });
              return refuse(ctx);
            }
          } else {
            return ctx.accept(); // the key would do: the client signs next
          }
        } else {
          return ctx.reject(['publickey', 'password']);
        }
        target = current;
        ctx.accept();
        log.info('ssh login', { method: ctx.method, container: current.name });
      })().catch((err) => {
        log.error('ssh authentication failed internally', { error: String(err) });
        ctx.reject();
      });
    });

    client.on('ready', () => {
      const local = client as unknown as { _sock?: { localAddress?: string } };
      client.on('session', (accept) => {
        if (!target) return;
        const handle = serveSession(accept(), {
          docker: this.docker,
          containerId: target.containerId,
          log,
          remoteIp: ip,
          remotePort,
          localIp: local._sock?.localAddress ?? this.options.host,
          localPort: endpoint.port,
        });
        sessions.push(handle);
      });
    });
    // Forwarding of any kind is refused.
    client.on('tcpip', (_accept, reject) => reject());
    client.on('openssh.streamlocal', (_accept, reject) => reject());
    client.on('request', (_accept, reject, name) => {
      log.info('ssh request refused', { request: name });
      reject?.();
    });
  }
}

