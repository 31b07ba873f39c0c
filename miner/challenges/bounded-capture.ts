/**
 * Capture of a challenge command's output stream (stdout or stderr): every
 * byte the command writes is counted and hashed (SHA-256, as it arrives) and
 * only a bounded tail is kept for the final result, so a run holds a few
 * hundred KiB of the miner's memory however much it writes. What goes out
 * live (OutputChunk events) is bounded separately (challenge.max_output_bytes).
 */
import { createHash, type Hash } from 'node:crypto';

/** What the final result states about one stream. */
export interface StreamTotals {
  /** The last bytes as UTF-8, at most the tail bound when encoded. */
  text: string;
  /** Bytes the command wrote to the stream, in all. */
  bytes: number;
  /** SHA-256 of all of them. */
  sha256: Buffer;
  /** True when `text` is the whole stream. */
  whole: boolean;
}

const isContinuation = (byte: number): boolean => (byte & 0xc0) === 0x80;

/** Skips the continuation bytes of a character cut at the front (at most 3). */
function skipCutCharacter(buf: Buffer): Buffer {
  let start = 0;
  while (start < 3 && start < buf.length && isContinuation(buf[start]!)) start++;
  return buf.subarray(start);
}

/**
 * The last bytes of `buf` as UTF-8 text whose encoding is at most `limit`
 * bytes: a character cut at the front is dropped, and since an invalid byte
 * decodes to U+FFFD (3 bytes) the text is cut again when that made it longer.
 * `cut` says whether anything was left out.
 */
export function utf8Tail(buf: Buffer, limit: number): { text: string; cut: boolean } {
  let cut = buf.length > limit;
  let tail = cut ? skipCutCharacter(buf.subarray(buf.length - limit)) : buf;
  let text = tail.toString('utf8');
  const encoded = Buffer.from(text, 'utf8');
  if (encoded.length > limit) {
    cut = true;
    tail = skipCutCharacter(encoded.subarray(encoded.length - limit));
    text = tail.toString('utf8');
  }
  return { text, cut };
}

/** Counts, hashes and keeps the tail of one output stream. */
export class StreamCapture {
  private readonly hash: Hash = createHash('sha256');
  private readonly tail: Buffer[] = [];
  private tailSize = 0;
  private totals?: StreamTotals;
  /** Bytes the command wrote to the stream so far. */
  bytes = 0;

  /**
   * @param tailLimit bytes kept for the result (RESULT_TAIL_BYTES, STDERR_TAIL_BYTES)
   * @param liveLimit bytes that may go out live as OutputChunk events (challenge.max_output_bytes)
   */
  constructor(
    private readonly tailLimit: number,
    private readonly liveLimit: number,
  ) {}

  /** Takes bytes the command wrote; returns the part that may still go out live. */
  append(data: Buffer): Buffer {
    if (this.totals) return data.subarray(0, 0); // after the result was built: too late to count
    const liveRoom = Math.max(0, this.liveLimit - this.bytes);
    this.bytes += data.length;
    this.hash.update(data);
    this.keepTail(data);
    return data.length > liveRoom ? data.subarray(0, liveRoom) : data;
  }

  /** True once the stream wrote more than may go out live: joined chunks then miss its end. */
  get passedLiveLimit(): boolean {
    return this.bytes > this.liveLimit;
  }

  /** The stream's totals; call once the command's output has ended (later bytes are ignored). */
  finish(): StreamTotals {
    if (this.totals) return this.totals;
    const kept = Buffer.concat(this.tail, this.tailSize);
    const { text, cut } = utf8Tail(kept, this.tailLimit);
    this.totals = { text, bytes: this.bytes, sha256: this.hash.digest(), whole: !cut && kept.length === this.bytes };
    return this.totals;
  }

  private keepTail(data: Buffer): void {
    if (data.length === 0) return;
    const piece = data.length > this.tailLimit ? data.subarray(data.length - this.tailLimit) : data;
    this.tail.push(Buffer.from(piece));
    this.tailSize += piece.length;
    // Drop whole pieces from the front while what remains still covers the tail.
    while (this.tail.length > 1 && this.tailSize - this.tail[0]!.length >= this.tailLimit) {
      this.tailSize -= this.tail.shift()!.length;
    }
  }
}

/**
 * Keeps the first `limit` bytes of a stream and remembers whether more came.
 * (The miner's challenges keep tails now: StreamCapture. Kept for its unit
 * test in test/unit/sampler.test.ts until that test moves to StreamCapture.)
 */
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
      let end = buf.length;
      let back = 0;
      while (end > 0 && back < 4 && isContinuation(buf[end - 1]!)) {
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
