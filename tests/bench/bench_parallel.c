/* bench_parallel.c: value+gradient over blocks of rows on 1 and 2 threads
 * (parallel.c), against one call over all the rows in the same run.
 *
 *   ./build/tests/bench/bench_parallel [--quick] [--reps R]   (from the repository root)
 *
 * The Iris network (iris_bench.expr) on examples/iris.csv replicated to
 * N = 10^6 rows, the same with an L2 regulariser (iris_l2_bench.expr: a
 * mean plus a term without rows, split so the blocks run the mean and the
 * regulariser is computed once), and the digits network (digits_bench.expr) on
 * examples/digits.csv replicated 64 times (N = 115,008). Per case: the
 * median wall time per call of one call over all the rows (the baseline:
 * gradc before threads), of the blocks on 1 thread and on 2 threads, the
 * speedup of 2 threads over 1, and, because the machine may be shared with
 * other jobs, the speedup estimated from CPU time: the CPU seconds of 1
 * thread over the mean CPU seconds of the 2 threads (what 2 free cores
 * would take if the blocks, taken as threads come free, balance them). Results are checked to be the same bits for 1 and 2 threads.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gradc.h"
#include "parallel.h"

static double wall(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die(Gradc *g, const char *what) {
  fprintf(stderr, "bench_parallel: %s: %s\n", what, g ? gradc_diag_render(g) : "");
  exit(1);
}

/* Replicate the values of var (read from a CSV) `times` times along N. */
static void replicate(Gradc *g, const char *name, long times) {
  int v = gradc_var_index(g, name);
  long dims[4];
  int rank;
  double *d = gradc_get_value(g, v, dims, &rank);
  long row = 1;
  for (int k = 1; k < rank; k++)
    row *= dims[k];
  long n = dims[0];
  double *big = malloc((size_t)(n * times * row) * sizeof *big);
  if (!big)
    die(NULL, "out of memory");
  for (long t = 0; t < times; t++)
    memcpy(big + t * n * row, d, (size_t)(n * row) * sizeof *big);
  dims[0] = n * times;
  if (gradc_set_value(g, v, big, dims, rank) != GRADC_OK)
    die(g, "set_value");
  free(big);
}

typedef struct Result {
  double one_call, t1, t2, cpu1, cpu2max;
  int same;
} Result;

