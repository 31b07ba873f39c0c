#ifndef PROBE_SHA256_H
#define PROBE_SHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
  uint32_t h[8];
  uint8_t buf[64];
  uint64_t len;
  size_t fill;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, uint8_t out[32]);
void sha256(const void *data, size_t n, uint8_t out[32]);
/* Merkle node: SHA-256(0x01 || left || right). */
void sha256_node(const uint8_t left[32], const uint8_t right[32], uint8_t out[32]);
/* Selects the SHA-NI path when the CPU has it (called once from main). */
void sha256_select_impl(void);

#endif
