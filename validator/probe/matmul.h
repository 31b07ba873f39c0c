#ifndef PROBE_MATMUL_H
#define PROBE_MATMUL_H
#include <stddef.h>
#include <stdint.h>

/* Entries of A and B are the low 24 bits of ChaCha20 words, so every partial
 * sum of 32 products plus a reduced value stays below 2^53: exact in doubles. */
#define MATMUL_ENTRY_BITS 24
#define MATMUL_MIN_N 64
#define MATMUL_MAX_N 8192
#define MATMUL_N_MULTIPLE 32

/* Key of the ChaCha20 stream of matrix `tag` ('A' or 'B') of worker w. */
void matrix_key(const uint8_t *seed, size_t seedlen, uint32_t worker, char tag, uint8_t key[32]);
/* Row-major entries of one row (n values) of a seeded matrix. */
void matrix_row(const uint8_t key[32], uint32_t n, uint32_t row, uint32_t *out);

typedef struct {
  uint32_t n;
  uint32_t p;
  uint32_t rows;      /* rows of C to compute (n when honest) */
  const uint8_t *seed;
  size_t seedlen;
  uint32_t worker;
  uint32_t *c;        /* out: n*n reduced entries, row-major */
} matmul_job;

/* C = A·B mod p for the worker's seeded matrices. */
void matmul_run(matmul_job *job);
const char *matmul_kernel_name(void);

#endif
