/**
 * npm run certs -- <command> [options]
 * Makes the subnet's CA and the leaves it signs. Keys are written 0600 and
 * nothing is overwritten without --force.
 */
import { parseArgs } from 'node:util';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createCa, issueClientCert, issueMinerCert, type Pem } from '../common/certificates.js';
import { isRole, isValidName, ROLES } from '../common/identity.js';
import { errorMessage } from '../common/errors.js';

const USAGE = `Usage: npm run certs -- <command> [options]

Commands:
  ca      --out DIR                         make a subnet CA (DIR/ca.crt, DIR/ca.key)
  miner   --ca DIR --out DIR [--name NAME] [--dns NAMES] [--ip ADDRS]
                                            a miner's server certificate (DIR/miner.crt, .key);
                                            NAMES and ADDRS are comma-separated SANs
                                            (default: localhost and 127.0.0.1,::1)
  client  --ca DIR --out DIR --role ROLE --name NAME
                                            a client certificate (DIR/ROLE-NAME.crt, .key);
                                            ROLE is one of ${ROLES.join(', ')}
  dev     [--out DIR]                       everything for one machine: a CA, a miner
                                            certificate for localhost and one client per role
                                            named "dev" (default DIR: certs/dev)

Options:
  --force   overwrite existing files
  --help    show this text`;

class UsageError extends Error {}

function writeOnce(path: string, data: string, mode: number, force: boolean): void {
  if (existsSync(path) && !force) throw new UsageError(`${path} exists; pass --force to overwrite it`);
  writeFileSync(path, data, { mode });
}

function save(dir: string, base: string, pem: Pem, force: boolean): void {
  mkdirSync(dir, { recursive: true });
  writeOnce(join(dir, `${base}.crt`), pem.cert, 0o644, force);
  writeOnce(join(dir, `${base}.key`), pem.key, 0o600, force);
  console.log(`wrote ${join(dir, `${base}.crt`)} and ${join(dir, `${base}.key`)} (0600)`);
}

function loadCa(dir: string | undefined): Pem {
  if (!dir) throw new UsageError('--ca DIR is required (the folder holding ca.crt and ca.key)');
  const certPath = join(dir, 'ca.crt');
  const keyPath = join(dir, 'ca.key');
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    throw new UsageError(`no CA in ${dir}: expected ca.crt and ca.key (make one with: npm run certs -- ca --out ${dir})`);
  }
  return { cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
}

function list(text: string | undefined): string[] {
  return (text ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

function minerSans(dns: string | undefined, ip: string | undefined): { dns: string[]; ips: string[] } {
  const dnsNames = dns === undefined ? ['localhost'] : list(dns);
  const ips = ip === undefined ? ['127.0.0.1', '::1'] : list(ip);
  for (const a of ips) if (!isIP(a)) throw new UsageError(`--ip: "${a}" is not an IP address`);
  for (const d of dnsNames) {
    if (d.length > 253) throw new UsageError(`--dns: a name of ${d.length} characters is longer than DNS allows (253)`);
    if (!/^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(d)) {
      throw new UsageError(`--dns: "${d}" is not a DNS name`);
    }
  }
  if (dnsNames.length + ips.length === 0) throw new UsageError('a miner certificate needs at least one --dns or --ip');
  return { dns: dnsNames, ips };
}

type CertOptions = { out?: string; ca?: string; name?: string; role?: string; dns?: string; ip?: string; force?: boolean };

/** Writes what `command` names (ca | miner | client | dev). */
function issue(command: string, values: CertOptions): void {
  const force = values.force ?? false;
  const needOut = () => {
    if (!values.out) throw new UsageError('--out DIR is required');
    return values.out;
  };
  const name = (fallback?: string) => {
    const n = values.name ?? fallback;
    if (!n) throw new UsageError('--name NAME is required');
    if (!isValidName(n)) throw new UsageError(`--name: "${n}" must be 1-63 letters, digits, ".", "_" or "-"`);
    return n;
  };

  switch (command) {
    case 'ca':
      save(needOut(), 'ca', createCa(), force);
      return;
    case 'miner': {
      const ca = loadCa(values.ca);
      const sans = minerSans(values.dns, values.ip);
      save(needOut(), 'miner', issueMinerCert(ca, name('miner'), sans.dns, sans.ips), force);
      return;
    }
    case 'client': {
      const ca = loadCa(values.ca);
      const role = values.role;
      if (!role) throw new UsageError(`--role is required: one of ${ROLES.join(', ')}`);
      if (!isRole(role)) throw new UsageError(`--role: "${role}" is not one of ${ROLES.join(', ')}`);
      const n = name();
      save(needOut(), `${role}-${n}`, issueClientCert(ca, role, n), force);
      return;
    }
    case 'dev': {
      const out = values.out ?? 'certs/dev';
      const ca = createCa('Polarise development CA');
      save(out, 'ca', ca, force);
      const sans = minerSans(values.dns, values.ip);
      save(out, 'miner', issueMinerCert(ca, 'miner', sans.dns, sans.ips), force);
      for (const role of ROLES) save(out, `${role}-dev`, issueClientCert(ca, role, 'dev'), force);
      return;
    }
    default:
      throw new UsageError(`unknown command "${command}"; one of: ca, miner, client, dev`);
  }
}

function main(argv: string[]): void {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      out: { type: 'string' },
      ca: { type: 'string' },
      name: { type: 'string' },
      role: { type: 'string' },
      dns: { type: 'string' },
      ip: { type: 'string' },
      force: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  const [command, ...extra] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    if (!command && !values.help) process.exitCode = 2;
    return;
  }
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  issue(command, values);
}

try {
  main(process.argv.slice(2));
} catch (err) {
  const message = errorMessage(err);
  console.error(`certs: ${message}\n(run "npm run certs -- --help" for usage)`);
  process.exitCode = 2;
}
