/* bench_hvp.c: the cost of one Hessian-vector product (forward over
 * reverse, gradc_fn_hvp) of the digits network (digits_bench.expr,
 * 64-256-10, N = 1797 random rows) against its value alone and against its
 * value+gradient, in the same run: median CPU time per call, and the
 * arithmetic operations of the code (gradc_fn_op_count); and one product
 * at a fixed point (gradc_hvp_at_apply: only the tangent sweeps, the
 * primal values and adjoints computed once before), what `gradc spectrum`
 * runs per product. They are timed in turn, 9 rounds; the ratios are
 * medians of the rounds' ratios.
 * Issue 15's target:
 * HVP <= 4x value and <= 2.5x value+gradient. Usage:
 *   bench_hvp [--quick] [--json FILE] [--backend tcc|cc|both] [--blas]
 *             [--digits PATH] [--n N]
 * --quick: N = 200 (seconds, for CI). Ratios are printed, never asserted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gradc.h"

static double now(void) { /* process CPU time */
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static unsigned long long rng = 88172645463325252ull;
static double uniform(void) { /* in [-1, 1) */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) * 0x1.0p-52 - 1.0;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Seconds per gradc_run of f, over reps runs. */
static double per_run(GradcFn *f, const double *const *tangents, long reps) {
  double t0 = now();
  for (long r = 0; r < reps; r++)
    gradc_run(f, tangents);
  return (now() - t0) / (double)reps;
}

/* Seconds per gradc_hvp_at_apply, over reps products. */
static double per_apply(GradcHvpAt *h, const double *const *v, double *const *hv, long reps) {
  double t0 = now();
  for (long r = 0; r < reps; r++)
    gradc_hvp_at_apply(h, v, hv);
  return (now() - t0) / (double)reps;
}

/* Runs of f (f NULL: products of h) that take about 30 ms. */
static long calibrate(GradcFn *f, const double *const *tangents, GradcHvpAt *h, double *const *hv) {
  long reps = 1;
  while ((f ? per_run(f, tangents, reps) : per_apply(h, tangents, hv, reps)) * (double)reps < 0.03)
    reps *= 2;
  return reps;
}

#define ROUNDS 9

static double median(double *x, int n) {
  qsort(x, (size_t)n, sizeof *x, cmp);
  return x[n / 2];
}

typedef struct Row {
  const char *backend;
  int blas;
  long ops_v, ops_g, ops_h, ops_o;
  double t_v, t_g, t_h, t_o, t_a;  /* median seconds per call */
  /* medians over rounds of hvp/value, hvp/(value+gradient), the same for
   * hvp-only, and gradc_hvp_at_apply/value */
  double r_hv, r_hg, r_ov, r_og, r_av;
} Row;

static int fail(Gradc *g) {
  fputs(gradc_diag_render(g), stderr);
  gradc_free(g);
  return -1;
}

