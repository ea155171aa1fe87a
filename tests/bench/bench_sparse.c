/* bench_sparse.c: sparse Jacobians and Hessians from the sparsity pattern
 * (sparsity.c, ColPack colouring, one sweep per colour), as ratios against
 * baselines in the same run:
 *   - the chained Rosenbrock Hessian (n = 10^4 and 10^5): the pattern
 *     (index sets), its colouring, the compressed evaluation (3 HVPs), all
 *     against one evaluation of the value and against one HVP;
 *   - the Broyden banded Jacobian (MGH 31, n = 1000): the same against one
 *     value, and the dense forward Jacobian (n JVPs, estimated from 50).
 * Times are process CPU time, the median of R runs; the first evaluation
 * (which compiles the sweep function) is reported apart. The whole
 * commands (`gradc hessian --sparse`, wall and CPU) are timed by
 * tests/bench/sparse.sh. Usage:
 *   bench_sparse [--quick] [--json FILE] [--reps R]
 * --quick runs small sizes (CI smoke test); nothing is asserted on time,
 * but the patterns are checked (3n - 2 nonzeros, at most 3 colours). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "colouring.h"
#include "gradc.h"
#include "sparsity.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *t, int n) {
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

static void die(Gradc *g, const char *what) {
  fprintf(stderr, "bench_sparse: %s\n%s", what, g ? gradc_diag_render(g) : "");
  exit(1);
}

static const char *ROSENBROCK = "param x[N]\noutput f = sum(100*(x[1:] - x[:-1]^2)^2 + (1 - x[:-1])^2)\n";
static const char *BROYDEN = "param x[N]\nI = arange(N)[:, None]\nJ = arange(N)[None, :]\n"
                             "band = (J >= I - 5)*(J <= I + 1)*(J != I)\n"
                             "output r = x*(2 + 5*x^2) + 1 - band @ (x*(1 + x))\n";

static Gradc *setup(const char *src, long n) {
  Gradc *g = gradc_new();
  if (!g || gradc_compile_string(g, "bench.expr", src, strlen(src)) != GRADC_OK)
    die(g, "compile");
  double *x = malloc((size_t)n * sizeof *x);
  unsigned long long s = 12345;
  for (long i = 0; i < n; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x[i] = -2 + 4 * (double)(s >> 11) * 0x1.0p-53;
  }
  if (gradc_set_value(g, 0, x, &n, 1) != GRADC_OK || gradc_set_defaults(g, 0, 0) != GRADC_OK)
    die(g, "values");
  free(x);
  return g;
}

typedef struct Row {
  const char *name;
  long n, nnz;
  int colours;
  double pattern, colouring, eval_first, eval, total, value, sweep, dense;
} Row;

/* Median CPU seconds of one call of f (after one warm-up call). */
static double time_fn(Gradc *g, GradcFn *f, const double *const *tan, int reps) {
  double *t = malloc((size_t)reps * sizeof *t);
  if (gradc_run(f, tan) != GRADC_OK)
    die(g, "run");
  for (int r = 0; r < reps; r++) {
    double t0 = now();
    if (gradc_run(f, tan) != GRADC_OK)
      die(g, "run");
    t[r] = now() - t0;
  }
  double m = median(t, reps);
  free(t);
  return m;
}

static Row bench(const char *name, const char *src, long n, int hessian, int reps, int dense_sweeps) {
  Row row = {.name = name, .n = n};
  Gradc *g = setup(src, n);
  double *tp = malloc((size_t)reps * sizeof *tp), *tc = malloc((size_t)reps * sizeof *tc);
  double *te = malloc((size_t)reps * sizeof *te);
  int w = 0;
  for (int r = 0; r < reps; r++) {
    Pattern p;
    double t0 = now();
    GradcStatus st = hessian ? sparsity_hessian(g, 0, &w, 1, SP_AT_VALUES, &p)
                             : sparsity_jacobian(g, &w, 1, &w, 1, SP_AT_VALUES, &p);
    tp[r] = now() - t0;
    if (st != GRADC_OK)
      die(g, "pattern");
    int *colour = malloc(((size_t)p.ncol + (size_t)p.nrow + 1) * sizeof *colour);
    t0 = now(); /* what gradc_sparse_* colours: star, or columns and rows */
    int k = hessian ? colour_star(p.nrow, p.rowptr, p.col, colour)
                    : colour_columns(p.nrow, p.ncol, p.rowptr, p.col, colour) +
                          colour_rows(p.nrow, p.ncol, p.rowptr, p.col, colour + p.ncol);
    tc[r] = now() - t0;
    if (k < 0)
      die(g, "colouring");
    free(colour);
    pattern_free(&p);
    GradcSparse *s = hessian ? gradc_sparse_hessian(g, 0, &w, 1, GRADC_SPARSE_AT_VALUES)
                             : gradc_sparse_jacobian(g, NULL, 0, &w, 1, GRADC_SPARSE_AT_VALUES);
    double t1 = now();
    if (!s)
      die(g, "sparse");
    if (gradc_sparse_eval(s) != GRADC_OK)
      die(g, "eval");
    te[r] = now() - t1;
    if (r == 0)
      row.eval_first = te[r];
    row.nnz = s->nnz;
    row.colours = s->ncolours;
    gradc_sparse_free(s);
  }
  row.pattern = median(tp, reps);
  row.colouring = median(tc, reps);
  row.eval = reps > 1 ? median(te + 1, reps - 1) : te[0];
  row.total = row.pattern + row.colouring + row.eval;
  GradcFn *fv = gradc_fn_value(g);
  if (!fv)
    die(g, "value");
  row.value = time_fn(g, fv, NULL, reps);
  double *v = calloc((size_t)n, sizeof *v);
  const double *tan[1] = {v};
  v[0] = 1;
  GradcFn *fs = hessian ? gradc_fn_hvp(g, 0, &w, 1) : gradc_fn_jvp(g, &w, 1);
  if (!fs)
    die(g, "sweep");
  row.sweep = time_fn(g, fs, tan, reps);
  if (dense_sweeps > 0) { /* the dense Jacobian: n JVPs, estimated from some */
    double t0 = now();
    for (int k = 0; k < dense_sweeps; k++) {
      v[k % n] = 1;
      if (gradc_run(fs, tan) != GRADC_OK)
        die(g, "dense");
      v[k % n] = 0;
    }
    row.dense = (now() - t0) / dense_sweeps * (double)n;
  }
  free(v);
  free(tp);
  free(tc);
  free(te);
  gradc_free(g);
  return row;
}

