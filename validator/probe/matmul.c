/* Seeded chain of n×n matrix products mod p, blocked for the caches, exact
 * integer arithmetic in doubles (an AVX2+FMA micro-kernel when the CPU has it). */
#include "matmul.h"
#include "sha256.h"
#include "util.h"
#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MR 6
#define NR 8
#define KC 256
#define MC 120
#define KSTEP 32 /* products summed before a reduction */

/* lowbias32 (C. Wellons): a bijection of 32-bit words with full avalanche. */
static inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

void matrix_key(const uint8_t *seed, size_t seedlen, uint32_t worker, uint32_t index, uint32_t key[8]) {
  sha256_ctx c;
  uint8_t d[32];
  uint8_t w[5] = {(uint8_t)worker, (uint8_t)(worker >> 8), (uint8_t)(worker >> 16), (uint8_t)(worker >> 24), (uint8_t)index};
  sha256_init(&c);
  sha256_update(&c, "polarise/cpu/v2", 15);
  sha256_update(&c, seed, seedlen);
  sha256_update(&c, w, 5);
  sha256_final(&c, d);
  for (int i = 0; i < 8; i++)
    key[i] = (uint32_t)d[4 * i] | (uint32_t)d[4 * i + 1] << 8 | (uint32_t)d[4 * i + 2] << 16 | (uint32_t)d[4 * i + 3] << 24;
}

void matrix_cols(const uint32_t key[8], uint32_t n, uint32_t *cols) {
  for (uint32_t j = 0; j < n; j++) cols[j] = mix32(mix32(j ^ key[2]) + key[3]);
}

void matrix_row(const uint32_t key[8], const uint32_t *cols, uint32_t n, uint32_t row, uint32_t *out) {
  uint32_t u = mix32(mix32(row ^ key[0]) + key[1]);
  for (uint32_t j = 0; j < n; j++) out[j] = mix32(u ^ cols[j]) >> (32 - MATMUL_ENTRY_BITS);
}

typedef void (*micro_fn)(const double *ap, const double *bp, double *c, int ldc, int kc, double p, double pinv);

static inline double reduce1(double x, double p, double pinv) {
  x -= floor(x * pinv) * p;
  x -= floor(x * pinv) * p;
  return x;
}

static void micro_generic(const double *ap, const double *bp, double *c, int ldc, int kc, double p, double pinv) {
  double acc[MR][NR];
  for (int r = 0; r < MR; r++)
    for (int j = 0; j < NR; j++) acc[r][j] = c[r * ldc + j];
  for (int k0 = 0; k0 < kc; k0 += KSTEP) {
    for (int k = k0; k < k0 + KSTEP; k++)
      for (int r = 0; r < MR; r++)
        for (int j = 0; j < NR; j++) acc[r][j] += ap[k * MR + r] * bp[k * NR + j];
    for (int r = 0; r < MR; r++)
      for (int j = 0; j < NR; j++) acc[r][j] = reduce1(acc[r][j], p, pinv);
  }
  for (int r = 0; r < MR; r++)
    for (int j = 0; j < NR; j++) c[r * ldc + j] = acc[r][j];
}

__attribute__((target("avx2,fma"))) static inline __m256d reduce_avx(__m256d x, __m256d p, __m256d pinv) {
  x = _mm256_fnmadd_pd(_mm256_floor_pd(_mm256_mul_pd(x, pinv)), p, x);
  return _mm256_fnmadd_pd(_mm256_floor_pd(_mm256_mul_pd(x, pinv)), p, x);
}

__attribute__((target("avx2,fma"))) static void micro_avx2(const double *ap, const double *bp, double *c, int ldc, int kc,
                                                            double p, double pinv) {
  __m256d vp = _mm256_set1_pd(p), vi = _mm256_set1_pd(pinv);
  __m256d c00 = _mm256_loadu_pd(c), c01 = _mm256_loadu_pd(c + 4);
  __m256d c10 = _mm256_loadu_pd(c + ldc), c11 = _mm256_loadu_pd(c + ldc + 4);
  __m256d c20 = _mm256_loadu_pd(c + 2 * ldc), c21 = _mm256_loadu_pd(c + 2 * ldc + 4);
  __m256d c30 = _mm256_loadu_pd(c + 3 * ldc), c31 = _mm256_loadu_pd(c + 3 * ldc + 4);
  __m256d c40 = _mm256_loadu_pd(c + 4 * ldc), c41 = _mm256_loadu_pd(c + 4 * ldc + 4);
  __m256d c50 = _mm256_loadu_pd(c + 5 * ldc), c51 = _mm256_loadu_pd(c + 5 * ldc + 4);
  for (int k0 = 0; k0 < kc; k0 += KSTEP) {
    for (int k = k0; k < k0 + KSTEP; k++) {
      const double *a = ap + k * MR;
      __m256d b0 = _mm256_load_pd(bp + k * NR), b1 = _mm256_load_pd(bp + k * NR + 4), x;
      x = _mm256_broadcast_sd(a);     c00 = _mm256_fmadd_pd(x, b0, c00); c01 = _mm256_fmadd_pd(x, b1, c01);
      x = _mm256_broadcast_sd(a + 1); c10 = _mm256_fmadd_pd(x, b0, c10); c11 = _mm256_fmadd_pd(x, b1, c11);
      x = _mm256_broadcast_sd(a + 2); c20 = _mm256_fmadd_pd(x, b0, c20); c21 = _mm256_fmadd_pd(x, b1, c21);
      x = _mm256_broadcast_sd(a + 3); c30 = _mm256_fmadd_pd(x, b0, c30); c31 = _mm256_fmadd_pd(x, b1, c31);
      x = _mm256_broadcast_sd(a + 4); c40 = _mm256_fmadd_pd(x, b0, c40); c41 = _mm256_fmadd_pd(x, b1, c41);
      x = _mm256_broadcast_sd(a + 5); c50 = _mm256_fmadd_pd(x, b0, c50); c51 = _mm256_fmadd_pd(x, b1, c51);
    }
    c00 = reduce_avx(c00, vp, vi); c01 = reduce_avx(c01, vp, vi);
    c10 = reduce_avx(c10, vp, vi); c11 = reduce_avx(c11, vp, vi);
    c20 = reduce_avx(c20, vp, vi); c21 = reduce_avx(c21, vp, vi);
    c30 = reduce_avx(c30, vp, vi); c31 = reduce_avx(c31, vp, vi);
    c40 = reduce_avx(c40, vp, vi); c41 = reduce_avx(c41, vp, vi);
    c50 = reduce_avx(c50, vp, vi); c51 = reduce_avx(c51, vp, vi);
  }
  _mm256_storeu_pd(c, c00); _mm256_storeu_pd(c + 4, c01);
  _mm256_storeu_pd(c + ldc, c10); _mm256_storeu_pd(c + ldc + 4, c11);
  _mm256_storeu_pd(c + 2 * ldc, c20); _mm256_storeu_pd(c + 2 * ldc + 4, c21);
  _mm256_storeu_pd(c + 3 * ldc, c30); _mm256_storeu_pd(c + 3 * ldc + 4, c31);
  _mm256_storeu_pd(c + 4 * ldc, c40); _mm256_storeu_pd(c + 4 * ldc + 4, c41);
  _mm256_storeu_pd(c + 5 * ldc, c50); _mm256_storeu_pd(c + 5 * ldc + 4, c51);
}

