/**
 * The validator's rental probe against a real miner: it logs in only when
 * the SSH server presents the host key the miner announced in Allocate.
 * With any other fingerprint the handshake is abandoned before
 * authentication (no password is sent, no login happens) and the probe
 * reports the mismatch.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import type { AllocateResponse, MinerServiceClient } from '../../common/gen/polarise/v1/miner.js';
import { checkRental, type SshTarget } from '../../validator/rental-check.js';
import { buildProbe, probePath } from '../fixtures/probe-executors.js';
import { allocate, minerClient, release } from '../support/clients.js';
import { removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { ready } from '../support/miner-state.js';
import { sshKeygen } from '../support/openssh.js';
import { presentedHostKey } from '../support/ssh-host-key.js';

/** A finding's text, whether findings are plain strings or `{ code, message }` objects. */
function text(f: unknown): string {
  return typeof f === 'string' ? f : (f as { message: string }).message;
}

/** The OpenSSH SHA256 fingerprint of a freshly generated ed25519 key, as ssh-keygen prints it. */
function strangerFingerprint(): string {
  const key = sshKeygen();
  const out = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', key.publicKey], { encoding: 'utf8' });
  const fp = /SHA256:[A-Za-z0-9+/]+/.exec(out)?.[0];
  if (!fp) throw new Error(`unexpected ssh-keygen -l output: ${out}`);
  return fp;
}

/** The announced fingerprint with one character of its base64 changed. */
function oneCharOff(fp: string): string {
  const i = fp.length - 5;
  return fp.slice(0, i) + (fp[i] === 'A' ? 'B' : 'A') + fp.slice(i + 1);
}

describe('rental probe: SSH host-key pinning', function () {
  this.timeout(120_000);
  let miner: MinerProcess;
  let client: MinerServiceClient;
  let a: AllocateResponse;
  const probe = probePath();

  /** Successful SSH logins the miner has logged so far ("ssh login", not "ssh login failed"). */
  const logins = () => miner.logs.filter((l) => l.includes('"msg":"ssh login"')).length;
  /** Every SSH authentication outcome the miner has logged (success or failure). */
  const authEvents = () => miner.logs.filter((l) => /"msg":"ssh login( failed)?"/.test(l)).length;

  const target = (hostKeyFingerprint: string): SshTarget => ({
    host: a.host,
    port: a.sshPort,
    username: a.username,
    password: a.password,
    hostKeyFingerprint,
  });

  async function waitFor(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
    const until = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  before(async () => {
    await requireDocker();
    buildProbe();
    miner = await startMiner({ config: { docker: { overcommit_ratio: 4 } } });
    client = minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('validator', 'v1') });
    await ready(client);
    a = await allocate(client, { memory: '128m', cpuCount: 1, leaseSeconds: 600 });
    expect(a.sshHostKeyFingerprint).to.match(/^SHA256:[A-Za-z0-9+/]{43}$/);
    // What the endpoint really presents, fingerprinted independently of the probe's code.
    expect(await presentedHostKey(a)).to.equal(a.sshHostKeyFingerprint);
    // That check logged in once; let its log line arrive before the tests count.
    await waitFor('the miner to log the host-key check login', () => logins() === 1);
  });
  after(async () => {
    if (client && a) await release(client, a.containerId).catch(() => undefined);
    client?.close();
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  });

  it('logs in, runs the test command and uploads the probe when the host key is the announced one', async () => {
    const loginsBefore = logins();
    let uploaded = false;
    const r = await checkRental(target(a.sshHostKeyFingerprint), probe, { onUpload: () => (uploaded = true) });
    expect(r.findings.map(text)).to.deep.equal([]);
    expect(r.ok).to.equal(true);
    expect(uploaded).to.equal(true);
    expect(r.nproc).to.be.a('number').and.to.be.greaterThan(0);
    await waitFor('the miner to log the login', () => logins() === loginsBefore + 1);
  });

  for (const [name, wrong] of [
    ['a freshly generated ed25519 key', () => strangerFingerprint()],
    ['the announced one with one character changed', () => oneCharOff(a.sshHostKeyFingerprint)],
  ] as const) {
    it(`refuses before logging in when the announced fingerprint is ${name}`, async () => {
      const fingerprint = wrong();
      expect(fingerprint).to.match(/^SHA256:/).and.not.equal(a.sshHostKeyFingerprint);
      const authBefore = authEvents();
      const loginsBefore = logins();
      let uploaded = false;

      const r = await checkRental(target(fingerprint), probe, { onUpload: () => (uploaded = true) });
      expect(r.ok).to.equal(false);
      expect(r.nproc).to.equal(undefined);
      expect(uploaded).to.equal(false);
      const texts = r.findings.map(text);
      expect(texts).to.have.length(1);
      expect(texts[0]).to.match(/host key/i);
      expect(texts[0]).to.match(/does not match/i);
      expect(texts[0]).to.include(fingerprint);

      // The login never happened: a correct probe afterwards is the only
      // authentication the miner logs (log lines arrive in order, so one
      // from the refused probe would show up before this one).
      const control = await checkRental(target(a.sshHostKeyFingerprint), probe);
      expect(control.findings.map(text)).to.deep.equal([]);
      await waitFor('the miner to log the later login', () => logins() === loginsBefore + 1);
      expect(authEvents()).to.equal(authBefore + 1);
    });
  }
});
