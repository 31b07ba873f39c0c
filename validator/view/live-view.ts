/**
 * What an operator watches during a round.
 *
 * On a terminal ('tty'): one line per miner with its phase, a progress bar
 * over PHASES and CPU / memory sparklines of its latest samples, redrawn in
 * place (ANSI cursor movement) at most `maxFps` times a second; at the end a
 * score table. Elsewhere ('plain' or 'json'): no ANSI at all, one structured
 * line per phase change, per finished miner and per score row (logfmt-like
 * `key=value` text, or JSON objects).
 */
import { formatBytes } from '../../common/units.js';
import type { Finding } from '../findings.js';
import { PHASES, allFindings, type ComponentScores, type MinerRoundResult, type Phase, type SampleRecord } from '../round-types.js';

export type LiveViewMode = 'tty' | 'plain' | 'json';

export interface LiveViewOptions {
  mode: LiveViewMode;
  /** Cores rented from each miner: the CPU sparkline's full scale (100% per core). Default: scaled to what was seen. */
  cpuCount?: number;
  /** Most redraws a second on a terminal. */
  maxFps?: number;
  /** Clock for plain/json timestamps. */
  now?: () => Date;
}

export interface ScoreRow {
  miner: string;
  /** Absent when the miner was not part of this round. */
  roundScore?: number;
  components?: ComponentScores;
  ema: number;
  weight: number;
  error?: string;
}

/** One miner as the terminal frame shows it. */
export interface MinerView {
  miner: string;
  phase: Phase;
  detail?: string;
  /** Index in PHASES of the furthest phase reached. */
  reached: number;
  /** The latest samples, oldest first (at most SAMPLES_KEPT). */
  samples: SampleRecord[];
  result?: MinerRoundResult;
}

export interface FrameOptions {
  columns: number;
  /** Most lines the frame may take (the terminal's rows). */
  rows?: number;
  cpuCount?: number;
  color?: boolean;
}

export const SAMPLES_KEPT = 40;

const ESC = '\x1b[';
const SPARKS = '▁▂▃▄▅▆▇█';
const BAR_WIDTH = 10;
const DETAIL_ROOM = 24;
const STYLE = { reset: `${ESC}0m`, bold: `${ESC}1m`, dim: `${ESC}2m`, red: `${ESC}31m`, green: `${ESC}32m`, yellow: `${ESC}33m`, cyan: `${ESC}36m` };
type Style = keyof typeof STYLE;

/** 'tty' only when writing to a terminal that can move its cursor and nothing asked otherwise. */
export function liveViewMode(
  out: { isTTY?: boolean },
  flags: { json?: boolean; plain?: boolean } = {},
  env: NodeJS.ProcessEnv = process.env,
): LiveViewMode {
  if (flags.json) return 'json';
  if (flags.plain || !out.isTTY || env.TERM === 'dumb') return 'plain';
  return 'tty';
}

/** Control characters (ESC included) from a miner's text must never reach the terminal. */
function clean(text: string): string {
  return text.replace(/[\x00-\x1f\x7f-\x9f]+/g, ' ');
}

export function sparkline(values: readonly number[], max: number, width: number): string {
  const shown = values.slice(-width);
  const chars = shown.map((v) => SPARKS[Math.round(Math.min(1, Math.max(0, max > 0 ? v / max : 0)) * (SPARKS.length - 1))]!);
  return ' '.repeat(width - shown.length) + chars.join('');
}

interface Segment {
  text: string;
  style?: Style;
}

/** Joins segments into one line of at most `columns` visible characters, styled when `color`. */
function fit(segments: readonly Segment[], columns: number, color: boolean): string {
  let room = columns;
  let line = '';
  for (const { text, style } of segments) {
    if (room <= 0) break;
    if (text === '') continue;
    const chars = [...text];
    const shown = chars.length > room ? chars.slice(0, Math.max(0, room - 1)).join('') + '…' : text;
    room -= Math.min(chars.length, room);
    line += color && style ? STYLE[style] + shown + STYLE.reset : shown;
  }
  return line;
}

const score3 = (x: number | undefined): string => (x === undefined ? '-' : x.toFixed(3));

function phaseStyle(view: MinerView): Style {
  if (view.phase === 'failed') return 'red';
  if (view.phase === 'done') return 'green';
  return 'cyan';
}

/** " · compute-too-slow, samples-mismatch": the reason codes, each once. */
function findingsSummary(findings: readonly Finding[]): string {
  const codes = [...new Set(findings.map((f) => f.code))];
  return codes.length ? ` · ${codes.join(', ')}` : '';
}

