/**
 * The miner's TLS credentials: mutual TLS only, from files that are watched,
 * so replaced certificates apply to new connections without a restart. The
 * certificate and key are taken only as a matching pair.
 */
import { experimental, type ServerCredentials } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { PairedFileCertificateProvider, pairProblem } from './paired-certificates.js';

export interface TlsFiles {
  caCert: string;
  cert: string;
  key: string;
  /** How often the files are read again, so certificates rotate without a restart. */
  reloadMs?: number;
  /** Told when a reload was not taken (e.g. a new certificate with the old key). */
  warn?: (message: string) => void;
}

export interface WatchedCredentials {
  credentials: ServerCredentials;
  /** Resolves once the files have been read, so no handshake meets an empty context. */
  loaded: Promise<void>;
  close(): void;
}

export function serverCredentials(tls: TlsFiles): WatchedCredentials {
  // Fail at start with a clear message rather than on the first handshake.
  for (const [path, what] of [
    [tls.caCert, 'CA certificate (security.ca_cert)'],
    [tls.cert, 'certificate (security.cert)'],
    [tls.key, 'key (security.key)'],
  ] as const) {
    try {
      readFileSync(path);
    } catch (err) {
      throw new Error(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
  }
  const problem = pairProblem(readFileSync(tls.cert), readFileSync(tls.key));
  if (problem) throw new Error(`security.cert ${tls.cert} and security.key ${tls.key}: ${problem}`);
  // The files are watched: replaced certificates apply to new connections
  // without a restart. requireClientCertificate: a client without a
  // certificate signed by our CA fails the handshake and reaches no handler.
  const files = new PairedFileCertificateProvider({
    caCertificateFile: tls.caCert,
    certificateFile: tls.cert,
    privateKeyFile: tls.key,
    refreshIntervalMs: tls.reloadMs ?? 60_000,
    onRejected: (reason) => tls.warn?.(`TLS files not reloaded: ${reason}`),
  });
  let identity = false;
  let ca = false;
  let done: () => void = () => undefined;
  const loaded = new Promise<void>((resolve) => (done = resolve));
  const onIdentity = (update: unknown) => {
    identity ||= Boolean(update);
    if (identity && ca) done();
  };
  const onCa = (update: unknown) => {
    ca ||= Boolean(update);
    if (identity && ca) done();
  };
  files.addIdentityCertificateListener(onIdentity);
  files.addCaCertificateListener(onCa);
  return {
    credentials: experimental.createCertificateProviderServerCredentials(files, files, true),
    loaded,
    close: () => {
      files.removeIdentityCertificateListener(onIdentity);
      files.removeCaCertificateListener(onCa);
    },
  };
}
