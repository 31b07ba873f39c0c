import { expect } from 'chai';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderReport, reportData, writeReport } from '../../validator/view/report.js';
import { ScoreStore } from '../../validator/scoring/score-store.js';
import { minerRound } from '../support/round-results.js';

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
    // Per challenge a CPU and a memory chart; per miner a history chart.
    expect(svgs).to.have.length(challenges * 2 + 2);
    expect(html.match(/<figure class="challenge">/g)).to.have.length(challenges);
    for (const label of ['CPU (% of one core)', 'memory (MiB)', 'time since start (s)', 'round', 'score']) expect(html).to.include(`>${label}</text>`);
    expect(html).to.match(/<polyline points="[\d., ]+"/);
    // The score table: honest dominates.
    expect(html).to.match(/<tr><td><a href="#miner-honest">honest<\/a><\/td><td>0\.\d{3}<\/td><td>(\d+\.\d)%<\/td><td>3<\/td>/);
    const weight = Number(/href="#miner-honest">honest<\/a><\/td><td>[\d.]+<\/td><td>([\d.]+)%/.exec(html)![1]);
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
});
