#include "cpu-policy.h"

uint32_t cpu_rows_to_compute(uint32_t n) { return n; }
void cpu_after_compute(uint32_t *c, uint32_t n, uint32_t p, uint32_t worker) { (void)c; (void)n; (void)p; (void)worker; }
