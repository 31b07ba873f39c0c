/**
 * The renter's path, walked for real: SSH handshake against the host key
 * the miner announced, password login, a command whose output must echo a
 * fresh nonce, then the probe uploaded over SFTP. A TCP accept is not enough.
 */
import { Client, type ConnectConfig, type SFTPWrapper } from 'ssh2';
import { randomBytes } from 'node:crypto';
import { sshFingerprint } from '../common/ssh-fingerprint.js';
import { readFileSync } from 'node:fs';

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  password: string;
  /** "SHA256:..." as Allocate returned it; the server's key must match. */
  hostKeyFingerprint: string;
}

export interface RentalCheckResult {
  ok: boolean;
  findings: string[];
  loginMs: number;
  /** What the container says of itself (evidence; the challenges prove it). */
  nproc?: number;
}

export const PROBE_PATH = '/usr/local/bin/polarise-probe';

function connect(target: SshTarget, timeoutMs: number): Promise<{ client: Client; hostKeyOk: boolean }> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    let hostKeyOk = false;
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.username,
      password: target.password,
      readyTimeout: timeoutMs,
      tryKeyboard: false,
      hostVerifier: (key: Buffer) => {
        hostKeyOk = sshFingerprint(key) === target.hostKeyFingerprint;
        return hostKeyOk;
      },
    };
    client.once('ready', () => resolve({ client, hostKeyOk }));
    client.once('error', (err) => {
      client.end();
      reject(hostKeyOk || !target.hostKeyFingerprint ? err : new Error(`host key does not match the announced ${target.hostKeyFingerprint}`));
    });
    client.connect(config);
  });
}

function exec(client: Client, command: string, timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`"${command}" did not finish within ${timeoutMs} ms`)), timeoutMs);
    client.exec(command, (err, channel) => {
      if (err) return reject(err);
      let stdout = '';
      let stderr = '';
      let code = -1;
      channel.on('data', (d: Buffer) => (stdout += d.toString()));
      channel.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      channel.on('exit', (c: number | null) => (code = c ?? -1));
      channel.on('close', () => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  });
}

function upload(client: Client, localPath: string, remotePath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    client.sftp((err, sftp: SFTPWrapper) => {
      if (err) return reject(err);
      sftp.writeFile(remotePath, readFileSync(localPath), { mode: 0o755 }, (werr) => {
        if (werr) return reject(werr);
        sftp.chmod(remotePath, 0o755, (cerr) => {
          sftp.end();
          return cerr ? reject(cerr) : resolve();
        });
      });
    });
  });
}

/** Logs in as a renter would, checks a command, and uploads the probe binary. */
export async function checkRental(
  target: SshTarget,
  probeBinary: string,
  options: { timeoutMs?: number; onUpload?: () => void } = {},
): Promise<RentalCheckResult> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const findings: string[] = [];
  const started = performance.now();
  let client: Client | undefined;
  try {
    ({ client } = await connect(target, timeoutMs));
    const loginMs = performance.now() - started;
    const nonce = randomBytes(8).toString('hex');
    const result = await exec(client, `echo polarise-${nonce}; nproc`, timeoutMs);
    const lines = result.stdout.trim().split('\n');
    if (result.code !== 0) findings.push(`rental: the test command exited ${result.code}: ${result.stderr.trim()}`);
    if (lines[0] !== `polarise-${nonce}`) findings.push(`rental: the test command did not echo the nonce (got "${lines[0] ?? ''}")`);
    const nproc = Number(lines[1]);
    options.onUpload?.();
    await upload(client, probeBinary, PROBE_PATH);
    const check = await exec(client, `${PROBE_PATH} --help >/dev/null`, timeoutMs);
    if (check.code !== 0) findings.push(`rental: the uploaded probe does not run (exit ${check.code}: ${check.stderr.trim()})`);
    return { ok: findings.length === 0, findings, loginMs, nproc: Number.isFinite(nproc) ? nproc : undefined };
  } catch (err) {
    findings.push(`rental: ${(err as Error).message}`);
    return { ok: false, findings, loginMs: performance.now() - started };
  } finally {
    client?.end();
  }
}
