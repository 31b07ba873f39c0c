#ifndef PROBE_CHACHA_H
#define PROBE_CHACHA_H
#include <stddef.h>
#include <stdint.h>

/* The ChaCha double round on a 16-word state, in place. */
void chacha_double_round(uint32_t s[16]);
/* RFC 8439 keystream: 32-bit block counter starting at `counter`, 96-bit nonce. */
void chacha20_stream(const uint8_t key[32], const uint8_t nonce[12], uint32_t counter, uint8_t *out, size_t len);
/* s = ChaCha20 core (10 double rounds) of s, plus s (the feed-forward). */
void chacha20_core(uint32_t s[16]);

#endif
