import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chacha20Stream } from '../../common/challenge/chacha.js';
import { merkleLeaf, merkleRoot, merkleRootFromPath, sha256 } from '../../common/challenge/hash.js';
import { chainProductMod, encodeU24, seededMatrix } from '../../common/challenge/matrix.js';
import { MEM_BLOCK, fillBlocks, walkBlockIndex, walkInit, walkStep, wordBytes } from '../../common/challenge/memfill.js';
import { buildProbe, probePath } from '../fixtures/probe-executors.js';

interface Golden {
  sha256: { hex: string; digest: string }[];
  chacha20: { key: string; nonce: string; counter: number; length: number; stream: string }[];
  matrixRow: { seed: string; n: number; worker: number; matrix: number; row: number; first: number[]; sha256: string }[];
  cpuCommit: { seed: string; n: number; workers: number; modulus: number; factors: number; roots: string[] }[];
  memBlock: { seed: string; index: number; parent: number; sha256: string }[];
  memCommit: { seed: string; size: number; root: string }[];
  memWalk: { seed: string; size: number; nonce: string; steps: number; interval: number; traceRoot: string; final: string }[];
}

const golden: Golden = JSON.parse(readFileSync(new URL('../fixtures/golden/vectors.json', import.meta.url), 'utf8'));
const probe = (...args: string[]): Record<string, unknown>[] =>
  execFileSync(probePath(), args, { encoding: 'utf8', maxBuffer: 1 << 28 }).trim().split('\n').map((l) => JSON.parse(l));
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function tsMemTree(seed: string, size: number, lanes = 1): { blocks: Uint32Array[]; root: Buffer } {
  const blocks = fillBlocks(Buffer.from(seed, 'hex'), size / MEM_BLOCK, lanes);
  return { blocks, root: merkleRoot(blocks.map((b) => merkleLeaf(wordBytes(b)))) };
}

