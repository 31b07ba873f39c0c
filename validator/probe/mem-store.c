#define _GNU_SOURCE
#include "mem-store.h"
#include "memfill.h"
#include "util.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint32_t *mapped;

static uint8_t *map_data(const char *dir, uint64_t nblocks, int create) {
  char path[4200];
  snprintf(path, sizeof path, "%s/data.bin", dir);
  int fd = open(path, create ? O_RDWR | O_CREAT | O_TRUNC : O_RDONLY, 0600);
  if (fd < 0) die_fail("cannot open %s: %s", path, strerror(errno));
  size_t bytes = (size_t)nblocks * MEM_BLOCK;
  if (create && ftruncate(fd, (off_t)bytes) < 0) die_fail("cannot size %s: %s", path, strerror(errno));
  if (!create && lseek(fd, 0, SEEK_END) != (off_t)bytes) die_fail("%s has the wrong size", path);
  void *p = mmap(NULL, bytes, create ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED) die_fail("cannot map %s: %s", path, strerror(errno));
  return p;
}

uint8_t *store_fill_buffer(const char *dir, uint64_t nblocks) { return map_data(dir, nblocks, 1); }

void store_keep(const char *dir, uint8_t *buf, uint64_t nblocks, const uint8_t *seed, uint64_t seedlen) {
  (void)dir; (void)seed; (void)seedlen;
  munmap(buf, (size_t)nblocks * MEM_BLOCK);
}

void store_load(const char *dir, uint64_t nblocks, uint64_t lane_blocks, const uint8_t *seed, uint64_t seedlen) {
  (void)seed; (void)seedlen; (void)lane_blocks;
  mapped = (uint32_t *)map_data(dir, nblocks, 0);
}

const uint32_t *store_block(uint64_t i, uint32_t *scratch) {
  (void)scratch;
  return mapped + i * MEM_WORDS;
}
