#include "memfill.h"
#include "chacha.h"
#include "sha256.h"
#include "util.h"
#include <pthread.h>
#include <string.h>

void mem_first_block(const uint8_t *seed, size_t seedlen, uint64_t lane, uint32_t out[MEM_WORDS]) {
  static const uint8_t nonce[12] = {0};
  uint8_t key[32];
  sha256_ctx c;
  sha256_init(&c);
  sha256_update(&c, "polarise/mem/v1", 15);
  sha256_update(&c, seed, seedlen);
  sha256_final(&c, key);
  chacha20_stream(key, nonce, (uint32_t)(lane * (MEM_BLOCK / 64)), (uint8_t *)out, MEM_BLOCK);
}

uint64_t mem_lane_start(uint64_t i, uint64_t lane_blocks) { return i - i % lane_blocks; }

uint64_t mem_parent(const uint32_t prev[MEM_WORDS], uint64_t i, uint64_t lane_blocks) {
  uint64_t r = (uint64_t)prev[0] | (uint64_t)prev[1] << 32;
  uint64_t s = mem_lane_start(i, lane_blocks);
  return s + r % (i - s);
}

void mem_g(const uint32_t x[MEM_WORDS], const uint32_t y[MEM_WORDS], uint64_t i, uint32_t out[MEM_WORDS]) {
  uint32_t z[MEM_WORDS], t[16];
  for (int k = 0; k < MEM_WORDS; k++) z[k] = x[k] ^ y[k];
  z[0] ^= (uint32_t)i;
  z[1] ^= (uint32_t)(i >> 32);
  memcpy(out, z, sizeof z);
  for (int r = 0; r < MEM_G_ROUNDS; r++) {
    for (int row = 0; row < 16; row++) chacha_double_round(out + 16 * row);
    for (int col = 0; col < 16; col++) {
      for (int k = 0; k < 16; k++) t[k] = out[16 * k + col];
      chacha_double_round(t);
      for (int k = 0; k < 16; k++) out[16 * k + col] = t[k];
    }
  }
  for (int k = 0; k < MEM_WORDS; k++) out[k] += z[k];
}

typedef struct {
  const uint8_t *seed;
  size_t seedlen;
  uint32_t *b;
  uint64_t lane, lane_blocks;
} lane_job;

static void *fill_lane(void *arg) {
  const lane_job *j = arg;
  uint64_t s = j->lane * j->lane_blocks;
  mem_first_block(j->seed, j->seedlen, j->lane, j->b + s * MEM_WORDS);
  for (uint64_t i = s + 1; i < s + j->lane_blocks; i++) {
    const uint32_t *prev = j->b + (i - 1) * MEM_WORDS;
    mem_g(prev, j->b + mem_parent(prev, i, j->lane_blocks) * MEM_WORDS, i, j->b + i * MEM_WORDS);
  }
  return NULL;
}

void mem_fill(const uint8_t *seed, size_t seedlen, uint8_t *buf, uint64_t nblocks, uint64_t lanes) {
  lane_job jobs[MEM_MAX_LANES];
  pthread_t threads[MEM_MAX_LANES];
  for (uint64_t l = 0; l < lanes; l++) {
    jobs[l] = (lane_job){seed, seedlen, (uint32_t *)buf, l, nblocks / lanes};
    if (l > 0 && pthread_create(&threads[l], NULL, fill_lane, &jobs[l]) != 0) die_fail("cannot start a fill thread");
  }
  fill_lane(&jobs[0]);
  for (uint64_t l = 1; l < lanes; l++) pthread_join(threads[l], NULL);
}

void mem_walk_init(const uint8_t *nonce, size_t noncelen, const uint8_t root[32], uint32_t s[16]) {
  static const uint8_t zero[12] = {0};
  uint8_t key[32];
  sha256_ctx c;
  sha256_init(&c);
  sha256_update(&c, "polarise/mem/walk/v1", 20);
  sha256_update(&c, root, 32);
  sha256_update(&c, nonce, noncelen);
  sha256_final(&c, key);
  chacha20_stream(key, zero, 0, (uint8_t *)s, 64);
}

uint64_t mem_walk_block(const uint32_t s[16], uint64_t nblocks) {
  return ((uint64_t)s[0] | (uint64_t)s[1] << 32) % nblocks;
}

void mem_walk_step(uint32_t s[16], const uint32_t block[MEM_WORDS]) {
  const uint32_t *line = block + (s[2] % MEM_LINES) * 16;
  uint32_t x[16];
  for (int k = 0; k < 16; k++) x[k] = s[k] ^= line[k];
  for (int r = 0; r < MEM_WALK_DOUBLE_ROUNDS; r++) chacha_double_round(x);
  for (int k = 0; k < 16; k++) s[k] += x[k];
}
