/* array_abi_check: the array ABI of `gradc emit --abi array` against the
 * JIT, bit for bit.
 *
 *   array_abi_check FILE.expr LIB.so PREFIX [NAME=VALUE...]
 *
 * LIB.so is FILE.expr emitted with --abi array --prefix PREFIX and
 * compiled by the system compiler. At the values of FILE.expr (its
 * defaults, NAME=VALUE, seeded random scalars as `gradc check` takes them)
 * and seeded random tangents, for every output F it calls PREFIX_F,
 * PREFIX_F_grad and PREFIX_F_hvp (scalar F) and PREFIX_F_jvp through their
 * array ABI,
 * once with work = NULL and once with a workspace of PREFIX_..._work(dims)
 * doubles, and checks:
 *   - n_in and n_out, name_in(i) (the variables' names, then "tangent of
 *     p" for each param p) and name_out(i) (as gradc_fn_res_name), NULL
 *     out of range;
 *   - shape_in / shape_out at the bound dimensions against the values'
 *     and the JIT's results' shapes, -1 out of range;
 *   - the return code (0) and every result element against the JIT's
 *     (libtcc, without OpenBLAS as the file) gradc_fn_value / _grad / _jvp /
 *     _hvp, bit for bit
 *     (results start as a NaN pattern, so a result never written fails).
 * Prints one line per function checked and exits 1 on any difference. */
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradc.h"

typedef int (*ArrayFn)(const double **, double **, const long *, double *);
typedef int (*CountFn)(void);
typedef const char *(*NameFn)(int);
typedef int (*ShapeFn)(int, const long *, long *);
typedef long (*WorkFn)(const long *);

static void *lib;
static int failures;
static char prefix[256];

