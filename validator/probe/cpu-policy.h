#ifndef PROBE_CPU_POLICY_H
#define PROBE_CPU_POLICY_H
#include <stdint.h>

/* How the prover treats its work. The honest policy (cpu-honest.c) computes
 * everything; the test cheaters under test/fixtures/cheaters/ replace it. */
uint32_t cpu_rows_to_compute(uint32_t n);
void cpu_after_compute(uint32_t *c, uint32_t n, uint32_t p, uint32_t worker);

#endif
