/* bench_jacobian.c: vector mode against one direction per sweep, for the
 * dense Jacobian of the map of issue 15,
 *   input A[N, N]; param x[N]; output r = tanh(A @ x) + x^2,
 * at N = 1000: one JVP per column (gradc_fn_jvp, N calls) against K
 * columns per call (gradc_fn_jvp_vector, N/K calls), one VJP per row
 * against K rows per call, for several K, with the loops of the JIT code
 * and with OpenBLAS (--blas; one BLAS thread unless OPENBLAS_NUM_THREADS is
 * set). Every figure is process CPU time, and the ratios are against the
 * one-direction baseline of the same run; the vector Jacobians are checked
 * against it (largest difference printed). With --cli GRADC it also times
 * the whole command `gradc jacobian FILE A=@a.json x=@x.json` (data written
 * as JSON), as a ratio to `gradc eval` on the same files. Usage:
 *   bench_jacobian [--quick] [--n N] [--k K1,K2,...] [--json FILE] [--cli GRADC]
 * --quick: N = 200 (seconds; CI's smoke run). Nothing is asserted on time. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gradc.h"

static double cpu(void) { /* process CPU time */
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double children_cpu(void) {
  struct rusage u;
  getrusage(RUSAGE_CHILDREN, &u);
  return (double)u.ru_utime.tv_sec + 1e-6 * (double)u.ru_utime.tv_usec + (double)u.ru_stime.tv_sec +
         1e-6 * (double)u.ru_stime.tv_usec;
}

static unsigned long long rng = 0x853c49e6748fea9bull;
static double uniform(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) * 0x1.0p-53 * 2 - 1;
}

static const char *program = "input A[N, N]\nparam x[N]\noutput r = tanh(A @ x) + x^2\n";

typedef struct Bench {
  long n;
  double *A, *x;
  double *ref_fwd, *ref_rev; /* the one-direction Jacobians, row-major */
} Bench;

static Gradc *context(const Bench *b, int blas) {
  Gradc *g = gradc_new();
  if (!g || gradc_compile_string(g, "map.expr", program, strlen(program)) != GRADC_OK) {
    fprintf(stderr, "%s", g ? gradc_diag_render(g) : "out of memory\n");
    exit(1);
  }
  if (blas && gradc_set_blas(g, 1) < 0) {
    gradc_free(g);
    return NULL;
  }
  long da[2] = {b->n, b->n}, dx[1] = {b->n};
  if (gradc_set_value(g, 0, b->A, da, 2) != GRADC_OK || gradc_set_value(g, 1, b->x, dx, 1) != GRADC_OK ||
      gradc_set_defaults(g, 0, 0) != GRADC_OK) {
    fprintf(stderr, "%s", gradc_diag_render(g));
    exit(1);
  }
  return g;
}

static void fail(Gradc *g) {
  fprintf(stderr, "%s", gradc_diag_render(g));
  exit(1);
}

/* The Jacobian into J (row-major n x n); returns CPU seconds, building the
 * function included. K = 0: one direction per call. */
static double jacobian(Gradc *g, long n, int K, int reverse, double *J) {
  double t0 = cpu();
  int wrt[1] = {1};
  if (!reverse) {
    int k = K ? K : 1;
    GradcFn *f = K ? gradc_fn_jvp_vector(g, wrt, 1, K) : gradc_fn_jvp(g, wrt, 1);
    double *t = calloc((size_t)(k * n), sizeof *t);
    if (!f || !t)
      fail(g);
    for (long c0 = 0; c0 < n; c0 += k) {
      int nd = n - c0 < k ? (int)(n - c0) : k;
      for (int d = 0; d < nd; d++)
        t[d * n + c0 + d] = 1;
      const double *args[1] = {t};
      if (gradc_run(f, args) != GRADC_OK)
        fail(g);
      for (int d = 0; d < nd; d++)
        t[d * n + c0 + d] = 0;
      const double *r = gradc_fn_res_data(f, 1);
      for (int d = 0; d < nd; d++)
        for (long i = 0; i < n; i++)
          J[i * n + c0 + d] = r[d * n + i];
    }
    free(t);
  } else {
    int k = K ? K : 1;
    GradcFn *f = K ? gradc_fn_vjp_vector(g, 0, wrt, 1, K) : gradc_fn_vjp(g, 0, wrt, 1);
    double *c = calloc((size_t)(k * n), sizeof *c);
    if (!f || !c)
      fail(g);
    for (long r0 = 0; r0 < n; r0 += k) {
      int nd = n - r0 < k ? (int)(n - r0) : k;
      for (int d = 0; d < nd; d++)
        c[d * n + r0 + d] = 1;
      const double *args[1] = {c};
      if (gradc_run(f, args) != GRADC_OK)
        fail(g);
      for (int d = 0; d < nd; d++)
        c[d * n + r0 + d] = 0;
      memcpy(J + r0 * n, gradc_fn_res_data(f, 1), (size_t)(nd * n) * sizeof *J);
    }
    free(c);
  }
  return cpu() - t0;
}

