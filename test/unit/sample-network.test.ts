/**
 * The validator's side of the samples' network counters: a challenge's
 * traffic summed over its calls, kept in the store (in the challenge's
 * details, the schema unchanged) and shown in the HTML report.
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScoreStore } from '../../validator/scoring/score-store.js';
import { detailsWithNetwork, networkTraffic } from '../../validator/scoring/sample-network.js';
import { renderReport, reportData } from '../../validator/view/report.js';
import type { SampleRecord } from '../../validator/round-types.js';
import { challenge, minerRound, samples } from '../support/round-results.js';

/** Two calls of 4 samples each; counters run from each call's start. */
function twoCalls(): SampleRecord[] {
  const call = (scale: number) =>
    samples('compute-commit', 4, 100, 0).map((s, i) => ({ ...s, netRxBytes: (i + 1) * 1000 * scale, netTxBytes: (i + 1) * 500 * scale, netRxPackets: (i + 1) * scale, netTxPackets: i * scale }));
  return [...call(1), ...call(3)];
}

describe('network traffic of a challenge (validator)', () => {
  it('sums each call\'s last sample; nothing when the samples carry no counters', () => {
    expect(networkTraffic(twoCalls())).to.deep.equal({ receivedBytes: 4000 + 12000, sentBytes: 2000 + 6000, receivedPackets: 4 + 12, sentPackets: 3 + 9 });
    expect(networkTraffic(samples('compute-commit', 4, 100, 0))).to.equal(undefined);
    expect(networkTraffic([])).to.equal(undefined);
    expect(detailsWithNetwork({ n: 1 }, samples('memory-open', 2, 1, 1))).to.deep.equal({ n: 1 });
  });

  it('is kept by the store with the challenge and shown in the report', () => {
    const dir = mkdtempSync(join(tmpdir(), 'polarise-net-'));
    const store = ScoreStore.open(join(dir, 'validator.db'));
    try {
      const roundId = store.startRound(new Date('2025-01-02T03:04:05Z'));
      const round = minerRound('networked', 1, { challenges: [challenge('compute', 'commit', true, { samples: twoCalls() }), challenge('memory', 'commit', true)] });
      store.recordMinerRound(roundId, round, 0.3);
      store.finishRound(roundId, new Date('2025-01-02T03:05:05Z'));
      const [stored] = store.recentRounds(1)[0]!.miners;
      expect(stored!.challenges[0]!.details.network).to.deep.equal({ receivedBytes: 16000, sentBytes: 8000, receivedPackets: 16, sentPackets: 12 });
      expect(stored!.challenges[1]!.details.network, 'samples without counters').to.equal(undefined);
      const html = renderReport(reportData(store));
      expect(html).to.include('container network traffic');
      expect(html).to.match(/received 16 KiB, sent 7\.8 KiB, packets received 16, packets sent 12/);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
