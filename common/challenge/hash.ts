import { createHash } from 'node:crypto';

export function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

/** Merkle leaf: SHA-256(0x00 || data). */
export function merkleLeaf(data: Uint8Array): Buffer {
  return sha256(LEAF, data);
}

/** Merkle node: SHA-256(0x01 || left || right). */
export function merkleNode(left: Uint8Array, right: Uint8Array): Buffer {
  return sha256(NODE, left, right);
}

/** Root over leaf hashes; a node without a sibling moves up unchanged. */
export function merkleRoot(leaves: Buffer[]): Buffer {
  if (leaves.length === 0) throw new RangeError('merkleRoot: no leaves');
  let level = leaves;
  while (level.length > 1) {
    const up: Buffer[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) up.push(merkleNode(level[i]!, level[i + 1]!));
    if (level.length % 2 === 1) up.push(level[level.length - 1]!);
    level = up;
  }
  return level[0]!;
}

/** How many sibling hashes the path of leaf `index` in a tree of `leaves` has. */
export function merklePathLength(leaves: number, index: number): number {
  let count = 0;
  for (let w = leaves, i = index; w > 1; w = Math.ceil(w / 2), i = Math.floor(i / 2)) if ((i ^ 1) < w) count++;
  return count;
}

/** Root implied by a leaf hash and its siblings (in the order the probe writes them). */
export function merkleRootFromPath(leafHash: Buffer, index: number, leaves: number, siblings: Buffer[]): Buffer {
  let h = leafHash;
  let k = 0;
  for (let w = leaves, i = index; w > 1; w = Math.ceil(w / 2), i = Math.floor(i / 2)) {
    const sib = i ^ 1;
    if (sib >= w) continue;
    const s = siblings[k++];
    if (!s) throw new RangeError('merkle path too short');
    h = i & 1 ? merkleNode(s, h) : merkleNode(h, s);
  }
  return h;
}
