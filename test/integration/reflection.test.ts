import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startMiner, type MinerProcess } from '../support/miner-process.js';

const run = promisify(execFile);

describe('server reflection through buf curl (no proto files)', () => {
  let miner: MinerProcess;
  before(async () => {
    miner = await startMiner();
  });
  after(async () => {
    await miner?.stop();
  });

  const curl = (...args: string[]) => {
    const client = miner.pki.client('validator');
    return run('npx', ['buf', 'curl', '--protocol', 'grpc', '--cacert', miner.pki.caCert, '--cert', client.cert, '--key', client.key, ...args]);
  };

  it('lists polarise.v1.MinerService and its four methods', async () => {
    const services = (await curl('--list-services', `https://${miner.address}`)).stdout.split('\n');
    expect(services).to.include.members(['polarise.v1.MinerService', 'grpc.health.v1.Health']);
    const methods = (await curl('--list-methods', `https://${miner.address}`)).stdout.split('\n');
    expect(methods).to.include.members([
      'polarise.v1.MinerService/Allocate',
      'polarise.v1.MinerService/RunChallenge',
      'polarise.v1.MinerService/ListContainers',
      'polarise.v1.MinerService/Release',
    ]);
  });

  for (const protocol of ['grpc-v1', 'grpc-v1alpha']) {
    it(`calls health through reflection protocol ${protocol}`, async () => {
      const { stdout } = await curl('--reflect-protocol', protocol, `https://${miner.address}/grpc.health.v1.Health/Check`);
      expect(JSON.parse(stdout)).to.deep.equal({ status: 'SERVING' });
    });
  }
});
