import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Phase, SampleRecord } from '../../validator/round-types.js';
import { renderReport, reportData, writeReport } from '../../validator/view/report.js';
import { detailRow, detailsTable } from '../../validator/view/report-details.js';
import { callTimeline } from '../../validator/view/report-timeline.js';
import { ScoreStore } from '../../validator/scoring/score-store.js';
import { challenge, minerRound, samples } from '../support/round-results.js';

const MiB = 1024 * 1024;
const CPU_COLOR = '#d97706';

/** One call's samples: `count` of them, 100 ms apart from the call's own start. */
function call(phase: Phase, count: number, cpu: number): SampleRecord[] {
  return samples(phase, count, cpu, 64 * MiB).map((s, i) => ({ ...s, elapsedUs: (i + 1) * 100_000 }));
}

/** The x coordinates of each `<path class="segment">` of one colour in an SVG, path by path. */
function segmentXs(svg: string, color: string): number[][] {
  const paths = [...svg.matchAll(/<path class="segment" d="([^"]+)"[^>]*stroke="([^"]+)"/g)].filter((m) => m[2] === color);
  return paths.map((m) => m[1]!.replace(/^M/, '').split(' L').map((xy) => Number(xy.split(',')[0])));
}

/** What validator/miner-round.ts computeRecord and memoryRecord keep today, with unrounded figures as they come. */
const COMPUTE_DETAILS = {
  n: 1856,
  factors: 41,
  workers: 2,
  throughputGmas: 38.52,
  perCoreGmas: 19.8,
  coreEquivalents: 1.93,
  efficiency: 0.973,
  overheadMs: 41,
  allRunsMs: [1199, 1003],
  singleRunsMs: [1012],
  noopRunsMs: [40, 41],
  verifyCpuMs: 110,
  ingressBytes: 174_321,
  component: 1,
};
const MEMORY_DETAILS = {
  sizeBytes: 256 * MiB,
  commitMs: 1586.8680729999996,
  openMs: 303.93825100000004,
  walksMs: [303.93825100000004, 320.5],
  segmentsChecked: 9,
  blocksChecked: 16,
  component: 1,
};