static double max_diff(const double *a, const double *b, long n) {
  double m = 0;
  for (long i = 0; i < n; i++)
    m = fmax(m, fabs(a[i] - b[i]));
  return m;
}

static void write_json_matrix(const char *path, const double *d, long rows, long cols) {
  FILE *f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(1);
  }
  fputc('[', f);
  for (long i = 0; i < rows; i++) {
    if (cols > 1)
      fputs(i ? ",\n[" : "[", f);
    for (long j = 0; j < cols; j++)
      fprintf(f, "%s%.17g", j ? ", " : "", d[i * cols + j]);
    if (cols > 1)
      fputc(']', f);
    else if (i + 1 < rows)
      fputs(", ", f);
  }
  fputs("]\n", f);
  fclose(f);
}

/* CPU seconds of one run of the command (its output to /dev/null). */
static double run_cli(const char *cmd) {
  double t0 = children_cpu();
  if (system(cmd) != 0) {
    fprintf(stderr, "failed: %s\n", cmd);
    exit(1);
  }
  return children_cpu() - t0;
}

static double median3(double a, double b, double c) {
  return a > b ? (b > c ? b : (a > c ? c : a)) : (a > c ? a : (b > c ? c : b));
}

int main(int argc, char **argv) {
  Bench b = {.n = 1000};
  const char *json = NULL, *cli = NULL, *klist = "1,4,8,16,32,64,128";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick"))
      b.n = 200, klist = "1,16,64";
    else if (!strcmp(argv[i], "--n") && i + 1 < argc)
      b.n = atol(argv[++i]);
    else if (!strcmp(argv[i], "--k") && i + 1 < argc)
      klist = argv[++i];
    else if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else if (!strcmp(argv[i], "--cli") && i + 1 < argc)
      cli = argv[++i];
    else {
      fprintf(stderr, "usage: bench_jacobian [--quick] [--n N] [--k K1,K2,...] [--json FILE] [--cli GRADC]\n");
      return 2;
    }
  }
  long n = b.n;
  if (n < 1) {
    fprintf(stderr, "bench_jacobian: --n must be positive\n");
    return 2;
  }
  b.A = malloc((size_t)(n * n) * sizeof *b.A);
  b.x = malloc((size_t)n * sizeof *b.x);
  double *J = malloc((size_t)(n * n) * sizeof *J);
  b.ref_fwd = malloc((size_t)(n * n) * sizeof *J);
  b.ref_rev = malloc((size_t)(n * n) * sizeof *J);
  if (!b.A || !b.x || !J || !b.ref_fwd || !b.ref_rev)
    return 1;
  for (long i = 0; i < n * n; i++)
    b.A[i] = uniform() * sqrt(3.0 / (double)n);
  for (long i = 0; i < n; i++)
    b.x[i] = uniform();
  int ks[32], nk = 0;
  for (const char *p = klist; *p && nk < 32;) {
    ks[nk++] = atoi(p);
    p = strchr(p, ',');
    if (!p)
      break;
    p++;
  }

  FILE *js = json ? fopen(json, "w") : NULL;
  if (js)
    fprintf(js, "{\"n\": %ld, \"runs\": [", n);
  int first = 1;
  printf("tanh(A @ x) + x^2, N = %ld: the %ld x %ld Jacobian, CPU seconds (function built inside)\n", n, n, n);
  Gradc *g0 = context(&b, 0);
  double t_fwd = jacobian(g0, n, 0, 0, b.ref_fwd), t_rev = jacobian(g0, n, 0, 1, b.ref_rev);
  gradc_free(g0);
  printf("  one direction per call:  forward %7.3f s   reverse %7.3f s\n", t_fwd, t_rev);
  printf("  %-7s %5s  %9s %8s %10s  %9s %8s %10s\n", "", "K", "forward", "ratio", "max diff", "reverse", "ratio",
         "max diff");
  for (int blas = 0; blas < 2; blas++) {
    Gradc *g = context(&b, blas);
    if (!g) {
      printf("  (no OpenBLAS in this build)\n");
      break;
    }
    for (int i = 0; i < nk; i++) {
      int K = ks[i];
      if (K < 1)
        continue;
      double tf = jacobian(g, n, K, 0, J), df = max_diff(J, b.ref_fwd, n * n);
      double tr = jacobian(g, n, K, 1, J), dr = max_diff(J, b.ref_rev, n * n);
      printf("  %-7s %5d  %7.3f s %7.1fx %10.2g  %7.3f s %7.1fx %10.2g\n", blas ? "--blas" : "loops", K, tf,
             t_fwd / tf, df, tr, t_rev / tr, dr);
      fflush(stdout);
      if (js)
        fprintf(js,
                "%s\n  {\"blas\": %d, \"K\": %d, \"forward_s\": %.4f, \"forward_ratio\": %.3f, \"reverse_s\": %.4f, "
                "\"reverse_ratio\": %.3f, \"forward_max_diff\": %.3g, \"reverse_max_diff\": %.3g}",
                first ? "" : ",", blas, K, tf, t_fwd / tf, tr, t_rev / tr, df, dr);
      first = 0;
    }
    gradc_free(g);
  }
  if (js)
    fprintf(js, "\n], \"one_direction_forward_s\": %.4f, \"one_direction_reverse_s\": %.4f", t_fwd, t_rev);

  char *cli_abs = cli ? realpath(cli, NULL) : NULL; /* the runs cd to the data */
  if (cli && !cli_abs) {
    perror(cli);
    return 1;
  }
  if (cli) { /* the whole command, against eval on the same files */
    cli = cli_abs;
    char dir[] = "/tmp/gradc-bench-jac-XXXXXX", cmd[2048];
    if (!mkdtemp(dir))
      return 1;
    snprintf(cmd, sizeof cmd, "%s/map.expr", dir);
    FILE *f = fopen(cmd, "w");
    if (!f)
      return 1;
    fputs(program, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "%s/a.json", dir);
    write_json_matrix(cmd, b.A, n, n);
    snprintf(cmd, sizeof cmd, "%s/x.json", dir);
    write_json_matrix(cmd, b.x, n, 1);
    printf("the whole command (CPU seconds, median of 3; output to /dev/null):\n");
    static const char *const what[] = {"eval", "jacobian", "jacobian --blas", "jacobian --mode forward",
                                       "jacobian --mode forward --blas"};
    double t[5];
    for (int w = 0; w < 5; w++) {
      snprintf(cmd, sizeof cmd, "cd %s && %s %s map.expr A=@a.json x=@x.json >/dev/null", dir, cli, what[w]);
      t[w] = median3(run_cli(cmd), run_cli(cmd), run_cli(cmd));
      printf("  gradc %-32s %7.3f s  (%.1fx eval)\n", what[w], t[w], t[w] / t[0]);
    }
    if (js)
      fprintf(js, ", \"cli\": {\"eval_s\": %.4f, \"jacobian_s\": %.4f, \"jacobian_blas_s\": %.4f, "
                  "\"jacobian_forward_s\": %.4f, \"jacobian_forward_blas_s\": %.4f}",
              t[0], t[1], t[2], t[3], t[4]);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
      fprintf(stderr, "could not remove %s\n", dir);
  }
  if (js) {
    fprintf(js, "}\n");
    fclose(js);
  }
  free(cli_abs);
  free(b.A);
  free(b.x);
  free(J);
  free(b.ref_fwd);
  free(b.ref_rev);
  return 0;
}
