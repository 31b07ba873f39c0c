#ifndef PROBE_MEMFILL_H
#define PROBE_MEMFILL_H
#include <stddef.h>
#include <stdint.h>

/* The memory challenge's data: N blocks of MEM_BLOCK bytes in `lanes` equal
 * chains (lanes) filled in parallel; lane l holds blocks [l*B, (l+1)*B).
 *   L[l*B] = ChaCha20 stream of SHA-256("polarise/mem/v1" || seed), from
 *            block counter 16*l (lane 0 is the single-lane fill's first block)
 *   L[i] = G(L[i-1], L[parent(i)], i), parent(i) = s + (words 0,1 of L[i-1]
 *          mod (i - s)) with s the first block of i's lane
 * G mixes all 256 words of X^Y (rows then columns of ChaCha double rounds,
 * MEM_G_ROUNDS times) so no output word is available before the whole block
 * has been computed. */
#define MEM_BLOCK 1024
#define MEM_WORDS (MEM_BLOCK / 4)
#define MEM_LINE 64
#define MEM_LINES (MEM_BLOCK / MEM_LINE)
#define MEM_G_ROUNDS 2
#define MEM_WALK_DOUBLE_ROUNDS 4

#define MEM_MAX_LANES 64
void mem_first_block(const uint8_t *seed, size_t seedlen, uint64_t lane, uint32_t out[MEM_WORDS]);
/* The first block of i's lane (lane_blocks = B). */
uint64_t mem_lane_start(uint64_t i, uint64_t lane_blocks);
/* parent(i) for i not the first block of its lane. */
uint64_t mem_parent(const uint32_t prev[MEM_WORDS], uint64_t i, uint64_t lane_blocks);
void mem_g(const uint32_t x[MEM_WORDS], const uint32_t y[MEM_WORDS], uint64_t i, uint32_t out[MEM_WORDS]);
/* Whole fill into buf (nblocks * MEM_BLOCK bytes, nblocks a multiple of lanes), one thread per lane. */
void mem_fill(const uint8_t *seed, size_t seedlen, uint8_t *buf, uint64_t nblocks, uint64_t lanes);

/* The open phase's walk: a 16-word state; each step reads one 64-byte line of
 * a block chosen by the state and mixes it in: s ^= line; s += ChaCha8 rounds of s. */
void mem_walk_init(const uint8_t *nonce, size_t noncelen, const uint8_t root[32], uint32_t s[16]);
uint64_t mem_walk_block(const uint32_t s[16], uint64_t nblocks);
void mem_walk_step(uint32_t s[16], const uint32_t block[MEM_WORDS]);

#endif
