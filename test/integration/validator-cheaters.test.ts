/**
 * Each prover cheater, one lie at a time, on the real path of a round: a real
 * miner, Allocate over gRPC with mutual TLS, SSH login against the pinned
 * host key, the probe uploaded over SFTP, RunChallenge streaming samples.
 * The cheating miner is modelled the way one would cheat: the program that
 * answers inside its container is not the honest probe (the miner controls
 * the container, so it can swap what runs there).
 */
import { expect } from 'chai';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../common/config.js';
import { allFindings, type MinerRoundResult } from '../../validator/round-types.js';
import { runMinerRound, type RoundSettings } from '../../validator/miner-round.js';
import { roundSettings } from '../../validator/validation-run.js';
import { buildProbe, probePath } from '../fixtures/probe-executors.js';
import { removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';

describe('cheating provers through a real miner, one lie at a time', function () {
  this.timeout(300_000);
  let miner: MinerProcess;
  let settings: RoundSettings;

  before(async () => {
    await requireDocker();
    buildProbe();
    miner = await startMiner();
    const dir = mkdtempSync(join(tmpdir(), 'polarise-cheaters-'));
    const client = miner.pki.client('validator', 'v1');
    const config = parseConfig(
      {
        validator: {
          ca_cert: miner.pki.caCert,
          cert: client.cert,
          key: client.key,
          miners: [{ name: 'm', address: miner.address }],
          cpu_count: 1,
          memory: '512m',
          challenge_memory: '128m',
          database: join(dir, 'validator.db'),
        },
      },
      'test',
    );
    settings = roundSettings(config, probePath());
  });

  after(async () => {
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  });

  const round = (variant: string): Promise<MinerRoundResult> =>
    runMinerRound({ name: variant, address: miner.address }, { ...settings, probeBinary: probePath(variant) });
  const codes = (r: MinerRoundResult) => allFindings(r).map((f) => f.code);

  it('a prover that computed half the rows of C: compute 0 (bad proof), the rest still scored', async () => {
    const r = await round('probe-cheat-half-rows');
    expect(r.error).to.equal(undefined);
    expect(r.components.compute).to.equal(0);
    expect(codes(r)).to.include('compute-proof-invalid');
    expect(allFindings(r).find((f) => f.code === 'compute-proof-invalid')!.message).to.match(/row \d+ of C is not row \d+ of M0·M1·…·M40 mod 16777213 \(Freivalds\)/);
    expect(r.components.memory, 'its memory proof is honest').to.equal(1);
    expect(r.components.rental).to.equal(1);
    expect(r.lie).to.equal(undefined);
  });

  it('a prover keeping every other memory block: every walk too slow, memory graded near 0, compute untouched', async () => {
    const r = await round('probe-cheat-mem-every-other');
    const memory = r.challenges.find((ch) => ch.kind === 'memory')!;
    expect(codes(r), JSON.stringify(allFindings(r))).to.include('memory-too-slow');
    expect(codes(r)).to.not.include('memory-proof-invalid');
    expect(memory.details.walksMs as number[]).to.have.length(3);
    expect(r.components.memory).to.be.below(0.6);
    // It holds half of what it was asked to fill: the capacity it proves is graded with the walk, and stays under that half.
    const size = memory.details.sizeBytes as number;
    expect(r.capacity!.provenMemoryBytes).to.be.closeTo(size * r.components.memory, 1);
    expect(r.capacity!.provenMemoryBytes).to.be.below(size / 2);
    expect(codes(r).filter((c) => c.startsWith('compute'))).to.deep.equal([]);
    expect(r.components.compute).to.be.above(0.3);
  });
});
