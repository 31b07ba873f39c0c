/**
 * The SSH gateway under a pre-auth flood: raw TCP connections that never log
 * in are capped in total (ssh.max_startups) and per source address
 * (ssh.per_source_max_startups), closed after the login grace time
 * (ssh.login_grace_seconds), and a renter can still log in. The key exchange
 * offered, as a real OpenSSH client reads it, has no Diffie-Hellman.
 *
 * Sources: the flood comes from other loopback addresses (127.0.0.2,
 * 127.0.1.x); the renter logs in from 127.0.0.1.
 */
import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { ConfigError, loadConfig } from '../../common/config.js';
import type { AllocateResponse, MinerServiceClient } from '../../common/gen/polarise/v1/miner.js';
import { PreauthLimiter, sourceKey } from '../../miner/ssh/preauth-limits.js';
import { allocate, minerClient } from '../support/clients.js';
import { removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { ready } from '../support/miner-state.js';
import { ssh, type SshTarget } from '../support/openssh.js';
import { flood, sleep, type Flood } from '../support/tcp-flood.js';

const GRACE_S = 2;
const MAX_STARTUPS = 30;
const PER_SOURCE = 10;
const FLOOD = 100;

/** Polls until `done()` or `ms` have passed. */
async function until(done: () => boolean, ms: number): Promise<void> {
  const end = performance.now() + ms;
  while (!done() && performance.now() < end) await sleep(25);
}

function login(a: AllocateResponse, localAddress?: string): Promise<ssh2.Client> {
  return new Promise((resolve, reject) => {
    const c = new ssh2.Client();
    c.on('ready', () => resolve(c)).on('error', reject);
    c.connect({ host: a.host, port: a.sshPort, username: 'root', password: a.password, readyTimeout: 10_000, localAddress });
  });
}

function run(c: ssh2.Client, command: string): Promise<string> {
  return new Promise((resolve, reject) =>
    c.exec(command, (err, stream) => {
      if (err) return reject(err);
      let out = '';
      stream.on('data', (b: Buffer) => (out += b.toString()));
      stream.stderr.on('data', () => undefined);
      stream.on('close', () => resolve(out));
    }),
  );
}

/** The lists after "peer server KEXINIT proposal" in `ssh -vv` output, by name ("KEX algorithms", ...). */
function peerProposal(stderr: string): Map<string, string[]> {
  const lines = stderr.split('\n');
  const start = lines.findIndex((l) => l.includes('peer server KEXINIT proposal'));
  const lists = new Map<string, string[]>();
  for (const line of lines.slice(start + 1, start + 12)) {
    const text = line.startsWith('debug2: ') ? line.slice('debug2: '.length).trim() : '';
    const colon = text.indexOf(': ');
    if (colon > 0) lists.set(text.slice(0, colon), text.slice(colon + 2).split(','));
  }
  return lists;
}

describe('SSH gateway before login (pre-auth flood, grace time, key exchange)', function () {
  this.timeout(120_000);
  let miner: MinerProcess;
  let client: MinerServiceClient;
  let a: AllocateResponse;
  let pw: SshTarget;
  let floods: Flood[] = [];

  before(async () => {
    await requireDocker();
    miner = await startMiner({
      config: { ssh: { login_grace_seconds: GRACE_S, max_startups: MAX_STARTUPS, per_source_max_startups: PER_SOURCE } },
    });
    client = minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('renter', 'alice') });
    await ready(client);
    a = await allocate(client, { memory: '64m' });
    pw = { host: a.host, port: a.sshPort, password: a.password };
  });
  afterEach(async () => {
    for (const f of floods) f.end();
    floods = [];
    await sleep(200); // the miner sees the closes and frees the slots
  });
  after(async () => {
    client?.close();
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  });

  async function startFlood(from: string[], hello?: string): Promise<Flood> {
    const f = await flood({ host: a.host, port: a.sshPort, count: FLOOD, from, hello });
    floods.push(f);
    return f;
  }

  it(`keeps at most ${PER_SOURCE} idle connections from one source, drops the rest before any SSH byte, and a renter logs in meanwhile`, async () => {
    const f = await startFlood(['127.0.0.2']);
    await until(() => f.openCount() <= PER_SOURCE, 2000);
    const held = f.openCount();
    const dropped = f.connections.filter((c) => !c.open);
    const login = await ssh(pw, 'echo in');
    const stillHeld = f.openCount();
    console.log(`      per-source flood: ${held}/${FLOOD} held, ${dropped.length} dropped (bytes sent to them: ${dropped.reduce((n, c) => n + c.bytesIn, 0)}, slowest drop ${Math.max(...dropped.map((c) => c.closedAfterMs ?? 0)).toFixed(0)} ms); login meanwhile ${login.ms.toFixed(0)} ms with ${stillHeld} held`);
    expect(held).to.equal(PER_SOURCE);
    expect(dropped.every((c) => c.bytesIn === 0), 'a dropped connection was sent SSH bytes').to.equal(true);
    expect(login.code, login.stderr.toString()).to.equal(0);
    expect(login.stdout.toString()).to.equal('in\n');
    expect(stillHeld, 'the flood was gone before the login: it did not test anything').to.equal(PER_SOURCE);
    expect(miner.logs.some((l) => l.includes('ssh connections refused: too many not logged in'))).to.equal(true);
  });

  it(`closes connections that do not log in within login_grace_seconds (${GRACE_S} s), idle or after the SSH identification`, async () => {
    const idle = await startFlood(['127.0.0.2']);
    const talking = await startFlood(['127.0.0.3'], 'SSH-2.0-flood\r\n');
    await until(() => idle.openCount() <= PER_SOURCE && talking.openCount() <= PER_SOURCE, 2000);
    const kept = [...idle.connections, ...talking.connections].filter((c) => c.open);
    expect(kept).to.have.length(2 * PER_SOURCE);
    await until(() => kept.every((c) => !c.open), GRACE_S * 1000 + 5000);
    const after = kept.map((c) => c.closedAfterMs ?? Infinity);
    console.log(`      grace: ${kept.length} held connections closed after ${Math.min(...after).toFixed(0)}-${Math.max(...after).toFixed(0)} ms (grace ${GRACE_S * 1000} ms)`);
    expect(Math.min(...after)).to.be.at.least(GRACE_S * 1000 - 100);
    expect(Math.max(...after)).to.be.below(GRACE_S * 1000 + 3000);
    expect(talking.connections.filter((c) => c.open && c.bytesIn > 0)).to.have.length(0);
    expect(miner.logs.some((l) => l.includes('not logged in within the login grace time'))).to.equal(true);
  });

  it(`keeps at most max_startups (${MAX_STARTUPS}) not logged in across sources; a login works as soon as they are gone`, async () => {
    const sources = Array.from({ length: 20 }, (_, i) => `127.0.1.${i + 1}`);
    const f = await startFlood(sources);
    await until(() => f.openCount() <= MAX_STARTUPS, 2000);
    const held = f.openCount();
    const whileFull = await ssh(pw, 'echo in');
    await until(() => f.openCount() === 0, GRACE_S * 1000 + 5000);
    const afterGrace = await ssh(pw, 'echo in');
    console.log(`      total flood from ${sources.length} sources: ${held}/${FLOOD} held; login while full: exit ${whileFull.code} in ${whileFull.ms.toFixed(0)} ms; after the grace time: exit ${afterGrace.code} in ${afterGrace.ms.toFixed(0)} ms`);
    expect(held).to.equal(MAX_STARTUPS);
    // A hard cap, as OpenSSH's MaxStartups when full: refused at once, not left hanging.
    expect(whileFull.code).to.equal(255);
    expect(whileFull.ms).to.be.below(2000);
    expect(afterGrace.code, afterGrace.stderr.toString()).to.equal(0);
  });

  it('does not count logged-in connections, and they outlive the grace time', async () => {
    const sessions = [];
    for (let i = 0; i < PER_SOURCE + 2; i++) sessions.push(await login(a, '127.0.0.4'));
    try {
      await sleep(GRACE_S * 1000 + 1000);
      const outputs = await Promise.all(sessions.map((c) => run(c, 'echo alive')));
      expect(outputs.every((o) => o === 'alive\n')).to.equal(true);
      const more = await ssh(pw, 'echo in', { extra: ['-o', 'BindAddress=127.0.0.4'] });
      expect(more.stdout.toString()).to.equal('in\n');
    } finally {
      for (const c of sessions) c.end();
    }
  });

  it('offers curve25519/ECDH key exchange only (no DH group exchange, no group14-18), as OpenSSH reads the KEXINIT', async () => {
    const r = await ssh(pw, 'echo in', { extra: ['-vv'] });
    expect(r.code, r.stderr.toString()).to.equal(0);
    const stderr = r.stderr.toString();
    const offer = peerProposal(stderr);
    const kex = offer.get('KEX algorithms') ?? [];
    console.log(`      server KEXINIT: kex ${kex.join(',')}; host keys ${offer.get('host key algorithms')?.join(',')}`);
    expect(kex).to.include('curve25519-sha256');
    expect(kex.filter((k) => k.startsWith('diffie-hellman'))).to.deep.equal([]);
    expect(offer.get('host key algorithms')).to.deep.equal(['ssh-ed25519']);
    expect(offer.get('ciphers stoc')?.filter((c) => c.endsWith('-cbc'))).to.deep.equal([]);
    expect(offer.get('MACs stoc')?.filter((m) => m.includes('sha1') || m.includes('md5'))).to.deep.equal([]);
    expect(offer.get('compression stoc')).to.not.include('zlib');
    expect(stderr).to.include('kex: algorithm: curve25519-sha256');
  });

  it('refuses a client that only speaks Diffie-Hellman (group exchange, group16, group18)', async () => {
    const dh = 'diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256';
    // -v: OpenSSH reports "Unable to negotiate" at level INFO, which the helper's LogLevel=ERROR hides.
    const r = await ssh(pw, 'echo in', { extra: ['-v', '-o', `KexAlgorithms=${dh}`] });
    expect(r.code).to.equal(255);
    expect(r.stderr.toString()).to.include('no matching key exchange method found');
  });
});

