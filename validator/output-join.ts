/**
 * Joins a challenge's OutputChunk events (the validator asks for
 * stream_output: the final result carries only tails) and checks what
 * arrived against the byte counts and SHA-256 digests the result states. A
 * mismatch is reported as a problem, never passed over: the proof reading it
 * turns it into a finding (probe-output.ts).
 */
import { createHash, type Hash } from 'node:crypto';
import { OutputStream, type CommandResult, type OutputChunk } from '../common/gen/polarise/v1/miner.js';

/** The most output of one stream the validator keeps from one call (the probe's proofs are far smaller). */
export const MAX_JOINED_OUTPUT_BYTES = 64 * 1024 * 1024;

export interface JoinedOutput {
  stdout: string;
  stderr: string;
  /** What did not match the result's counts and digests, if anything. */
  problem?: string;
}

class JoinedStream {
  private readonly parts: Buffer[] = [];
  private kept = 0;
  private readonly hash: Hash = createHash('sha256');
  /** Bytes received for this stream (kept or not). */
  received = 0;

  add(data: Buffer): void {
    this.received += data.length;
    this.hash.update(data);
    if (this.kept + data.length > MAX_JOINED_OUTPUT_BYTES) return;
    this.parts.push(Buffer.from(data));
    this.kept += data.length;
  }

  text(): string {
    return Buffer.concat(this.parts, this.kept).toString('utf8');
  }

  /** Undefined when the chunks are the whole stream the result describes; else what differs. */
  check(name: string, bytes: number, sha256: Uint8Array): string | undefined {
    const digest = this.hash.digest();
    if (this.received > MAX_JOINED_OUTPUT_BYTES) return `${name}: ${this.received} bytes, more than the validator takes (${MAX_JOINED_OUTPUT_BYTES})`;
    if (this.received !== bytes) return `${name}: received ${this.received} bytes in chunks, the result states ${bytes}`;
    if (!digest.equals(Buffer.from(sha256))) return `${name}: the ${bytes} bytes received do not match the result's SHA-256`;
    return undefined;
  }
}

export class OutputJoin {
  private readonly stdout = new JoinedStream();
  private readonly stderr = new JoinedStream();
  /** Output chunks received, both streams. */
  chunks = 0;

  add(chunk: OutputChunk): void {
    this.chunks++;
    (chunk.stream === OutputStream.OUTPUT_STREAM_STDERR ? this.stderr : this.stdout).add(Buffer.from(chunk.data));
  }

  /** The whole output, checked against the result (a miner older than contract 1.2.0 states no digest: its result's output is taken). */
  finish(result: CommandResult | undefined): JoinedOutput {
    if (!result) return { stdout: this.stdout.text(), stderr: this.stderr.text(), problem: 'no result to check the output against' };
    if (result.stdoutSha256.length === 0 && result.stderrSha256.length === 0) {
      return this.chunks > 0 ? { stdout: this.stdout.text(), stderr: this.stderr.text() } : { stdout: result.output, stderr: result.stderr };
    }
    const problems = [
      this.stdout.check('stdout', result.stdoutBytes, result.stdoutSha256),
      this.stderr.check('stderr', result.stderrBytes, result.stderrSha256),
    ].filter((p): p is string => p !== undefined);
    return { stdout: this.stdout.text(), stderr: this.stderr.text(), ...(problems.length ? { problem: problems.join('; ') } : {}) };
  }
}