describe('HTML report', () => {
  let dir: string;
  let store: ScoreStore;
  const attack = '<script>alert("pwned")</script> & <img src=x onerror=alert(1)>';

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'polarise-report-'));
    store = ScoreStore.open(join(dir, 'validator.db'));
    for (const [i, scores] of [[0.9, 0.3], [0.95, 0.2], [1, 0]].entries()) {
      const roundId = store.startRound(new Date(Date.UTC(2025, 0, 1, i)));
      const honest = minerRound('honest', scores[0]!);
      const lazy = minerRound('lazy', scores[1]!, { findings: [{ code: 'round-error', message: `memory open: ${attack}` }] });
      lazy.challenges[3]!.findings.push({ code: 'memory-too-slow', message: 'the fastest of 3 walks took 2600 ms', figures: { bestMs: 2600, deadlineMs: 990 } });
      store.recordMinerRound(roundId, honest, 0.3);
      store.recordMinerRound(roundId, scores[1] === 0 ? { ...lazy, error: 'connect ECONNREFUSED <down>', challenges: [] } : lazy, 0.3);
      store.finishRound(roundId, new Date(Date.UTC(2025, 0, 1, i, 1)));
    }
  });
  after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('renders the stored rounds: score table, history per miner, two charts per challenge', () => {
    const data = reportData(store, { rounds: 5, now: new Date('2025-02-01T00:00:00Z') });
    expect(data.rounds).to.have.length(3);
    const html = renderReport(data);
    expect(html).to.match(/^<!DOCTYPE html>/);
    const challenges = data.rounds.flatMap((r) => r.miners).reduce((n, m) => n + m.challenges.length, 0);
    expect(challenges).to.equal(4 * 3 + 4 * 2);
    const svgs = html.match(/<svg[\s>]/g) ?? [];
    // Per challenge a CPU and a memory chart; per miner a history chart and two capacity charts.
    expect(svgs).to.have.length(challenges * 2 + 2 + 2 * 2);
    expect(html.match(/<figure class="challenge">/g)).to.have.length(challenges);
    for (const label of ['CPU (% of one core)', 'memory (MiB)', 'time in each call, calls one after another (s)', 'round', 'score']) expect(html).to.include(`>${label}</text>`);
    expect(html).to.match(/<path class="segment" d="M[\d., L]+"/);
    expect(html).not.to.include('<polyline');
    // The score table: offer, free, proven (last proven: 2 cores and 256 MiB for honest), reliability, weight; honest dominates.
    expect(html).to.include(
      '<tr><th>miner</th><th>offered</th><th>free</th><th>proven cores</th><th>proven memory</th><th>reliability (EMA)</th><th>weight</th><th>rounds</th><th>last score</th><th>last round</th></tr>',
    );
    expect(html).to.match(
      /<tr><td><a href="#miner-honest">honest<\/a><\/td><td>2 CPU, 4\.0 GiB<\/td><td>2 CPU, 4\.0 GiB<\/td><td>2\.00 cores<\/td><td>256 MiB<\/td><td>0\.\d{3}<\/td><td>(\d+\.\d)%<\/td><td>3<\/td>/,
    );
    const weight = Number(/href="#miner-honest">honest<\/a><\/td>(?:<td>[^<]+<\/td>){5}<td>([\d.]+)%/.exec(html)![1]);
    expect(weight).to.be.greaterThan(80);
    expect(html).to.include('Round 3');
    expect(html).to.include('the fastest of 3 walks took 2600 ms');
  });

  it('escapes what came from miners and needs no network or script', () => {
    const html = renderReport(reportData(store));
    expect(html).not.to.include('<script');
    expect(html).not.to.include('<img');
    expect(html).to.include('&#60;script&#62;alert(&#34;pwned&#34;)&#60;/script&#62; &#38; &#60;img src=x onerror=alert(1)&#62;');
    expect(html).to.include('connect ECONNREFUSED &#60;down&#62;');
    expect(html).not.to.match(/(src|href)="(https?:)?\/\//);
    expect(html).not.to.match(/<link|@import|url\(/);
  });

  it('renders an empty store', () => {
    const empty = ScoreStore.open(join(dir, 'empty.db'));
    try {
      const html = renderReport(reportData(empty));
      expect(html).to.include('No scores yet.');
    } finally {
      empty.close();
    }
  });

  it('writeReport writes the page, creating the folder', () => {
    const path = join(dir, 'out', 'report.html');
    writeReport(store, path);
    expect(existsSync(path)).to.equal(true);
    const html = readFileSync(path, 'utf8');
    expect(html).to.include('Polarise validator report');
    expect(html).to.include('</html>');
  });

  describe('a challenge of several calls', () => {
    // A no-op, two commits, two opens: each call's elapsedUs starts again near 0.
    const calls = [call('compute-commit', 2, 5), call('compute-commit', 12, 190), call('compute-open', 5, 60), call('compute-commit', 10, 195), call('compute-open', 4, 70)];

    it('splits the samples into calls and lays them out one after another with a gap', () => {
      const timeline = callTimeline(calls.flat());
      expect(timeline.map((seg) => [seg.phase, seg.samples.length])).to.deep.equal(calls.map((c) => [c[0]!.phase, c.length]));
      for (const [i, seg] of timeline.entries()) {
        expect(seg.endS - seg.offsetS).to.be.closeTo(calls[i]!.at(-1)!.elapsedUs / 1e6, 1e-9);
        if (i > 0) expect(seg.offsetS).to.be.greaterThan(timeline[i - 1]!.endS);
      }
      // A phase change starts a new call even when elapsedUs goes on increasing.
      const phaseOnly = callTimeline([...call('memory-commit', 3, 50), ...call('memory-open', 5, 50).slice(3)]);
      expect(phaseOnly.map((seg) => seg.phase)).to.deep.equal(['memory-commit', 'memory-open']);
    });

    it('draws each call as its own path, with x moving forward across the whole chart', () => {
      // Through the store, as the report reads it: samples come back in the order they were stored.
      const callStore = ScoreStore.open(join(dir, 'calls.db'));
      let html: string;
      try {
        const roundId = callStore.startRound(new Date(Date.UTC(2025, 0, 2)));
        callStore.recordMinerRound(roundId, minerRound('calls', 1, { challenges: [challenge('compute', 'commit', true, { samples: calls.flat() })] }), 0.3);
        callStore.finishRound(roundId, new Date(Date.UTC(2025, 0, 2, 0, 1)));
        html = renderReport(reportData(callStore));
      } finally {
        callStore.close();
      }
      const cpuChart = /<svg[^>]*>(?:(?!<\/svg>)[\s\S])*?<title>compute commit: CPU<\/title>[\s\S]*?<\/svg>/.exec(html)![0];
      const paths = segmentXs(cpuChart, CPU_COLOR);
      expect(paths.map((xs) => xs.length)).to.deep.equal(calls.map((c) => c.length));
      const xs = paths.flat();
      for (let i = 1; i < xs.length; i++) expect(xs[i], `x of sample ${i}`).to.be.greaterThan(xs[i - 1]!);
      // A visible break: a gap between one call's last sample and the next one's first, and a divider in it.
      for (let i = 1; i < paths.length; i++) expect(paths[i]![0]! - paths[i - 1]!.at(-1)!).to.be.greaterThan(5);
      expect(cpuChart.match(/class="call-break"/g)).to.have.length(calls.length - 1);
      expect(html).to.include('33 samples from 5 call(s)');
      expect(cpuChart).to.match(/<title>call 2 of 5 \(compute-commit\): 1\.2 s, 12 sample\(s\)<\/title>/);
    });
  });

  describe('network traffic per call', () => {
    it('draws received and sent bytes for each call from the stored samples; no chart when the miner sent no counters', () => {
      const netStore = ScoreStore.open(join(dir, 'net.db'));
      let html: string;
      try {
        const withCounters = (c: SampleRecord[], perSample: number) =>
          c.map((x, i) => ({ ...x, netRxBytes: (i + 1) * perSample, netTxBytes: (i + 1) * perSample * 2, netRxPackets: i + 1, netTxPackets: 2 * (i + 1) }));
        const calls = [withCounters(call('compute-commit', 4, 190), 1024), withCounters(call('compute-open', 3, 60), 4096)];
        const roundId = netStore.startRound(new Date(Date.UTC(2025, 0, 3)));
        netStore.recordMinerRound(roundId, minerRound('net', 1, { challenges: [challenge('compute', 'commit', true, { samples: calls.flat() }), challenge('memory', 'commit', true)] }), 0.3);
        netStore.finishRound(roundId, new Date(Date.UTC(2025, 0, 3, 0, 1)));
        html = renderReport(reportData(netStore));
      } finally {
        netStore.close();
      }
      const chart = /<svg[^>]*>(?:(?!<\/svg>)[\s\S])*?<title>compute commit: network<\/title>[\s\S]*?<\/svg>/.exec(html)![0];
      expect(chart).to.include('>traffic since the call started (KiB)</text>');
      expect(segmentXs(chart, '#059669').map((xs) => xs.length), 'received, per call').to.deep.equal([4, 3]);
      expect(segmentXs(chart, '#7c3aed').map((xs) => xs.length), 'sent, per call').to.deep.equal([4, 3]);
      // The y axis reaches the most sent in one call: 3 samples × 4 KiB × 2 = 24 KiB.
      expect(chart).to.match(/>2[45](\.0)?<\/text>/);
      expect(html).not.to.include('<title>memory commit: network</title>');
    });
  });

  describe('proven capacity over time', () => {
    const GiB = 1024 * MiB;
    const name = 'cap<b>&"';
    /** Round by round: what was proven (undefined: the round stored no capacity). */
    const proofs: Array<{ cores?: number; bytes?: number } | undefined> = [{ cores: 1, bytes: GiB }, undefined, { cores: 1.5, bytes: 2 * GiB }, { cores: 2.25 }];

    function capacityHtml(): string {
      const capStore = ScoreStore.open(join(dir, 'capacity.db'));
      try {
        for (const [i, proof] of proofs.entries()) {
          const startedAt = new Date(Date.UTC(2025, 0, 3, i));
          const roundId = capStore.startRound(startedAt);
          const capacity = proof && { offeredCpus: 4, freeCpus: 3, offeredMemoryBytes: 8 * GiB, freeMemoryBytes: 6 * GiB, rentedCpus: 3, provenCores: proof.cores, provenMemoryBytes: proof.bytes };
          capStore.recordMinerRound(roundId, minerRound(name, 1, { capacity, startedAt }), 0.3);
          capStore.finishRound(roundId, new Date(Date.UTC(2025, 0, 3, i, 1)));
        }
        return renderReport(reportData(capStore, { rounds: 5 }));
      } finally {
        capStore.close();
      }
    }

    /** The chart titled `title`, and its dots of `color`: x, y and tooltip each. */
    function dotsOf(html: string, title: string, color: string) {
      const svg = new RegExp(`<svg[^>]*>(?:(?!</svg>)[\\s\\S])*?<title>${title}</title>[\\s\\S]*?</svg>`).exec(html)?.[0];
      expect(svg, title).to.be.a('string');
      const dots = [...svg!.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)" r="3" fill="([^"]+)"><title>([^<]*)<\/title><\/circle>/g)].filter((m) => m[3] === color);
      return { svg: svg!, dots: dots.map((m) => ({ x: Number(m[1]), y: Number(m[2]), tip: m[4]! })) };
    }

    it('draws one point per round that stored capacity, with its proven cores and GiB, next to the offer', () => {
      const html = capacityHtml();
      const escaped = 'cap&#60;b&#62;&#38;&#34;';
      expect(html).not.to.include(name);
      const cores = dotsOf(html, `${escaped}: proven cores`, '#d97706');
      expect(cores.dots.map((d) => d.tip)).to.deep.equal([
        'round 1 (2025-01-03T00:00:00.000Z): 1.00 core proven',
        'round 3 (2025-01-03T02:00:00.000Z): 1.50 cores proven',
        'round 4 (2025-01-03T03:00:00.000Z): 2.25 cores proven',
      ]);
      // Later rounds to the right, more capacity higher up (SVG y grows downwards).
      expect(cores.dots[1]!.x).to.be.greaterThan(cores.dots[0]!.x);
      expect(cores.dots[2]!.x).to.be.greaterThan(cores.dots[1]!.x);
      expect(cores.dots[1]!.y).to.be.lessThan(cores.dots[0]!.y);
      expect(cores.dots[2]!.y).to.be.lessThan(cores.dots[1]!.y);
      // y is linear in the value: the gaps stand as 0.5 to 0.75.
      expect((cores.dots[1]!.y - cores.dots[2]!.y) / (cores.dots[0]!.y - cores.dots[1]!.y)).to.be.closeTo(1.5, 0.02);
      for (const label of ['core-equivalents', 'memory (GiB)', 'offered (claim)']) expect(cores.svg + html).to.include(`>${label}</text>`);
      // The offer: a dashed line through the three rounds with capacity.
      expect(segmentXs(cores.svg, '#9ca3af')).to.have.length(1).and.to.satisfy((paths: number[][]) => paths[0]!.length === 3);
      // Round 4 ran no memory proof: two points.
      const memory = dotsOf(html, `${escaped}: proven memory`, '#2563eb');
      expect(memory.dots.map((d) => d.tip)).to.deep.equal(['round 1 (2025-01-03T00:00:00.000Z): 1.0 GiB proven', 'round 3 (2025-01-03T02:00:00.000Z): 2.0 GiB proven']);
      expect(memory.dots[0]!.x).to.equal(cores.dots[0]!.x);
      expect(memory.dots[1]!.x).to.equal(cores.dots[1]!.x);
    });

    it('says so when no round shown stored capacity', () => {
      const html = renderReport({
        generatedAt: new Date(),
        scores: [],
        rounds: [{ id: 1, startedAt: new Date(), miners: [{ ...minerRound('old', 1, { capacity: undefined }), roundId: 1, ema: 1 }] }],
        history: new Map([['old', []]]),
      });
      expect(html).to.include('<h3>Proven capacity</h3><p class="meta">No capacity recorded in the rounds shown.</p>');
      expect(html).not.to.include('proven cores</title>');
    });
  });

  describe('challenge details', () => {
    it('are a labelled table with units, not raw JSON', () => {
      const round = minerRound('details', 1, {
        challenges: [challenge('compute', 'commit', true, { details: COMPUTE_DETAILS }), challenge('memory', 'commit', true, { details: MEMORY_DETAILS })],
      });
      const html = renderReport({ generatedAt: new Date(), scores: [], rounds: [{ id: 1, startedAt: round.startedAt, miners: [{ ...round, roundId: 1, ema: 1 }] }], history: new Map([['details', []]]) });
      const row = (label: string, value: string, unit: string) => `<tr><th scope="row">${label}</th><td>${value}</td><td class="unit">${unit}</td></tr>`;
      for (const expected of [
        row('throughput', '38.52', 'GMA/s'),
        row('per core', '19.8', 'GMA/s'),
        row('core equivalents', '1.93', 'reference cores'),
        row('matrix size n', '1856', ''),
        row('all-worker commits', '1199, 1003', 'ms'),
        row('proof data received', '170', 'KiB'),
        row('size', '256', 'MiB'),
        row('commit', '1587', 'ms'),
        row('open', '304', 'ms'),
        row('walks', '304, 321', 'ms'),
        row('blocks checked', '16', ''),
      ]) {
        expect(html).to.include(expected);
      }
      expect(html.match(/<table class="details">/g)).to.have.length(2);
      expect(html).not.to.match(/"\w+":|&#34;\w+&#34;:|<pre/);
      expect(html).not.to.include('303.938');
    });

    it('fall back to a readable rendering for keys it does not know', () => {
      expect(detailRow('seedPrefix', 'a1b2c3')).to.deep.equal({ label: 'seed prefix', value: 'a1b2c3', unit: '' });
      expect(detailRow('nested', { rate: 1.5, waitMs: 12.3456 })).to.deep.equal({ label: 'nested', value: 'rate 1.5, wait 12.35 ms', unit: '' });
      expect(detailRow('someFigure', 0.123456)).to.deep.equal({ label: 'some figure', value: '0.123', unit: '' });
      expect(detailRow('stepUs', 1234.56)).to.deep.equal({ label: 'step', value: '1235', unit: 'µs' });
      expect(detailRow('blockSizesBytes', [512, 4096])).to.deep.equal({ label: 'block sizes', value: '0.5, 4', unit: 'KiB' });
      expect(detailRow('checked', true).value).to.equal('yes');
      expect(detailRow('total_work', 12_345_678.9).value).to.equal('12,345,679');
      expect(detailsTable({})).to.equal('');
      expect(detailsTable({ note: '<b>x</b>' })).to.include('&#60;b&#62;x&#60;/b&#62;');
    });
  });
});