static micro_fn pick_micro(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? micro_avx2 : micro_generic;
}

const char *matmul_kernel_name(void) { return pick_micro() == micro_avx2 ? "avx2-fma" : "generic"; }

/* out[0..rows) = a·B mod p; a: rows×n doubles (entries < 2^24), B: seeded matrix `key`. */
static void product_rows(const double *a, uint32_t rows, const uint32_t key[8], uint32_t n, uint32_t p, micro_fn micro,
                         double *bp, uint32_t *row, uint32_t *cols, double *ap, double *cacc, uint32_t *out) {
  const double pd = p, pinv = 1.0 / p;
  /* B packed: for each block of KC rows, panels of NR columns, each kc×NR. */
  matrix_cols(key, n, cols);
  for (uint32_t k = 0; k < n; k++) {
    matrix_row(key, cols, n, k, row);
    uint32_t k0 = k / KC * KC, kc = n - k0 < KC ? n - k0 : KC;
    double *blk = bp + (size_t)k0 * n;
    for (uint32_t j = 0; j < n; j++) blk[(size_t)(j / NR) * kc * NR + (k - k0) * NR + j % NR] = row[j];
  }
  for (uint32_t i0 = 0; i0 < rows; i0 += MC) {
    uint32_t mc = rows - i0 < MC ? rows - i0 : MC;
    memset(cacc, 0, (size_t)(MC + MR) * n * sizeof(double));
    for (uint32_t k0 = 0; k0 < n; k0 += KC) {
      uint32_t kc = n - k0 < KC ? n - k0 : KC;
      uint32_t groups = (mc + MR - 1) / MR;
      for (uint32_t r = 0; r < groups * MR; r++)
        for (uint32_t k = 0; k < kc; k++)
          ap[(r / MR) * kc * MR + k * MR + r % MR] = r < mc ? a[(size_t)(i0 + r) * n + k0 + k] : 0.0;
      const double *blk = bp + (size_t)k0 * n;
      for (uint32_t jp = 0; jp < n / NR; jp++)
        for (uint32_t rg = 0; rg < groups; rg++)
          micro(ap + (size_t)rg * kc * MR, blk + (size_t)jp * kc * NR, cacc + (size_t)rg * MR * n + jp * NR, (int)n, (int)kc,
                pd, pinv);
    }
    for (size_t x = 0; x < (size_t)mc * n; x++) out[(size_t)i0 * n + x] = (uint32_t)cacc[x];
  }
}

void matmul_run(matmul_job *job) {
  const uint32_t n = job->n;
  micro_fn micro = pick_micro();
  uint32_t key[8];
  uint32_t *row = xmalloc((size_t)n * 4), *cols = xmalloc((size_t)n * 4);
  double *bp = xmalloc((size_t)n * n * sizeof(double));
  double *a = xmalloc((size_t)n * n * sizeof(double));
  double *ap = xmalloc((size_t)(MC + MR) * KC * sizeof(double));
  double *cacc = xmalloc((size_t)(MC + MR) * n * sizeof(double));

  matrix_key(job->seed, job->seedlen, job->worker, 0, key);
  matrix_cols(key, n, cols);
  for (uint32_t i = 0; i < job->rows; i++) {
    matrix_row(key, cols, n, i, row);
    for (uint32_t j = 0; j < n; j++) a[(size_t)i * n + j] = row[j];
  }
  /* Left to right: C_1 = M_0·M_1, C_m = C_{m-1}·M_m (reduced, so exact as the next left factor). */
  for (uint32_t m = 1; m < job->factors; m++) {
    matrix_key(job->seed, job->seedlen, job->worker, m, key);
    product_rows(a, job->rows, key, n, job->p, micro, bp, row, cols, ap, cacc, job->c);
    if (m + 1 < job->factors)
      for (size_t x = 0; x < (size_t)job->rows * n; x++) a[x] = job->c[x];
  }
  free(row); free(cols); free(bp); free(a); free(ap); free(cacc);
}
