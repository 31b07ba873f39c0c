/* probe mem commit|open|prove|clean: the memory challenge, prover side. */
#define _GNU_SOURCE
#include "mem.h"
#include "mem-store.h"
#include "memfill.h"
#include "merkle.h"
#include "util.h"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MIB (1024ull * 1024ull)
#define MAX_SEGMENTS 64
#define MAX_CHECKS 256

typedef struct {
  uint8_t seed[64];
  size_t seedlen;
  char dir[4096];
} mem_ctx;

static void ctx_from_opts(opts_t *o, mem_ctx *m) {
  opt_hex(o, "seed", m->seed, 16, 64, &m->seedlen);
  const char *base = opt_str(o, "state");
  state_dir(m->dir, sizeof m->dir, base ? base : "/dev/shm", "mem", m->seed, m->seedlen);
}

static void path_in(const mem_ctx *m, const char *name, char *out, size_t cap) { snprintf(out, cap, "%s/%s", m->dir, name); }

static uint64_t read_meta(const mem_ctx *m, const char *name, uint64_t *second) {
  char path[4200];
  size_t len;
  path_in(m, name, path, sizeof path);
  char *s = read_file(path, &len);
  if (!s) die_fail("no state file %s (run the earlier phase first)", path);
  s[len] = 0;
  unsigned long long a, b;
  if (sscanf(s, "%llu %llu", &a, &b) != 2) die_fail("corrupt state file %s", path);
  free(s);
  *second = b;
  return a;
}

static void write_meta(const mem_ctx *m, const char *name, uint64_t a, uint64_t b) {
  char path[4200], text[64];
  path_in(m, name, path, sizeof path);
  int len = snprintf(text, sizeof text, "%llu %llu\n", (unsigned long long)a, (unsigned long long)b);
  if (write_file(path, text, (size_t)len) < 0) die_fail("cannot write %s: %s", path, strerror(errno));
}

typedef struct {
  const uint8_t *buf;
  uint8_t (*tree)[32];
  uint64_t from, to;
} leaf_job;

static void *hash_leaves(void *arg) {
  const leaf_job *j = arg;
  for (uint64_t i = j->from; i < j->to; i++) merkle_leaf(j->buf + i * MEM_BLOCK, MEM_BLOCK, j->tree[i]);
  return NULL;
}

/* The Merkle leaves of every block, one thread per lane. */
static void hash_all_leaves(const uint8_t *buf, uint8_t (*tree)[32], uint64_t nblocks, uint64_t lanes) {
  leaf_job jobs[MEM_MAX_LANES];
  pthread_t threads[MEM_MAX_LANES];
  for (uint64_t l = 0; l < lanes; l++) {
    jobs[l] = (leaf_job){buf, tree, nblocks / lanes * l, nblocks / lanes * (l + 1)};
    if (l > 0 && pthread_create(&threads[l], NULL, hash_leaves, &jobs[l]) != 0) die_fail("cannot start a hashing thread");
  }
  hash_leaves(&jobs[0]);
  for (uint64_t l = 1; l < lanes; l++) pthread_join(threads[l], NULL);
}

/* nblocks / lanes: the blocks of one lane, from the commit's state. */
static uint64_t lane_blocks_of(const mem_ctx *m, uint64_t nblocks) {
  uint64_t unused;
  return nblocks / read_meta(m, "lanes", &unused);
}

static int mem_commit(opts_t *o) {
  mem_ctx m;
  uint64_t size, lanes;
  ctx_from_opts(o, &m);
  opt_u64(o, "size", UINT64_MAX, MIB, 1ull << 40, &size);
  opt_u64(o, "lanes", 1, 1, MEM_MAX_LANES, &lanes);
  opts_check_unused(o);
  if (size % MIB) die_usage("--size: %llu is not a multiple of 1 MiB", (unsigned long long)size);
  uint64_t nblocks = size / MEM_BLOCK;
  if (nblocks % lanes) die_usage("--lanes: %llu does not divide %llu blocks", (unsigned long long)lanes, (unsigned long long)nblocks);
  remove_tree(m.dir);
  if (mkdir(m.dir, 0700) < 0) die_fail("cannot create state directory %s: %s", m.dir, strerror(errno));

  double t0 = now_ms();
  uint8_t *buf = store_fill_buffer(m.dir, nblocks);
  mem_fill(m.seed, m.seedlen, buf, nblocks, lanes);
  double t1 = now_ms();
  size_t tsize = merkle_tree_size(nblocks);
  uint8_t (*tree)[32] = xmalloc(tsize * 32);
  hash_all_leaves(buf, tree, nblocks, lanes);
  merkle_build(tree, nblocks);
  double t2 = now_ms();
  char path[4200], hex[65];
  path_in(&m, "tree.bin", path, sizeof path);
  if (write_file(path, tree, tsize * 32) < 0) die_fail("cannot write %s: %s", path, strerror(errno));
  hex_encode(tree[tsize - 1], 32, hex);
  free(tree);
  store_keep(m.dir, buf, nblocks, m.seed, m.seedlen);
  write_meta(&m, "meta", size, nblocks);
  write_meta(&m, "lanes", lanes, 0);
  printf("{\"type\":\"mem-commit\",\"size\":%llu,\"blocks\":%llu,\"block_bytes\":%d,\"lanes\":%llu,\"root\":\"%s\","
         "\"fill_ms\":%.1f,\"hash_ms\":%.1f}\n",
         (unsigned long long)size, (unsigned long long)nblocks, MEM_BLOCK, (unsigned long long)lanes, hex, t1 - t0, t2 - t1);
  print_rusage("mem-commit");
  return 0;
}