function minerLine(view: MinerView, nameWidth: number, options: FrameOptions): string {
  const color = options.color ?? false;
  const last = view.samples.at(-1);
  const cpuMax = options.cpuCount
    ? options.cpuCount * 100
    : Math.max(100, Math.ceil(Math.max(0, ...view.samples.map((s) => s.cpuUsage)) / 100) * 100);
  const memMax = Math.max(last?.memoryLimit ?? 0, ...view.samples.map((s) => s.memoryUsage));
  // Name, phase, bar and figures take nameWidth + 60 columns; the two sparklines share what is left
  // after DETAIL_ROOM for the detail, each between 6 and SAMPLES_KEPT wide.
  const sparkWidth = Math.max(6, Math.min(SAMPLES_KEPT, Math.floor((options.columns - nameWidth - 60 - DETAIL_ROOM) / 2)));
  const done = view.phase === 'done' ? PHASES.length - 1 : view.reached;
  const filled = Math.round((done / (PHASES.length - 1)) * BAR_WIDTH);
  const result = view.result;
  const detail = result
    ? result.error
      ? `error: ${result.error}`
      : `score ${score3(result.roundScore)}${findingsSummary(allFindings(result))}${result.lie ? ' · LIE' : ''}`
    : (view.detail ?? '');
  return fit(
    [
      { text: clean(view.miner).padEnd(nameWidth) + ' ', style: 'bold' },
      { text: view.phase.padEnd(15), style: phaseStyle(view) },
      { text: '█'.repeat(filled), style: view.phase === 'failed' ? 'red' : 'green' },
      { text: '░'.repeat(BAR_WIDTH - filled), style: 'dim' },
      { text: ` ${String(done + 1).padStart(String(PHASES.length).length)}/${PHASES.length}  cpu ` },
      { text: sparkline(view.samples.map((s) => s.cpuUsage), cpuMax, sparkWidth), style: 'yellow' },
      { text: ` ${last ? `${Math.round(last.cpuUsage)}%` : '-'}`.padEnd(6) + ' mem ' },
      { text: sparkline(view.samples.map((s) => s.memoryUsage), memMax, sparkWidth), style: 'cyan' },
      { text: ` ${last ? `${formatBytes(last.memoryUsage, 'compact')}/${formatBytes(last.memoryLimit, 'compact')}` : '-'}`.padEnd(12) },
      { text: clean(detail), style: result?.error ? 'red' : undefined },
    ],
    options.columns,
    color,
  );
}

/** The terminal frame for the given miners: a header line, then one line per miner. Pure. */
export function renderFrame(miners: readonly MinerView[], options: FrameOptions): string[] {
  const color = options.color ?? false;
  const count = (p: (v: MinerView) => boolean) => miners.filter(p).length;
  const failed = count((v) => v.phase === 'failed');
  const done = count((v) => v.phase === 'done');
  const header = fit(
    [
      { text: 'round ', style: 'bold' },
      { text: `${miners.length} miner(s) · ${miners.length - done - failed} running · ${done} done · ${failed} failed` },
    ],
    options.columns,
    color,
  );
  const nameWidth = Math.min(20, Math.max(5, ...miners.map((m) => [...m.miner].length)));
  const maxMiners = Math.max(1, (options.rows ?? Number.POSITIVE_INFINITY) - 2);
  const shown = miners.length > maxMiners ? miners.slice(0, maxMiners - 1) : miners;
  const lines = [header, ...shown.map((m) => minerLine(m, nameWidth, options))];
  if (shown.length < miners.length) lines.push(fit([{ text: `… and ${miners.length - shown.length} more`, style: 'dim' }], options.columns, color));
  return lines;
}

