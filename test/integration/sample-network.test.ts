/**
 * Network counters in a real miner's samples, through gRPC over mTLS, for a
 * real container on its allocation network (internal: no route out). The
 * test host sends datagrams to the container (received: rx) and the command
 * sends datagrams to the network's gateway (sent: tx, counted when they
 * leave the container even though the host's firewall drops them).
 */
import { expect } from 'chai';
import { createSocket } from 'node:dgram';
import { allocate, minerClient, runChallenge } from '../support/clients.js';
import { docker, removeResources, requireDocker } from '../support/docker.js';
import { startMiner, type MinerProcess } from '../support/miner-process.js';
import { ready } from '../support/miner-state.js';
import { resultOf, samplesOf } from '../support/challenge-fixtures.js';
import type { MinerServiceClient, ResourceSample } from '../../common/gen/polarise/v1/miner.js';

const DATAGRAMS = 200;
const PAYLOAD = 1000;
const UDP_DISCARD_PORT = 9;

/** The container's address and its network's gateway (the host's side of the bridge). */
async function addresses(containerId: string): Promise<{ ip: string; gateway: string }> {
  const networks = Object.values((await docker.getContainer(containerId).inspect()).NetworkSettings.Networks);
  expect(networks, 'the container is on one network').to.have.length(1);
  const ip = networks[0]!.IPAddress;
  const config = (await docker.getNetwork(networks[0]!.NetworkID).inspect()).IPAM?.Config as Array<{ Gateway?: string }> | undefined;
  const gateway = networks[0]!.Gateway || config?.[0]?.Gateway || '';
  expect(ip, 'container address').to.match(/^\d+\.\d+\.\d+\.\d+$/);
  expect(gateway, 'gateway address').to.match(/^\d+\.\d+\.\d+\.\d+$/);
  return { ip, gateway };
}

/**
 * Sends bursts of DATAGRAMS datagrams to the container until stopped: the
 * command counts from when its shell starts, which the test cannot see.
 */
function keepSending(ip: string): () => Promise<void> {
  const socket = createSocket('udp4');
  const payload = Buffer.alloc(PAYLOAD, 'x');
  let stopped = false;
  const burst = async (): Promise<void> => {
    for (let i = 0; i < DATAGRAMS; i++) await new Promise<void>((resolve, reject) => socket.send(payload, UDP_DISCARD_PORT, ip, (err) => (err ? reject(err) : resolve())));
  };
  const loop = (async () => {
    while (!stopped) {
      await burst();
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    socket.close();
  };
}

const last = (samples: ResourceSample[]): ResourceSample => {
  expect(samples.length, 'samples streamed').to.be.at.least(2);
  return samples[samples.length - 1]!;
};

describe('samples: network counters of a real container', function () {
  this.timeout(120_000);
  let miner: MinerProcess;
  let client: MinerServiceClient;
  let containerId: string;

  before(async () => {
    await requireDocker();
    miner = await startMiner();
    client = minerClient(miner.address, { caCert: miner.pki.caCert, client: miner.pki.client('renter') });
    await ready(client);
    containerId = (await allocate(client, { memory: '128m', cpuCount: 1 })).containerId;
  });
  after(async () => {
    await miner?.stop();
    if (miner) await removeResources(miner.prefix);
  });

  it('counts what the container received and sent since the command started, growing sample by sample', async () => {
    const { ip, gateway } = await addresses(containerId);
    // Waits (bounded) until the test's datagrams have arrived, then sends its own.
    const script = [
      'rx() { cat /sys/class/net/eth0/statistics/rx_packets; }',
      `start=$(rx); n=0; while [ $(rx) -lt $((start + ${DATAGRAMS})) ]; do n=$((n + 1)); [ $n -lt 300 ] || { echo "received $(( $(rx) - start )) packets" >&2; exit 3; }; sleep 0.1; done`,
      `for i in $(seq ${DATAGRAMS}); do printf '%${PAYLOAD}s' x > /dev/udp/${gateway}/${UDP_DISCARD_PORT}; done`,
      'sleep 0.5',
    ].join('\n');
    let stop: (() => Promise<void>) | undefined;
    const events = await runChallenge(
      client,
      { containerId, command: ['bash', '-c', script], sampleIntervalMs: 100, duration: 60 },
      { onEvent: (e) => void (stop ??= e.event?.$case === 'sample' ? keepSending(ip) : undefined), timeoutMs: 90_000 },
    ).finally(() => stop?.());
    const result = resultOf(events);
    expect(result.commandResult?.exitCode, result.commandResult?.output).to.equal(0);
    const samples = samplesOf(events);
    const s = last(samples);
    const figures = `rx ${s.netRxBytes} B / ${s.netRxPackets} packets, tx ${s.netTxBytes} B / ${s.netTxPackets} packets`;
    expect(s.netRxBytes, figures).to.be.at.least(DATAGRAMS * PAYLOAD);
    expect(s.netRxPackets, figures).to.be.at.least(DATAGRAMS);
    expect(s.netTxBytes, figures).to.be.at.least(DATAGRAMS * PAYLOAD);
    expect(s.netTxPackets, figures).to.be.at.least(DATAGRAMS);
    // Counted since the start of this command: the first sample saw none of it.
    expect(samples[0]!.netTxBytes, 'first sample').to.be.below(DATAGRAMS * PAYLOAD);
    for (let i = 1; i < samples.length; i++) {
      expect(samples[i]!.netRxBytes, `sample ${i}`).to.be.at.least(samples[i - 1]!.netRxBytes);
      expect(samples[i]!.netTxBytes, `sample ${i}`).to.be.at.least(samples[i - 1]!.netTxBytes);
    }
  });

  it('an idle command after that traffic counts next to nothing: counters start at each command', async () => {
    const events = await runChallenge(client, { containerId, command: ['sleep', '1'], sampleIntervalMs: 100 });
    const s = last(samplesOf(events));
    expect(s.netRxBytes + s.netTxBytes, 'bytes while idle').to.be.below(4096);
    expect(s.netRxPackets + s.netTxPackets, 'packets while idle').to.be.below(20);
  });
});
