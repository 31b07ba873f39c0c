/* Argument parsing, encodings, files and resource usage for the probe. */
#define _GNU_SOURCE
#include "util.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void die_usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("probe: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\nrun 'probe help' for usage\n", stderr);
  va_end(ap);
  exit(EXIT_USAGE);
}

void die_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "probe: %s\n", msg);
  printf("{\"type\":\"error\",\"message\":\"");
  for (char *c = msg; *c; c++) putchar(*c == '"' || *c == '\\' ? '\'' : *c);
  printf("\"}\n");
  fflush(stdout);
  exit(EXIT_FAIL);
}

void *xmalloc(size_t n) {
  void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);
  if (!p) die_fail("out of memory allocating %zu bytes", n);
  return p;
}

int opts_parse(opts_t *o, int argc, char **argv) {
  o->count = 0;
  for (int i = 0; i < argc; i++) {
    if (strncmp(argv[i], "--", 2) != 0 || argv[i][2] == 0) die_usage("unexpected argument '%s'", argv[i]);
    if (i + 1 >= argc) die_usage("option %s needs a value", argv[i]);
    for (int k = 0; k < o->count; k++)
      if (strcmp(o->names[k], argv[i] + 2) == 0) die_usage("option %s given twice", argv[i]);
    if (o->count == 16) die_usage("too many options");
    o->names[o->count] = argv[i] + 2;
    o->values[o->count] = argv[i + 1];
    o->used[o->count] = 0;
    o->count++;
    i++;
  }
  return 0;
}

const char *opt_str(opts_t *o, const char *name) {
  for (int k = 0; k < o->count; k++)
    if (strcmp(o->names[k], name) == 0) { o->used[k] = 1; return o->values[k]; }
  return NULL;
}

int opt_u64(opts_t *o, const char *name, uint64_t def, uint64_t min, uint64_t max, uint64_t *out) {
  const char *v = opt_str(o, name);
  if (!v) {
    if (def == UINT64_MAX) die_usage("missing required option --%s", name);
    *out = def;
    return 0;
  }
  if (!*v || strlen(v) > 19) die_usage("--%s: '%s' is not a decimal integer", name, v);
  uint64_t x = 0;
  for (const char *c = v; *c; c++) {
    if (*c < '0' || *c > '9') die_usage("--%s: '%s' is not a decimal integer", name, v);
    x = x * 10 + (uint64_t)(*c - '0');
  }
  if (x < min || x > max)
    die_usage("--%s: %llu is out of range [%llu, %llu]", name, (unsigned long long)x, (unsigned long long)min, (unsigned long long)max);
  *out = x;
  return 0;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int opt_hex(opts_t *o, const char *name, uint8_t *out, size_t minlen, size_t maxlen, size_t *len) {
  const char *v = opt_str(o, name);
  if (!v) die_usage("missing required option --%s", name);
  size_t n = strlen(v);
  if (n % 2 || n / 2 < minlen || n / 2 > maxlen)
    die_usage("--%s: expected %zu to %zu bytes of hex, got %zu characters", name, minlen, maxlen, n);
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hexval(v[2 * i]), lo = hexval(v[2 * i + 1]);
    if (hi < 0 || lo < 0) die_usage("--%s: not hexadecimal", name);
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  *len = n / 2;
  return 0;
}

int opt_list(opts_t *o, const char *name, uint64_t *out, int max, uint64_t limit, int *count) {
  const char *v = opt_str(o, name);
  *count = 0;
  if (!v) return 0;
  const char *c = v;
  while (*c) {
    if (*count == max) die_usage("--%s: more than %d entries", name, max);
    uint64_t x = 0;
    int digits = 0;
    while (*c >= '0' && *c <= '9' && digits < 19) { x = x * 10 + (uint64_t)(*c - '0'); c++; digits++; }
    if (!digits || (*c && *c != ',')) die_usage("--%s: expected comma-separated integers", name);
    if (x >= limit) die_usage("--%s: %llu is out of range [0, %llu)", name, (unsigned long long)x, (unsigned long long)limit);
    out[(*count)++] = x;
    if (*c == ',') { c++; if (!*c) die_usage("--%s: trailing comma", name); }
  }
  return 0;
}

int opts_check_unused(opts_t *o) {
  for (int k = 0; k < o->count; k++)
    if (!o->used[k]) die_usage("unknown option --%s", o->names[k]);
  return 0;
}

void hex_encode(const uint8_t *in, size_t n, char *out) {
  static const char d[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) { out[2 * i] = d[in[i] >> 4]; out[2 * i + 1] = d[in[i] & 15]; }
  out[2 * n] = 0;
}

char *base64_encode(const uint8_t *in, size_t n) {
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *out = xmalloc((n + 2) / 3 * 4 + 1), *o = out;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    *o++ = t[v >> 18]; *o++ = t[(v >> 12) & 63]; *o++ = t[(v >> 6) & 63]; *o++ = t[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    *o++ = t[v >> 18]; *o++ = t[(v >> 12) & 63]; *o++ = '='; *o++ = '=';
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    *o++ = t[v >> 18]; *o++ = t[(v >> 12) & 63]; *o++ = t[(v >> 6) & 63]; *o++ = '=';
  }
  *o = 0;
  return out;
}

double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

void print_rusage(const char *phase) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("{\"type\":\"rusage\",\"phase\":\"%s\",\"user_ms\":%.1f,\"sys_ms\":%.1f,\"maxrss_kb\":%ld}\n", phase,
         ru.ru_utime.tv_sec * 1e3 + ru.ru_utime.tv_usec / 1e3, ru.ru_stime.tv_sec * 1e3 + ru.ru_stime.tv_usec / 1e3,
         ru.ru_maxrss);
}

int write_file(const char *path, const void *data, size_t n) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return -1;
  const uint8_t *p = data;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0) { if (errno == EINTR) continue; close(fd); return -1; }
    p += w; n -= (size_t)w;
  }
  return close(fd);
}

void *read_file(const char *path, size_t *n) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return NULL;
  struct stat st;
  if (fstat(fd, &st) < 0) { close(fd); return NULL; }
  uint8_t *buf = xmalloc((size_t)st.st_size + 1);
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
    if (r <= 0) { if (r < 0 && errno == EINTR) continue; free(buf); close(fd); return NULL; }
    got += (size_t)r;
  }
  close(fd);
  *n = got;
  return buf;
}

int remove_tree(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return errno == ENOENT ? 0 : -1;
  struct dirent *e;
  char path[4096];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    unlink(path);
  }
  closedir(d);
  return rmdir(dir);
}

void state_dir(char *out, size_t cap, const char *base, const char *kind, const uint8_t *seed, size_t seedlen) {
  char hex[17];
  hex_encode(seed, seedlen < 8 ? seedlen : 8, hex);
  snprintf(out, cap, "%s/polarise-%s-%s", base, kind, hex);
}
