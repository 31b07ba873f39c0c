/* probe cpu commit|open: the compute challenge, prover side. */
#define _GNU_SOURCE
#include "cpu.h"
#include "cpu-policy.h"
#include "matmul.h"
#include "merkle.h"
#include "util.h"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_WORKERS 256

typedef struct {
  matmul_job job;
  uint8_t root[32];
  double ms;
} worker_t;

static int is_prime(uint32_t p) {
  if (p < 2) return 0;
  for (uint32_t d = 2; d * d <= p; d++)
    if (p % d == 0) return 0;
  return 1;
}

/* Row encoding shared with the verifier: n little-endian 24-bit values. */
void cpu_encode_rows(const uint32_t *c, uint32_t n, uint8_t *out) {
  for (size_t x = 0; x < (size_t)n * n; x++) {
    out[3 * x] = (uint8_t)c[x];
    out[3 * x + 1] = (uint8_t)(c[x] >> 8);
    out[3 * x + 2] = (uint8_t)(c[x] >> 16);
  }
}

void cpu_rows_root(const uint8_t *enc, uint32_t n, uint8_t root[32]) {
  uint8_t (*tree)[32] = xmalloc(merkle_tree_size(n) * 32);
  for (uint32_t i = 0; i < n; i++) merkle_leaf(enc + (size_t)i * 3 * n, (size_t)3 * n, tree[i]);
  merkle_build(tree, n);
  memcpy(root, tree[merkle_tree_size(n) - 1], 32);
  free(tree);
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  double t0 = now_ms();
  matmul_run(&w->job);
  cpu_after_compute(w->job.c, w->job.n, w->job.p, w->job.worker);
  uint32_t n = w->job.n;
  uint8_t *enc = xmalloc((size_t)3 * n * n);
  cpu_encode_rows(w->job.c, n, enc);
  free(w->job.c);
  w->job.c = (uint32_t *)enc; /* keep the encoding for the state file */
  cpu_rows_root(enc, n, w->root);
  w->ms = now_ms() - t0;
  return NULL;
}

static int cpu_commit(opts_t *o) {
  uint8_t seed[64];
  size_t seedlen;
  uint64_t n, workers, p, factors;
  opt_hex(o, "seed", seed, 16, 64, &seedlen);
  opt_u64(o, "n", UINT64_MAX, MATMUL_MIN_N, MATMUL_MAX_N, &n);
  opt_u64(o, "factors", UINT64_MAX, MATMUL_MIN_FACTORS, MATMUL_MAX_FACTORS, &factors);
  opt_u64(o, "workers", UINT64_MAX, 1, MAX_WORKERS, &workers);
  opt_u64(o, "modulus", UINT64_MAX, 1u << 16, (1u << MATMUL_ENTRY_BITS) - 1, &p);
  const char *base = opt_str(o, "state");
  opts_check_unused(o);
  if (n % MATMUL_N_MULTIPLE) die_usage("--n: %llu is not a multiple of %d", (unsigned long long)n, MATMUL_N_MULTIPLE);
  if (!is_prime((uint32_t)p)) die_usage("--modulus: %llu is not prime", (unsigned long long)p);

  char dir[4096];
  state_dir(dir, sizeof dir, base ? base : "/dev/shm", "cpu", seed, seedlen);
  remove_tree(dir);
  if (mkdir(dir, 0700) < 0) die_fail("cannot create state directory %s: %s", dir, strerror(errno));

  double t0 = now_ms();
  worker_t *ws = calloc(workers, sizeof *ws);
  pthread_t *th = calloc(workers, sizeof *th);
  for (uint32_t w = 0; w < workers; w++) {
    ws[w].job = (matmul_job){.n = (uint32_t)n, .p = (uint32_t)p, .factors = (uint32_t)factors, .rows = cpu_rows_to_compute((uint32_t)n),
                             .seed = seed, .seedlen = seedlen, .worker = w,
                             .c = xmalloc((size_t)n * n * 4)};
    memset(ws[w].job.c, 0, (size_t)n * n * 4);
    if (pthread_create(&th[w], NULL, worker_main, &ws[w]) != 0) die_fail("cannot start worker thread %u", w);
  }
  for (uint32_t w = 0; w < workers; w++) pthread_join(th[w], NULL);
  double elapsed = now_ms() - t0;

  for (uint32_t w = 0; w < workers; w++) {
    char path[4200], hex[65];
    snprintf(path, sizeof path, "%s/c%u.bin", dir, w);
    if (write_file(path, ws[w].job.c, (size_t)3 * n * n) < 0) die_fail("cannot write %s: %s", path, strerror(errno));
    hex_encode(ws[w].root, 32, hex);
    printf("{\"type\":\"cpu-commit\",\"worker\":%u,\"root\":\"%s\",\"ms\":%.1f}\n", w, hex, ws[w].ms);
    free(ws[w].job.c);
  }
  char meta[128], path[4200];
  int len = snprintf(meta, sizeof meta, "%llu %llu %llu\n", (unsigned long long)n, (unsigned long long)workers,
                     (unsigned long long)p);
  snprintf(path, sizeof path, "%s/meta", dir);
  if (write_file(path, meta, (size_t)len) < 0) die_fail("cannot write %s", path);
  printf("{\"type\":\"cpu-commit-done\",\"n\":%llu,\"workers\":%llu,\"modulus\":%llu,\"factors\":%llu,\"kernel\":\"%s\","
         "\"elapsed_ms\":%.1f}\n",
         (unsigned long long)n, (unsigned long long)workers, (unsigned long long)p, (unsigned long long)factors,
         matmul_kernel_name(), elapsed);
  print_rusage("cpu-commit");
  free(ws);
  free(th);
  return 0;
}