describe('pre-auth limits (config and counting)', () => {
  function configError(text: string): string {
    const path = join(mkdtempSync(join(tmpdir(), 'polarise-config-')), 'config.yaml');
    writeFileSync(path, text);
    try {
      loadConfig(path, {});
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('expected a configuration error');
  }

  it('config/config.yaml documents the defaults: 20 s grace, 30 in total, 10 per source', () => {
    const { ssh: s } = loadConfig('config/config.yaml', {});
    expect([s.login_grace_seconds, s.max_startups, s.per_source_max_startups]).to.deep.equal([20, 30, 10]);
  });

  it('errors name the key', () => {
    expect(configError('ssh:\n  login_grace_seconds: 0\n')).to.match(/ssh\.login_grace_seconds: /);
    expect(configError('ssh:\n  max_startups: "many"\n')).to.match(/ssh\.max_startups: .*number/);
    expect(configError('ssh:\n  per_source_max_startups: 2.5\n')).to.match(/ssh\.per_source_max_startups: /);
    expect(configError('ssh:\n  max_startups: 5\n  per_source_max_startups: 6\n')).to.match(
      /ssh\.per_source_max_startups: must not be above ssh\.max_startups/,
    );
  });

  it('counts per IPv4 address and per IPv6 /64, and forgets a source when its count is back to 0', () => {
    expect(sourceKey('::ffff:10.1.2.3')).to.equal('10.1.2.3');
    expect(sourceKey('2001:db8:0:1:aaaa::1')).to.equal('2001:db8:0:1::/64');
    expect(sourceKey('2001:DB8::1:2:3:4')).to.equal('2001:db8:0:0::/64');
    expect(sourceKey('fe80::1%eth0')).to.equal('fe80:0:0:0::/64');
    const limiter = new PreauthLimiter(3, 2);
    const s1 = limiter.acquire('2001:db8::1');
    const s2 = limiter.acquire('2001:db8::2');
    expect(limiter.acquire('2001:db8::3')).to.equal('source');
    const s3 = limiter.acquire('10.0.0.1');
    expect(limiter.acquire('10.0.0.2')).to.equal('total');
    for (const s of [s1, s2, s3, s3]) if (typeof s !== 'string') s.release();
    expect(limiter.usage()).to.deep.equal({ total: 0, sources: 0 });
  });
});
