/* bench_spectrum: the top Hessian eigenvalue of the digits network
 * (digits_bench.expr: 64-256-10, N = 1797, 19,210 params) to 1e-6
 * relative by gradc_spectrum (ARPACK's Lanczos on compiled HVPs), wall
 * time from the .expr file to the eigenvalue (compiling included), with
 * the libtcc and cc backends, with and without OpenBLAS.
 *   bench_spectrum [--tol T] [--reps R] [--save-inputs F.json] [--json F] [--quick]
 * The data are examples/digits.csv (pixels / 16); the params are seeded
 * N(0, 0.1^2), biases 0. --save-inputs writes them (and the reference
 * eigenvalue, "lambda_ref", from a run at tol 1e-12) for
 * spectrum_torch.py, which does the same computation with PyTorch's double
 * backward; spectrum.sh runs both. --quick: 200 rows, one rep (a smoke
 * test). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "gradc.h"

static double wall(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU seconds of this process and its children (cc compiles) */
static double cpu(void) {
  struct rusage s, c;
  getrusage(RUSAGE_SELF, &s);
  getrusage(RUSAGE_CHILDREN, &c);
  return (double)(s.ru_utime.tv_sec + s.ru_stime.tv_sec + c.ru_utime.tv_sec + c.ru_stime.tv_sec) +
         1e-6 * (double)(s.ru_utime.tv_usec + s.ru_stime.tv_usec + c.ru_utime.tv_usec +
                         c.ru_stime.tv_usec);
}