static uint8_t (*load_tree(const mem_ctx *m, const char *name, size_t leaves))[32] {
  char path[4200];
  size_t len;
  path_in(m, name, path, sizeof path);
  uint8_t (*tree)[32] = read_file(path, &len);
  if (!tree || len != merkle_tree_size(leaves) * 32) die_fail("missing or corrupt %s", path);
  return tree;
}

static int mem_open(opts_t *o) {
  mem_ctx m;
  uint8_t nonce[64];
  size_t noncelen;
  uint64_t steps, interval, nblocks;
  ctx_from_opts(o, &m);
  opt_hex(o, "nonce", nonce, 16, 64, &noncelen);
  opt_u64(o, "steps", 1u << 20, 1, 1u << 28, &steps);
  opt_u64(o, "interval", 64, 1, 4096, &interval);
  opts_check_unused(o);
  if (steps % interval) die_usage("--steps must be a multiple of --interval");
  read_meta(&m, "meta", &nblocks);
  uint8_t (*tree)[32] = load_tree(&m, "tree.bin", nblocks);
  uint8_t root[32];
  memcpy(root, tree[merkle_tree_size(nblocks) - 1], 32);
  free(tree);

  uint64_t lane_blocks = lane_blocks_of(&m, nblocks);
  double t0 = now_ms();
  store_load(m.dir, nblocks, lane_blocks, m.seed, m.seedlen);
  uint64_t points = steps / interval + 1;
  uint32_t (*cp)[16] = xmalloc(points * 64);
  uint32_t s[16], scratch[MEM_WORDS];
  mem_walk_init(nonce, noncelen, root, s);
  memcpy(cp[0], s, 64);
  for (uint64_t t = 1; t <= steps; t++) {
    mem_walk_step(s, store_block(mem_walk_block(s, nblocks), scratch));
    if (t % interval == 0) memcpy(cp[t / interval], s, 64);
  }
  double t1 = now_ms();
  uint8_t (*ttree)[32] = xmalloc(merkle_tree_size(points) * 32);
  for (uint64_t j = 0; j < points; j++) merkle_leaf(cp[j], 64, ttree[j]);
  merkle_build(ttree, points);
  char path[4200], hex[65], fin[129];
  path_in(&m, "trace.bin", path, sizeof path);
  if (write_file(path, cp, points * 64) < 0) die_fail("cannot write %s", path);
  write_meta(&m, "walk", steps, interval);
  hex_encode(ttree[merkle_tree_size(points) - 1], 32, hex);
  hex_encode((uint8_t *)s, 64, fin);
  printf("{\"type\":\"mem-open\",\"steps\":%llu,\"interval\":%llu,\"checkpoints\":%llu,\"trace_root\":\"%s\","
         "\"final\":\"%s\",\"walk_ms\":%.1f}\n",
         (unsigned long long)steps, (unsigned long long)interval, (unsigned long long)points, hex, fin, t1 - t0);
  print_rusage("mem-open");
  free(cp);
  free(ttree);
  return 0;
}

/* Appends block i and its Merkle path to the proof buffer. */
typedef struct { uint8_t *p; size_t len, cap; } bytes_t;
static void put(bytes_t *b, const void *d, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2;
    b->p = realloc(b->p, b->cap);
    if (!b->p) die_fail("out of memory");
  }
  memcpy(b->p + b->len, d, n);
  b->len += n;
}
static void put_path(bytes_t *b, uint8_t (*tree)[32], size_t leaves, size_t i) {
  uint8_t path[64][32];
  size_t k = merkle_path(tree, leaves, i, path);
  put(b, path, k * 32);
}
static const uint32_t *put_block(bytes_t *b, uint8_t (*tree)[32], uint64_t nblocks, uint64_t i, uint32_t *scratch) {
  const uint32_t *blk = store_block(i, scratch);
  put(b, blk, MEM_BLOCK);
  put_path(b, tree, nblocks, i);
  return blk;
}
static void emit(const char *type, const char *key, uint64_t value, bytes_t *b) {
  char *b64 = base64_encode(b->p, b->len);
  printf("{\"type\":\"%s\",\"%s\":%llu,\"proof\":\"%s\"}\n", type, key, (unsigned long long)value, b64);
  free(b64);
  b->len = 0;
}

