/**
 * Claimed cores, end to end: the validator (its real CLI) rents 2 CPUs from
 * an honest miner and from a miner that hands out 1 CPU for the 2 asked
 * (a doctoring proxy in front of a real miner rewrites Allocate), and proves
 * them through Allocate over gRPC, the probe uploaded over SFTP and
 * RunChallenge. The proof of the cheater is valid; the core check inside its
 * own container (one worker against two) catches it, and its throughput
 * shows what it delivers.
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

  it('the honest 2-CPU container passes every check, the core check included', () => {
    expect(codes('honest'), JSON.stringify(done('honest').findings)).to.deep.equal([]);
    expect(done('honest').lie).to.equal(false);
    expect(done('honest').compute as number).to.be.above(0.4);
  });

  it('1 CPU for 2 claimed: "fewer cores than claimed" with the times, a valid proof, and at most about half the honest compute', () => {
    const d = done('half-cores');
    const fewer = (d.findings as Finding[]).find((f) => f.code === 'fewer-cores');
    expect(fewer, JSON.stringify(d.findings)).to.not.equal(undefined);
    expect(fewer!.message).to.match(/fewer cores than claimed: 2 workers took \d+ ms where one took \d+ ms/);
    expect(fewer!.figures!.efficiency).to.be.below(0.75);
    expect(codes('half-cores')).to.not.include('compute-proof-invalid');
    expect(d.lie).to.equal(false);
    // Through a real miner on this 2-core host the honest 2-CPU container delivers about 1.4 single-core speeds (the
    // miner and the validator share its cores), so one core's worth is about 0.6-0.7 of it (docs/verification.md).
    expect(d.compute as number).to.be.above(0).and.at.most(0.8 * (done('honest').compute as number));
  });
});
