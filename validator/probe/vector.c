/* probe vector KIND: single primitive outputs, checked against the golden
 * vectors the TypeScript verifier is checked against too. */
#include "vector.h"
#include "chacha.h"
#include "matmul.h"
#include "memfill.h"
#include "sha256.h"
#include "util.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_hex_field(const char *kind, const char *name, const uint8_t *d, size_t n) {
  char *hex = xmalloc(2 * n + 1);
  hex_encode(d, n, hex);
  printf("{\"type\":\"vector\",\"kind\":\"%s\",\"%s\":\"%s\"}\n", kind, name, hex);
  free(hex);
}

int vector_main(int argc, char **argv) {
  if (argc < 1) die_usage("vector: expected sha256, chacha20, matrix-row or mem-block");
  opts_t o;
  opts_parse(&o, argc - 1, argv + 1);
  const char *kind = argv[0];
  if (!strcmp(kind, "sha256")) {
    uint8_t data[4096], d[32];
    size_t n = 0;
    if (opt_str(&o, "hex") && strlen(opt_str(&o, "hex")) == 0) n = 0;
    else opt_hex(&o, "hex", data, 0, sizeof data, &n);
    opts_check_unused(&o);
    sha256(data, n, d);
    print_hex_field(kind, "digest", d, 32);
  } else if (!strcmp(kind, "chacha20")) {
    uint8_t key[32], nonce[12];
    size_t kl, nl;
    uint64_t counter, len;
    opt_hex(&o, "key", key, 32, 32, &kl);
    opt_hex(&o, "nonce", nonce, 12, 12, &nl);
    opt_u64(&o, "counter", 0, 0, UINT32_MAX, &counter);
    opt_u64(&o, "length", UINT64_MAX, 1, 4096, &len);
    opts_check_unused(&o);
    uint8_t *out = xmalloc(len);
    chacha20_stream(key, nonce, (uint32_t)counter, out, len);
    print_hex_field(kind, "stream", out, len);
  } else if (!strcmp(kind, "matrix-row")) {
    uint8_t seed[64], d[32];
    uint32_t key[8];
    size_t sl;
    uint64_t n, worker, row, index;
    opt_hex(&o, "seed", seed, 16, 64, &sl);
    opt_u64(&o, "n", UINT64_MAX, MATMUL_MIN_N, MATMUL_MAX_N, &n);
    opt_u64(&o, "worker", UINT64_MAX, 0, 255, &worker);
    opt_u64(&o, "matrix", UINT64_MAX, 0, MATMUL_MAX_FACTORS - 1, &index);
    opt_u64(&o, "row", UINT64_MAX, 0, n - 1, &row);
    opts_check_unused(&o);
    if (n % MATMUL_N_MULTIPLE) die_usage("--n: not a multiple of %d", MATMUL_N_MULTIPLE);
    uint32_t *r = xmalloc(n * 4), *cols = xmalloc(n * 4);
    matrix_key(seed, sl, (uint32_t)worker, (uint32_t)index, key);
    matrix_cols(key, (uint32_t)n, cols);
    matrix_row(key, cols, (uint32_t)n, (uint32_t)row, r);
    sha256(r, n * 4, d); /* little-endian host */
    char hex[65];
    hex_encode(d, 32, hex);
    printf("{\"type\":\"vector\",\"kind\":\"matrix-row\",\"first\":[%u,%u,%u,%u],\"sha256\":\"%s\"}\n", r[0], r[1], r[2],
           r[3], hex);
    free(r);
    free(cols);
  } else if (!strcmp(kind, "mem-block")) {
    uint8_t seed[64], d[32];
    size_t sl;
    uint64_t index;
    opt_hex(&o, "seed", seed, 16, 64, &sl);
    opt_u64(&o, "index", UINT64_MAX, 0, 1u << 20, &index);
    opts_check_unused(&o);
    uint8_t *buf = xmalloc((index + 1) * MEM_BLOCK);
    mem_fill(seed, sl, buf, index + 1, 1);
    sha256(buf + index * MEM_BLOCK, MEM_BLOCK, d);
    char hex[65];
    hex_encode(d, 32, hex);
    printf("{\"type\":\"vector\",\"kind\":\"mem-block\",\"parent\":%llu,\"sha256\":\"%s\"}\n",
           index ? (unsigned long long)mem_parent((uint32_t *)(buf + (index - 1) * MEM_BLOCK), index, index + 1) : 0ull, hex);
    free(buf);
  } else {
    die_usage("vector: unknown kind '%s'", kind);
  }
  return 0;
}
