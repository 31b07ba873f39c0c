/**
 * Writes a challenge's live events to its sink without ever queueing without
 * bound for a slow client:
 *
 * - samples coalesce: while one event is being written, only the latest
 *   sample waits (an older one still waiting is replaced and counted as
 *   coalesced), so a client that reads slowly gets fewer, fresh samples;
 * - output chunks (each at most OUTPUT_CHUNK_BYTES: larger ones are split,
 *   so no event comes near the 1 MiB message bound) queue up to a byte
 *   bound; above it `offerOutput` returns
 *   false and the caller pauses its source until `onDrain` fires (the command
 *   then blocks on its pipe, as it would writing to any slow reader).
 *
 * Each write awaits `sink.send`, which resolves when the transport can take
 * more (grpc-js 'drain').
 */
import type { OutputStream, ResourceSample, RunChallengeResponse } from '../../common/gen/polarise/v1/miner.js';
import type { EventSink } from '../server/handlers.js';
import { OUTPUT_CHUNK_BYTES } from '../../common/message-limits.js';

export interface EventWriterOptions {
  /** Output bytes that may wait for the client before the source is paused. */
  outputBufferBytes: number;
}

export class EventWriter {
  private pendingSample?: ResourceSample;
  private readonly output: { stream: OutputStream; data: Buffer }[] = [];
  private outputBytes = 0;
  /** True while an event is being handed to the sink. */
  private busy = false;
  private flushWaiters: (() => void)[] = [];
  private drainWaiters: (() => void)[] = [];
  private paused = false;
  /** Samples handed to the sink. */
  sentSamples = 0;
  /** Samples replaced by a newer one before the client could take them. */
  coalescedSamples = 0;
  /** Output bytes handed to the sink. */
  sentOutputBytes = 0;

  constructor(
    private readonly sink: EventSink,
    private readonly options: EventWriterOptions,
  ) {}

  /** Queues a sample; an older sample still waiting is dropped. */
  offerSample(sample: ResourceSample): void {
    if (this.pendingSample) this.coalescedSamples++;
    this.pendingSample = sample;
    this.kick();
  }

  /** Queues an output chunk; false means "pause the source until onDrain". */
  offerOutput(stream: OutputStream, data: Buffer): boolean {
    if (data.length === 0) return true;
    for (let at = 0; at < data.length; at += OUTPUT_CHUNK_BYTES) {
      this.output.push({ stream, data: data.subarray(at, at + OUTPUT_CHUNK_BYTES) });
    }
    this.outputBytes += data.length;
    this.kick();
    const ok = this.outputBytes < this.options.outputBufferBytes;
    if (!ok) this.paused = true;
    return ok;
  }

  /** Calls `fn` once the output queue has room again. */
  onDrain(fn: () => void): void {
    if (!this.paused) fn();
    else this.drainWaiters.push(fn);
  }

  /** Bytes of output waiting for the client. */
  get bufferedOutputBytes(): number {
    return this.outputBytes;
  }

  /** Resolves when everything queued so far has been handed to the sink. */
  flush(): Promise<void> {
    if (!this.busy) return Promise.resolve();
    return new Promise((resolve) => this.flushWaiters.push(resolve));
  }

  /** Drops whatever still waits (the client is gone). */
  discard(): void {
    this.pendingSample = undefined;
    this.output.length = 0;
    this.outputBytes = 0;
    this.release();
  }

  private kick(): void {
    if (this.busy) return;
    this.busy = true;
    this.next();
  }

  private release(): void {
    if (!this.paused || this.outputBytes > this.options.outputBufferBytes / 2) return;
    this.paused = false;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  // Alternate a sample and an output chunk so that neither starves the other.
  private preferSample = true;

  /**
   * Hands the next event to the sink and comes back when the sink can take
   * more. A plain callback chain, not an async loop: one promise per event
   * (the sink's own), nothing else allocated on a sample's way out.
   */
  private readonly next = (): void => {
    if (this.sink.signal.aborted) this.discard();
    let event: RunChallengeResponse | undefined;
    if (this.pendingSample && (this.preferSample || this.output.length === 0)) {
      event = { event: { $case: 'sample', value: this.pendingSample } };
      this.pendingSample = undefined;
      this.sentSamples++;
    } else {
      const chunk = this.output.shift();
      if (chunk) {
        this.outputBytes -= chunk.data.length;
        this.sentOutputBytes += chunk.data.length;
        event = { event: { $case: 'output', value: chunk } };
        this.release();
      }
    }
    if (!event) {
      this.busy = false;
      this.preferSample = true;
      const waiters = this.flushWaiters;
      this.flushWaiters = [];
      for (const w of waiters) w();
      return;
    }
    this.preferSample = !this.preferSample;
    this.sink.send(event).then(this.next, this.next);
  };
}