static int mem_prove(opts_t *o) {
  mem_ctx m;
  uint64_t nblocks, steps, interval, keep, segs[MAX_SEGMENTS], checks[MAX_CHECKS];
  int nsegs, nchecks;
  ctx_from_opts(o, &m);
  /* --keep 1: leave the filled data for another open (the validator retests a slow walk). */
  opt_u64(o, "keep", 0, 0, 1, &keep);
  opt_list(o, "segments", segs, MAX_SEGMENTS, UINT64_MAX, &nsegs); /* syntax first, ranges below */
  opt_list(o, "blocks", checks, MAX_CHECKS, UINT64_MAX, &nchecks);
  opts_check_unused(o);
  read_meta(&m, "meta", &nblocks);
  steps = read_meta(&m, "walk", &interval);
  uint64_t points = steps / interval + 1;
  opt_list(o, "segments", segs, MAX_SEGMENTS, points - 1, &nsegs);
  opt_list(o, "blocks", checks, MAX_CHECKS, nblocks, &nchecks);
  opts_check_unused(o);
  if (!nsegs && !nchecks) die_usage("mem prove: give --segments and/or --blocks");

  uint8_t (*tree)[32] = load_tree(&m, "tree.bin", nblocks);
  char path[4200];
  size_t len;
  path_in(&m, "trace.bin", path, sizeof path);
  uint32_t (*cp)[16] = read_file(path, &len);
  if (!cp || len != points * 64) die_fail("missing or corrupt %s", path);
  uint8_t (*ttree)[32] = xmalloc(merkle_tree_size(points) * 32);
  for (uint64_t j = 0; j < points; j++) merkle_leaf(cp[j], 64, ttree[j]);
  merkle_build(ttree, points);
  uint64_t lane_blocks = lane_blocks_of(&m, nblocks);
  store_load(m.dir, nblocks, lane_blocks, m.seed, m.seedlen);

  bytes_t b = {0};
  uint32_t scratch[MEM_WORDS], s[16];
  for (int k = 0; k < nsegs; k++) {
    uint64_t j = segs[k];
    put(&b, cp[j], 64);
    put_path(&b, ttree, points, j);
    put(&b, cp[j + 1], 64);
    put_path(&b, ttree, points, j + 1);
    memcpy(s, cp[j], 64);
    for (uint64_t t = 0; t < interval; t++) {
      const uint32_t *blk = put_block(&b, tree, nblocks, mem_walk_block(s, nblocks), scratch);
      mem_walk_step(s, blk);
    }
    emit("mem-segment", "segment", j, &b);
  }
  uint32_t prev[MEM_WORDS];
  for (int k = 0; k < nchecks; k++) {
    uint64_t i = checks[k];
    put_block(&b, tree, nblocks, i, scratch);
    if (i != mem_lane_start(i, lane_blocks)) {
      memcpy(prev, put_block(&b, tree, nblocks, i - 1, scratch), MEM_BLOCK);
      put_block(&b, tree, nblocks, mem_parent(prev, i, lane_blocks), scratch);
    }
    emit("mem-block", "index", i, &b);
  }
  free(b.p);
  if (!keep) remove_tree(m.dir);
  printf("{\"type\":\"mem-prove-done\",\"segments\":%d,\"blocks\":%d}\n", nsegs, nchecks);
  print_rusage("mem-prove");
  return 0;
}

static int mem_clean(opts_t *o) {
  mem_ctx m;
  ctx_from_opts(o, &m);
  opts_check_unused(o);
  struct stat st;
  int existed = stat(m.dir, &st) == 0;
  remove_tree(m.dir);
  printf("{\"type\":\"mem-clean\",\"removed\":%s}\n", existed ? "true" : "false");
  return 0;
}

int mem_main(int argc, char **argv) {
  if (argc < 1) die_usage("mem: expected 'commit', 'open', 'prove' or 'clean'");
  opts_t o;
  opts_parse(&o, argc - 1, argv + 1);
  if (!strcmp(argv[0], "commit")) return mem_commit(&o);
  if (!strcmp(argv[0], "open")) return mem_open(&o);
  if (!strcmp(argv[0], "prove")) return mem_prove(&o);
  if (!strcmp(argv[0], "clean")) return mem_clean(&o);
  die_usage("mem: unknown action '%s'", argv[0]);
}
