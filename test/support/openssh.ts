/**
 * Real OpenSSH clients (`ssh`, `sftp`, `scp`) against a miner's SSH
 * endpoints. The password goes through the SSHPASS variable (`sshpass -e`),
 * never through argv.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SshTarget {
  host: string;
  port: number;
  user?: string;
  password?: string;
  /** Private key file; used instead of the password when set. */
  identity?: string;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  ms: number;
}

export interface KeyPair {
  privateKey: string;
  publicKey: string;
  /** The .pub line. */
  line: string;
}

/** An ed25519 key pair made by ssh-keygen in a temporary folder. */
export function sshKeygen(type = 'ed25519'): KeyPair {
  const dir = mkdtempSync(join(tmpdir(), 'polarise-key-'));
  const privateKey = join(dir, 'id');
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'polarise-test', '-f', privateKey]);
  return { privateKey, publicKey: privateKey + '.pub', line: readFileSync(privateKey + '.pub', 'utf8').trim() };
}

export const COMMON_OPTIONS = [
  '-o', 'StrictHostKeyChecking=no',
  '-o', 'UserKnownHostsFile=/dev/null',
  '-o', 'LogLevel=ERROR',
  '-o', 'ConnectTimeout=10',
  '-o', 'NumberOfPasswordPrompts=1',
];

function authOptions(t: SshTarget): string[] {
  return t.identity
    ? ['-i', t.identity, '-o', 'IdentitiesOnly=yes', '-o', 'PreferredAuthentications=publickey', '-o', 'BatchMode=yes']
    : ['-o', 'PreferredAuthentications=password', '-o', 'PubkeyAuthentication=no'];
}

/** Runs `program args` (wrapped in `sshpass -e` for a password), feeding `stdin`. */
export function runClient(program: string, args: string[], t: SshTarget, options: { stdin?: Buffer | string; timeoutMs?: number } = {}): Promise<RunResult> {
  const started = performance.now();
  const argv = t.identity ? [program, ...args] : ['sshpass', '-e', program, ...args];
  const child = spawn(argv[0]!, argv.slice(1), {
    env: { ...process.env, ...(t.identity ? {} : { SSHPASS: t.password ?? '' }) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  child.stdin.on('error', () => undefined);
  if (options.stdin !== undefined) child.stdin.end(options.stdin);
  else child.stdin.end();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${program} ${args.join(' ')} did not finish within ${options.timeoutMs ?? 30_000} ms; stderr: ${Buffer.concat(err)}`));
    }, options.timeoutMs ?? 30_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: Buffer.concat(err), ms: performance.now() - started });
    });
  });
}

/** `ssh root@host -p port [options] command`. */
export function ssh(t: SshTarget, command: string, options: { stdin?: Buffer | string; tty?: boolean; extra?: string[]; timeoutMs?: number } = {}): Promise<RunResult> {
  const args = [
    ...COMMON_OPTIONS,
    ...authOptions(t),
    ...(options.tty ? ['-tt'] : ['-T']),
    ...(options.extra ?? []),
    '-p', String(t.port),
    `${t.user ?? 'root'}@${t.host}`,
    command,
  ];
  return runClient('ssh', args, t, options);
}

/**
 * sftp with commands on stdin. With a key: `-b -` (batch mode: any failing
 * command fails the run). With a password: batch mode would forbid the
 * password prompt, so the commands are read from stdin in normal mode.
 */
export function sftpBatch(t: SshTarget, batch: string): Promise<RunResult> {
  const batchArgs = t.identity ? ['-b', '-'] : [];
  return runClient('sftp', [...COMMON_OPTIONS, ...authOptions(t), ...batchArgs, '-P', String(t.port), `${t.user ?? 'root'}@${t.host}`], t, { stdin: batch });
}

/** `scp from to` where remote paths are written "remote:/path". */
export function scp(t: SshTarget, from: string, to: string): Promise<RunResult> {
  const remote = (p: string) => (p.startsWith('remote:') ? `${t.user ?? 'root'}@${t.host}:${p.slice('remote:'.length)}` : p);
  return runClient('scp', [...COMMON_OPTIONS, ...authOptions(t), '-P', String(t.port), remote(from), remote(to)], t);
}