#define MAX_OPEN_ROWS 256

/* Row `index` of the committed rows (worker = index / n, row = index % n) with its Merkle path. */
static void open_row(const uint8_t *enc, uint8_t (*tree)[32], uint64_t n, uint64_t index) {
  uint32_t row = (uint32_t)(index % n);
  uint8_t path[64][32];
  size_t depth = merkle_path(tree, n, row, path);
  char *c = base64_encode(enc + (size_t)row * 3 * n, (size_t)3 * n);
  char *p = base64_encode((const uint8_t *)path, depth * 32);
  printf("{\"type\":\"cpu-row\",\"index\":%llu,\"worker\":%llu,\"row\":%u,\"c\":\"%s\",\"path\":\"%s\"}\n",
         (unsigned long long)index, (unsigned long long)(index / n), row, c, p);
  free(c);
  free(p);
}

/* Opens the rows the validator named (after it saw the roots) and removes the state. */
static int cpu_open(opts_t *o) {
  uint8_t seed[64];
  size_t seedlen, len;
  uint64_t rows[MAX_OPEN_ROWS];
  int nrows;
  opt_hex(o, "seed", seed, 16, 64, &seedlen);
  const char *base = opt_str(o, "state");
  opt_list(o, "rows", rows, MAX_OPEN_ROWS, UINT64_MAX, &nrows); /* syntax first, range below */
  opts_check_unused(o);
  if (!nrows) die_usage("cpu open: give --rows");
  char dir[4096], path[4200];
  state_dir(dir, sizeof dir, base ? base : "/dev/shm", "cpu", seed, seedlen);
  snprintf(path, sizeof path, "%s/meta", dir);
  char *meta = read_file(path, &len);
  if (!meta) die_fail("no committed compute state at %s (run 'cpu commit' first)", dir);
  meta[len] = 0;
  unsigned long long n, workers, p;
  if (sscanf(meta, "%llu %llu %llu", &n, &workers, &p) != 3) die_fail("corrupt state file %s", path);
  free(meta);
  for (int k = 0; k < nrows; k++)
    if (rows[k] >= n * workers) die_usage("--rows: %llu is out of range [0, %llu)", (unsigned long long)rows[k], n * workers);
  uint8_t (*tree)[32] = xmalloc(merkle_tree_size(n) * 32);
  for (uint64_t w = 0; w < workers; w++) {
    int wanted = 0;
    for (int k = 0; k < nrows; k++) wanted |= rows[k] / n == w;
    if (!wanted) continue;
    snprintf(path, sizeof path, "%s/c%llu.bin", dir, (unsigned long long)w);
    uint8_t *enc = read_file(path, &len);
    if (!enc || len != 3 * n * n) die_fail("missing or truncated state file %s", path);
    for (uint32_t i = 0; i < n; i++) merkle_leaf(enc + (size_t)i * 3 * n, (size_t)3 * n, tree[i]);
    merkle_build(tree, n);
    for (int k = 0; k < nrows; k++)
      if (rows[k] / n == w) open_row(enc, tree, n, rows[k]);
    free(enc);
  }
  free(tree);
  remove_tree(dir);
  printf("{\"type\":\"cpu-open-done\",\"rows\":%d}\n", nrows);
  print_rusage("cpu-open");
  return 0;
}

int cpu_main(int argc, char **argv) {
  if (argc < 1) die_usage("cpu: expected 'commit' or 'open'");
  opts_t o;
  opts_parse(&o, argc - 1, argv + 1);
  if (!strcmp(argv[0], "commit")) return cpu_commit(&o);
  if (!strcmp(argv[0], "open")) return cpu_open(&o);
  die_usage("cpu: unknown action '%s' (expected 'commit' or 'open')", argv[0]);
}
