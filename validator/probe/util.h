#ifndef PROBE_UTIL_H
#define PROBE_UTIL_H
#include <stddef.h>
#include <stdint.h>

#define EXIT_USAGE 2
#define EXIT_FAIL 1

/* Command-line options: --name value pairs after the subcommand words. */
typedef struct {
  int count;
  const char *names[16];
  const char *values[16];
  int used[16];
} opts_t;

int opts_parse(opts_t *o, int argc, char **argv);          /* 0 or usage error printed */
const char *opt_str(opts_t *o, const char *name);          /* NULL when absent */
int opt_u64(opts_t *o, const char *name, uint64_t def, uint64_t min, uint64_t max, uint64_t *out);
int opt_hex(opts_t *o, const char *name, uint8_t *out, size_t minlen, size_t maxlen, size_t *len);
int opts_check_unused(opts_t *o);                          /* unknown option → usage error */
int opt_list(opts_t *o, const char *name, uint64_t *out, int max, uint64_t limit, int *count);

void die_usage(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
void die_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

void hex_encode(const uint8_t *in, size_t n, char *out);   /* out: 2n+1 */
char *base64_encode(const uint8_t *in, size_t n);          /* malloc'd */
double now_ms(void);
void print_rusage(const char *phase);
void *xmalloc(size_t n);
int remove_tree(const char *dir);                          /* rm -r of a state dir */
int write_file(const char *path, const void *data, size_t n);
void *read_file(const char *path, size_t *n);
void state_dir(char *out, size_t cap, const char *base, const char *kind, const uint8_t *seed, size_t seedlen);

#endif
