/**
 * Claimed cores, end to end: the validator (its real CLI) rents 2 CPUs from
 * an honest miner and from a miner that hands out 1 CPU for the 2 asked
 * (a doctoring proxy in front of a real miner rewrites Allocate), and proves
 * them through Allocate over gRPC, the probe uploaded over SFTP and
 * RunChallenge. The proof of the cheater is valid; only the clock catches it,
 * on every retest.
 */
import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDoctoredMiner, type DoctoredMiner } from '../support/doctored-miner.js';
import { removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { runValidator, writeValidatorConfig } from '../support/validator-cli.js';


interface Finding {
  code: string;
  message: string;
  figures?: Record<string, number>;
}

describe('the validator proves claimed cores through a real miner (2 CPUs asked)', function () {
  this.timeout(300_000);
  let honest: MinerProcess;
  let upstream: MinerProcess;
  let halfCores: DoctoredMiner;
  let events: Array<Record<string, unknown>>;

  before(async () => {
    await requireDocker();
    honest = await startMiner();
    upstream = await startMiner();
    halfCores = await startDoctoredMiner(upstream, { cpuCount: 1 });
    const dir = mkdtempSync(join(tmpdir(), 'polarise-validator-cores-'));
    const configPath = writeValidatorConfig(
      dir,
      honest.pki,
      [
        { name: 'honest', address: honest.address },
        { name: 'half-cores', address: halfCores.address },
      ],
      { cpu_count: 2, challenge_memory: '128m' },
    );
    const stdout = await runValidator(configPath, 'run', '--once', '--json');
    events = stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
  });

  after(async () => {
    await halfCores?.close();
    await honest?.stop();
    await upstream?.stop();
    if (honest) await removeResources(honest.prefix);
    if (upstream) await removeResources(upstream.prefix);
  });

  const done = (miner: string) => events.find((e) => e.event === 'done' && e.miner === miner)!;
  const codes = (miner: string) => (done(miner).findings as Finding[]).map((f) => f.code);

  it('the honest 2-CPU container proves its work: no bad proof, no lie, a high compute component', () => {
    // Both host cores busy at once run slower than one alone on this VM (verifier-cores.test.ts), so
    // a compute-too-slow grade is possible here; anything else is not.
    expect(codes('honest').filter((c) => c !== 'compute-too-slow'), JSON.stringify(done('honest').findings)).to.deep.equal([]);
    expect(done('honest').lie).to.equal(false);
    expect(done('honest').compute as number).to.be.at.least(0.6);
  });

  it('1 CPU for 2 claimed misses the deadline on every retest, says so with the times, and earns less', () => {
    const d = done('half-cores');
    const slow = (d.findings as Finding[]).find((f) => f.code === 'compute-too-slow');
    expect(slow, JSON.stringify(d.findings)).to.not.equal(undefined);
    expect(slow!.figures!.attempts).to.equal(3);
    expect(slow!.figures!.bestMs).to.be.above(slow!.figures!.deadlineMs!);
    expect(codes('half-cores')).to.not.include('compute-proof-invalid');
    expect(d.lie).to.equal(false);
    // Graded by its speed: two workers on one CPU take twice the single-core time.
    expect(d.compute as number).to.be.above(0).and.below(0.75);
  });
});
