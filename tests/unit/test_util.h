/* test_util.h: small helpers shared by the unit tests. Every helper goes
 * through the public API (gradc.h) unless a test includes ir.h itself. */
#ifndef GRADC_TEST_UTIL_H
#define GRADC_TEST_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradc.h"

/* ASan's leak report comes at worker exit, after Criterion has recorded a
 * pass (TOOLCHAIN.md 5), so allocating tests check for leaks themselves. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define ASSERT_NO_LEAKS() \
  cr_assert(__lsan_do_recoverable_leak_check() == 0, "memory leaked (see the LSan report above)")
#else
#define ASSERT_NO_LEAKS() ((void)0)
#endif

#ifdef TEST_UTIL_RANDOM /* defined by the tests that generate programs */
/* Seeded random numbers for generated tests (splitmix64): the same
 * sequence in every run of an executable. */
static inline uint64_t next_u64(void) {
  static uint64_t rng = 0x9E3779B97F4A7C15ull;
  uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static inline double uniform(double lo, double hi) {
  return lo + (hi - lo) * (double)(next_u64() >> 11) * 0x1.0p-53;
}
static inline int pick(int n) { return (int)(next_u64() % (uint64_t)n); }
#endif

/* A growing string for generated programs. */
typedef struct Str {
  char *s;
  size_t len, cap;
} Str;

static inline void put(Str *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void put(Str *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (b->len + (size_t)n + 1 > b->cap) {
    b->cap = (b->len + (size_t)n + 1) * 2;
    b->s = realloc(b->s, b->cap);
    cr_assert_not_null(b->s);
  }
  va_start(ap, fmt);
  vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

/* Compile a NUL-terminated program; the context is returned either way. */
static inline Gradc *compile_src(const char *text, GradcStatus *st) {
  Gradc *g = gradc_new();
  cr_assert_not_null(g, "gradc_new");
  GradcStatus s = gradc_compile_string(g, "t.expr", text, strlen(text));
  if (st)
    *st = s;
  return g;
}

/* Compile a program that must be accepted. */
static inline Gradc *compile_ok(const char *text) {
  GradcStatus st;
  Gradc *g = compile_src(text, &st);
  cr_assert_eq(st, GRADC_OK, "program rejected:\n%s\n--- diagnostics:\n%s", text,
               gradc_diag_render(g));
  return g;
}

/* Call f with scalar arguments args[0..] and collect its scalar results. */
static inline void call_scalars(GradcFn *f, const double *args, double *res) {
  int na = gradc_fn_arg_count(f), nr = gradc_fn_res_count(f);
  const double **a = calloc((size_t)na + 1, sizeof *a);
  double **r = calloc((size_t)nr + 1, sizeof *r);
  cr_assert(a && r);
  for (int i = 0; i < na; i++)
    a[i] = &args[i];
  for (int i = 0; i < nr; i++)
    r[i] = &res[i];
  cr_assert_eq(gradc_call(f, a, r), GRADC_OK);
  free(a);
  free(r);
}

/* The value of the first output of a program without variables. */
static inline double eval_const(const char *text) {
  Gradc *g = compile_ok(text);
  GradcFn *f = gradc_fn_value(g);
  cr_assert_not_null(f, "%s", gradc_diag_render(g));
  double res[8] = {0};
  call_scalars(f, NULL, res);
  gradc_free(g);
  return res[0];
}

/* Index of the first diagnostic whose message contains `needle`, or -1. */
static inline int find_diag(const Gradc *g, const char *needle) {
  for (int i = 0; i < gradc_diag_count(g); i++)
    if (strstr(gradc_diag_message(g, i), needle))
      return i;
  return -1;
}

/* Relative difference with an absolute floor of 1. */
static inline double rel_diff(double a, double b) {
  double s = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
  return fabs(a - b) / (s > 1 ? s : 1);
}

#endif
