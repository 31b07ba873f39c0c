#ifndef PROBE_MEM_STORE_H
#define PROBE_MEM_STORE_H
#include <stdint.h>

/* Where the memory challenge's blocks live between commit and open. The
 * honest store (mem-store.c) keeps every block in <state>/data.bin, a tmpfs
 * file charged to the container's memory cgroup; the test cheaters under
 * test/fixtures/cheaters/ keep only part of it and recompute the rest. */
uint8_t *store_fill_buffer(const char *dir, uint64_t nblocks);
void store_keep(const char *dir, uint8_t *buf, uint64_t nblocks, const uint8_t *seed, uint64_t seedlen);
void store_load(const char *dir, uint64_t nblocks, uint64_t lane_blocks, const uint8_t *seed, uint64_t seedlen);
/* Block i: a pointer into the store, or into scratch (MEM_BLOCK bytes). */
const uint32_t *store_block(uint64_t i, uint32_t *scratch);

#endif
