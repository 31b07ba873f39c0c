/**
 * Fault suite: RPC load on a real miner over mTLS. 400 ListContainers with 50
 * in flight, then 30 RunChallenge streams sampling at 20 Hz on one container
 * while a renter logs in over SSH and runs a short challenge. Prints the
 * figures; asserts no errors beyond the configured bound (8 challenges at once
 * per container: the rest are refused at once with RESOURCE_EXHAUSTED) and
 * that the renter is served (with a margin a noisy 2-core CI host holds; the
 * target, under 1 s, is in the figures).
 */
import { expect } from 'chai';
import { status as Status } from '@grpc/grpc-js';
import { allocate, listContainers, minerClient, release, runChallenge } from '../support/clients.js';
import { ssh } from '../support/openssh.js';
import { figure, median, percentile, timedPool } from './figures.js';
import { useMiner } from './fault-miner.js';

describe('faults: RPC load', function () {
  this.timeout(300_000);
  const minerOf = useMiner();
  const client = () => minerClient(minerOf().address, { caCert: minerOf().pki.caCert, client: minerOf().pki.client('renter', 'load') });

  it('400 ListContainers, 50 in flight: every one answered', async () => {
    const c = client();
    const results = await timedPool(50, Array.from({ length: 400 }, () => () => listContainers(c)));
    const ms = results.map((r) => r.ms);
    const errors = results.filter((r) => r.error).length;
    figure('list-containers', { count: 400, concurrency: 50, p50_ms: median(ms), p99_ms: percentile(ms, 99), errors });
    expect(errors).to.equal(0);
  });

  it('30 streams at 20 Hz asked on one container: 8 run, the rest are refused; a renter logs in and runs a challenge meanwhile', async () => {
    const c = client();
    const a = await allocate(c, { cpuCount: 1, memory: '256m' });
    const v = minerClient(minerOf().address, { caCert: minerOf().pki.caCert, client: minerOf().pki.client('validator', 'load-validator') });
    const b = await allocate(v, { cpuCount: 1, memory: '256m' });
    try {
      const target = { host: a.host, port: a.sshPort, user: a.username, password: a.password };
      const b0 = performance.now();
      await ssh(target, 'echo ok');
      const baselineMs = performance.now() - b0;
      const streams = Promise.allSettled(
        Array.from({ length: 30 }, () => runChallenge(c, { containerId: a.containerId, command: ['sleep', '3'], duration: 30, sampleIntervalMs: 50 }, { timeoutMs: 60_000 })),
      );
      await new Promise((r) => setTimeout(r, 500));
      const t0 = performance.now();
      const login = await ssh(target, 'echo ok');
      const loginMs = performance.now() - t0;
      const t1 = performance.now();
      // A validator's challenge in its own container, while the renter's container runs 8.
      const quick = await runChallenge(v, { containerId: b.containerId, command: ['true'], duration: 10 });
      const challengeMs = performance.now() - t1;
      const done = await streams;
      const refused = done.filter((d) => d.status === 'rejected' && (d.reason as { code?: number }).code === Status.RESOURCE_EXHAUSTED).length;
      const failed = done.filter((d) => d.status === 'rejected').length - refused;
      const samples = done.flatMap((d) => (d.status === 'fulfilled' ? [d.value.filter((e) => e.event?.$case === 'sample').length] : []));
      figure('concurrent-streams', { asked: 30, ran: samples.length, refused, hz: 20, errors: failed, samples_min: Math.min(...samples), samples_median: median(samples) });
      figure('renter-under-load', { ssh_login_idle_ms: baselineMs, ssh_login_ms: loginMs, run_challenge_ms: challengeMs, target_ms: 1000 });
      expect(failed).to.equal(0);
      expect(samples.length, 'challenge.max_concurrent_per_container').to.equal(8);
      expect(login.stdout.toString().trim()).to.equal('ok');
      const last = quick.at(-1)?.event;
      expect(last?.$case === 'result' ? last.value.commandResult?.exitCode : 'no result').to.equal(0);
      // 3 s at 20 Hz: 60 samples at best; a loaded host takes fewer, never none.
      expect(Math.min(...samples)).to.be.at.least(10);
      expect(loginMs).to.be.below(10_000);
      expect(challengeMs).to.be.below(10_000);
    } finally {
      await release(c, a.containerId);
      await release(v, b.containerId);
    }
  });
});
