/* test_util.h: small helpers shared by the unit tests. Every helper goes
 * through the public API (gradc.h) unless a test includes ir.h itself. */
#ifndef GRADC_TEST_UTIL_H
#define GRADC_TEST_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
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
