/* bench_grad.c: the cheap-gradient bound. For each workload, the cost of
 * value+gradient against the value alone, in the same run:
 *   ops ratio  = arithmetic operations in the emitted code (gradc_fn_op_count)
 *   time ratio = median time per call of value+gradient / value
 * with the tcc backend and the cc backend. Usage:
 *   bench_grad [--quick] [--json FILE] [--backend tcc|cc|both]
 * --quick runs small sizes for CI (seconds); ratios are printed, never
 * asserted on time. */
#include <math.h>
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

typedef struct Text {
  char *s;
  size_t len, cap;
} Text;

static void put(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static void put(Text *t, const char *fmt, ...) {
  va_list ap;
  for (;;) {
    va_start(ap, fmt);
    int n = vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n >= 0 && t->len + (size_t)n < t->cap) {
      t->len += (size_t)n;
      return;
    }
    t->cap = t->cap ? 2 * t->cap + (size_t)n : 4096;
    t->s = realloc(t->s, t->cap);
    if (!t->s)
      exit(1);
  }
}

/* Rosenbrock, unrolled: sum 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2 */
static char *rosenbrock(int n) {
  Text t = {0};
  put(&t, "output f = 0");
  for (int i = 0; i + 1 < n; i++)
    put(&t, " + 100*(x%d - x%d^2)^2 + (1 - x%d)^2", i + 1, i, i);
  put(&t, "\n");
  return t.s;
}

static unsigned long long rng = 88172645463325252ull;
static unsigned rnd(unsigned n) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (unsigned)(rng % n);
}

/* A random DAG of about `nodes` operations over 16 inputs, each node reading
 * recent nodes (or any earlier one); every unused node feeds the output.
 * edges: half the operations are ones whose derivative may be infinite
 * (sqrt, log, exp, pow, division), so strong-zero products (SPEC 1.6) are
 * what the gradient pays for; otherwise only bounded operations. */
static char *random_dag(int nodes, int edges) {
  Text t = {0};
  int nin = 16, n = nin + nodes;
  char *used = calloc((size_t)n, 1);
  for (int k = nin; k < n; k++) {
    int a = rnd(4) ? k - 1 - (int)rnd(k < 32 ? (unsigned)k : 32u) : (int)rnd((unsigned)k);
    int b = rnd(4) ? k - 1 - (int)rnd(k < 32 ? (unsigned)k : 32u) : (int)rnd((unsigned)k);
    used[a] = used[b] = 1;
    put(&t, "a%d = ", k);
#define A(i) (i) < nin ? "x" : "a", (i)
    if (edges && rnd(2)) {
      switch (rnd(5)) {
      case 0: put(&t, "sqrt(%s%d^2 + %s%d^2)\n", A(a), A(b)); break;
      case 1: put(&t, "log(1 + %s%d^2) * %s%d\n", A(a), A(b)); break;
      case 2: put(&t, "exp(-%s%d^2) * %s%d\n", A(a), A(b)); break;
      case 3: put(&t, "%s%d / (1 + %s%d^2)\n", A(a), A(b)); break;
      default: put(&t, "pow(%s%d^2 + 0.5, 0.75)\n", A(a)); break;
      }
      continue;
    }
    switch (rnd(7)) {
    case 0: put(&t, "%s%d * %s%d\n", A(a), A(b)); break;
    case 1: put(&t, "%s%d + %s%d\n", A(a), A(b)); break;
    case 2: put(&t, "%s%d - 0.5*%s%d\n", A(a), A(b)); break;
    case 3: put(&t, "sin(%s%d)\n", A(a)); break;
    case 4: put(&t, "tanh(%s%d + %s%d)\n", A(a), A(b)); break;
    case 5: put(&t, "sigmoid(%s%d) * %s%d\n", A(a), A(b)); break;
    default: put(&t, "cos(%s%d) * 0.9\n", A(a)); break;
    }
  }
  put(&t, "output f = 0");
  for (int k = nin; k < n; k++)
    if (!used[k])
      put(&t, " + a%d", k);
  put(&t, "\n");
  /* inputs are x0..x15, referenced as x<i> */
  free(used);
  return t.s;
}
#undef A

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median seconds per call over 7 samples of >= 20 ms each. */
static double time_calls(GradcFn *f, const double *const *args, double *const *res) {
  long reps = 1;
  for (;;) {
    double t0 = now();
    for (long r = 0; r < reps; r++)
      gradc_call(f, args, res);
    if (now() - t0 > 0.02)
      break;
    reps *= 2;
  }
  double s[7];
  for (int k = 0; k < 7; k++) {
    double t0 = now();
    for (long r = 0; r < reps; r++)
      gradc_call(f, args, res);
    s[k] = (now() - t0) / (double)reps;
  }
  qsort(s, 7, sizeof *s, cmp);
  return s[3];
}