static void fail(const char *fn, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(const char *fn, const char *fmt, ...) {
  va_list ap;
  printf("FAIL %s: ", fn);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  failures++;
}

static void *sym(const char *fn, const char *suffix) {
  char name[512];
  snprintf(name, sizeof name, "%s%s", fn, suffix);
  void *p = dlsym(lib, name);
  if (!p)
    fail(fn, "no symbol %s in the library", name);
  return p;
}

static long size_of(const long *dims, int rank) {
  long n = 1;
  for (int i = 0; i < rank; i++)
    n *= dims[i];
  return n;
}

/* One emitted function against the JIT's f: argument a of the emitted
 * function is JIT argument a (variables, then tangents); result r is JIT
 * result jres[r]. */
static void check(Gradc *g, const char *fn, GradcFn *f, const double *const *jargs, int nargs,
                  const int *jres, int nres, const long *dims) {
  void *syms[8];
  static const char *const suffix[] = {"", "_n_in", "_n_out", "_name_in", "_name_out",
                                       "_shape_in", "_shape_out", "_work"};
  for (int i = 0; i < 8; i++)
    if (!(syms[i] = sym(fn, suffix[i])))
      return;
  ArrayFn call;
  CountFn n_in, n_out;
  NameFn name_in, name_out;
  ShapeFn shape_in, shape_out;
  WorkFn work;
  memcpy(&call, &syms[0], sizeof call);
  memcpy(&n_in, &syms[1], sizeof n_in);
  memcpy(&n_out, &syms[2], sizeof n_out);
  memcpy(&name_in, &syms[3], sizeof name_in);
  memcpy(&name_out, &syms[4], sizeof name_out);
  memcpy(&shape_in, &syms[5], sizeof shape_in);
  memcpy(&shape_out, &syms[6], sizeof shape_out);
  memcpy(&work, &syms[7], sizeof work);
  int before = failures;

  if (n_in() != nargs || n_out() != nres) {
    fail(fn, "n_in %d, n_out %d; want %d, %d", n_in(), n_out(), nargs, nres);
    return;
  }
  long shape[8], want[8];
  for (int a = 0; a < nargs; a++) {
    const char *nm = name_in(a), *jn = gradc_fn_arg_name(f, a);
    if (!nm || strcmp(nm, jn))
      fail(fn, "name_in(%d) is '%s', want '%s'", a, nm ? nm : "(null)", jn);
    int rank = shape_in(a, dims, shape), jr = gradc_fn_arg_shape(f, a, want);
    if (rank != jr || memcmp(shape, want, (size_t)(rank > 0 ? rank : 0) * sizeof *shape))
      fail(fn, "shape_in(%d) has rank %d, want %d (or other sizes)", a, rank, jr);
  }
  for (int r = 0; r < nres; r++) {
    const char *nm = name_out(r), *jn = gradc_fn_res_name(f, jres[r]);
    if (!nm || strcmp(nm, jn))
      fail(fn, "name_out(%d) is '%s', want '%s'", r, nm ? nm : "(null)", jn);
    int rank = shape_out(r, dims, shape), jr = gradc_fn_res_shape(f, jres[r], want);
    if (rank != jr || memcmp(shape, want, (size_t)(rank > 0 ? rank : 0) * sizeof *shape))
      fail(fn, "shape_out(%d) has rank %d, want %d (or other sizes)", r, rank, jr);
  }
  if (name_in(-1) || name_in(nargs) || name_out(-1) || name_out(nres) ||
      shape_in(nargs, dims, shape) != -1 || shape_out(-1, dims, shape) != -1)
    fail(fn, "a query out of range did not return NULL / -1");
  if (failures != before)
    return;

  /* results as the JIT sizes them, poisoned; then two calls */
  double **res = calloc((size_t)nres + 1, sizeof *res);
  long *len = calloc((size_t)nres + 1, sizeof *len);
  long nwork = work(dims);
  double *w = malloc(((size_t)(nwork > 0 ? nwork : 0) + 1) * sizeof *w);
  if (!res || !len || !w || nwork < 0) {
    fail(fn, "out of memory, or _work gave %ld", nwork);
    free(res), free(len), free(w);
    return;
  }
  for (int r = 0; r < nres; r++) {
    len[r] = size_of(want, gradc_fn_res_shape(f, jres[r], want));
    res[r] = malloc(((size_t)len[r] + 1) * sizeof **res);
  }
  for (int pass = 0; pass < 2; pass++) {
    for (int r = 0; r < nres; r++)
      for (long i = 0; i < len[r]; i++)
        res[r][i] = -NAN;
    for (long i = 0; i < nwork; i++)
      w[i] = NAN;
    int rc = call((const double **)jargs, res, dims, pass ? w : NULL);
    if (rc != 0) {
      fail(fn, "returned %d (work %s)", rc, pass ? "given" : "NULL");
      continue;
    }
    for (int r = 0; r < nres; r++) {
      const double *j = gradc_fn_res_data(f, jres[r]);
      for (long i = 0; i < len[r]; i++)
        if (memcmp(&res[r][i], &j[i], sizeof *j)) {
          fail(fn, "result %d (%s) element %ld is %a, the JIT's %a (work %s)", r, name_out(r), i,
               res[r][i], j[i], pass ? "given" : "NULL");
          break;
        }
    }
  }
  long total = 0;
  for (int r = 0; r < nres; r++) {
    total += len[r];
    free(res[r]);
  }
  free(res), free(len), free(w);
  if (failures == before)
    printf("ok   %s: %d arguments, %d results (%ld numbers) equal the JIT's bit for bit\n", fn,
           nargs, nres, total);
  (void)g;
}

static double uniform(uint64_t *s) { /* splitmix64 -> [-1, 1) */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) / 4503599627370496.0 - 1.0;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s FILE.expr LIB.so PREFIX [NAME=VALUE...]\n", argv[0]);
    return 2;
  }
  lib = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    fprintf(stderr, "%s\n", dlerror());
    return 1;
  }
  snprintf(prefix, sizeof prefix, "%s", argv[3]);
  Gradc *g = gradc_new();
  gradc_set_blas(g, 0); /* the file is emitted without --blas: the same loops in the JIT */
  int bad = gradc_compile_file(g, argv[1]) != GRADC_OK;
  for (int i = 4; i < argc && !bad; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq)
      return 2;
    *eq = 0;
    bad = gradc_set_value_text(g, argv[i], eq + 1) != GRADC_OK;
  }
  if (bad || gradc_set_defaults(g, 7, 1) != GRADC_OK) {
    fputs(gradc_diag_render(g), stderr);
    return 1;
  }
  int nv = gradc_var_count(g), no = gradc_output_count(g), nd = gradc_dim_count(g), np = 0;
  long dims[16];
  for (int k = 0; k < nd && k < 16; k++)
    dims[k] = gradc_dim_value(g, k);
  /* the JIT's arguments: the variables, then a random tangent per param */
  const double **args = calloc((size_t)(2 * nv) + 1, sizeof *args);
  double **tan = calloc((size_t)nv + 1, sizeof *tan);
  uint64_t seed = 42;
  for (int v = 0; v < nv; v++) {
    long vd[8];
    int rank;
    args[v] = gradc_get_value(g, v, vd, &rank);
    if (gradc_var_is_param(g, v)) {
      long n = size_of(vd, rank);
      tan[np] = malloc(((size_t)n + 1) * sizeof **tan);
      for (long i = 0; i < n; i++)
        tan[np][i] = uniform(&seed);
      args[nv + np] = tan[np];
      np++;
    }
  }
  GradcFn *fv = gradc_fn_value(g), *fg = gradc_fn_grad(g, NULL, 0), *fj = gradc_fn_jvp(g, NULL, 0);
  if (!fv || !fg || !fj || gradc_run(fv, NULL) != GRADC_OK || gradc_run(fg, NULL) != GRADC_OK ||
      gradc_run(fj, (const double *const *)(args + nv)) != GRADC_OK) {
    fputs(gradc_diag_render(g), stderr);
    return 1;
  }
  int *jres = malloc((2 * (size_t)np + 2) * sizeof *jres);
  int kg = no; /* gradc_fn_grad: the outputs, then each scalar output's gradient */
  for (int o = 0; o < no; o++) {
    char fn[600];
    long od[8];
    snprintf(fn, sizeof fn, "%s_%s", prefix, gradc_output_name(g, o));
    jres[0] = o;
    check(g, fn, fv, args, nv, jres, 1, nd ? dims : NULL);
    if (gradc_output_shape(g, o, od) == 0) {
      snprintf(fn, sizeof fn, "%s_%s_grad", prefix, gradc_output_name(g, o));
      for (int p = 0; p < np; p++)
        jres[1 + p] = kg++;
      check(g, fn, fg, args, nv, jres, 1 + np, nd ? dims : NULL);
    }
    snprintf(fn, sizeof fn, "%s_%s_jvp", prefix, gradc_output_name(g, o));
    jres[1] = no + o; /* gradc_fn_jvp: the outputs, then each output's derivative */
    check(g, fn, fj, args, nv + np, jres, 2, nd ? dims : NULL);
    if (gradc_output_shape(g, o, od) == 0) { /* gradc_fn_hvp: value, gradient, H v */
      GradcFn *fh = gradc_fn_hvp(g, o, NULL, 0);
      if (!fh || gradc_run(fh, (const double *const *)(args + nv)) != GRADC_OK) {
        fputs(gradc_diag_render(g), stderr);
        return 1;
      }
      snprintf(fn, sizeof fn, "%s_%s_hvp", prefix, gradc_output_name(g, o));
      for (int k = 0; k < 1 + 2 * np; k++)
        jres[k] = k;
      check(g, fn, fh, args, nv + np, jres, 1 + 2 * np, nd ? dims : NULL);
    }
  }
  for (int p = 0; p < np; p++)
    free(tan[p]);
  free(tan);
  free(args);
  free(jres);
  gradc_free(g);
  dlclose(lib);
  return failures ? 1 : 0;
}
