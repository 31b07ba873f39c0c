#ifndef PROBE_MATMUL_H
#define PROBE_MATMUL_H
#include <stddef.h>
#include <stdint.h>

/* Entries of the seeded matrices are 24-bit, so every partial sum of 32
 * products plus a reduced value stays below 2^53: exact in doubles. */
#define MATMUL_ENTRY_BITS 24
#define MATMUL_MIN_N 64
#define MATMUL_MAX_N 8192
#define MATMUL_N_MULTIPLE 32
#define MATMUL_MIN_FACTORS 2
#define MATMUL_MAX_FACTORS 64

/* Key words of seeded matrix `index` (0 = A, 1 = first B, ...) of worker w:
 * SHA-256("polarise/cpu/v2" || seed || u32le(w) || u8(index)) as 8 u32le words. */
void matrix_key(const uint8_t *seed, size_t seedlen, uint32_t worker, uint32_t index, uint32_t key[8]);
/* Column keys of a matrix (n values, computed once per matrix). */
void matrix_cols(const uint32_t key[8], uint32_t n, uint32_t *cols);
/* Row `row` of a seeded matrix: out[j] = mix32(rowKey(row) ^ cols[j]) >> 8. */
void matrix_row(const uint32_t key[8], const uint32_t *cols, uint32_t n, uint32_t row, uint32_t *out);

typedef struct {
  uint32_t n;
  uint32_t p;
  uint32_t factors;   /* matrices in the chain M_0·M_1·...·M_{factors-1} */
  uint32_t rows;      /* rows of C to compute (n when honest) */
  const uint8_t *seed;
  size_t seedlen;
  uint32_t worker;
  uint32_t *c;        /* out: n*n reduced entries, row-major */
} matmul_job;

/* C = M_0·M_1·...·M_{f-1} mod p for the worker's seeded matrices, left to right. */
void matmul_run(matmul_job *job);
const char *matmul_kernel_name(void);

#endif
