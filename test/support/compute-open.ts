/** The prover's side of `cpu open` written in TypeScript for the verifier's unit tests: roots and opened rows of given products. */
import { merkleLeaf, merkleNode } from '../../common/challenge/hash.js';
import { encodeU24 } from '../../common/challenge/matrix.js';

/** Every level of the probe's Merkle tree over the rows of c (a node without a sibling moves up unchanged). */
function levels(c: Uint32Array, n: number): Buffer[][] {
  const enc = encodeU24(c);
  let level = Array.from({ length: n }, (_, i) => merkleLeaf(enc.subarray(3 * n * i, 3 * n * (i + 1))));
  const all = [level];
  while (level.length > 1) {
    const up: Buffer[] = [];
    for (let i = 0; i < level.length; i += 2) up.push(i + 1 < level.length ? merkleNode(level[i]!, level[i + 1]!) : level[i]!);
    all.push((level = up));
  }
  return all;
}

export const rootOf = (c: Uint32Array, n: number): Buffer => levels(c, n).at(-1)![0]!;

/** One `cpu-row` line per index (worker·n + row), as the probe prints it; `tamper` may change the row's bytes first. */
export function openLines(cs: Uint32Array[], n: number, indexes: number[], tamper?: (index: number, row: Buffer) => void): string {
  return indexes
    .map((index) => {
      const w = Math.floor(index / n), i = index % n;
      const tree = levels(cs[w]!, n);
      const siblings: Buffer[] = [];
      for (let d = 0, k = i; d < tree.length - 1; d++, k >>= 1) if ((k ^ 1) < tree[d]!.length) siblings.push(tree[d]![k ^ 1]!);
      const row = encodeU24(cs[w]!.subarray(i * n, (i + 1) * n));
      tamper?.(index, row);
      return JSON.stringify({ type: 'cpu-row', index, worker: w, row: i, c: row.toString('base64'), path: Buffer.concat(siblings).toString('base64') });
    })
    .join('\n');
}