static int run(const char *path, long n, GradcBackend be, int blas, Row *row) {
  Gradc *g = gradc_new();
  gradc_set_backend(g, be);
  if (blas && gradc_set_blas(g, 1) < 0) {
    gradc_free(g);
    return 1; /* built without OpenBLAS: no row */
  }
  if (gradc_compile_file(g, path) != GRADC_OK)
    return fail(g);
  for (int i = 0; i < gradc_var_count(g); i++) {
    long dims[4], size = 1;
    int rank = gradc_var_shape(g, i, dims);
    for (int k = 0; k < rank; k++) {
      if (dims[k] < 0)
        dims[k] = n;
      size *= dims[k];
    }
    double *v = malloc((size_t)size * sizeof *v);
    int label = !strcmp(gradc_var_name(g, i), "label");
    for (long e = 0; e < size; e++)
      v[e] = label ? (double)(e % 10) : 0.3 * uniform();
    gradc_set_value(g, i, v, dims, rank);
    free(v);
  }
  if (gradc_set_defaults(g, 0, 0) != GRADC_OK)
    return fail(g);
  GradcFn *fv = gradc_fn_value(g), *fg = gradc_fn_grad(g, NULL, 0), *fh = gradc_fn_hvp(g, 0, NULL, 0);
  GradcFn *fo = gradc_fn_hvp_only(g, 0, NULL, 0);
  GradcHvpAt *ha = gradc_hvp_at(g, 0, NULL, 0);
  if (!fv || !fg || !fh || !fo || !ha)
    return fail(g);
  int nv = gradc_var_count(g), nt = gradc_fn_arg_count(fh) - nv;
  double **v = calloc((size_t)nt, sizeof *v), **hv = calloc((size_t)nt, sizeof *hv);
  for (int k = 0; k < nt; k++) {
    long dims[4], size = 1;
    int rank = gradc_fn_arg_shape(fh, nv + k, dims);
    for (int i = 0; i < rank; i++)
      size *= dims[i];
    v[k] = malloc((size_t)size * sizeof **v);
    hv[k] = malloc((size_t)size * sizeof **hv);
    for (long e = 0; e < size; e++)
      v[k][e] = uniform();
  }
  row->ops_v = gradc_fn_op_count(fv);
  row->ops_g = gradc_fn_op_count(fg);
  row->ops_h = gradc_fn_op_count(fh);
  row->ops_o = gradc_fn_op_count(fo);
  /* the three are timed in turn in each round, so that a change in the
   * machine's load between rounds moves them together; the ratios are
   * taken per round */
  const double *const *tv = (const double *const *)v;
  long nv_ = calibrate(fv, NULL, NULL, NULL), ng = calibrate(fg, NULL, NULL, NULL);
  long nh = calibrate(fh, tv, NULL, NULL), no = calibrate(fo, tv, NULL, NULL);
  long na = calibrate(NULL, tv, ha, hv);
  double tf[ROUNDS], tg[ROUNDS], th[ROUNDS], to[ROUNDS], ta[ROUNDS], rv[ROUNDS], rg[ROUNDS], ov[ROUNDS];
  double og[ROUNDS], av[ROUNDS];
  for (int k = 0; k < ROUNDS; k++) {
    tf[k] = per_run(fv, NULL, nv_);
    tg[k] = per_run(fg, NULL, ng);
    th[k] = per_run(fh, tv, nh);
    to[k] = per_run(fo, tv, no);
    ta[k] = per_apply(ha, tv, hv, na);
    av[k] = ta[k] / tf[k];
    rv[k] = th[k] / tf[k];
    rg[k] = th[k] / tg[k];
    ov[k] = to[k] / tf[k];
    og[k] = to[k] / tg[k];
  }
  row->t_v = median(tf, ROUNDS);
  row->t_g = median(tg, ROUNDS);
  row->t_h = median(th, ROUNDS);
  row->t_o = median(to, ROUNDS);
  row->t_a = median(ta, ROUNDS);
  row->r_av = median(av, ROUNDS);
  row->r_hv = median(rv, ROUNDS);
  row->r_hg = median(rg, ROUNDS);
  row->r_ov = median(ov, ROUNDS);
  row->r_og = median(og, ROUNDS);
  for (int k = 0; k < nt; k++) {
    free(v[k]);
    free(hv[k]);
  }
  free(v);
  free(hv);
  gradc_hvp_at_free(ha);
  gradc_free(g);
  return 0;
}

