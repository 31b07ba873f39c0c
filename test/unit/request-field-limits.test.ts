/**
 * Request strings are capped before anything parses them: a 4 MiB field is
 * refused at once with INVALID_ARGUMENT naming it.
 */
import { expect } from 'chai';
import { argvDigest } from '../../common/argv-digest.js';
import { Failure } from '../../common/errors.js';
import { FIELD_LIMITS } from '../../common/field-limits.js';
import { parseAllocationRequest, type AllocationInput } from '../../miner/allocations/allocation-request.js';

const DEFAULTS = {
  defaultMemory: '256m',
  minMemoryBytes: 64 * 1024 ** 2,
  defaultCpuCount: 1,
  defaultLeaseSeconds: 3600,
  maxLeaseSeconds: 86_400,
  hostCpus: 2,
  hostMemoryBytes: 4 * 1024 ** 3,
};
const HUGE = ' '.repeat(4 * 1024 * 1024 - 2) + 'x!';

function failure(input: Partial<AllocationInput>): Failure {
  try {
    parseAllocationRequest({ memory: '', cpuCount: 0, devices: [], publicKeys: [], leaseSeconds: 0, ...input }, DEFAULTS);
  } catch (err) {
    expect(err).to.be.instanceOf(Failure);
    return err as Failure;
  }
  throw new Error('expected INVALID_ARGUMENT');
}

describe('request field caps', () => {
  const cases: [string, Partial<AllocationInput>][] = [
    ['memory', { memory: HUGE }],
    ['devices[0]', { devices: [HUGE] }],
    ['public_keys[1]', { publicKeys: ['ssh-ed25519 AAAA', HUGE] }],
  ];
  for (const [field, input] of cases) {
    it(`${field}: a 4 MiB value is INVALID_ARGUMENT naming the field, before any parsing`, () => {
      const err = failure(input);
      expect(err.kind).to.equal('invalid_argument');
      expect(err.message.startsWith(`${field}: `), err.message.slice(0, 200)).to.equal(true);
      expect(err.message.length).to.be.below(300);
    });
  }

  it('a device one character over its cap is refused; a valid one at the cap passes the cap', () => {
    const long = 'gpu:id=' + 'a'.repeat(FIELD_LIMITS.device - 6);
    expect(failure({ devices: [long] }).message).to.match(/^devices\[0\]: is 129 characters; at most 128/);
    expect(failure({ devices: ['gpu:id=' + 'a'.repeat(70)] }).message).to.match(/not a supported device/);
  });

  it('public keys are capped on the raw line, not after trimming', () => {
    const padded = ' '.repeat(FIELD_LIMITS.public_key) + 'ssh-ed25519 AAAA';
    expect(failure({ publicKeys: [padded] }).message).to.match(/^public_keys\[0\]: is \d+ characters; at most 16384/);
  });
});

describe('argv digest', () => {
  it('is SHA-256 hex and tells argument boundaries apart', () => {
    expect(argvDigest(['echo', 'hi'])).to.match(/^[0-9a-f]{64}$/);
    expect(argvDigest(['a b'])).to.not.equal(argvDigest(['a', 'b']));
    expect(argvDigest(['ab', ''])).to.not.equal(argvDigest(['a', 'b']));
    expect(argvDigest(['x'])).to.equal(argvDigest(['x']));
  });
});
