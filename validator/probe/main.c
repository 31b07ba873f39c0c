/* polarise-probe: the prover side of Polarise's compute and memory challenges.
 * Output: JSON lines on stdout. Bad input: usage on stderr, exit 2. Failure
 * while running: an {"type":"error"} line and exit 1. */
#include "cpu.h"
#include "mem.h"
#include "sha256.h"
#include "util.h"
#include "vector.h"
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: probe COMMAND [--option value ...]\n"
    "  cpu commit --seed HEX --n N --workers W --modulus P --factors F [--state DIR]\n"
    "      W threads each compute C = M0·M1·...·M(F-1) mod P for seeded n×n matrices;\n"
    "      prints one Merkle root (rows of C) per worker\n"
    "  cpu open --seed HEX --rows R,R.. [--state DIR]\n"
    "      prints the named rows (R = worker * n + row) with Merkle paths and removes the state\n"
    "  noop\n"
    "      prints one line and exits: the validator times it to learn the call's overhead\n"
    "  mem commit --seed HEX --size BYTES [--state DIR]\n"
    "      fills BYTES (multiple of 1 MiB) in a tmpfs file, prints the Merkle root (1 KiB blocks)\n"
    "  mem open --seed HEX --nonce HEX [--steps T] [--interval K] [--state DIR]\n"
    "      walks T data-dependent steps over the data, prints the Merkle root of every K-th state\n"
    "  mem prove --seed HEX [--segments J,J..] [--blocks I,I..] [--state DIR]\n"
    "      proves walk segments and block derivations with Merkle paths, then removes the state\n"
    "  mem clean --seed HEX [--state DIR]\n"
    "  vector sha256|chacha20|matrix-row|mem-block ...   (golden-vector primitives)\n"
    "  help\n"
    "seeds and nonces: 16 to 64 bytes of hex. DIR defaults to /dev/shm.\n";

int main(int argc, char **argv) {
  sha256_select_impl();
  if (argc < 2) { fputs(usage, stderr); return EXIT_USAGE; }
  int rc;
  if (!strcmp(argv[1], "cpu")) rc = cpu_main(argc - 2, argv + 2);
  else if (!strcmp(argv[1], "mem")) rc = mem_main(argc - 2, argv + 2);
  else if (!strcmp(argv[1], "noop")) { puts("{\"type\":\"noop\"}"); rc = 0; }
  else if (!strcmp(argv[1], "vector")) rc = vector_main(argc - 2, argv + 2);
  else if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help")) { fputs(usage, stdout); return 0; }
  else { fprintf(stderr, "probe: unknown command '%s'\n%s", argv[1], usage); return EXIT_USAGE; }
  fflush(stdout);
  return rc;
}