int main(int argc, char **argv) {
  int quick = 0, blas = 0;
  long n = 1797;
  const char *json = NULL, *backends = "both", *path = GRADC_BENCH_DIR "/digits_bench.expr";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick"))
      quick = 1;
    else if (!strcmp(argv[i], "--blas"))
      blas = 1;
    else if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else if (!strcmp(argv[i], "--backend") && i + 1 < argc)
      backends = argv[++i];
    else if (!strcmp(argv[i], "--digits") && i + 1 < argc)
      path = argv[++i];
    else if (!strcmp(argv[i], "--n") && i + 1 < argc)
      n = atol(argv[++i]);
    else {
      fprintf(stderr, "usage: bench_hvp [--quick] [--json FILE] [--backend tcc|cc|both] [--blas]"
                      " [--digits PATH] [--n N]\n");
      return 2;
    }
  }
  if (quick)
    n = 200;
  Row rows[4];
  int nrows = 0, failed = 0;
  for (int b = 0; b < 2; b++)
    for (int bl = 0; bl <= blas; bl++) {
      const char *bname = b ? "cc" : "tcc";
      if (strcmp(backends, "both") && strcmp(backends, bname))
        continue;
      Row *r = &rows[nrows];
      r->backend = bname;
      r->blas = bl;
      int rc = run(path, n, b ? GRADC_BACKEND_CC : GRADC_BACKEND_TCC, bl, r);
      if (rc < 0)
        failed = 1;
      if (rc == 0)
        nrows++;
    }
  printf("digits 64-256-10, N = %ld: one HVP against the value (f) and the value+gradient (f+g)\n"
         "  hvp: value, gradient and H v (gradc_fn_hvp, P_F_hvp); H v: value and H v\n"
         "  (gradc_fn_hvp_only, what `gradc hvp` runs); at x: H v by gradc_hvp_at_apply (the tangent\n"
         "  sweeps only, what `gradc spectrum` runs per product); time per call, ratios: medians of %d\n"
         "  rounds\n",
         n, ROUNDS);
  printf("%-9s %6s %6s %6s %6s %9s %9s %9s %9s %9s %6s %6s %6s %6s %6s\n", "backend", "ops f", "f+g",
         "hvp", "H v", "f", "f+g", "hvp", "H v", "at x", "hvp/f", "/f+g", "Hv/f", "/f+g", "at/f");
  for (int i = 0; i < nrows; i++) {
    Row *r = &rows[i];
    char be[16];
    snprintf(be, sizeof be, "%s%s", r->backend, r->blas ? "+blas" : "");
    printf("%-9s %6ld %6ld %6ld %6ld %7.2fms %7.2fms %7.2fms %7.2fms %7.2fms %6.2f %6.2f %6.2f %6.2f "
           "%6.2f\n",
           be, r->ops_v, r->ops_g, r->ops_h, r->ops_o, 1e3 * r->t_v, 1e3 * r->t_g, 1e3 * r->t_h,
           1e3 * r->t_o, 1e3 * r->t_a, r->r_hv, r->r_hg, r->r_ov, r->r_og, r->r_av);
  }
  if (json) {
    FILE *f = fopen(json, "w");
    if (f) {
      fprintf(f, "[\n");
      for (int i = 0; i < nrows; i++) {
        Row *r = &rows[i];
        fprintf(f,
                "  {\"workload\": \"digits N=%ld\", \"backend\": \"%s\", \"blas\": %d, "
                "\"ops_value\": %ld, \"ops_value_grad\": %ld, \"ops_hvp\": %ld, \"ops_hvp_only\": %ld, "
                "\"value_s\": %.9f, \"value_grad_s\": %.9f, \"hvp_s\": %.9f, \"hvp_only_s\": %.9f, "
                "\"hvp_at_s\": %.9f, \"hvp_at_over_value\": %.4f, "
                "\"hvp_over_value\": %.4f, \"hvp_over_value_grad\": %.4f, "
                "\"hvp_only_over_value\": %.4f, \"hvp_only_over_value_grad\": %.4f}%s\n",
                n, r->backend, r->blas, r->ops_v, r->ops_g, r->ops_h, r->ops_o, r->t_v, r->t_g,
                r->t_h, r->t_o, r->t_a, r->r_av, r->r_hv, r->r_hg, r->r_ov, r->r_og,
                i + 1 < nrows ? "," : "");
      }
      fprintf(f, "]\n");
      fclose(f);
    }
  }
  return failed;
}
