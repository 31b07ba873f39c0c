#ifndef PROBE_MERKLE_H
#define PROBE_MERKLE_H
#include <stddef.h>
#include <stdint.h>

/* Merkle tree: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || l || r);
 * a node without a sibling moves up a level unchanged. */
void merkle_leaf(const void *data, size_t n, uint8_t out[32]);
/* Number of hashes stored for all levels of a tree over `leaves` leaves. */
size_t merkle_tree_size(size_t leaves);
/* tree[0..leaves) must hold the leaf hashes; fills the levels above. Root is last. */
void merkle_build(uint8_t (*tree)[32], size_t leaves);
/* Sibling hashes from leaf `index` up to the root; returns the count written. */
size_t merkle_path(uint8_t (*tree)[32], size_t leaves, size_t index, uint8_t (*out)[32]);
size_t merkle_depth(size_t leaves);

#endif
