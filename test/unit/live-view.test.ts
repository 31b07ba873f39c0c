import { expect } from 'chai';
import { execFile, spawnSync } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { PHASES } from '../../validator/round-types.js';
import { LiveView, liveViewMode, renderFrame, renderScoreTable, sparkline, type MinerView, type ScoreRow } from '../../validator/view/live-view.js';
import { samples, minerRound } from '../support/round-results.js';
import { TerminalScreen } from '../support/terminal-screen.js';

const run = promisify(execFile);
const DRIVER = ['--import', 'tsx', 'test/fixtures/live-view-driver.ts'];
const ESC = '\x1b';
const MiB = 1024 * 1024;

const quote = (arg: string) => `'${arg.replace(/'/g, `'\\''`)}'`;

/** Runs node with `args` on a real pseudo-terminal of 120x40 and returns all it wrote there. */
async function runInPty(args: string[]): Promise<string> {
  const command = [process.execPath, ...args].map(quote).join(' ');
  const hasScript = spawnSync('script', ['--version']).status === 0;
  const { stdout } = hasScript
    ? // util-linux script: -q quiet, -f flush, -e child's exit code, -c command; the typescript file is discarded.
      await run('script', ['-qfec', `stty cols 120 rows 40; ${command}`, '/dev/null'], { timeout: 20_000 })
    : await run(
        '/usr/bin/python3',
        ['-c', 'import os,pty,sys; os.environ["COLUMNS"]="120"; sys.exit(os.waitstatus_to_exitcode(pty.spawn(["sh","-c",sys.argv[1]])))', `stty cols 120 rows 40; ${command}`],
        { timeout: 20_000 },
      );
  return stdout;
}

type Sink = PassThrough & { isTTY: boolean; columns: number; rows?: number; writes: number; text(): string };

/** A writable that remembers what it was given. */
function sink(isTTY: boolean, size: { columns?: number; rows?: number } = {}): Sink {
  const stream = Object.assign(new PassThrough(), { isTTY, columns: size.columns ?? 100, rows: size.rows, writes: 0 }) as Sink;
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => {
    chunks.push(c.toString());
    stream.writes++;
  });
  stream.text = () => chunks.join('');
  return stream;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Two miners through every phase with samples (several frames drawn), then finish() with their score table. */
async function driveRound(view: LiveView): Promise<{ table: ScoreRow[] }> {
  view.note('metrics: http://127.0.0.1:9100/metrics');
  for (const phase of PHASES.filter((p) => p !== 'done')) {
    for (const [miner, cpu] of [['honest', 190], ['lazy', 40]] as const) {
      view.phase(miner, phase, `in ${phase}`);
      view.sample(miner, samples(phase, 1, cpu, 200 * MiB)[0]!);
    }
    await sleep(30);
  }
  const results = [minerRound('honest', 0.95), minerRound('lazy', 0.35)];
  for (const r of results) view.minerDone(r);
  const table = results.map((r, i) => ({ miner: r.miner, roundScore: r.roundScore, components: r.components, ema: r.roundScore, weight: [0.73, 0.27][i]!, ...OFFER }));
  view.finish(table);
  return { table };
}

/** A 64-CPU, 256 GiB offer with 3 CPUs and 1.5 GiB free, and what was proven. */
const OFFER = { offeredCpus: 64, freeCpus: 3, offeredMemoryBytes: 256 * 1024 * MiB, freeMemoryBytes: 1536 * MiB, provenCores: 1.9251, provenMemoryBytes: 768 * MiB };

const visible = (line: string) => [...line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')].length;

describe('live view', () => {
  describe('frame rendering (pure)', () => {
    const views: MinerView[] = [
      { miner: 'honest', phase: 'compute-open', detail: 'opening rows', reached: 4, samples: samples('compute-open', 50, 190, 300 * MiB) },
      { miner: 'evil\x1b[2Jminer', phase: 'failed', reached: 1, samples: [], result: minerRound('evil', 0, { error: 'boom\x1b]0;owned\x07' }) },
    ];

    it('draws one line per miner with phase, progress, sparklines and figures', () => {
      const lines = renderFrame(views, { columns: 140, cpuCount: 2 });
      expect(lines).to.have.length(3);
      expect(lines[0]).to.match(/2 miner\(s\) · 1 running · 0 done · 1 failed/);
      expect(lines[1]).to.match(/^honest +compute-open +█+░+ 5\/9 +cpu [▁▂▃▄▅▆▇█]+ 190% +mem [▁▂▃▄▅▆▇█]+ 300M\/512M +opening rows$/);
      expect(lines[2]).to.match(/failed .*error: boom/);
      for (const line of lines) expect(visible(line)).to.be.at.most(140);
    });

    it('never passes a miner\'s control characters to the terminal', () => {
      for (const line of renderFrame(views, { columns: 140, color: true })) {
        expect(line.replace(/\x1b\[[0-9;]*m/g, '')).not.to.include(ESC);
        expect(line).not.to.include('\x07');
      }
    });

    it('fits narrow terminals and caps the frame to the rows available', () => {
      const many = Array.from({ length: 30 }, (_, i): MinerView => ({ miner: `m${i}`, phase: 'ssh', reached: 1, samples: [] }));
      const lines = renderFrame(many, { columns: 50, rows: 10, color: true });
      expect(lines).to.have.length(9);
      expect(lines.at(-1)).to.include('and 23 more');
      for (const line of lines) expect(visible(line)).to.be.at.most(50);
    });

    it('sparklines scale to the maximum and keep the latest values', () => {
      expect(sparkline([0, 50, 100], 100, 3)).to.equal('▁▅█');
      expect(sparkline([100, 0], 100, 4)).to.equal('  █▁');
      expect(sparkline([1, 2, 3, 4, 5], 5, 2)).to.equal('▇█');
    });

    it('score table lists round score, components, offered, free, proven, reliability and weight per miner', () => {
      const table = renderScoreTable([
        { miner: 'honest', roundScore: 0.9, components: { compute: 1, memory: 0.8, rental: 1, metrics: 0.75 }, ema: 0.88, weight: 0.75, ...OFFER },
        { miner: 'absent', ema: 0.3, weight: 0.25 },
      ]);
      expect(table[0]).to.match(/^miner +round +compute +memory +rental +metrics +offered +free +proven +reliability +weight +note$/);
      expect(table[1]!.split('  ').filter(Boolean)).to.have.length(12);
      expect(table[2]).to.match(/^honest +0\.900 +1\.000 +0\.800 +1\.000 +0\.750 +64 CPU 256G +3 CPU 1\.5G +1\.93 cores 768M +0\.880 +75\.0%$/);
      expect(table[3]).to.match(/^absent +- +- +- +- +- +- +- +- +0\.300 +25\.0%$/);
    });

    it('score table stays within 160 columns, cutting a long note and name rather than wrapping', () => {
      const long = { miner: 'm'.repeat(60), roundScore: 0, ema: 0, weight: 0, ...OFFER, provenCores: 1234.567, offeredMemoryBytes: 1023 * 1024 ** 4, error: `ssh: ${'x'.repeat(300)}` };
      const table = renderScoreTable([long, { miner: 'honest', ema: 0.9, weight: 1, ...OFFER }], { color: true });
      for (const line of table) expect(visible(line)).to.be.at.most(160);
      expect(table[2]).to.match(/^m{19}… .* 1234\.57 cores 768M +0\.000 +0\.0% +ssh: x+…$/);
      expect(visible(table[2]!)).to.equal(160);
      expect(visible(table[1]!)).to.equal(160);
      // A narrower terminal: every line cut at its edge.
      for (const line of renderScoreTable([long], { columns: 100 })) expect(visible(line)).to.be.at.most(100);
    });
  });

  describe('mode', () => {
    it('is tty only on a terminal that can move the cursor, unless told otherwise', () => {
      expect(liveViewMode({ isTTY: true }, {}, { TERM: 'xterm' })).to.equal('tty');
      expect(liveViewMode({ isTTY: true }, {}, { TERM: 'dumb' })).to.equal('plain');
      expect(liveViewMode({ isTTY: false }, {}, {})).to.equal('plain');
      expect(liveViewMode({}, {}, {})).to.equal('plain');
      expect(liveViewMode({ isTTY: true }, { plain: true }, {})).to.equal('plain');
      expect(liveViewMode({ isTTY: true }, { json: true }, {})).to.equal('json');
    });
  });

  describe('in-process', () => {
    it('redraws at most ~10 times a second however many samples arrive', async () => {
      const out = sink(true);
      const view = new LiveView(out, { mode: 'tty', cpuCount: 1 });
      const started = Date.now();
      let i = 0;
      while (Date.now() - started < 350) {
        view.sample('busy', samples('compute-commit', 1, (i++ % 10) * 10, 10 * MiB)[0]!);
        await new Promise((resolve) => setImmediate(resolve));
      }
      view.stop();
      expect(i).to.be.greaterThan(100);
      const frames = out.text().split(`${ESC}[2K${ESC}[1mround`).length - 1;
      expect(frames).to.be.within(2, 5);
      expect(out.text().endsWith(`${ESC}[?25h`)).to.equal(true);
    });

    it('on a 160x45 terminal the score table stays on screen whole, and a note after it erases nothing', async () => {
      const out = sink(true, { columns: 160, rows: 45 });
      const view = new LiveView(out, { mode: 'tty', cpuCount: 2 });
      const { table } = await driveRound(view);
      view.note('report: var/demo/report.html'); // as validator/main.ts does right after finish()
      view.stop();
      await new Promise((resolve) => setImmediate(resolve));
      const bytes = out.text();
      const screen = new TerminalScreen(160, 45).write(bytes).screen();
      const at = screen.findIndex((line) => /^miner +round +compute/.test(line));
      expect(at, screen.join('\n')).to.be.greaterThan(0);
      expect(screen.slice(at)).to.deep.equal([...renderScoreTable(table), 'report: var/demo/report.html']);
      // The last frame stays above the table.
      expect(screen.slice(0, at).join('\n')).to.match(/round 2 miner\(s\) · 0 running · 2 done · 0 failed\nhonest +done .*\nlazy +done /);
      // Nothing written from the table on moves the cursor up or erases a line or the screen.
      const tableStart = bytes.lastIndexOf(renderScoreTable(table)[0]!);
      expect(tableStart).to.be.greaterThan(0);
      expect(bytes.slice(tableStart)).not.to.match(/\x1b\[[0-9;]*[AFHJKf]/);
    });

    it('draws nothing after finish(), even for a frame that was due or events that come late', async () => {
      const out = sink(true);
      const view = new LiveView(out, { mode: 'tty', cpuCount: 1 });
      view.phase('m', 'allocate');
      await sleep(150); // a first frame is drawn
      view.sample('m', samples('compute-commit', 1, 90, MiB)[0]!); // a frame is now scheduled...
      view.finish([{ miner: 'm', ema: 0.5, weight: 1 }]); // ...and must not fire
      const written = out.text();
      view.phase('m', 'release');
      view.sample('m', samples('release', 1, 10, MiB)[0]!);
      view.note('late note');
      await sleep(250);
      expect(out.text().slice(written.length)).to.equal('late note\n');
    });

    it('--json score events carry offered, free, proven, reliability and weight', () => {
      const out = sink(false);
      const view = new LiveView(out, { mode: 'json', now: () => new Date('2025-01-01T00:00:00Z') });
      view.finish([
        { miner: 'honest', roundScore: 0.9, components: { compute: 1, memory: 0.8, rental: 1, metrics: 0.75 }, ema: 0.88, weight: 0.75, ...OFFER },
        { miner: 'new', ema: 0, weight: 0.25 },
      ]);
      const [honest, fresh] = out.text().trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(honest).to.deep.equal({
        time: '2025-01-01T00:00:00.000Z',
        event: 'score',
        miner: 'honest',
        round: 0.9,
        compute: 1,
        memory: 0.8,
        rental: 1,
        metrics: 0.75,
        ...OFFER,
        ema: 0.88,
        weight: 0.75,
      });
      expect(fresh).to.deep.equal({ time: '2025-01-01T00:00:00.000Z', event: 'score', miner: 'new', ema: 0, weight: 0.25 });
    });

    it('plain mode prints a line per phase change only, and nothing per sample', () => {
      const out = sink(false);
      const view = new LiveView(out, { mode: 'plain', now: () => new Date('2025-01-01T00:00:00Z') });
      view.phase('a', 'allocate');
      view.phase('a', 'allocate', 'still allocating');
      view.sample('a', samples('allocate', 1, 50, MiB)[0]!);
      view.phase('a', 'ssh', 'banner ok');
      view.stop();
      expect(out.text()).to.equal(
        '2025-01-01T00:00:00.000Z phase miner=a phase=allocate step=1/9\n' +
          '2025-01-01T00:00:00.000Z phase miner=a phase=ssh step=2/9 detail="banner ok"\n',
      );
    });
  });

  describe('as a separate process', () => {
    it('in a real pseudo-terminal: redraws frames in place with bars and sparklines, then the score table', async () => {
      const started = Date.now();
      const output = await runInPty(DRIVER);
      const seconds = (Date.now() - started) / 1000;
      expect(output).to.include(`${ESC}[?25l`); // cursor hidden while drawing...
      expect(output).to.include(`${ESC}[?25h`); // ...and given back
      const redraws = output.match(/\x1b\[4A/g) ?? []; // cursor up over the 4-line frame
      expect(redraws.length).to.be.at.least(3);
      expect(redraws.length + 1).to.be.at.most(Math.ceil(seconds * 10) + 2);
      expect(output).to.include(`${ESC}[2K`);
      expect(output).to.match(/honest.*compute-commit.*█+.*░+.*cpu.*[▁▂▃▄▅▆▇█]{5,}.*mem.*[▁▂▃▄▅▆▇█]{5,}/);
      expect(output).to.match(/down.*failed/);
      const plainText = output.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
      expect(plainText).to.match(/miner +round +compute +memory +rental +metrics +offered +free +proven +reliability +weight/);
      expect(plainText).to.match(/honest +0\.950 +0\.950 +0\.950 +1\.000 +0\.950 +- +- +- +0\.930 +69\.9%/);
      expect(plainText).to.match(/down +0\.000 .* 0\.0% +ssh: connection reset/);
      expect(output).not.to.include(`${ESC}[31mby peer`); // the miner's own escape sequence was defused
      // What the terminal shows at the end: the last frame, then the whole score table.
      const screen = new TerminalScreen(120, 40).write(output).screen();
      const [head, rule, ...rows] = screen.slice(-5);
      expect(head).to.match(/^miner +round +compute/);
      expect(rule?.split(/ +/)).to.have.length(12).and.to.satisfy((rules: string[]) => rules.every((r) => /^─+$/.test(r)));
      expect(rows.map((row) => row.split(' ')[0])).to.deep.equal(['honest', 'lazy-miner', 'down']);
    });

    it('off a terminal: plain structured lines without a single ESC byte', async () => {
      const { stdout } = await run(process.execPath, DRIVER, { timeout: 20_000 });
      expect(stdout).not.to.include(ESC);
      const lines = stdout.trimEnd().split('\n');
      for (const line of lines) expect(line).to.match(/^\d{4}-\d\d-\d\dT[\d:.]+Z (phase|done|failed|score) miner=\S+( \w+=\S+)*/);
      const honest = lines.filter((l) => l.includes(' phase miner=honest '));
      expect(honest).to.have.length(8); // allocate ... release, once each
      expect(lines.filter((l) => l.includes(' done '))).to.have.length(2);
      expect(lines.find((l) => l.includes(' failed miner=down'))).to.include('error="ssh: connection reset \\u001b[31mby peer"');
      expect(lines.filter((l) => l.includes(' score '))).to.have.length(3);
    });

    it('--json: one JSON object a line', async () => {
      const { stdout } = await run(process.execPath, [...DRIVER, '--json'], { timeout: 20_000 });
      expect(stdout).not.to.include(ESC);
      const events = stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { event: string; miner: string; weight?: number });
      expect(events.filter((e) => e.event === 'phase')).to.have.length(8 + 8 + 3);
      const scores = events.filter((e) => e.event === 'score');
      expect(scores.map((s) => s.miner)).to.deep.equal(['honest', 'lazy-miner', 'down']);
      expect(scores.reduce((sum, s) => sum + (s.weight ?? 0), 0)).to.be.closeTo(1, 1e-9);
    });
  });
});