describe('golden vectors: C probe and TypeScript verifier agree', function () {
  this.timeout(120_000);
  let state: string;
  before(() => {
    buildProbe();
    state = mkdtempSync(join(tmpdir(), 'polarise-golden-'));
  });
  after(() => rmSync(state, { recursive: true, force: true }));

  it('SHA-256 (FIPS 180-4 vectors included)', () => {
    for (const v of golden.sha256) {
      expect(hex(sha256(Buffer.from(v.hex, 'hex'))), `TS ${v.hex}`).to.equal(v.digest);
      expect(probe('vector', 'sha256', '--hex', v.hex)[0]!.digest, `C ${v.hex}`).to.equal(v.digest);
    }
  });

  it('ChaCha20 (RFC 8439 vector)', () => {
    for (const v of golden.chacha20) {
      expect(hex(chacha20Stream(Buffer.from(v.key, 'hex'), Buffer.from(v.nonce, 'hex'), v.counter, v.length))).to.equal(v.stream);
      const c = probe('vector', 'chacha20', '--key', v.key, '--nonce', v.nonce, '--counter', String(v.counter), '--length', String(v.length));
      expect(c[0]!.stream).to.equal(v.stream);
    }
  });

  it('seeded matrix rows', () => {
    for (const v of golden.matrixRow) {
      const m = seededMatrix(Buffer.from(v.seed, 'hex'), v.worker, v.matrix, v.n);
      const row = m.subarray(v.row * v.n, (v.row + 1) * v.n);
      expect(Array.from(row.subarray(0, 4))).to.deep.equal(v.first);
      expect(hex(sha256(Buffer.from(row.buffer, row.byteOffset, row.byteLength)))).to.equal(v.sha256);
      const c = probe('vector', 'matrix-row', '--seed', v.seed, '--n', String(v.n), '--worker', String(v.worker), '--matrix', String(v.matrix), '--row', String(v.row));
      expect(c[0]!.first).to.deep.equal(v.first);
      expect(c[0]!.sha256).to.equal(v.sha256);
    }
  });

  it('cpu commit roots: the probe kernel equals a naive chain of products mod p', () => {
    for (const v of golden.cpuCommit) {
      const seed = Buffer.from(v.seed, 'hex');
      for (let w = 0; w < v.workers; w++) {
        const enc = encodeU24(chainProductMod(seed, w, v.factors, v.n, v.modulus));
        const leaves = Array.from({ length: v.n }, (_, i) => merkleLeaf(enc.subarray(3 * v.n * i, 3 * v.n * (i + 1))));
        expect(hex(merkleRoot(leaves)), `TS worker ${w}, ${v.factors} factors`).to.equal(v.roots[w]);
      }
      const recs = probe('cpu', 'commit', '--seed', v.seed, '--n', String(v.n), '--workers', String(v.workers), '--modulus', String(v.modulus), '--factors', String(v.factors), '--state', state);
      expect(recs.filter((r) => r.type === 'cpu-commit').map((r) => r.root), `probe, ${v.factors} factors`).to.deep.equal(v.roots);
      // The opened rows are the TypeScript product's rows, and their paths lead to the committed roots.
      const last = v.workers * v.n - 1;
      for (const row of probe('cpu', 'open', '--seed', v.seed, '--rows', `0,${last}`, '--state', state).filter((r) => r.type === 'cpu-row')) {
        const w = Math.floor(Number(row.index) / v.n), i = Number(row.index) % v.n;
        const bytes = encodeU24(chainProductMod(seed, w, v.factors, v.n, v.modulus).subarray(i * v.n, (i + 1) * v.n));
        expect(row.c, `row ${row.index}`).to.equal(bytes.toString('base64'));
        const path = Buffer.from(String(row.path), 'base64');
        const siblings = Array.from({ length: path.length / 32 }, (_, k) => path.subarray(32 * k, 32 * k + 32));
        expect(hex(merkleRootFromPath(merkleLeaf(bytes), i, v.n, siblings))).to.equal(v.roots[w]);
      }
    }
  });

  it('memory blocks, fill root and walk', () => {
    for (const v of golden.memBlock) {
      const blocks = fillBlocks(Buffer.from(v.seed, 'hex'), v.index + 1);
      expect(hex(sha256(wordBytes(blocks[v.index]!)))).to.equal(v.sha256);
      const c = probe('vector', 'mem-block', '--seed', v.seed, '--index', String(v.index))[0]!;
      expect(c.sha256).to.equal(v.sha256);
      expect(c.parent).to.equal(v.parent);
    }
    for (const v of golden.memCommit) {
      expect(hex(tsMemTree(v.seed, v.size).root)).to.equal(v.root);
      const c = probe('mem', 'commit', '--seed', v.seed, '--size', String(v.size), '--state', state)[0]!;
      expect(c.root).to.equal(v.root);
      probe('mem', 'clean', '--seed', v.seed, '--state', state);
    }
    // Lanes: chains filled in parallel by threads; the probe and the verifier derive the same blocks.
    const seed = golden.memCommit[0]!.seed;
    for (const lanes of [2, 4, 64]) {
      const c = probe('mem', 'commit', '--seed', seed, '--size', String(2 ** 20), '--lanes', String(lanes), '--state', state)[0]!;
      expect(c.lanes).to.equal(lanes);
      expect(c.root, `${lanes} lanes`).to.equal(hex(tsMemTree(seed, 2 ** 20, lanes).root));
      expect(c.root).to.not.equal(hex(tsMemTree(seed, 2 ** 20, 1).root));
      probe('mem', 'clean', '--seed', seed, '--state', state);
    }
    for (const v of golden.memWalk) {
      const { blocks, root } = tsMemTree(v.seed, v.size);
      const s = walkInit(Buffer.from(v.nonce, 'hex'), root);
      const points = [merkleLeaf(wordBytes(s))];
      for (let t = 1; t <= v.steps; t++) {
        walkStep(s, blocks[walkBlockIndex(s, blocks.length)]!);
        if (t % v.interval === 0) points.push(merkleLeaf(wordBytes(s)));
      }
      expect(hex(wordBytes(s))).to.equal(v.final);
      expect(hex(merkleRoot(points))).to.equal(v.traceRoot);
      probe('mem', 'commit', '--seed', v.seed, '--size', String(v.size), '--state', state);
      const o = probe('mem', 'open', '--seed', v.seed, '--nonce', v.nonce, '--steps', String(v.steps), '--interval', String(v.interval), '--state', state)[0]!;
      expect(o.trace_root).to.equal(v.traceRoot);
      expect(o.final).to.equal(v.final);
      probe('mem', 'clean', '--seed', v.seed, '--state', state);
    }
  });
});
