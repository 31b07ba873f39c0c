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
import { PHASES, allFindings, type MinerRoundResult, type Phase, type SampleRecord } from '../round-types.js';
import { ESC, SAMPLES_KEPT, clean, renderFrame, renderScoreTable, type MinerView, type ScoreRow } from './live-view-render.js';

export { SAMPLES_KEPT, SCORE_TABLE_COLUMNS, renderFrame, renderScoreTable, sparkline, type FrameOptions, type MinerView, type ScoreRow } from './live-view-render.js';

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
        kind: result.capacity?.kind,
        capacity: result.capacity,
        unscored: result.unscored,
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

  /**
   * Draws the last frame, then the score table; the view is stopped afterwards.
   * The frame is then no longer the last thing on screen: nothing may move the
   * cursor back over it (a later note() would erase the table's last lines).
   */
  finish(table: readonly ScoreRow[]): void {
    this.cancelTimer();
    if (this.options.mode === 'tty') {
      if (this.dirty) this.draw();
      // As wide as the terminal (up to SCORE_TABLE_COLUMNS), less the last column that would wrap on some terminals.
      this.write(['', ...renderScoreTable(table, { color: true, columns: this.columns() - 1 }), ''].join('\n'));
      this.drawnLines = 0;
    } else {
      for (const row of table) {
        this.event('score', {
          miner: row.miner,
          round: row.roundScore,
          ...row.components,
          offeredCpus: row.offeredCpus,
          freeCpus: row.freeCpus,
          offeredMemoryBytes: row.offeredMemoryBytes,
          freeMemoryBytes: row.freeMemoryBytes,
          provenCores: row.provenCores,
          provenMemoryBytes: row.provenMemoryBytes,
          ema: row.ema,
          weight: row.weight,
          error: row.error,
        });
      }
    }
    this.stop();
  }

  /** Stops redrawing and gives the cursor back; the last frame stays on screen. */
  stop(): void {
    this.cancelTimer();
    if (this.options.mode === 'tty' && !this.stopped && this.lastDraw > 0) this.write(`${ESC}?25h`);
    this.stopped = true;
    // The last frame stays as it is: what is printed after it goes below it, erasing nothing.
    this.drawnLines = 0;
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
