/**
 * A tiny model of a terminal screen, enough to replay what the live view
 * writes and read back what a person would see: printable text with
 * deferred line wrap, CR, LF (as a tty's ONLCR turns it into CR LF), cursor
 * up/down/left/right/position, erase in line and erase in display; colours
 * and cursor visibility are accepted and ignored. Any other escape sequence
 * throws, so that a new one in the view is noticed rather than misread.
 */
const CSI = /^\x1b\[([?]?)([0-9;]*)([A-Za-z])/;

export class TerminalScreen {
  /** Scrollback and screen: the screen is the last `rows` lines. */
  private readonly lines: string[][] = [[]];
  private row = 0;
  private col = 0;

  constructor(
    readonly columns = 80,
    readonly rows = 24,
  ) {}

  /** Replays `bytes` (as text) onto the screen. */
  write(text: string): this {
    let i = 0;
    while (i < text.length) {
      const ch = text[i]!;
      if (ch === '\x1b') {
        const match = CSI.exec(text.slice(i, i + 32));
        if (!match) throw new Error(`unsupported escape sequence ${JSON.stringify(text.slice(i, i + 8))}`);
        this.control(match[1]!, match[2]!, match[3]!);
        i += match[0].length;
        continue;
      }
      const code = ch.codePointAt(0)!;
      const char = String.fromCodePoint(code);
      i += char.length;
      if (char === '\r') this.col = 0;
      else if (char === '\n') this.lineFeed();
      else if (code >= 0x20) this.print(char);
      else throw new Error(`unsupported control character 0x${code.toString(16)}`);
    }
    return this;
  }

  /** The visible screen, each line with trailing spaces trimmed, trailing empty lines dropped. */
  screen(): string[] {
    const shown = this.lines.slice(this.top()).map((cells) => cells.join('').trimEnd());
    while (shown.length && shown.at(-1) === '') shown.pop();
    return shown;
  }

  /** First line of the screen, as an index into `lines`: the cursor cannot go above it. */
  private top(): number {
    return Math.max(0, this.lines.length - this.rows);
  }

  private line(): string[] {
    while (this.lines.length <= this.row) this.lines.push([]);
    return this.lines[this.row]!;
  }

  private lineFeed(): void {
    this.row++;
    this.col = 0;
    this.line();
  }

  private print(char: string): void {
    if (this.col >= this.columns) this.lineFeed();
    const cells = this.line();
    while (cells.length < this.col) cells.push(' ');
    cells[this.col++] = char;
  }

  private control(private_: string, params: string, final: string): void {
    const n = (fallback: number) => (params === '' ? fallback : Number(params.split(';')[0]));
    if (private_ === '?') {
      if (params === '25' && (final === 'h' || final === 'l')) return;
      throw new Error(`unsupported private mode ${params}${final}`);
    }
    switch (final) {
      case 'm':
        return;
      case 'A':
        this.row = Math.max(this.top(), this.row - Math.max(1, n(1)));
        return;
      case 'B':
        this.row = Math.min(this.top() + this.rows - 1, this.row + Math.max(1, n(1)));
        this.line();
        return;
      case 'C':
        this.col = Math.min(this.columns - 1, this.col + Math.max(1, n(1)));
        return;
      case 'D':
        this.col = Math.max(0, this.col - Math.max(1, n(1)));
        return;
      case 'H': {
        const [r = 1, c = 1] = params.split(';').map((p) => Number(p || 1));
        this.row = this.top() + r - 1;
        this.col = c - 1;
        this.line();
        return;
      }
      case 'K':
        return this.eraseInLine(n(0));
      case 'J':
        return this.eraseInDisplay(n(0));
      default:
        throw new Error(`unsupported escape sequence ESC[${params}${final}`);
    }
  }

  private eraseInLine(mode: number): void {
    const cells = this.line();
    if (mode === 0) cells.length = Math.min(cells.length, this.col);
    else if (mode === 1) for (let c = 0; c <= this.col && c < cells.length; c++) cells[c] = ' ';
    else cells.length = 0;
  }

  private eraseInDisplay(mode: number): void {
    if (mode === 0) {
      this.eraseInLine(0);
      for (let r = this.row + 1; r < this.lines.length; r++) this.lines[r] = [];
    } else if (mode === 1) {
      for (let r = this.top(); r < this.row; r++) this.lines[r] = [];
      this.eraseInLine(1);
    } else {
      for (let r = this.top(); r < this.lines.length; r++) this.lines[r] = [];
    }
  }
}