/** The end-of-round table: miner, round score, components, EMA, weight. Pure. */
export function renderScoreTable(rows: readonly ScoreRow[], options: { color?: boolean } = {}): string[] {
  const head = ['miner', 'round', 'compute', 'memory', 'rental', 'metrics', 'EMA', 'weight', 'note'];
  const body = rows.map((r) => [
    clean(r.miner),
    score3(r.roundScore),
    score3(r.components?.compute),
    score3(r.components?.memory),
    score3(r.components?.rental),
    score3(r.components?.metrics),
    score3(r.ema),
    `${(r.weight * 100).toFixed(1)}%`,
    r.error ? clean(r.error) : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const bold = (text: string) => (options.color ? STYLE.bold + text + STYLE.reset : text);
  return [bold(line(head)), widths.map((w) => '─'.repeat(w)).join('  ').trimEnd(), ...body.map(line)];
}

function logfmt(fields: Record<string, unknown>): string {
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => {
      const text = typeof v === 'number' ? String(Math.round(v * 1000) / 1000) : String(v);
      return `${k}=${/^[\w.:/@%+-]+$/.test(text) ? text : JSON.stringify(text)}`;
    })
    .join(' ');
}

export class LiveView {
  private readonly miners = new Map<string, MinerView>();
  /** Last phase printed per miner (plain and json modes print changes only). */
  private readonly announced = new Map<string, Phase>();
  private readonly maxFps: number;
  private readonly now: () => Date;
  private timer: NodeJS.Timeout | undefined;
  private lastDraw = 0;
  private drawnLines = 0;
  /** Something changed since the last frame was drawn. */
  private dirty = false;
  private stopped = false;

  constructor(
    private readonly out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number },
    private readonly options: LiveViewOptions,
  ) {
    this.maxFps = options.maxFps ?? 10;
    this.now = options.now ?? (() => new Date());
  }

  get mode(): LiveViewMode {
    return this.options.mode;
  }

  phase(miner: string, phase: Phase, detail?: string): void {
    const view = this.view(miner);
    const changed = this.announced.get(miner) !== phase;
    this.announced.set(miner, phase);
    view.phase = phase;
    view.detail = detail;
    const index = PHASES.indexOf(phase);
    if (index > view.reached) view.reached = index;
    if (this.options.mode !== 'tty') {
      if (changed) this.event('phase', { miner, phase, step: `${(index < 0 ? view.reached : index) + 1}/${PHASES.length}`, detail });
      return;
    }
    this.schedule();
  }

  sample(miner: string, s: SampleRecord): void {
    const view = this.view(miner);
    view.samples.push(s);
    if (view.samples.length > SAMPLES_KEPT) view.samples.splice(0, view.samples.length - SAMPLES_KEPT);
    if (this.options.mode === 'tty') this.schedule();
  }

  minerDone(result: MinerRoundResult): void {
    const view = this.view(result.miner);
    view.result = result;
    view.phase = result.error ? 'failed' : 'done';
    if (this.options.mode !== 'tty') {
      const c = result.components;
      this.event(result.error ? 'failed' : 'done', {
        miner: result.miner,
        score: result.roundScore,
        compute: c.compute,
        memory: c.memory,
        rental: c.rental,
        metrics: c.metrics,
        lie: result.lie ?? false,
        findings: allFindings(result),
        error: result.error,
      });
      return;
    }
    this.schedule();
  }

  /** A message that must not be lost in the frame (printed above it on a terminal). */
  note(message: string): void {
    if (this.options.mode !== 'tty') return this.event('note', { message });
    this.write(this.erase() + clean(message) + '\n');
    this.drawnLines = 0;
    this.schedule();
  }

  /** Draws the last frame, then the score table; the view is stopped afterwards. */
  finish(table: readonly ScoreRow[]): void {
    this.cancelTimer();
    if (this.options.mode === 'tty') {
      if (this.dirty) this.draw();
      this.write(['', ...renderScoreTable(table, { color: true }), ''].join('\n'));
    } else {
      for (const row of table) {
        this.event('score', { miner: row.miner, round: row.roundScore, ...row.components, ema: row.ema, weight: row.weight, error: row.error });
      }
    }
    this.stop();
  }

  /** Stops redrawing and gives the cursor back; the last frame stays on screen. */
  stop(): void {
    this.cancelTimer();
    if (this.options.mode === 'tty' && !this.stopped && this.lastDraw > 0) this.write(`${ESC}?25h`);
    this.stopped = true;
  }

  /** The current frame's lines, as the terminal would show them (without colour). */
  frame(): string[] {
    return renderFrame([...this.miners.values()], { columns: this.columns(), cpuCount: this.options.cpuCount });
  }

  private view(miner: string): MinerView {
    let view = this.miners.get(miner);
    if (!view) {
      view = { miner, phase: 'allocate', reached: 0, samples: [] };
      this.miners.set(miner, view);
    }
    return view;
  }

  private columns(): number {
    return this.out.columns && this.out.columns > 20 ? this.out.columns : 80;
  }

  private schedule(): void {
    this.dirty = true;
    if (this.stopped || this.timer) return;
    const wait = Math.max(0, this.lastDraw + 1000 / this.maxFps - Date.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.draw();
    }, wait);
    this.timer.unref();
  }

  private cancelTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Cursor back to the frame's first line, and clear from there down. */
  private erase(): string {
    return this.drawnLines > 0 ? `${ESC}${this.drawnLines}A\r${ESC}J` : '';
  }

  private draw(): void {
    if (this.stopped) return;
    const lines = renderFrame([...this.miners.values()], {
      columns: this.columns() - 1, // the last column would wrap on some terminals
      rows: this.out.rows,
      cpuCount: this.options.cpuCount,
      color: true,
    });
    const hide = this.lastDraw === 0 ? `${ESC}?25l` : '';
    const up = this.drawnLines > 0 ? `${ESC}${this.drawnLines}A` : '';
    const body = lines.map((l) => `\r${ESC}2K${l}\n`).join('');
    const tail = lines.length < this.drawnLines ? `${ESC}J` : '';
    this.write(hide + up + body + tail);
    this.drawnLines = lines.length;
    this.lastDraw = Date.now();
    this.dirty = false;
  }

  private event(event: string, fields: Record<string, unknown>): void {
    const time = this.now().toISOString();
    if (this.options.mode === 'json') {
      this.write(JSON.stringify({ time, event, ...fields }) + '\n');
    } else {
      this.write(`${time} ${event} ${logfmt(fields)}\n`);
    }
  }

  private write(text: string): void {
    this.out.write(text);
  }
}
