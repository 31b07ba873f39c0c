/**
 * Output of a challenge, both ends, pure: the miner's capture (count, SHA-256,
 * bounded tail, live bound), the event writer's chunk bound, and the
 * validator's join of OutputChunk events checked against the result. The
 * whole path against a real miner: test/integration/large-output.test.ts.
 */
import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import { OutputStream, type CommandResult, type RunChallengeResponse } from '../../common/gen/polarise/v1/miner.js';
import { OUTPUT_CHUNK_BYTES } from '../../common/message-limits.js';
import { StreamCapture, utf8Tail } from '../../miner/challenges/bounded-capture.js';
import { EventWriter } from '../../miner/challenges/event-writer.js';
import { buildResult } from '../../miner/challenges/challenge-result.js';
import type { EventSink } from '../../miner/server/handlers.js';
import { MAX_JOINED_OUTPUT_BYTES, OutputJoin } from '../../validator/output-join.js';
import { parseProbeOutput } from '../../validator/challenges/probe-output.js';

const sha = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

describe('output capture (miner, pure)', () => {
  it('counts and hashes every byte, keeps only the tail, and says when the tail is not the whole stream', () => {
    const data = Buffer.from(randomBytes(100_000).map((b) => 0x61 + (b % 26))); // ASCII letters
    const c = new StreamCapture(1000, 10_000);
    for (let at = 0; at < data.length; at += 777) c.append(data.subarray(at, at + 777));
    const t = c.finish();
    expect(t.bytes).to.equal(100_000);
    expect(t.sha256.equals(sha(data))).to.equal(true);
    expect(t.text).to.equal(data.subarray(99_000).toString('latin1'));
    expect(t.whole).to.equal(false);
    expect(c.passedLiveLimit).to.equal(true);
  });

  it('a short stream is whole; live output stops at the live bound while counting goes on', () => {
    const c = new StreamCapture(1000, 10);
    expect(c.append(Buffer.from('hello ')).toString()).to.equal('hello ');
    expect(c.append(Buffer.from('world!')).toString()).to.equal('worl');
    expect(c.append(Buffer.from('more')).length).to.equal(0);
    const t = c.finish();
    expect(t).to.deep.include({ text: 'hello world!more', bytes: 16, whole: true });
    // Bytes after the result was built are not counted.
    expect(c.append(Buffer.from('late')).length).to.equal(0);
    expect(c.finish().bytes).to.equal(16);
  });

  it('the tail never starts inside a character and never encodes above the bound, even for invalid bytes', () => {
    expect(utf8Tail(Buffer.from('aöb'), 2)).to.deep.equal({ text: 'b', cut: true }); // 'ö' cut in half: dropped
    expect(utf8Tail(Buffer.from('aöb'), 3)).to.deep.equal({ text: 'öb', cut: true });
    expect(utf8Tail(Buffer.from('aöb'), 4)).to.deep.equal({ text: 'aöb', cut: false });
    const invalid = Buffer.alloc(300, 0xff); // each byte decodes to U+FFFD, 3 bytes
    const t = utf8Tail(invalid, 300);
    expect(Buffer.byteLength(t.text)).to.be.at.most(300);
    expect(t.cut).to.equal(true);
  });

  it('the result states counts and digests of the whole streams', () => {
    const digest = sha(Buffer.from('x'));
    const r = buildResult({
      cancelled: false, timedOut: false, exitCode: 0, stdout: 'x', stderr: '', outputTruncated: false, oomKilled: false,
      wallNs: 1, cpuTimeNs: 1, peakCpu: 0, peakMemory: 0, memoryLimit: 0, sampleCount: 0, expectedCpu: 0,
      streams: { stdout: { bytes: 1, sha256: digest }, stderr: { bytes: 0, sha256: sha(Buffer.alloc(0)) } },
    });
    expect(r.commandResult).to.deep.include({ stdoutBytes: 1, stderrBytes: 0, stdoutSha256: digest });
  });
});

