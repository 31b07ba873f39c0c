import { expect } from 'chai';
import { ChallengeStatus, ChallengeType } from '../../common/gen/polarise/v1/miner.js';
import { Failure } from '../../common/errors.js';
import { parseConfig } from '../../common/config.js';
import { findRoute } from '../../miner/rest/rest-routes.js';
import { allocateRequest, challengeAnswer, challengeRequest } from '../../miner/rest/seed-api.js';
import { errorBody } from '../../miner/rest/http-io.js';

const failure = (fn: () => unknown): Failure => {
  try {
    fn();
  } catch (err) {
    if (err instanceof Failure) return err;
    throw err;
  }
  throw new Error('expected a Failure');
};

describe('REST API: the seed shapes onto MinerHandlers', () => {
  it('routes by splitting the path, method first', () => {
    expect(findRoute('POST', '/allocate').method).to.equal('allocate');
    expect(findRoute('PUT', '/challenge/abc?x=1').method).to.equal('runChallenge');
    expect(findRoute('GET', '/containers').method).to.equal('listContainers');
    expect(findRoute('DELETE', '/containers/abc').method).to.equal('release');
    expect(errorBody(failure(() => findRoute('GET', '/nope'))).status).to.equal(404);
    expect(errorBody(failure(() => findRoute('GET', '/allocate/'))).status).to.equal(404);
    expect(errorBody(failure(() => findRoute('PATCH', '/containers/x'))).status).to.equal(405);
    expect(errorBody(failure(() => findRoute('DELETE', '/containers/a%2Fb'))).status).to.equal(400);
    expect(errorBody(failure(() => findRoute('GET', '/' + 'a/'.repeat(300)))).status).to.equal(414);
  });

  it('maps the seed example bodies to the generated request types', () => {
    expect(allocateRequest({ memory: '2g', cpu_count: 2, devices: [] })).to.deep.equal({ memory: '2g', cpuCount: 2, devices: [], publicKeys: [], leaseSeconds: 0 });
    const req = challengeRequest('c1', { type: 'memory', data: { command: 'echo a | wc -c', duration: 10, expected_cpu: 2 } });
    expect(req).to.include({ containerId: 'c1', type: ChallengeType.CHALLENGE_TYPE_MEMORY, duration: 10, expectedCpu: 2, streamOutput: false });
    expect(req.command).to.deep.equal(['/bin/sh', '-c', 'echo a | wc -c']);
    expect(challengeRequest('c1', { type: 'compute', data: { command: ['ls', '-l'] } }).command).to.deep.equal(['ls', '-l']);
  });

  it('names the field in a refusal', () => {
    expect(failure(() => allocateRequest({ cpu_count: -1 })).message).to.match(/^cpu_count:/);
    expect(failure(() => allocateRequest({ extra: 1 })).message).to.match(/^extra: unknown field/);
    expect(failure(() => challengeRequest('c', { type: 'compute', data: { command: '' } })).message).to.match(/^data\.command/);
    expect(failure(() => challengeRequest('c', { type: 'compute', data: { command: 'x', duration: 'long' } })).message).to.match(/^data\.duration/);
    expect(failure(() => challengeRequest('c', { type: 'gpu', data: {} })).message).to.match(/^type/);
  });

  it('answers with command_result and metrics exactly as the seed shows', () => {
    const answer = challengeAnswer(
      ChallengeType.CHALLENGE_TYPE_COMPUTE,
      {
        commandResult: { status: ChallengeStatus.CHALLENGE_STATUS_TIMEOUT, exitCode: 137, output: 'x', outputTruncated: false, stderr: '', oomKilled: false, stdoutBytes: 1, stderrBytes: 0, stdoutSha256: Buffer.alloc(32), stderrSha256: Buffer.alloc(32) },
        metrics: { cpuUsage: 99.5, memoryUsage: 10, memoryLimit: 100, memoryPercent: 10 },
      },
      3,
    ) as Record<string, unknown>;
    expect(answer.command_result).to.deep.equal({ status: 'timeout', exit_code: 137, output: 'x' });
    // The output is the stream's tail; details state the whole stream.
    expect(answer.details).to.deep.include({ output_truncated: false, stdout_bytes: 1, stderr_bytes: 0, stdout_sha256: '00'.repeat(32), samples: 3 });
    expect(answer.metrics).to.deep.equal({ cpu_usage: 99.5, memory_usage: 10, memory_limit: 100, memory_percent: 10 });
  });

  it('maps failure kinds to the HTTP status of the gRPC code', () => {
    const status = (kind: Failure['kind']) => errorBody(new Failure(kind, 'm')).status;
    expect([status('invalid_argument'), status('unauthenticated'), status('permission_denied'), status('not_found')]).to.deep.equal([400, 401, 403, 404]);
    expect([status('resource_exhausted'), status('failed_precondition'), status('unavailable'), status('deadline_exceeded'), status('internal')]).to.deep.equal([429, 409, 503, 504, 500]);
    expect(errorBody(new Failure('not_found', 'gone')).body).to.deep.equal({ status: 'error', error: { code: 'NOT_FOUND', message: 'gone' } });
  });

  it('config: rest is off by default and a bad key is named', () => {
    expect(parseConfig({}, 'x').rest).to.include({ enabled: false, port: 8080, max_body_bytes: 65536 });
    expect(() => parseConfig({ rest: { port: 'http' } }, 'x')).to.throw(/rest\.port/);
    expect(() => parseConfig({ rest: { max_body_bytes: 10 } }, 'x')).to.throw(/rest\.max_body_bytes/);
  });
});
