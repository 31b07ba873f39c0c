/**
 * Weights follow proven capacity: the real validator CLI, in full-capacity
 * mode (validator.cpu_count 0: rent every CPU a miner says is free), against
 * a miner offering 1 CPU (docker.host_reserve_cpus 1 on this 2-core host), one
 * offering 2, and one whose GetCapacity claims twice what it has (a doctoring
 * proxy in front of a real 2-CPU miner). Miners are challenged one at a time,
 * each on a quiet host, so they never share its cores.
 */
import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDoctoredMiner, type DoctoredMiner } from '../support/doctored-miner.js';
import { removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { runValidator, writeValidatorConfig } from '../support/validator-cli.js';
import { waitForQuietHost } from '../fixtures/probe-executors.js';

interface Standing {
  miner: string;
  offeredCpus?: number;
  provenCores: number;
  provenMemoryBytes: number;
  capacityUnits: number;
  ema: number;
  weight: number;
}

describe('weights follow proven capacity (full-capacity rounds through real miners)', function () {
  this.timeout(600_000);
  const miners: MinerProcess[] = [];
  let overclaiming: DoctoredMiner;
  let standings: Map<string, Standing>;
  let done: Map<string, Record<string, unknown>>;

  before(async () => {
    await requireDocker();
    const small = await startMiner({ config: { docker: { host_reserve_cpus: 1 } } });
    const large = await startMiner();
    const upstream = await startMiner();
    miners.push(small, large, upstream);
    overclaiming = await startDoctoredMiner(upstream, { overclaim: 2 });
    const dir = mkdtempSync(join(tmpdir(), 'polarise-capacity-'));
    const targets = { small: small.address, large: large.address, overclaiming: overclaiming.address };
    let configPath = '';
    done = new Map();
    // One CLI run per miner, all into the same store, each on a quiet host: a full-capacity round needs every core.
    for (const [name, address] of Object.entries(targets)) {
      configPath = writeValidatorConfig(dir, small.pki, [{ name, address }], { cpu_count: 0, challenge_memory: '128m' });
      await waitForQuietHost();
      const events = (await runValidator(configPath, 'run', '--once', '--json')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      done.set(name, events.find((e) => (e.event === 'done' || e.event === 'failed') && e.miner === name)!);
    }
    const scores = (await runValidator(configPath, 'scores', '--json')).trim().split('\n').map((l) => JSON.parse(l) as Standing);
    standings = new Map(scores.map((s) => [s.miner, s]));
  });

  after(async () => {
    await overclaiming?.close();
    for (const m of miners) {
      await m.stop();
      await removeResources(m.prefix);
    }
  });

  const s = (miner: string): Standing => standings.get(miner)!;

  it('each honest miner is rented and proven in full: the 2-CPU one proves about twice the 1-CPU one', () => {
    expect(s('small').offeredCpus).to.equal(1);
    expect(s('large').offeredCpus).to.equal(2);
    // The core check of a 2-CPU container on a 2-core host that also runs the miner and the validator is tested on a
    // quiet host in verifier-cores.test.ts; here only proofs and lies matter.
    for (const name of ['small', 'large']) {
      const bad = (done.get(name)!.findings as { code: string }[]).filter((f) => ['compute-proof-invalid', 'memory-proof-invalid', 'samples-impossible', 'round-error'].includes(f.code));
      expect(bad, JSON.stringify(done.get(name))).to.deep.equal([]);
    }
    // On this 2-core VM two busy vCPUs deliver about 1.75 single-core speeds, and the miner and the validator share
    // them with the 2-CPU container (the 1-CPU one leaves them a core): measured 1.43 (docs/verification.md).
    expect(s('large').provenCores / s('small').provenCores, JSON.stringify([...standings.values()])).to.be.within(1.1, 2.3);
    expect(s('small').provenMemoryBytes).to.equal(128 * 2 ** 20);
  });

  it('weights are in the ratio of proven capacity × reliability', () => {
    const ratio = s('large').weight / s('small').weight;
    const expected = (s('large').capacityUnits * s('large').ema) / (s('small').capacityUnits * s('small').ema);
    expect(ratio).to.be.closeTo(expected, 1e-9);
    expect(ratio).to.be.above(1);
  });

  it('claiming twice the capacity never raises a weight: the miner that over-claims weighs less than the truthful one', () => {
    expect(s('overclaiming').offeredCpus).to.equal(4);
    expect(s('overclaiming').weight).to.be.below(s('large').weight);
    expect(s('overclaiming').provenCores).to.equal(0);
  });
});
