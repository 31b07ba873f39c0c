/* ChaCha20 (RFC 8439): the pseudo-random generator of the challenges. */
#include "chacha.h"
#include <string.h>

#define ROTL(x, n) (((x) << (n)) | ((x) >> (32 - (n))))
#define QR(a, b, c, d)                    \
  a += b; d ^= a; d = ROTL(d, 16);        \
  c += d; b ^= c; b = ROTL(b, 12);        \
  a += b; d ^= a; d = ROTL(d, 8);         \
  c += d; b ^= c; b = ROTL(b, 7)

void chacha_double_round(uint32_t s[16]) {
  QR(s[0], s[4], s[8], s[12]);
  QR(s[1], s[5], s[9], s[13]);
  QR(s[2], s[6], s[10], s[14]);
  QR(s[3], s[7], s[11], s[15]);
  QR(s[0], s[5], s[10], s[15]);
  QR(s[1], s[6], s[11], s[12]);
  QR(s[2], s[7], s[8], s[13]);
  QR(s[3], s[4], s[9], s[14]);
}

void chacha20_core(uint32_t s[16]) {
  uint32_t x[16];
  memcpy(x, s, sizeof x);
  for (int i = 0; i < 10; i++) chacha_double_round(x);
  for (int i = 0; i < 16; i++) s[i] += x[i];
}

static uint32_t le32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

void chacha20_stream(const uint8_t key[32], const uint8_t nonce[12], uint32_t counter, uint8_t *out, size_t len) {
  uint32_t st[16] = {0x61707865, 0x3320646e, 0x79622d32, 0x6b206574};
  for (int i = 0; i < 8; i++) st[4 + i] = le32(key + 4 * i);
  for (int i = 0; i < 3; i++) st[13 + i] = le32(nonce + 4 * i);
  while (len) {
    uint32_t x[16];
    st[12] = counter++;
    memcpy(x, st, sizeof x);
    chacha20_core(x);
    size_t take = len < 64 ? len : 64;
    for (size_t i = 0; i < take; i++) out[i] = (uint8_t)(x[i / 4] >> (8 * (i % 4)));
    out += take;
    len -= take;
  }
}
