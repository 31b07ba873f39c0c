/** SHA-256 and the Merkle tree both challenges commit with (docs/verification.md, "Compute challenge": leaf and node hashing). */
import * as nodeCrypto from 'node:crypto';
import { createHash } from 'node:crypto';

// One-shot hashing (Node ≥ 20.12) saves a Hash object per call: Merkle trees make thousands.
const oneShot = (nodeCrypto as { hash?: (alg: string, data: Uint8Array, enc: 'buffer') => Buffer }).hash;

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
  const node = Buffer.alloc(65);
  node[0] = 1;
  const hashNode = (l: Uint8Array, r: Uint8Array): Buffer => {
    if (!oneShot) return merkleNode(l, r);
    node.set(l, 1);
    node.set(r, 33);
    return oneShot('sha256', node, 'buffer');
  };
  let level = leaves;
  while (level.length > 1) {
    const up: Buffer[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) up.push(hashNode(level[i]!, level[i + 1]!));
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
