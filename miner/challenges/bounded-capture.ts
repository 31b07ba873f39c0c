/** Bounded capture of a challenge command's output stream (stdout or stderr). */

/** Keeps the first `limit` bytes of a stream and remembers whether more came. */
export class BoundedCapture {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly limit: number) {}

  /** Stores what fits; returns the part that was kept. */
  append(data: Buffer): Buffer {
    const room = this.limit - this.size;
    if (room <= 0) {
      if (data.length > 0) this.truncated = true;
      return data.subarray(0, 0);
    }
    const kept = data.length > room ? data.subarray(0, room) : data;
    if (kept.length < data.length) this.truncated = true;
    this.chunks.push(Buffer.from(kept));
    this.size += kept.length;
    return kept;
  }

  get bytes(): number {
    return this.size;
  }

  /** The kept bytes as UTF-8, without a character cut in half at the bound. */
  text(): string {
    let buf = Buffer.concat(this.chunks, this.size);
    if (this.truncated) {
      // Drop an incomplete multi-byte sequence at the cut.
      let end = buf.length;
      let back = 0;
      while (end > 0 && back < 4 && (buf[end - 1]! & 0xc0) === 0x80) {
        end--;
        back++;
      }
      if (end > 0) {
        const lead = buf[end - 1]!;
        const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
        if (need > back + 1) buf = buf.subarray(0, end - 1);
      }
    }
    return buf.toString('utf8');
  }
}
