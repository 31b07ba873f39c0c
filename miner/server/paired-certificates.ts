/**
 * A grpc-js certificate provider that reloads the miner's certificate and key
 * as one pair: a new pair applies only once the key matches the certificate,
 * so a rotation caught halfway (new certificate, old key) keeps serving the
 * old pair instead of failing every handshake.
 */
import type { experimental } from '@grpc/grpc-js';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

export interface PairedFiles {
  caCertificateFile: string;
  certificateFile: string;
  privateKeyFile: string;
  refreshIntervalMs: number;
  /** Told when files were read but not taken (mismatched pair, unreadable file). */
  onRejected?: (reason: string) => void;
}

/** Why `cert` and `key` are not a pair, or null when they are. */
export function pairProblem(cert: Buffer, key: Buffer): string | null {
  try {
    const x509 = new X509Certificate(cert);
    return x509.checkPrivateKey(createPrivateKey(key)) ? null : 'the key does not belong to the certificate';
  } catch (err) {
    return `cannot parse the certificate or key: ${(err as Error).message}`;
  }
}

export class PairedFileCertificateProvider implements experimental.CertificateProvider {
  private ca: Buffer | undefined;
  private identity: { certificate: Buffer; privateKey: Buffer } | undefined;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly files: PairedFiles) {}

  /** Reads the three files once; applies the CA and the pair if each is whole. */
  async refresh(): Promise<void> {
    const read = (path: string) => readFile(path).catch((err: NodeJS.ErrnoException) => err);
    const [ca, certificate, privateKey] = await Promise.all([read(this.files.caCertificateFile), read(this.files.certificateFile), read(this.files.privateKeyFile)]);
    if (ca instanceof Error || certificate instanceof Error || privateKey instanceof Error) {
      const failed = [ca, certificate, privateKey].find((r): r is NodeJS.ErrnoException => r instanceof Error)!;
      return this.files.onRejected?.(`cannot read ${failed.path ?? 'a TLS file'}: ${failed.code ?? failed.message}`);
    }
    if (!this.ca?.equals(ca)) {
      this.ca = ca;
      for (const listener of this.caListeners) listener({ caCertificate: ca });
    }
    if (this.identity?.certificate.equals(certificate) && this.identity.privateKey.equals(privateKey)) return;
    const problem = pairProblem(certificate, privateKey);
    if (problem) return this.files.onRejected?.(`${problem}; still serving the previous pair`);
    this.identity = { certificate, privateKey };
    for (const listener of this.identityListeners) listener(this.identity);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    // Later, as grpc-js's own provider does: it registers its watcher only after adding the listener.
    if (this.ca) process.nextTick(() => this.caListeners.has(listener) && listener({ caCertificate: this.ca! }));
    this.watch();
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
    this.unwatchIfIdle();
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    if (this.identity) process.nextTick(() => this.identityListeners.has(listener) && listener(this.identity!));
    this.watch();
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
    this.unwatchIfIdle();
  }

  private watch(): void {
    if (this.timer) return;
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.files.refreshIntervalMs);
    this.timer.unref();
  }

  private unwatchIfIdle(): void {
    if (this.caListeners.size || this.identityListeners.size || !this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