typedef struct Row {
  const char *workload, *backend;
  int nodes;
  long ops_v, ops_g;
  double compile_v, compile_g, t_v, t_g;
} Row;

static int run(const char *name, const char *src, GradcBackend be, Row *row) {
  Gradc *g = gradc_new();
  gradc_set_backend(g, be);
  if (gradc_compile_string(g, name, src, strlen(src)) != GRADC_OK) {
    fputs(gradc_diag_render(g), stderr);
    gradc_free(g);
    return -1;
  }
  row->nodes = gradc_node_count(g);
  double t0 = now();
  GradcFn *fv = gradc_fn_value(g);
  double t1 = now();
  GradcFn *fg = gradc_fn_grad(g, NULL, 0);
  double t2 = now();
  if (!fv || !fg) {
    fputs(gradc_diag_render(g), stderr);
    gradc_free(g);
    return -1;
  }
  int nv = gradc_var_count(g), nr = gradc_fn_res_count(fg);
  double *x = malloc((size_t)nv * sizeof *x), *r = malloc((size_t)nr * sizeof *r);
  const double **args = malloc((size_t)nv * sizeof *args);
  double **res = malloc((size_t)nr * sizeof *res);
  for (int i = 0; i < nv; i++) {
    x[i] = 0.1 + 0.8 * (double)rnd(1000) / 1000.0;
    args[i] = &x[i];
  }
  for (int i = 0; i < nr; i++)
    res[i] = &r[i];
  row->ops_v = gradc_fn_op_count(fv);
  row->ops_g = gradc_fn_op_count(fg);
  row->compile_v = t1 - t0;
  row->compile_g = t2 - t1;
  row->t_v = time_calls(fv, args, res);
  row->t_g = time_calls(fg, args, res);
  free(x);
  free(r);
  free(args);
  free(res);
  gradc_free(g);
  return 0;
}

/* Time gradc_run of f. */
static double time_run(GradcFn *f) {
  long reps = 1;
  for (;;) {
    double t0 = now();
    for (long r = 0; r < reps; r++)
      gradc_run(f, NULL);
    if (now() - t0 > 0.02)
      break;
    reps *= 2;
  }
  double s[7];
  for (int k = 0; k < 7; k++) {
    double t0 = now();
    for (long r = 0; r < reps; r++)
      gradc_run(f, NULL);
    s[k] = (now() - t0) / (double)reps;
  }
  qsort(s, 7, sizeof *s, cmp);
  return s[3];
}

/* The Iris network (tests/bench/iris_bench.expr) on n random flowers. */
static int run_iris(const char *path, long n, GradcBackend be, Row *row) {
  Gradc *g = gradc_new();
  gradc_set_backend(g, be);
  if (gradc_compile_file(g, path) != GRADC_OK) {
    fputs(gradc_diag_render(g), stderr);
    gradc_free(g);
    return -1;
  }
  for (int i = 0; i < gradc_var_count(g); i++) {
    long dims[4];
    int rank = gradc_var_shape(g, i, dims);
    long size = 1;
    for (int k = 0; k < rank; k++) {
      if (dims[k] < 0)
        dims[k] = n;
      size *= dims[k];
    }
    double *v = malloc((size_t)size * sizeof *v);
    int label = !strcmp(gradc_var_name(g, i), "label");
    for (long e = 0; e < size; e++)
      v[e] = label ? (double)(e % 3) : (double)rnd(1000) / 500.0 - 1.0;
    gradc_set_value(g, i, v, dims, rank);
    free(v);
  }
  if (gradc_set_defaults(g, 0, 0) != GRADC_OK) {
    fputs(gradc_diag_render(g), stderr);
    gradc_free(g);
    return -1;
  }
  double t0 = now();
  GradcFn *fv = gradc_fn_value(g);
  double t1 = now();
  GradcFn *fg = gradc_fn_grad(g, NULL, 0);
  double t2 = now();
  if (!fv || !fg) {
    fputs(gradc_diag_render(g), stderr);
    gradc_free(g);
    return -1;
  }
  row->nodes = gradc_node_count(g);
  row->ops_v = gradc_fn_op_count(fv);
  row->ops_g = gradc_fn_op_count(fg);
  row->compile_v = t1 - t0;
  row->compile_g = t2 - t1;
  row->t_v = time_run(fv);
  row->t_g = time_run(fg);
  gradc_free(g);
  return 0;
}