static Result bench(const char *file, const char *xcols, const char *ycol, long rows, int reps) {
  Result r = {0};
  double *res1 = NULL;
  long nres = 0;
  for (int mode = 0; mode < 3; mode++) { /* one call, 1 thread, 2 threads */
    Gradc *g = gradc_new();
    if (gradc_compile_file(g, file) != GRADC_OK)
      die(g, file);
    if (gradc_set_value_text(g, "X", xcols) != GRADC_OK || gradc_set_value_text(g, "label", ycol) != GRADC_OK)
      die(g, "data");
    long dims[4];
    int rank;
    gradc_get_value(g, gradc_var_index(g, "X"), dims, &rank);
    long times = (rows + dims[0] - 1) / dims[0];
    replicate(g, "X", times);
    replicate(g, "label", times);
    for (int v = 0; v < gradc_var_count(g); v++) { /* params: fixed pseudo-random numbers */
      if (!gradc_var_is_param(g, v))
        continue;
      long pd[4], m = 1;
      int pr = gradc_var_shape(g, v, pd);
      for (int e = 0; e < pr; e++)
        m *= pd[e];
      double *p = malloc((size_t)m * sizeof *p);
      for (long e = 0; e < m; e++)
        p[e] = 0.5 * sin(1.0 + 7.0 * (double)e + (double)v);
      gradc_set_value(g, v, p, pd, pr);
      free(p);
    }
    if (gradc_set_defaults(g, 1, 0) != GRADC_OK)
      die(g, "defaults");
    gradc_set_threads(g, mode == 2 ? 2 : 1);
    gradc_set_block_rows(g, mode == 0 ? dims[0] * times + 1 : 0);
    GradcFn *f = gradc_fn_grad(g, NULL, 0);
    if (!f || gradc_run(f, NULL) != GRADC_OK) /* warm: workspaces, pages */
      die(g, "grad");
    double *wt = calloc((size_t)reps, sizeof *wt), *ct = calloc((size_t)reps, sizeof *ct);
    for (int k = 0; k < reps; k++) {
      double t0 = wall();
      if (gradc_run(f, NULL) != GRADC_OK)
        die(g, "grad");
      wt[k] = wall() - t0;
      const ParCtx *c = par_ctx(g);
      double sum = 0;
      for (int t = 0; t < c->nthread_cpu; t++)
        sum += c->thread_cpu[t];
      ct[k] = c->nthread_cpu ? sum / c->nthread_cpu : 0; /* per thread, if balanced */
    }
    double w = median(wt, reps), cm = median(ct, reps);
    if (mode == 0)
      r.one_call = w;
    else if (mode == 1)
      r.t1 = w, r.cpu1 = cm;
    else
      r.t2 = w, r.cpu2max = cm;
    /* the results of 1 and 2 threads: the same bits */
    long n = 0;
    for (int i = 0; i < gradc_fn_res_count(f); i++) {
      long d[4], m = 1;
      int rk = gradc_fn_res_shape(f, i, d);
      for (int e = 0; e < rk; e++)
        m *= d[e];
      n += m;
    }
    double *all = malloc((size_t)n * sizeof *all);
    for (int i = 0, at = 0; i < gradc_fn_res_count(f); i++) {
      long d[4], m = 1;
      int rk = gradc_fn_res_shape(f, i, d);
      for (int e = 0; e < rk; e++)
        m *= d[e];
      memcpy(all + at, gradc_fn_res_data(f, i), (size_t)m * sizeof *all);
      at += (int)m;
    }
    if (mode == 1) {
      res1 = all;
      nres = n;
    } else {
      if (mode == 2)
        r.same = n == nres && memcmp(all, res1, (size_t)n * sizeof *all) == 0;
      free(all);
    }
    free(wt);
    free(ct);
    gradc_free(g);
  }
  free(res1);
  return r;
}

int main(int argc, char **argv) {
  int reps = 3, quick = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick"))
      quick = 1, reps = 2;
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
      reps = atoi(argv[++i]);
  }
  if (reps < 1)
    reps = 1;
  char digits_cols[1200] = "@examples/digits.csv:";
  for (int k = 0; k < 64; k++)
    snprintf(digits_cols + strlen(digits_cols), sizeof digits_cols - strlen(digits_cols), "%sp%d", k ? "," : "", k);
  struct {
    const char *name, *file, *x, *y;
    long rows;
  } cases[] = {
      {"iris N=10^6", "tests/bench/iris_bench.expr", "@examples/iris.csv:petal_length,petal_width",
       "@examples/iris.csv:species", quick ? 100000 : 1000000},
      {"iris+L2 N=10^6", "tests/bench/iris_l2_bench.expr", "@examples/iris.csv:petal_length,petal_width",
       "@examples/iris.csv:species", quick ? 100000 : 1000000},
      {"digits N=1797x64", "tests/bench/digits_bench.expr", digits_cols, "@examples/digits.csv:digit",
       quick ? 1797 * 2 : 1797 * 64},
  };
  int ok = 1;
  printf("value+gradient, median of %d calls (wall seconds); machine load counts, see cpu speedup\n", reps);
  printf("%-18s %10s %10s %10s %8s %8s %5s\n", "case", "one call", "1 thread", "2 threads", "speedup",
         "cpu-est", "same");
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    Result r = bench(cases[i].file, cases[i].x, cases[i].y, cases[i].rows, reps);
    printf("%-18s %10.4f %10.4f %10.4f %7.2fx %7.2fx %5s\n", cases[i].name, r.one_call, r.t1, r.t2, r.t1 / r.t2,
           r.cpu1 / r.cpu2max, r.same ? "yes" : "NO");
    ok &= r.same;
  }
  return ok ? 0 : 1;
}
