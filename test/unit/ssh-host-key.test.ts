import { expect } from 'chai';
import ssh2 from 'ssh2';
import { generateHostKey } from '../../miner/ssh/ssh-host-key.js';

describe('SSH host key generation', () => {
  it('every generated key parses (ssh2 alone gets about 1 in 400 wrong: a miner start would fail)', function () {
    this.timeout(60_000);
    let bad = 0;
    for (let i = 0; i < 3000; i++) if (ssh2.utils.parseKey(generateHostKey().private) instanceof Error) bad++;
    expect(bad).to.equal(0);
  });
});
