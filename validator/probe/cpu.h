#ifndef PROBE_CPU_H
#define PROBE_CPU_H
#include <stdint.h>

int cpu_main(int argc, char **argv);
void cpu_encode_rows(const uint32_t *c, uint32_t n, uint8_t *out);
void cpu_rows_root(const uint8_t *enc, uint32_t n, uint8_t root[32]);

#endif
