/**
 * Weights follow proven capacity: the real validator CLI in full-capacity
 * rounds (validator.capacity.window_seconds 0) against a miner offering
 * 1 CPU and 1 GiB, one offering 2 CPUs and 2 GiB (docker.host_reserve_* on
 * this 2-core host), and one whose GetCapacity claims twice what it has (a
 * doctoring proxy in front of a real miner). Then renters take capacity: the
 * large miner keeps the credit for what a renter holds, and the small one,
 * full, is not failed. Miners are challenged one at a time, each on a quiet
 * host, so they never share its cores, and twice each: proven capacity is the
 * best of the recent full rounds, so one round slowed by a noisy neighbour
 * does not decide it.
 */
import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { allocate, minerClient, release } from '../support/clients.js';
import { startDoctoredMiner, type DoctoredMiner } from '../support/doctored-miner.js';
import { removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { runValidator, writeValidatorConfig } from '../support/validator-cli.js';
import { waitForQuietHost } from '../fixtures/probe-executors.js';

const GiB = 2 ** 30;

interface Standing {
  miner: string;
  offeredCpus?: number;
  offeredMemoryBytes?: number;
  provenCores: number;
  provenMemoryBytes: number;
  capacityUnits: number;
  ema: number;
  rounds: number;
  weight: number;
}

interface DoneEvent {
  event: string;
  miner: string;
  score: number;
  findings: { code: string }[];
  error?: string;
  kind?: string;
  unscored?: string;
  capacity?: { provenCores?: number; roundProvenCores?: number; creditedCores?: number; creditedMemoryBytes?: number; rentedCpus: number; rentedMemoryBytes?: number };
}

/** A miner offering `cpus` CPUs and about `memory` bytes: the engine's memory less the reserve. */
const offering = (count: number, memory: number) => ({ config: { docker: { host_reserve_cpus: cpus().length - count, host_reserve_memory: `${Math.floor((totalmem() - memory) / 2 ** 20)}m` } } });

describe('weights follow proven capacity (full-capacity rounds through real miners)', function () {
  this.timeout(900_000);
  const miners: MinerProcess[] = [];
  let overclaiming: DoctoredMiner;
  let configPath: string;
  const targets: Record<string, string> = {};

  /** One CLI run for one miner into the shared store, on a quiet host: a full-capacity round needs every core. */
  async function round(name: string): Promise<DoneEvent> {
    configPath = writeValidatorConfig(dir, miners[0]!.pki, [{ name, address: targets[name]! }], { capacity: { window_seconds: 0 } });
    await waitForQuietHost();
    const events = (await runValidator(configPath, 'run', '--once', '--json')).trim().split('\n').map((l) => JSON.parse(l) as DoneEvent);
    return events.find((e) => (e.event === 'done' || e.event === 'failed') && e.miner === name)!;
  }
  async function standings(): Promise<Map<string, Standing>> {
    const scores = (await runValidator(configPath, 'scores', '--json')).trim().split('\n').map((l) => JSON.parse(l) as Standing);
    for (const s of scores)
      console.log(`      ${s.miner}: offered ${s.offeredCpus} CPU; proven ${s.provenCores.toFixed(2)} cores ${(s.provenMemoryBytes / GiB).toFixed(2)} GiB; reliability ${s.ema.toFixed(3)}; weight ${s.weight.toFixed(3)}`);
    return new Map(scores.map((s) => [s.miner, s]));
  }
  const dir = mkdtempSync(join(tmpdir(), 'polarise-capacity-'));
  const first = new Map<string, DoneEvent[]>();
  let proven1: Map<string, Standing>;

  before(async () => {
    await requireDocker();
    const small = await startMiner(offering(1, 1 * GiB));
    const large = await startMiner(offering(2, 2 * GiB));
    const upstream = await startMiner(offering(2, 2 * GiB));
    miners.push(small, large, upstream);
    overclaiming = await startDoctoredMiner(upstream, { overclaim: 2 });
    Object.assign(targets, { small: small.address, large: large.address, overclaiming: overclaiming.address });
    // Two full rounds for each honest miner, interleaved: the standing is the best of them (validator.capacity.best_of).
    for (const name of ['small', 'large', 'small', 'large', 'overclaiming']) first.set(name, [...(first.get(name) ?? []), await round(name)]);
    proven1 = await standings();
  });

  after(async () => {
    await overclaiming?.close();
    for (const m of miners) {
      await m.stop();
      await removeResources(m.prefix);
    }
  });

  it('each honest miner is rented and proven in full: every CPU, and memory in the ratio of the offers', () => {
    const s = (name: string) => proven1.get(name)!;
    expect(s('small').offeredCpus).to.equal(1);
    expect(s('large').offeredCpus).to.equal(2);
    for (const name of ['small', 'large']) {
      for (const done of first.get(name)!) {
        const bad = done.findings.filter((f) => ['compute-proof-invalid', 'memory-proof-invalid', 'samples-impossible', 'round-error'].includes(f.code));
        expect(bad, JSON.stringify(done)).to.deep.equal([]);
        expect(done.kind).to.equal('full');
        expect(done.capacity!.rentedCpus).to.equal(s(name).offeredCpus);
      }
    }
    // Memory proofs are exact: 0.75 of the free memory rented, 0.8 of it filled and proven.
    expect(s('small').provenMemoryBytes).to.be.within(0.55 * GiB, 0.61 * GiB);
    expect(s('large').provenMemoryBytes / s('small').provenMemoryBytes).to.be.within(1.85, 2.15);
    // On this 2-core VM two busy vCPUs deliver about 1.4–1.75 single-core speeds, and the miner and the validator
    // share them with the 2-CPU container (docs/verification.md): cores are compared loosely here, exactly on a quiet host in verifier-cores.
    const rounds = JSON.stringify([...first.values()].flat().map((d) => ({ miner: d.miner, cores: d.capacity?.roundProvenCores })));
    expect(s('large').provenCores / s('small').provenCores, rounds).to.be.within(1.1, 2.3);
  });

  it('the proven cores are the best of the recent full rounds: a slower round does not cut them', () => {
    for (const name of ['small', 'large']) {
      const cores = first.get(name)!.map((d) => d.capacity!.roundProvenCores!);
      expect(proven1.get(name)!.provenCores, JSON.stringify(cores)).to.equal(Math.max(...cores));
    }
  });

  it('weights are in the ratio of proven capacity × reliability', () => {
    const s = (name: string) => proven1.get(name)!;
    const ratio = s('large').weight / s('small').weight;
    const expected = (s('large').capacityUnits * s('large').ema) / (s('small').capacityUnits * s('small').ema);
    expect(ratio).to.be.closeTo(expected, 1e-9);
    // The larger miner proves clearly more (memory alone twice as much); its reliability may differ a little (a 2-CPU
    // container on this 2-core host scores a lower compute component), never enough to reverse the order.
    expect(s('large').capacityUnits / s('small').capacityUnits).to.be.above(1.3);
    expect(ratio).to.be.above(1);
  });

  it('claiming twice the capacity never raises a weight: the miner that over-claims weighs less than the truthful one', () => {
    expect(proven1.get('overclaiming')!.offeredCpus).to.equal(4);
    expect(proven1.get('overclaiming')!.weight).to.be.below(proven1.get('large')!.weight);
    expect(proven1.get('overclaiming')!.provenCores).to.equal(0);
    expect(first.get('overclaiming')![0]!.score).to.equal(0);
  });

  describe('while renters hold capacity', () => {
    const renter = (m: MinerProcess) => minerClient(m.address, { caCert: m.pki.caCert, client: m.pki.client('renter', 'capacity-renter') });
    const held: { miner: MinerProcess; id: string }[] = [];
    const second = new Map<string, DoneEvent>();
    let proven2: Map<string, Standing>;

    before(async () => {
      const [small, large] = miners as [MinerProcess, MinerProcess];
      for (const m of [small, large]) held.push({ miner: m, id: (await allocate(renter(m), { cpuCount: 1, memory: '512m' })).containerId });
      for (const name of ['small', 'large']) second.set(name, await round(name));
      proven2 = await standings();
    });
    after(async () => {
      for (const h of held) await release(renter(h.miner), h.id).catch(() => undefined);
    });

    it('a miner with one allocation held keeps the credit for it: proven capacity stays at the last proven value', () => {
      const done = second.get('large')!;
      expect(done.kind, JSON.stringify(done)).to.equal('full');
      expect(done.capacity!.rentedCpus).to.equal(1);
      expect(done.capacity!.creditedCores).to.be.above(0);
      expect(done.capacity!.creditedMemoryBytes).to.be.above(0);
      const was = proven1.get('large')!;
      const now = proven2.get('large')!;
      expect(now.provenCores, JSON.stringify(done)).to.be.within(0.85 * was.provenCores, was.provenCores + 1e-9);
      expect(now.provenMemoryBytes).to.be.within(0.85 * was.provenMemoryBytes, was.provenMemoryBytes);
    });

    it('a full miner (nothing free) is not failed: the round is not scored, its reliability and credit stay', () => {
      const done = second.get('small')!;
      expect(done.error, JSON.stringify(done)).to.equal(undefined);
      expect(done.unscored).to.match(/not scored/);
      const was = proven1.get('small')!;
      const now = proven2.get('small')!;
      expect(now.ema).to.equal(was.ema);
      expect(now.provenCores).to.equal(was.provenCores);
      expect(now.provenMemoryBytes).to.equal(was.provenMemoryBytes);
      expect(now.weight).to.be.above(0);
    });
  });
});