int main(int argc, char **argv) {
  int quick = 0;
  const char *json = NULL, *backends = "both", *iris_path = GRADC_BENCH_DIR "/iris_bench.expr";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick"))
      quick = 1;
    else if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else if (!strcmp(argv[i], "--backend") && i + 1 < argc)
      backends = argv[++i];
    else if (!strcmp(argv[i], "--iris") && i + 1 < argc)
      iris_path = argv[++i];
    else {
      fprintf(stderr, "usage: bench_grad [--quick] [--json FILE] [--backend tcc|cc|both]\n");
      return 2;
    }
  }
  int n_rosen = quick ? 100 : 1000, n_dag = quick ? 1000 : 10000;
  char name1[64], name2[64], name3[64];
  snprintf(name1, sizeof name1, "rosenbrock n=%d", n_rosen);
  snprintf(name2, sizeof name2, "random DAG %d", n_dag);
  snprintf(name3, sizeof name3, "edges DAG %d", n_dag);
  char *srcs[3] = {rosenbrock(n_rosen), random_dag(n_dag, 0), random_dag(n_dag, 1)};
  const char *names[3] = {name1, name2, name3};
  Row rows[10];
  int nrows = 0, fail = 0;
  for (int b = 0; b < 2; b++) {
    const char *bname = b ? "cc" : "tcc";
    if (strcmp(backends, "both") && strcmp(backends, bname))
      continue;
    for (int w = 0; w < 3; w++) {
      Row *r = &rows[nrows];
      r->workload = names[w];
      r->backend = bname;
      if (run(names[w], srcs[w], b ? GRADC_BACKEND_CC : GRADC_BACKEND_TCC, r) < 0) {
        fail = 1;
        continue;
      }
      nrows++;
    }
    /* the Iris network, N = 150 and N = 100,000 (ops per row of data) */
    long ns[2] = {150, quick ? 2000 : 100000};
    for (int k = 0; k < 2; k++) {
      Row *r = &rows[nrows];
      static char names[2][48];
      snprintf(names[k], sizeof names[k], "iris N=%ld", ns[k]);
      r->workload = names[k];
      r->backend = bname;
      if (run_iris(iris_path, ns[k], b ? GRADC_BACKEND_CC : GRADC_BACKEND_TCC, r) < 0) {
        fail = 1;
        continue;
      }
      nrows++;
    }
  }
  printf("%-20s %-4s %8s %8s %8s %6s %10s %10s %12s %12s %6s\n", "workload", "be", "nodes",
         "ops f", "ops f+g", "ratio", "build f", "build f+g", "f / call", "f+g / call", "ratio");
  for (int i = 0; i < nrows; i++) {
    Row *r = &rows[i];
    printf("%-20s %-4s %8d %8ld %8ld %6.2f %9.1fms %9.1fms %10.2fus %10.2fus %6.2f\n", r->workload,
           r->backend, r->nodes, r->ops_v, r->ops_g, (double)r->ops_g / (double)r->ops_v,
           1e3 * r->compile_v, 1e3 * r->compile_g, 1e6 * r->t_v, 1e6 * r->t_g, r->t_g / r->t_v);
  }
  if (json) {
    FILE *f = fopen(json, "w");
    if (f) {
      fprintf(f, "[\n");
      for (int i = 0; i < nrows; i++) {
        Row *r = &rows[i];
        fprintf(f,
                "  {\"workload\": \"%s\", \"backend\": \"%s\", \"nodes\": %d, \"ops_value\": %ld, "
                "\"ops_value_grad\": %ld, \"ops_ratio\": %.4f, \"build_value_s\": %.6f, "
                "\"build_value_grad_s\": %.6f, \"value_s\": %.9f, \"value_grad_s\": %.9f, "
                "\"time_ratio\": %.4f}%s\n",
                r->workload, r->backend, r->nodes, r->ops_v, r->ops_g,
                (double)r->ops_g / (double)r->ops_v, r->compile_v, r->compile_g, r->t_v, r->t_g,
                r->t_g / r->t_v, i + 1 < nrows ? "," : "");
      }
      fprintf(f, "]\n");
      fclose(f);
    }
  }
  for (int w = 0; w < 3; w++)
    free(srcs[w]);
  return fail;
}