static unsigned long long rng = 2024;
static double normal(void) { /* Box-Muller on an LCG */
  double u[2];
  for (int i = 0; i < 2; i++) {
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    u[i] = ((double)(rng >> 11) + 0.5) * 0x1.0p-53;
  }
  return sqrt(-2 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

static const char *params[] = {"V", "b", "W", "c"};

/* A context with the digits data and the seeded params; NULL on error. */
static Gradc *load(GradcBackend be, int blas, long rows, const double *const *pvals) {
  Gradc *g = gradc_new();
  gradc_set_backend(g, be);
  if (blas && gradc_set_blas(g, 1) < 0) {
    gradc_free(g);
    return NULL;
  }
  char cols[512] = "";
  for (int i = 0; i < 64; i++)
    snprintf(cols + strlen(cols), sizeof cols - strlen(cols), "%sp%d", i ? "," : "", i);
  char xs[700], ls[200];
  snprintf(xs, sizeof xs, "@%s/digits.csv:%s", GRADC_EXAMPLES, cols);
  snprintf(ls, sizeof ls, "@%s/digits.csv:digit", GRADC_EXAMPLES);
  if (gradc_compile_file(g, GRADC_BENCH_DIR "/digits_bench.expr") != GRADC_OK ||
      gradc_set_value_text(g, "X", xs) != GRADC_OK || gradc_set_value_text(g, "label", ls) != GRADC_OK)
    goto fail;
  long dims[4], dlab[4]; /* gradc_get_value fills 4 */
  int rank;
  double *x = gradc_get_value(g, gradc_var_index(g, "X"), dims, &rank);
  double *lab = gradc_get_value(g, gradc_var_index(g, "label"), dlab, &rank);
  if (!x || !lab || dims[0] < rows)
    goto fail;
  for (long i = 0; i < rows * 64; i++)
    x[i] /= 16;
  long dx[2] = {rows, 64}, dl[1] = {rows};
  double *xc = malloc((size_t)rows * 64 * sizeof *xc), *lc = malloc((size_t)rows * sizeof *lc);
  memcpy(xc, x, (size_t)rows * 64 * sizeof *xc);
  memcpy(lc, lab, (size_t)rows * sizeof *lc);
  gradc_set_value(g, gradc_var_index(g, "X"), xc, dx, 2);
  gradc_set_value(g, gradc_var_index(g, "label"), lc, dl, 1);
  free(xc);
  free(lc);
  long pd[4][2] = {{256, 64}, {256, 0}, {10, 256}, {10, 0}};
  for (int k = 0; k < 4; k++)
    gradc_set_value(g, gradc_var_index(g, params[k]), pvals[k], pd[k], pd[k][1] ? 2 : 1);
  if (gradc_set_defaults(g, 0, 0) != GRADC_OK)
    goto fail;
  return g;
fail:
  fputs(gradc_diag_render(g), stderr);
  gradc_free(g);
  return NULL;
}

typedef struct Result {
  double seconds, cpu, lambda;
  long hvps;
} Result;

/* The top eigenvalue, from the .expr file: compile, values, Lanczos. */
static int top(GradcBackend be, int blas, long rows, const double *const *pvals, double tol,
               Result *r) {
  double t0 = wall(), c0 = cpu();
  Gradc *g = load(be, blas, rows, pvals);
  if (!g)
    return -1;
  GradcSpectrumOpts o = {.k = 1, .largest_only = 1, .tol = tol, .probes = 0, .seed = 1};
  GradcSpectrum s;
  if (gradc_spectrum(g, 0, NULL, 0, &o, &s) != GRADC_OK) {
    fputs(gradc_diag_render(g), stderr);
    gradc_free(g);
    return -1;
  }
  r->seconds = wall() - t0;
  r->cpu = cpu() - c0;
  r->lambda = s.largest[0];
  r->hvps = s.hvps;
  gradc_spectrum_free(&s);
  gradc_free(g);
  return 0;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static json_t *matrix(const double *d, long r, long c) {
  json_t *a = json_array();
  for (long i = 0; i < r; i++) {
    if (c == 0) {
      json_array_append_new(a, json_real(d[i]));
      continue;
    }
    json_t *row = json_array();
    for (long j = 0; j < c; j++)
      json_array_append_new(row, json_real(d[i * c + j]));
    json_array_append_new(a, row);
  }
  return a;
}

int main(int argc, char **argv) {
  double tol = 1e-6;
  int reps = 3, quick = 0;
  const char *save = NULL, *json = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick"))
      quick = 1;
    else if (!strcmp(argv[i], "--tol") && i + 1 < argc)
      tol = atof(argv[++i]);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
      reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--save-inputs") && i + 1 < argc)
      save = argv[++i];
    else if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else {
      fprintf(stderr, "usage: bench_spectrum [--tol T] [--reps R] [--save-inputs F.json] "
                      "[--json F] [--quick]\n");
      return 2;
    }
  }
  long rows = quick ? 200 : 1797;
  if (quick)
    reps = 1;
  static const long size[4] = {256 * 64, 256, 10 * 256, 10};
  double *pv[4];
  for (int k = 0; k < 4; k++) {
    pv[k] = malloc((size_t)size[k] * sizeof *pv[k]);
    for (long i = 0; i < size[k]; i++)
      pv[k][i] = k % 2 ? 0 : 0.1 * normal();
  }
  const double *const *pvals = (const double *const *)pv;
  /* the reference: Lanczos to 1e-12 */
  Result ref;
  if (top(GRADC_BACKEND_TCC, 1, rows, pvals, quick ? 1e-9 : 1e-12, &ref) < 0 &&
      top(GRADC_BACKEND_TCC, 0, rows, pvals, quick ? 1e-9 : 1e-12, &ref) < 0)
    return 1;
  printf("digits 64-256-10, N = %ld, 19210 params: top Hessian eigenvalue %.15g (tol 1e-12, %ld "
         "HVPs)\n",
         rows, ref.lambda, ref.hvps);
  printf("to %.0e relative, seconds from the .expr file to the eigenvalue (median of %d):\n", tol,
         reps);
  printf("  %-26s %8s %8s %6s %12s\n", "", "wall", "CPU", "HVPs", "rel. error");
  static const struct { const char *name; GradcBackend be; int blas; } cfg[] = {
      {"gradc tcc", GRADC_BACKEND_TCC, 0},
      {"gradc tcc --blas", GRADC_BACKEND_TCC, 1},
      {"gradc cc --blas", GRADC_BACKEND_CC, 1},
  };
  json_t *root = json_object(), *runs = json_array();
  json_object_set_new(root, "rows", json_integer(rows));
  json_object_set_new(root, "tol", json_real(tol));
  json_object_set_new(root, "lambda_ref", json_real(ref.lambda));
  for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
    if (quick && c > 0)
      break;
    double t[16], u[16], first = 0;
    Result r = {0};
    int ok = 1, n = reps < 16 ? reps : 16;
    for (int k = 0; k < n && ok; k++) {
      ok = top(cfg[c].be, cfg[c].blas, rows, pvals, tol, &r) == 0;
      t[k] = r.seconds;
      u[k] = r.cpu;
      if (k == 0)
        first = r.seconds;
    }
    if (!ok) {
      printf("  %-26s (not available)\n", cfg[c].name);
      continue;
    }
    qsort(t, (size_t)n, sizeof *t, cmp);
    qsort(u, (size_t)n, sizeof *u, cmp);
    double err = fabs(r.lambda - ref.lambda) / fabs(ref.lambda);
    printf("  %-26s %8.3f %8.3f %6ld %12.2e\n", cfg[c].name, t[n / 2], u[n / 2], r.hvps, err);
    if (cfg[c].be == GRADC_BACKEND_CC) /* the first run compiled (an empty cache) */
      printf("  %-26s %8.3f\n", "  first run (cc compiles)", first);
    json_t *o = json_object();
    json_object_set_new(o, "config", json_string(cfg[c].name));
    json_object_set_new(o, "seconds", json_real(t[n / 2]));
    json_object_set_new(o, "cpu_seconds", json_real(u[n / 2]));
    json_object_set_new(o, "first_seconds", json_real(first));
    json_object_set_new(o, "hvps", json_integer(r.hvps));
    json_object_set_new(o, "lambda", json_real(r.lambda));
    json_object_set_new(o, "rel_error", json_real(err));
    json_array_append_new(runs, o);
    if (err > tol) {
      fprintf(stderr, "bench_spectrum: %s is off by %.3g > %.3g\n", cfg[c].name, err, tol);
      return 1;
    }
  }
  json_object_set_new(root, "gradc", runs);
  if (json && json_dump_file(root, json, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) != 0)
    fprintf(stderr, "bench_spectrum: cannot write %s\n", json);
  json_decref(root);
  if (save) { /* the values for spectrum_torch.py */
    Gradc *g = load(GRADC_BACKEND_TCC, 0, rows, pvals);
    if (!g)
      return 1;
    json_t *in = json_object();
    long dims[4];
    int rank;
    double *x = gradc_get_value(g, gradc_var_index(g, "X"), dims, &rank);
    json_object_set_new(in, "X", matrix(x, rows, 64));
    json_object_set_new(in, "label", matrix(gradc_get_value(g, gradc_var_index(g, "label"), dims, &rank), rows, 0));
    json_object_set_new(in, "V", matrix(pv[0], 256, 64));
    json_object_set_new(in, "b", matrix(pv[1], 256, 0));
    json_object_set_new(in, "W", matrix(pv[2], 10, 256));
    json_object_set_new(in, "c", matrix(pv[3], 10, 0));
    json_object_set_new(in, "lambda_ref", json_real(ref.lambda));
    json_object_set_new(in, "tol", json_real(tol));
    if (json_dump_file(in, save, JSON_REAL_PRECISION(17)) != 0)
      fprintf(stderr, "bench_spectrum: cannot write %s\n", save);
    json_decref(in);
    gradc_free(g);
  }
  for (int k = 0; k < 4; k++)
    free(pv[k]);
  return 0;
}
