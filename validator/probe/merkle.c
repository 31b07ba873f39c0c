#include "merkle.h"
#include "sha256.h"
#include <string.h>

void merkle_leaf(const void *data, size_t n, uint8_t out[32]) {
  sha256_ctx c;
  uint8_t tag = 0;
  sha256_init(&c);
  sha256_update(&c, &tag, 1);
  sha256_update(&c, data, n);
  sha256_final(&c, out);
}

size_t merkle_tree_size(size_t leaves) {
  size_t total = 0;
  for (size_t w = leaves; ; w = (w + 1) / 2) { total += w; if (w == 1) break; }
  return total;
}

size_t merkle_depth(size_t leaves) {
  size_t d = 0;
  for (size_t w = leaves; w > 1; w = (w + 1) / 2) d++;
  return d;
}

void merkle_build(uint8_t (*tree)[32], size_t leaves) {
  uint8_t (*level)[32] = tree;
  for (size_t w = leaves; w > 1; w = (w + 1) / 2) {
    uint8_t (*up)[32] = level + w;
    for (size_t i = 0; i + 1 < w; i += 2) sha256_node(level[i], level[i + 1], up[i / 2]);
    if (w & 1) memcpy(up[w / 2], level[w - 1], 32);
    level = up;
  }
}

size_t merkle_path(uint8_t (*tree)[32], size_t leaves, size_t index, uint8_t (*out)[32]) {
  size_t count = 0;
  uint8_t (*level)[32] = tree;
  for (size_t w = leaves; w > 1; w = (w + 1) / 2) {
    size_t sib = index ^ 1;
    if (sib < w) memcpy(out[count++], level[sib], 32);
    level += w;
    index /= 2;
  }
  return count;
}
