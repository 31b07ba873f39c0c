/**
 * The SSH gateway: one ssh2 listener per allocation, on that allocation's
 * port, routing every session to its container with `docker exec`
 * (ssh-session.ts). Password (scrypt, constant-time) and public-key logins as
 * root; failed logins are rate-limited per source address across all
 * listeners; every kind of forwarding is refused, so no socket is ever opened
 * from the host's network namespace on a renter's behalf.
 *
 * Each listener is a plain TCP server: a connection passes the pre-auth gate
 * (preauth-guard.ts: caps on connections not logged in yet, login grace
 * time) before it is handed to ssh2, which then offers only the algorithms
 * in ssh-algorithms.ts.
 */
import type Docker from 'dockerode';
import { createServer, type Server as TcpServer, type Socket } from 'node:net';
import ssh2, {
  type AuthContext,
  type AuthenticationType,
  type Connection,
  type ParsedKey,
  type PasswordAuthContext,
  type PublicKeyAuthContext,
} from 'ssh2';
import type { Logger } from '../../common/logger.js';
import { AuthThrottle } from './auth-throttle.js';
import { PasswordMemo, verifyPassword } from './passwords.js';
import { PreauthGuard, type PreauthOptions } from './preauth-guard.js';
import { SERVER_ALGORITHMS } from './ssh-algorithms.js';
import { serveSession, type SessionHandle } from './ssh-session.js';

export interface GatewayOptions {
  /** Address the listeners bind to. */
  host: string;
  hostKey: string;
  maxAuthFailures: number;
  authWindowMs: number;
  /** Caps on connections not logged in yet, and how long they may take. */
  preauth: PreauthOptions;
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
/** Offered again after every refusal (ssh2 only reads the list). */
const LOGIN_METHODS: AuthenticationType[] = ['publickey', 'password'];

/** ssh2 keeps the TCP socket on a private field. */
type Ssh2Socket = { _sock?: Socket };

/** One client connection to an endpoint: who it is, what it has tried, what it serves. */
interface ConnectionState {
  endpoint: SshEndpoint;
  client: Connection;
  ip: string;
  remotePort: number;
  log: Logger;
  /** Failed logins on this connection. */
  tries: number;
  /** Set by a successful login; sessions go to its container. */
  target: GatewayTarget | undefined;
  sessions: SessionHandle[];
}

export class SshEndpoint {
  private target: GatewayTarget | undefined;
  private keys: ParsedKey[] = [];
  readonly connections = new Set<Connection>();
  /** Accepted TCP connections that have not logged in yet. */
  readonly waiting = new Set<Socket>();
  private closed = false;

  constructor(
    readonly port: number,
    private readonly server: TcpServer,
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
    for (const s of this.waiting) s.destroy();
    await done;
  }
}

export class SshGateway {
  private readonly throttle: AuthThrottle;
  private readonly guard: PreauthGuard;
  /** Verified passwords, remembered in memory (see PasswordMemo). */
  readonly memo = new PasswordMemo();

  constructor(
    private readonly docker: Docker,
    private readonly options: GatewayOptions,
    private readonly log: Logger,
  ) {
    this.throttle = new AuthThrottle(options.maxAuthFailures, options.authWindowMs);
    this.guard = new PreauthGuard(options.preauth, log);
  }