describe('event writer: output chunks are bounded', () => {
  it('splits a piece larger than OUTPUT_CHUNK_BYTES into chunks of at most that size, in order', async () => {
    const events: RunChallengeResponse[] = [];
    const sink: EventSink = { signal: new AbortController().signal, send: async (e) => void events.push(e) };
    const writer = new EventWriter(sink, { outputBufferBytes: 4 * 1024 * 1024 });
    const big = randomBytes(2 * OUTPUT_CHUNK_BYTES + 5);
    writer.offerOutput(OutputStream.OUTPUT_STREAM_STDOUT, big);
    await writer.flush();
    const chunks = events.map((e) => (e.event?.$case === 'output' ? e.event.value.data : Buffer.alloc(0)));
    expect(chunks.map((c) => c.length)).to.deep.equal([OUTPUT_CHUNK_BYTES, OUTPUT_CHUNK_BYTES, 5]);
    expect(Buffer.concat(chunks).equals(big)).to.equal(true);
  });
});

describe('output join (validator, pure)', () => {
  const stdout = Buffer.from('{"type":"noop"}\n');
  const result = (over: Partial<CommandResult> = {}): CommandResult => ({
    status: 1, exitCode: 0, output: 'tail', outputTruncated: true, stderr: '', oomKilled: false,
    stdoutBytes: stdout.length, stderrBytes: 0, stdoutSha256: sha(stdout), stderrSha256: sha(Buffer.alloc(0)), ...over,
  });
  const joined = (chunks: Buffer[], r: CommandResult) => {
    const j = new OutputJoin();
    for (const data of chunks) j.add({ stream: OutputStream.OUTPUT_STREAM_STDOUT, data });
    return j.finish(r);
  };

  it('takes the joined chunks, not the result\'s tail, when counts and digests match', () => {
    const out = joined([stdout.subarray(0, 5), stdout.subarray(5)], result());
    expect(out).to.deep.equal({ stdout: stdout.toString(), stderr: '' });
  });

  it('a missing chunk, a changed byte or a wrong count is a problem, and the proof reading it a finding', () => {
    expect(joined([stdout.subarray(0, 5)], result()).problem).to.match(/^stdout: received 5 bytes in chunks, the result states 16$/);
    const changed = Buffer.from(stdout);
    changed[2] = changed[2]! ^ 1;
    expect(joined([changed], result()).problem).to.match(/stdout: the 16 bytes received do not match the result's SHA-256/);
    const out = joined([stdout], result({ stderrBytes: 3 }));
    expect(out.problem).to.match(/^stderr: received 0 bytes/);
    const parsed = parseProbeOutput('cpu open', { exitCode: 0, ...out, samples: [], elapsedMs: 1, timedOut: false, transferProblem: out.problem });
    expect(parsed.findings).to.deep.equal(['cpu open: output not received whole: stderr: received 0 bytes in chunks, the result states 3']);
  });

  it('a miner before contract 1.2.0 (no digests) is taken at its result\'s output', () => {
    expect(joined([], result({ stdoutSha256: Buffer.alloc(0), stderrSha256: Buffer.alloc(0), output: 'old' }))).to.deep.equal({ stdout: 'old', stderr: '' });
  });

  it('keeps at most MAX_JOINED_OUTPUT_BYTES of a stream', () => {
    const j = new OutputJoin();
    const piece = Buffer.alloc(16 * 1024 * 1024, 0x61);
    for (let i = 0; i < 5; i++) j.add({ stream: OutputStream.OUTPUT_STREAM_STDOUT, data: piece });
    const out = j.finish(result({ stdoutBytes: 5 * piece.length }));
    expect(out.stdout.length).to.equal(MAX_JOINED_OUTPUT_BYTES);
    expect(out.problem).to.match(/more than the validator takes/);
  });
});