int main(int argc, char **argv) {
  int quick = 0, reps = 5;
  const char *json = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick"))
      quick = 1;
    else if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
      reps = atoi(argv[++i]) > 0 ? atoi(argv[i]) : 1;
    else {
      fprintf(stderr, "usage: bench_sparse [--quick] [--json FILE] [--reps R]\n");
      return 2;
    }
  }
  if (quick)
    reps = 2;
  Row rows[3];
  int nrows = 0;
  rows[nrows++] = bench("rosenbrock hessian", ROSENBROCK, quick ? 1000 : 10000, 1, reps, 0);
  rows[nrows++] = bench("rosenbrock hessian", ROSENBROCK, quick ? 10000 : 100000, 1, reps, 0);
  rows[nrows++] = bench("broyden jacobian", BROYDEN, quick ? 100 : 1000, 0, reps, quick ? 10 : 50);
  int bad = 0;
  for (int i = 0; i < 2; i++)
    if (rows[i].nnz != 3 * rows[i].n - 2 || rows[i].colours > 3) {
      fprintf(stderr, "bench_sparse: rosenbrock n=%ld: %ld nonzeros, %d colours (want %ld, <= 3)\n", rows[i].n,
              rows[i].nnz, rows[i].colours, 3 * rows[i].n - 2);
      bad = 1;
    }
  printf("CPU ms, medians of %d; ratios against one value evaluation (value) and one sweep (HVP or JVP)\n", reps);
  printf("%-20s %7s %8s %4s %8s %8s %8s %8s %8s %8s %8s %9s %9s %10s\n", "case", "n", "nnz", "col", "pattern",
         "colour", "eval1st", "eval", "total", "value", "sweep", "tot/value", "tot/sweep", "dense/tot");
  for (int i = 0; i < nrows; i++) {
    Row *r = &rows[i];
    printf("%-20s %7ld %8ld %4d %8.2f %8.2f %8.2f %8.2f %8.2f %8.3f %8.3f %9.1f %9.1f", r->name, r->n, r->nnz,
           r->colours, 1e3 * r->pattern, 1e3 * r->colouring, 1e3 * r->eval_first, 1e3 * r->eval, 1e3 * r->total,
           1e3 * r->value, 1e3 * r->sweep, r->total / r->value, r->total / r->sweep);
    if (r->dense > 0)
      printf(" %10.1f\n", r->dense / r->total);
    else
      printf(" %10s\n", "-");
  }
  if (json) {
    FILE *f = fopen(json, "w");
    if (!f) {
      perror(json);
      return 1;
    }
    fprintf(f, "[\n");
    for (int i = 0; i < nrows; i++) {
      Row *r = &rows[i];
      fprintf(f,
              "  {\"case\": \"%s\", \"n\": %ld, \"nnz\": %ld, \"colours\": %d, \"pattern_s\": %.6g, "
              "\"colouring_s\": %.6g, \"eval_first_s\": %.6g, \"eval_s\": %.6g, \"total_s\": %.6g, "
              "\"value_s\": %.6g, \"sweep_s\": %.6g, \"dense_s\": %.6g}%s\n",
              r->name, r->n, r->nnz, r->colours, r->pattern, r->colouring, r->eval_first, r->eval, r->total,
              r->value, r->sweep, r->dense, i + 1 < nrows ? "," : "");
    }
    fprintf(f, "]\n");
    fclose(f);
  }
  return bad;
}