  /** Opens a listener on `port`; rejects (e.g. EADDRINUSE) if it cannot bind. */
  async listen(port: number): Promise<SshEndpoint> {
    let endpoint!: SshEndpoint;
    const ssh = new ssh2.Server({ hostKeys: [this.options.hostKey], ident: 'Polarise_1.0', algorithms: SERVER_ALGORITHMS }, (client, info) =>
      this.onConnection(endpoint, client, info.ip, info.port),
    );
    // Interactive traffic: without TCP_NODELAY every round trip of the
    // handshake waits on Nagle and delayed ACKs (about 40 ms each).
    const server = createServer({ noDelay: true }, (socket) => this.accept(endpoint, ssh, socket));
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

  /** Only connections within the pre-auth caps reach ssh2 (which then sends its identification). */
  private accept(endpoint: SshEndpoint, ssh: ssh2.Server, socket: Socket): void {
    if (!this.guard.admit(socket, endpoint.port)) return;
    endpoint.waiting.add(socket);
    socket.once('close', () => endpoint.waiting.delete(socket));
    ssh.injectSocket(socket);
  }

  private async checkPassword(password: string, target: GatewayTarget): Promise<boolean> {
    if (target.passwordTag) return this.memo.matches(password, target.passwordTag);
    const ok = await verifyPassword(password, target.passwordHash);
    if (ok) target.passwordTag = this.memo.tag(password);
    return ok;
  }

  private onConnection(endpoint: SshEndpoint, client: Connection, ip: string, remotePort: number): void {
    const conn: ConnectionState = {
      endpoint,
      client,
      ip,
      remotePort,
      log: this.log.child({ sshPort: endpoint.port, remote: ip }),
      tries: 0,
      target: undefined,
      sessions: [],
    };
    endpoint.connections.add(client);
    this.options.observer?.connected();

    client.on('error', (err) => conn.log.debug('ssh connection error', { error: err.message }));
    client.on('close', () => this.onClose(conn));
    client.on('authentication', (ctx) => {
      void this.authenticate(conn, ctx).catch((err) => {
        conn.log.error('ssh authentication failed internally', { error: String(err) });
        ctx.reject();
      });
    });
    client.on('ready', () => this.serveSessions(conn));
    refuseForwarding(conn);
  }

  private onClose(conn: ConnectionState): void {
    conn.endpoint.connections.delete(conn.client);
    this.options.observer?.disconnected();
    for (const s of conn.sessions) s.end();
  }

  private async authenticate(conn: ConnectionState, ctx: AuthContext): Promise<void> {
    const current = conn.endpoint.getTarget();
    if (this.throttle.isBlocked(conn.ip)) {
      conn.log.warn('ssh login refused: too many failed logins from this address');
      ctx.reject([]);
      conn.client.end();
      return;
    }
    if (!current) return ctx.reject(LOGIN_METHODS);
    if (ctx.method === 'password') return this.passwordLogin(conn, ctx, current);
    if (ctx.method === 'publickey') return this.publicKeyLogin(conn, ctx, current);
    return ctx.reject(LOGIN_METHODS);
  }

  private async passwordLogin(conn: ConnectionState, ctx: PasswordAuthContext, current: GatewayTarget): Promise<void> {
    const settle = this.throttle.begin(conn.ip); // counted while its scrypt runs
    let ok = false;
    try {
      ok = ctx.username === 'root' && (await this.checkPassword(ctx.password, current));
    } finally {
      settle();
    }
    if (!ok) {
      conn.log.info('ssh login failed', { method: 'password', user: ctx.username });
      return this.refuse(conn, ctx);
    }
    this.login(conn, ctx, current);
  }

  /** Clients offer a key first (no signature), then sign with it once told it would do. */
  private publicKeyLogin(conn: ConnectionState, ctx: PublicKeyAuthContext, current: GatewayTarget): void {
    const key = ctx.username === 'root' ? conn.endpoint.allowedKey(ctx.key.data) : undefined;
    if (!key) return ctx.reject(LOGIN_METHODS); // an unknown key offered: not a failed login
    if (!ctx.signature || !ctx.blob) return ctx.accept(); // the key would do: the client signs next
    if (key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) {
      conn.log.info('ssh login failed', { method: 'publickey', reason: 'bad signature' });
      return this.refuse(conn, ctx);
    }
    this.login(conn, ctx, current);
  }

  private login(conn: ConnectionState, ctx: AuthContext, current: GatewayTarget): void {
    conn.target = current;
    ctx.accept();
    const socket = (conn.client as unknown as Ssh2Socket)._sock;
    if (socket) {
      this.guard.loggedIn(socket);
      conn.endpoint.waiting.delete(socket);
    }
    conn.log.info('ssh login', { method: ctx.method, container: current.name });
  }

  /** A failed login: counted per connection and per source address. */
  private refuse(conn: ConnectionState, ctx: AuthContext): void {
    conn.tries++;
    this.throttle.recordFailure(conn.ip);
    this.options.observer?.loginFailed();
    ctx.reject(LOGIN_METHODS);
    if (conn.tries >= MAX_TRIES_PER_CONNECTION || this.throttle.isBlocked(conn.ip)) conn.client.end();
  }

  /** After login, every session channel runs in the target's container. */
  private serveSessions(conn: ConnectionState): void {
    const { client, log } = conn;
    const local = client as unknown as Ssh2Socket;
    client.on('session', (accept) => {
      if (!conn.target) return;
      const handle = serveSession(accept(), {
        docker: this.docker,
        containerId: conn.target.containerId,
        log,
        remoteIp: conn.ip,
        remotePort: conn.remotePort,
        localIp: local._sock?.localAddress ?? this.options.host,
        localPort: conn.endpoint.port,
      });
      conn.sessions.push(handle);
    });
  }
}

/** Forwarding of any kind is refused. */
function refuseForwarding({ client, log }: ConnectionState): void {
  client.on('tcpip', (_accept, reject) => reject());
  client.on('openssh.streamlocal', (_accept, reject) => reject());
  client.on('request', (_accept, reject, name) => {
    log.info('ssh request refused', { request: name });
    reject?.();
  });
}

