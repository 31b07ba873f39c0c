/**
 * The challenge runner's request validation and defaults: a bad request is
 * refused before the runner touches the Docker engine (the client below is
 * never called). The runner against real containers:
 * test/integration/challenge-runner.test.ts.
 */
import { expect } from 'chai';
import { ChallengeRunner, planChallenge } from '../../miner/challenges/challenge-runner.js';
import { ChallengeType, type RunChallengeRequest } from '../../common/gen/polarise/v1/miner.js';
import { docker } from '../support/docker.js';
import { challengeConfig, collectingSink, quietLogger, request, failureOf } from '../support/challenge-fixtures.js';

describe('challenge runner: request validation', () => {
  const config = challengeConfig({ max_duration_seconds: 600 });
  const cases: [string, Partial<RunChallengeRequest>, string][] = [
    ['empty command', { command: [] }, 'command'],
    ['empty program', { command: [''] }, 'command'],
    ['unspecified type', { type: ChallengeType.CHALLENGE_TYPE_UNSPECIFIED }, 'type'],
    ['unknown type', { type: 99 as ChallengeType }, 'type'],
    ['interval below 20 ms', { sampleIntervalMs: 5 }, 'sample_interval_ms'],
    ['interval above 10 s', { sampleIntervalMs: 10_001 }, 'sample_interval_ms'],
    ['negative duration', { duration: -1 }, 'duration'],
    ['duration over the maximum', { duration: 601 }, 'duration'],
    ['NaN duration', { duration: Number.NaN }, 'duration'],
    ['negative expected_cpu', { expectedCpu: -2 }, 'expected_cpu'],
  ];
  for (const [name, fields, field] of cases) {
    it(`${name} → INVALID_ARGUMENT naming ${field}`, async () => {
      const runner = new ChallengeRunner(docker, config, quietLogger());
      const sink = collectingSink();
      const f = await failureOf(runner.run({ containerId: 'whatever' }, request({ command: ['true'], ...fields }), sink));
      expect(f.kind).to.equal('invalid_argument');
      expect(f.message.startsWith(`${field}:`), f.message).to.equal(true);
      expect(sink.events).to.have.length(0);
    });
  }

  it('applies defaults: interval 100 ms, duration from the config', () => {
    const plan = planChallenge(request({ command: ['true'] }), config);
    expect(plan.intervalMs).to.equal(100);
    expect(plan.durationSeconds).to.equal(config.default_duration_seconds);
    expect(planChallenge(request({ command: ['true'], sampleIntervalMs: 20, duration: 600 }), config)).to.include({ intervalMs: 20, durationSeconds: 600 });
  });
});
