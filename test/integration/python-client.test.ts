import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { countResources, removeResources } from '../support/docker.js';
import { MAX_MESSAGE_BYTES, RESULT_TAIL_BYTES, STDERR_TAIL_BYTES } from '../../common/message-limits.js';
import { computeCommitArgv, computeOpenArgv, parseComputeCommit, pickRows, planCompute, verifyComputeOpen } from '../../validator/challenges/compute.js';
import type { ExecOutcome } from '../../validator/challenges/executor.js';
import { PROBE_PATH } from '../../validator/rental-check.js';
import { buildProbe, probePath } from '../fixtures/probe-executors.js';
import { LARGE_OUTPUT_COMMAND, LARGE_STDERR_BYTES, LARGE_STDOUT_BYTES } from '../fixtures/large-output.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3'; // Debian's, which has python3-grpcio

describe('a client in another language (Python, generated from proto/)', () => {
  let miner: MinerProcess;
  let gen: string;
  before(async function () {
    this.timeout(120_000);
    gen = mkdtempSync(join(tmpdir(), 'polarise-py-'));
    await run('bash', ['examples/python/generate.sh', gen]);
    miner = await startMiner();
  });
  after(async () => {
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  });

  const python = (client: { cert: string; key: string }, ...args: string[]) =>
    run(
      PYTHON,
      ['examples/python/polarise_client.py', '--address', miner.address, '--ca', miner.pki.caCert, '--cert', client.cert, '--key', client.key, ...args],
      { env: { ...process.env, POLARISE_PY_GEN: gen } },
    );

  it('calls the miner over mutual TLS (health)', async () => {
    const { stdout } = await python(miner.pki.client('validator'), 'health');
    expect(stdout.trim()).to.equal('SERVING');
  });

  it('runs the example end to end: allocate, stream a challenge with live samples, release', async () => {
    const { stdout } = await python(miner.pki.client('renter'), 'demo');
    expect(stdout).to.match(/^allocated \S+ \(\w{12}\); ssh root@127\.0\.0\.1 -p \d+$/m);
    const samples = stdout.split('\n').filter((l) => l.startsWith('sample '));
    expect(samples.length, stdout).to.be.at.least(10);
    expect(stdout).to.match(/^result status=CHALLENGE_STATUS_COMPLETED exit_code=0 output='done'$/m);
    expect(stdout).to.match(/^released \w{12}$/m);
    expect((await countResources(miner.prefix)).containers).to.equal(0);
  });

  /** One line of test/fixtures/large_output_client.py: what arrived against what the result states. */
  interface StepReport {
    name: string;
    status: string;
    exit_code: number;
    chunks: number;
    largest_message: number;
    stdout_received: number;
    stdout_sha256_received: string;
    stderr_received: number;
    stderr_sha256_received: string;
    stdout_bytes: number;
    stdout_sha256: string;
    stderr_bytes: number;
    stderr_sha256: string;
    output_tail_bytes: number;
    output_tail_is_end: boolean;
    stderr_tail_bytes: number;
    output_truncated: boolean;
  }

  it('with default grpcio options: a 20 MB output and a validator-style compute round arrive whole, no message over 1 MiB', async function () {
    this.timeout(300_000);
    buildProbe();
    const out = mkdtempSync(join(tmpdir(), 'polarise-py-out-'));
    const plan = planCompute(2);
    const rows = pickRows(plan);
    const steps = [
      { name: 'upload', argv: ['sh', '-c', `cat > ${PROBE_PATH} && chmod 755 ${PROBE_PATH}`], stdin: probePath() },
      { name: 'large', argv: LARGE_OUTPUT_COMMAND },
      { name: 'commit', argv: computeCommitArgv(PROBE_PATH, plan), duration: 120 },
      { name: 'open', argv: computeOpenArgv(PROBE_PATH, plan, rows) },
    ];
    writeFileSync(join(out, 'plan.json'), JSON.stringify({ memory: '512m', cpu_count: 2, steps }));
    const client = miner.pki.client('validator');
    const { stdout } = await run(
      PYTHON,
      ['test/fixtures/large_output_client.py', '--address', miner.address, '--ca', miner.pki.caCert, '--cert', client.cert, '--key', client.key,
        '--plan', join(out, 'plan.json'), '--out', out],
      { env: { ...process.env, POLARISE_PY_GEN: gen }, maxBuffer: 1 << 20 },
    );
    const reports = stdout.trim().split('\n').map((l) => JSON.parse(l) as StepReport);
    expect(reports.map((r) => [r.name, r.status, r.exit_code])).to.deep.equal(steps.map((s) => [s.name, 'CHALLENGE_STATUS_COMPLETED', 0]));
    for (const r of reports) {
      expect(r.largest_message, r.name).to.be.at.most(MAX_MESSAGE_BYTES);
      // Joined chunks are exactly the streams the result states.
      expect([r.stdout_received, r.stdout_sha256_received], r.name).to.deep.equal([r.stdout_bytes, r.stdout_sha256]);
      expect([r.stderr_received, r.stderr_sha256_received], r.name).to.deep.equal([r.stderr_bytes, r.stderr_sha256]);
      expect(r.output_tail_is_end, r.name).to.equal(true);
    }
    const large = reports[1]!;
    expect([large.stdout_bytes, large.stderr_bytes]).to.deep.equal([LARGE_STDOUT_BYTES, LARGE_STDERR_BYTES]);
    expect([large.output_tail_bytes, large.stderr_tail_bytes, large.output_truncated]).to.deep.equal([RESULT_TAIL_BYTES, STDERR_TAIL_BYTES, true]);
    expect(large.chunks).to.be.at.least(Math.ceil((LARGE_STDOUT_BYTES + LARGE_STDERR_BYTES) / (256 * 1024)));
    // The validator's own verifier accepts the commit and the opened rows the Python client received.
    const outcome = (name: string): ExecOutcome => ({ exitCode: 0, stdout: readFileSync(join(out, `${name}.stdout`), 'utf8'), stderr: '', samples: [], elapsedMs: 1, timedOut: false });
    const commit = parseComputeCommit(plan, outcome('commit'));
    expect(commit.findings).to.deep.equal([]);
    const verdict = verifyComputeOpen(plan, commit.roots, rows, outcome('open'));
    expect(verdict.findings).to.deep.equal([]);
    expect(verdict.rowsVerified).to.equal(rows.length);
    expect((await countResources(miner.prefix)).containers).to.equal(0);
  });

  it('is refused with a certificate from another CA', async () => {
    const err = await python(miner.pki.foreign, 'health').then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(err, 'the call should have failed').to.not.equal(null);
    expect(err!.stderr).to.match(/UNAVAILABLE/);
  });
});
