/* bench_grad.c: the cheap-gradient bound. For each workload, the cost of
 * value+gradient against the value alone, in the same run:
 *   ops ratio  = arithmetic operations in the emitted code (gradc_fn_op_count)
 *   time ratio = CPU time per call of value+gradient / value: the two are
 *                timed in turn in each of ROUNDS rounds, the ratio taken per
 *                round, and the medians printed (a change of load on a
 *                shared machine moves both)
 * with the tcc backend and the cc backend. Issue 18's targets: at most 1.5
 * with cc -O2 and 2 with tcc on the Rosenbrock (over scalars and over
 * x[1000] read by index) and the random DAG.
 * Then the compile time of the C that `gradc emit` writes (value, gradient,
 * JVP and HVP of each workload) by `cc -O2 -c`, each program over scalars
 * side by side with the same one over a vector read by index (CPU time of
 * the compiler, medians of interleaved rounds). Usage:
 *   bench_grad [--quick] [--json FILE] [--backend tcc|cc|both]
 *              [--only SUBSTRING] [--compile-rounds R] [--no-compile]
 *              [--programs DIR]
 * --programs DIR writes each workload's .expr to DIR (the names with
 * spaces, '=', '[' and ']' made '_') and exits: `gradc emit` them to read
 * the code that is timed.
 * With --ref GRADC (another build's gradc, e.g. main's), the value function
 * of each workload as this gradc emits it against as GRADC emits it (both
 * --abi array, compiled with cc -O2 and with tcc into shared objects, timed
 * in turn in the same rounds): issue 18 asks that no per-call value time
 * get worse.
 * --quick runs small sizes for CI (seconds); ratios are printed, never
 * asserted on time. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <dlfcn.h>
#include <unistd.h>

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

/* Rosenbrock, unrolled: sum 100 (x[i+1] - x[i]^2)^2 + (1 - x[i])^2, over
 * n scalars x0, x1, ... or (vec) over one vector param x[n] read by index */
static char *rosenbrock(int n, int vec) {
  Text t = {0};
  const char *fmt = vec ? " + 100*(x[%d] - x[%d]^2)^2 + (1 - x[%d])^2"
                        : " + 100*(x%d - x%d^2)^2 + (1 - x%d)^2";
  if (vec)
    put(&t, "param x[%d]\n", n);
  put(&t, "output f = 0");
  for (int i = 0; i + 1 < n; i++)
    put(&t, fmt, i + 1, i, i);
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

/* A random DAG of about `nodes` operations over nin inputs (scalars x0,
 * x1, ... or, vec, the elements of one vector param x[nin]), each node
 * reading recent nodes (or any earlier one); every unused node feeds the
 * output. edges: half the operations are ones whose derivative may be
 * infinite (sqrt, log, exp, pow, division), so strong-zero products (SPEC
 * 1.6) are what the gradient pays for; otherwise only bounded operations.
 * The same seed gives the same DAG over scalars and over the vector (seed
 * 0: the generator goes on from where it is). */
static char *random_dag(int nodes, int nin, int edges, int vec, unsigned long long seed) {
  Text t = {0};
  int n = nin + nodes;
  char *used = calloc((size_t)n, 1);
  if (seed)
    rng = seed;
  if (vec)
    put(&t, "param x[%d]\n", nin);
  for (int k = nin; k < n; k++) {
    int a = rnd(4) ? k - 1 - (int)rnd(k < 32 ? (unsigned)k : 32u) : (int)rnd((unsigned)k);
    int b = rnd(4) ? k - 1 - (int)rnd(k < 32 ? (unsigned)k : 32u) : (int)rnd((unsigned)k);
    used[a] = used[b] = 1;
    char sa[32], sb[32];
    snprintf(sa, sizeof sa, a < nin ? (vec ? "x[%d]" : "x%d") : "a%d", a);
    snprintf(sb, sizeof sb, b < nin ? (vec ? "x[%d]" : "x%d") : "a%d", b);
    put(&t, "a%d = ", k);
    if (edges && rnd(2)) {
      switch (rnd(5)) {
      case 0: put(&t, "sqrt(%s^2 + %s^2)\n", sa, sb); break;
      case 1: put(&t, "log(1 + %s^2) * %s\n", sa, sb); break;
      case 2: put(&t, "exp(-%s^2) * %s\n", sa, sb); break;
      case 3: put(&t, "%s / (1 + %s^2)\n", sa, sb); break;
      default: put(&t, "pow(%s^2 + 0.5, 0.75)\n", sa); break;
      }
      continue;
    }
    switch (rnd(7)) {
    case 0: put(&t, "%s * %s\n", sa, sb); break;
    case 1: put(&t, "%s + %s\n", sa, sb); break;
    case 2: put(&t, "%s - 0.5*%s\n", sa, sb); break;
    case 3: put(&t, "sin(%s)\n", sa); break;
    case 4: put(&t, "tanh(%s + %s)\n", sa, sb); break;
    case 5: put(&t, "sigmoid(%s) * %s\n", sa, sb); break;
    default: put(&t, "cos(%s) * 0.9\n", sa); break;
    }
  }
  put(&t, "output f = 0");
  for (int k = nin; k < n; k++)
    if (!used[k])
      put(&t, " + a%d", k);
  put(&t, "\n");
  free(used);
  return t.s;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *x, int n) {
  qsort(x, (size_t)n, sizeof *x, cmp);
  return x[n / 2];
}

#define ROUNDS 9

/* A function and its arguments: gradc_call with them, or gradc_run on
 * the context's values (args NULL). */
typedef struct Call {
  GradcFn *f;
  const double *const *args;
  double *const *res;
} Call;

static double per_call(const Call *c, long reps) {
  double t0 = now();
  for (long r = 0; r < reps; r++) {
    if (c->args)
      gradc_call(c->f, c->args, c->res);
    else
      gradc_run(c->f, NULL);
  }
  return (now() - t0) / (double)reps;
}

/* Calls that take about 20 ms. */
static long calibrate(const Call *c) {
  long reps = 1;
  while (per_call(c, reps) * (double)reps < 0.02)
    reps *= 2;
  return reps;
}

typedef struct Row {
  const char *workload, *backend;
  int nodes;
  long ops_v, ops_g;
  double compile_v, compile_g, t_v, t_g, ratio; /* medians of the rounds */
} Row;

/* Value and value+gradient timed in turn, ROUNDS rounds. */
static void time_pair(const Call *v, const Call *g, Row *row) {
  long nv = calibrate(v), ng = calibrate(g);
  double tv[ROUNDS], tg[ROUNDS], r[ROUNDS];
  for (int k = 0; k < ROUNDS; k++) {
    tv[k] = per_call(v, nv);
    tg[k] = per_call(g, ng);
    r[k] = tg[k] / tv[k];
  }
  row->t_v = median(tv, ROUNDS);
  row->t_g = median(tg, ROUNDS);
  row->ratio = median(r, ROUNDS);
}

static int failed(Gradc *g) {
  fputs(gradc_diag_render(g), stderr);
  gradc_free(g);
  return -1;
}

static int run(const char *name, const char *src, GradcBackend be, Row *row) {
  Gradc *g = gradc_new();
  gradc_set_backend(g, be);
  if (gradc_compile_string(g, name, src, strlen(src)) != GRADC_OK)
    return failed(g);
  row->nodes = gradc_node_count(g);
  double t0 = now();
  GradcFn *fv = gradc_fn_value(g);
  double t1 = now();
  GradcFn *fg = gradc_fn_grad(g, NULL, 0);
  double t2 = now();
  if (!fv || !fg)
    return failed(g);
  int nv = gradc_var_count(g), nr = gradc_fn_res_count(fg);
  long total = 0, rtotal = 0;
  for (int i = 0; i < nv; i++) {
    long dims[4], size = 1;
    int rank = gradc_var_shape(g, i, dims);
    for (int k = 0; k < rank; k++)
      size *= dims[k];
    total += size;
  }
  for (int i = 0; i < nr; i++) {
    long dims[4], size = 1;
    int rank = gradc_fn_res_shape(fg, i, dims);
    for (int k = 0; k < rank; k++)
      size *= dims[k];
    rtotal += size;
  }
  double *x = malloc((size_t)total * sizeof *x), *r = malloc((size_t)rtotal * sizeof *r);
  const double **args = malloc((size_t)nv * sizeof *args);
  double **res = malloc((size_t)nr * sizeof *res);
  for (long i = 0; i < total; i++)
    x[i] = 0.1 + 0.8 * (double)rnd(1000) / 1000.0;
  for (int i = 0, at = 0; i < nv; i++) {
    long dims[4], size = 1;
    int rank = gradc_var_shape(g, i, dims);
    for (int k = 0; k < rank; k++)
      size *= dims[k];
    args[i] = x + at;
    at += (int)size;
  }
  for (int i = 0, at = 0; i < nr; i++) {
    long dims[4], size = 1;
    int rank = gradc_fn_res_shape(fg, i, dims);
    for (int k = 0; k < rank; k++)
      size *= dims[k];
    res[i] = r + at;
    at += (int)size;
  }
  row->ops_v = gradc_fn_op_count(fv);
  row->ops_g = gradc_fn_op_count(fg);
  row->compile_v = t1 - t0;
  row->compile_g = t2 - t1;
  Call cv = {fv, args, res}, cg = {fg, args, res};
  time_pair(&cv, &cg, row);
  free(x);
  free(r);
  free(args);
  free(res);
  gradc_free(g);
  return 0;
}

/* The Iris network (tests/bench/iris_bench.expr) on n random flowers. */
static int run_iris(const char *path, long n, GradcBackend be, Row *row) {
  Gradc *g = gradc_new();
  gradc_set_backend(g, be);
  if (gradc_compile_file(g, path) != GRADC_OK)
    return failed(g);
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
  if (gradc_set_defaults(g, 0, 0) != GRADC_OK)
    return failed(g);
  double t0 = now();
  GradcFn *fv = gradc_fn_value(g);
  double t1 = now();
  GradcFn *fg = gradc_fn_grad(g, NULL, 0);
  double t2 = now();
  if (!fv || !fg)
    return failed(g);
  row->nodes = gradc_node_count(g);
  row->ops_v = gradc_fn_op_count(fv);
  row->ops_g = gradc_fn_op_count(fg);
  row->compile_v = t1 - t0;
  row->compile_g = t2 - t1;
  Call cv = {fv, NULL, NULL}, cg = {fg, NULL, NULL};
  time_pair(&cv, &cg, row);
  gradc_free(g);
  return 0;
}

/* CPU seconds of `$CC -O2 -c` (default cc) on the C that gradc emit
 * writes for src (value, gradient, JVP and HVP); -1 on failure. */
static double compile_seconds(const char *name, const char *src, const char *dir) {
  Gradc *g = gradc_new();
  char *c = NULL;
  if (gradc_compile_string(g, name, src, strlen(src)) != GRADC_OK ||
      gradc_emit(g, "bench", &c, NULL, NULL) != GRADC_OK) {
    failed(g);
    return -1;
  }
  gradc_free(g);
  char path[512], obj[512];
  snprintf(path, sizeof path, "%s/bench.c", dir);
  snprintf(obj, sizeof obj, "%s/bench.o", dir);
  FILE *f = fopen(path, "w");
  if (!f || fputs(c, f) < 0 || fclose(f) != 0) {
    free(c);
    return -1;
  }
  free(c);
  const char *cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
  pid_t pid = fork();
  if (pid == 0) {
    execlp(cc, cc, "-O2", "-c", path, "-o", obj, (char *)NULL);
    _exit(127);
  }
  int st;
  struct rusage ru;
  if (pid < 0 || wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
    return -1;
  unlink(path);
  unlink(obj);
  return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec +
         (double)ru.ru_stime.tv_sec + 1e-6 * (double)ru.ru_stime.tv_usec;
}

/* ---- the value function against another gradc's (--ref) ---------------- */

typedef int (*ArrayFn)(const double **, double **, const long *, double *);

typedef struct Loaded {
  void *so;
  ArrayFn f;
  const double **args;
  double **res, *work, *mem;
} Loaded;

static int run_cmd(const char *cmd) {
  int st = system(cmd);
  return st == 0 ? 0 : -1;
}

/* dir/PREFIX.c compiled by `compiler` (a command: "cc -O2" or "tcc") into
 * dir/PREFIX.so, loaded, with arguments, results and workspace for P_f. */
static int load_value(const char *dir, const char *prefix, const char *compiler, Loaded *l) {
  char cmd[2048], path[600], sym[96];
  memset(l, 0, sizeof *l);
  snprintf(cmd, sizeof cmd, "%s -shared -fPIC %s/%s.c -o %s/%s.so -lm", compiler, dir, prefix, dir, prefix);
  if (run_cmd(cmd) < 0)
    return -1;
  snprintf(path, sizeof path, "%s/%s.so", dir, prefix);
  l->so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!l->so)
    return -1;
  snprintf(sym, sizeof sym, "%s_f", prefix);
  l->f = (ArrayFn)dlsym(l->so, sym);
  snprintf(sym, sizeof sym, "%s_f_n_in", prefix);
  int (*n_in)(void) = (int (*)(void))dlsym(l->so, sym);
  snprintf(sym, sizeof sym, "%s_f_shape_in", prefix);
  int (*shape_in)(int, const long *, long *) = (int (*)(int, const long *, long *))dlsym(l->so, sym);
  snprintf(sym, sizeof sym, "%s_f_work", prefix);
  long (*work)(const long *) = (long (*)(const long *))dlsym(l->so, sym);
  if (!l->f || !n_in || !shape_in || !work)
    return -1;
  long dims[1] = {0}, shape[8];
  int nin = n_in();
  long total = 0;
  for (int i = 0; i < nin; i++) {
    long size = 1;
    int rank = shape_in(i, dims, shape);
    for (int k = 0; k < rank; k++)
      size *= shape[k];
    total += size;
  }
  l->mem = malloc((size_t)(total + 1) * sizeof *l->mem);
  l->args = malloc((size_t)(nin + 1) * sizeof *l->args);
  l->res = malloc(sizeof *l->res);
  l->res[0] = malloc(sizeof(double));
  long at = 0;
  for (int i = 0; i < nin; i++) {
    long size = 1;
    int rank = shape_in(i, dims, shape);
    for (int k = 0; k < rank; k++)
      size *= shape[k];
    l->args[i] = l->mem + at;
    at += size;
  }
  for (long e = 0; e < total; e++) /* the same values for both */
    l->mem[e] = 0.1 + 0.8 * (double)((e * 37) % 1000) / 1000.0;
  long need = work(dims);
  l->work = need > 0 ? malloc((size_t)need * sizeof *l->work) : NULL;
  return 0;
}

static void unload(Loaded *l) {
  if (l->so)
    dlclose(l->so);
  if (l->res)
    free(l->res[0]);
  free(l->res);
  free(l->args);
  free(l->mem);
  free(l->work);
}

static double loaded_per_call(const Loaded *l, long reps) {
  long dims[1] = {0};
  double t0 = now();
  for (long r = 0; r < reps; r++)
    l->f(l->args, l->res, dims, l->work);
  return (now() - t0) / (double)reps;
}

typedef struct VRow {
  const char *workload, *compiler;
  double t_cur, t_ref, ratio; /* medians */
} VRow;

/* The value of src emitted by this gradc and by `ref`, compiled by each
 * compiler, timed in turn in ROUNDS rounds; the first value's bits must
 * agree. */
static int value_vs_ref(const char *ref, const char *name, const char *src, const char *dir,
                        const char *compiler, VRow *row) {
  char path[600], cmd[2048];
  snprintf(path, sizeof path, "%s/w.expr", dir);
  FILE *f = fopen(path, "w");
  if (!f || fputs(src, f) < 0 || fclose(f) != 0)
    return -1;
  snprintf(cmd, sizeof cmd, "%s emit %s --abi array --prefix ref -o %s/ref.c --header %s/ref.h", ref, path, dir,
           dir);
  if (run_cmd(cmd) < 0)
    return -1;
  Gradc *g = gradc_new();
  char *c = NULL, *h = NULL;
  gradc_set_emit_abi(g, GRADC_ABI_ARRAY);
  if (gradc_compile_string(g, name, src, strlen(src)) != GRADC_OK ||
      gradc_emit(g, "cur", &c, &h, "cur.h") != GRADC_OK)
    return failed(g);
  gradc_free(g);
  snprintf(path, sizeof path, "%s/cur.c", dir);
  f = fopen(path, "w");
  int bad = !f || fputs(c, f) < 0 || fclose(f) != 0;
  snprintf(path, sizeof path, "%s/cur.h", dir);
  f = bad ? NULL : fopen(path, "w");
  bad = bad || !f || fputs(h, f) < 0 || fclose(f) != 0;
  free(c);
  free(h);
  Loaded lc, lr;
  if (bad || load_value(dir, "cur", compiler, &lc) < 0 || load_value(dir, "ref", compiler, &lr) < 0) {
    fprintf(stderr, "bench_grad: %s: the value through %s failed\n", name, compiler);
    return -1;
  }
  long dims[1] = {0};
  lc.f(lc.args, lc.res, dims, lc.work);
  lr.f(lr.args, lr.res, dims, lr.work);
  if (fabs(lc.res[0][0] - lr.res[0][0]) > 1e-12 * (1 + fabs(lr.res[0][0])))
    fprintf(stderr, "bench_grad: %s: values differ (%.17g vs %.17g)\n", name, lc.res[0][0], lr.res[0][0]);
  long nc = 1, nr = 1;
  while (loaded_per_call(&lc, nc) * (double)nc < 0.02)
    nc *= 2;
  while (loaded_per_call(&lr, nr) * (double)nr < 0.02)
    nr *= 2;
  double tc[ROUNDS], tr[ROUNDS], r[ROUNDS];
  for (int k = 0; k < ROUNDS; k++) {
    tc[k] = loaded_per_call(&lc, nc);
    tr[k] = loaded_per_call(&lr, nr);
    r[k] = tc[k] / tr[k];
  }
  row->workload = name;
  row->compiler = compiler;
  row->t_cur = median(tc, ROUNDS);
  row->t_ref = median(tr, ROUNDS);
  row->ratio = median(r, ROUNDS);
  unload(&lc);
  unload(&lr);
  const char *files[] = {"w.expr", "ref.c", "ref.h", "ref.so", "cur.c", "cur.h", "cur.so"};
  for (int k = 0; k < 7; k++) {
    snprintf(path, sizeof path, "%s/%s", dir, files[k]);
    unlink(path);
  }
  return 0;
}

typedef struct CRow {
  const char *workload;
  double scalars, vector, ratio; /* medians */
} CRow;

int main(int argc, char **argv) {
  int quick = 0, crounds = 1, compile = 1;
  const char *json = NULL, *backends = "both", *only = NULL, *ref = NULL, *programs = NULL,
             *iris_path = GRADC_BENCH_DIR "/iris_bench.expr";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick"))
      quick = 1;
    else if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else if (!strcmp(argv[i], "--backend") && i + 1 < argc)
      backends = argv[++i];
    else if (!strcmp(argv[i], "--iris") && i + 1 < argc)
      iris_path = argv[++i];
    else if (!strcmp(argv[i], "--only") && i + 1 < argc)
      only = argv[++i];
    else if (!strcmp(argv[i], "--compile-rounds") && i + 1 < argc)
      crounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--no-compile"))
      compile = 0;
    else if (!strcmp(argv[i], "--ref") && i + 1 < argc)
      ref = argv[++i];
    else if (!strcmp(argv[i], "--programs") && i + 1 < argc)
      programs = argv[++i];
    else {
      fprintf(stderr, "usage: bench_grad [--quick] [--json FILE] [--backend tcc|cc|both]\n"
                      "                  [--only SUBSTRING] [--compile-rounds R] [--no-compile]\n"
                      "                  [--ref GRADC] [--programs DIR]\n");
      return 2;
    }
  }
  if (crounds < 1)
    crounds = 1;
  int n_rosen = quick ? 100 : 1000, n_dag = quick ? 1000 : 10000, nin = 100;
  /* the random DAG and the edges DAG over 16 scalars are those of earlier
   * runs (the same seed); the DAG over 100 inputs is written over scalars
   * and over x[100], the same DAG */
  enum { NW = 6 };
  char names[NW][64];
  snprintf(names[0], sizeof names[0], "rosenbrock n=%d", n_rosen);
  snprintf(names[1], sizeof names[1], "rosenbrock x[%d]", n_rosen);
  snprintf(names[2], sizeof names[2], "random DAG %d", n_dag);
  snprintf(names[3], sizeof names[3], "random DAG %d n=%d", n_dag, nin);
  snprintf(names[4], sizeof names[4], "random DAG %d x[%d]", n_dag, nin);
  snprintf(names[5], sizeof names[5], "edges DAG %d", n_dag);
  char *srcs[NW];
  srcs[0] = rosenbrock(n_rosen, 0);
  srcs[1] = rosenbrock(n_rosen, 1);
  srcs[2] = random_dag(n_dag, 16, 0, 0, 88172645463325252ull);
  srcs[5] = random_dag(n_dag, 16, 1, 0, 0); /* continues the generator, as before */
  srcs[3] = random_dag(n_dag, nin, 0, 0, 88172645463325252ull);
  srcs[4] = random_dag(n_dag, nin, 0, 1, 88172645463325252ull);
  if (programs) {
    int bad = 0;
    for (int w = 0; w < NW; w++) {
      char path[1024], base[sizeof names[0]];
      memcpy(base, names[w], sizeof base); /* (both NUL-terminated, of one size) */
      for (char *c = base; *c; c++)
        if (*c == ' ' || *c == '=' || *c == '[' || *c == ']')
          *c = '_';
      snprintf(path, sizeof path, "%.900s/%s.expr", programs, base);
      FILE *f = fopen(path, "w");
      int wrote = f && fputs(srcs[w], f) >= 0;
      if (f && fclose(f) != 0)
        wrote = 0;
      if (!wrote) {
        fprintf(stderr, "bench_grad: cannot write %s\n", path);
        bad = 1;
      } else
        printf("%s\n", path);
    }
    for (int w = 0; w < NW; w++)
      free(srcs[w]);
    return bad;
  }
  Row rows[2 * (NW + 2)];
  int nrows = 0, fail = 0;
  for (int b = 0; b < 2; b++) {
    const char *bname = b ? "cc" : "tcc";
    if (strcmp(backends, "both") && strcmp(backends, bname))
      continue;
    for (int w = 0; w < NW; w++) {
      if (only && !strstr(names[w], only))
        continue;
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
      static char inames[2][48];
      snprintf(inames[k], sizeof inames[k], "iris N=%ld", ns[k]);
      if (only && !strstr(inames[k], only))
        continue;
      r->workload = inames[k];
      r->backend = bname;
      if (run_iris(iris_path, ns[k], b ? GRADC_BACKEND_CC : GRADC_BACKEND_TCC, r) < 0) {
        fail = 1;
        continue;
      }
      nrows++;
    }
  }
  printf("value (f) and value+gradient (f+g): CPU time per call, medians of %d interleaved rounds\n",
         ROUNDS);
  printf("%-24s %-4s %7s %7s %7s %6s %9s %9s %10s %10s %6s\n", "workload", "be", "nodes",
         "ops f", "ops f+g", "ratio", "build f", "build f+g", "f / call", "f+g / call", "ratio");
  for (int i = 0; i < nrows; i++) {
    Row *r = &rows[i];
    printf("%-24s %-4s %7d %7ld %7ld %6.2f %7.1fms %7.1fms %8.2fus %8.2fus %6.2f\n", r->workload,
           r->backend, r->nodes, r->ops_v, r->ops_g, (double)r->ops_g / (double)r->ops_v,
           1e3 * r->compile_v, 1e3 * r->compile_g, 1e6 * r->t_v, 1e6 * r->t_g, r->ratio);
  }
  /* cc -O2 -c of the emitted C: scalars against the vector read by index */
  CRow crows[2];
  int ncrows = 0;
  char dir[] = "/tmp/bench_grad_XXXXXX";
  if (compile && mkdtemp(dir)) {
    int pairs[2][2] = {{0, 1}, {3, 4}};
    for (int p = 0; p < 2; p++) {
      if (only && !strstr(names[pairs[p][0]], only) && !strstr(names[pairs[p][1]], only))
        continue;
      double ts[16], tv[16], tr[16];
      int ok = 1;
      for (int k = 0; k < crounds && k < 16 && ok; k++) {
        ts[k] = compile_seconds(names[pairs[p][0]], srcs[pairs[p][0]], dir);
        tv[k] = compile_seconds(names[pairs[p][1]], srcs[pairs[p][1]], dir);
        tr[k] = tv[k] / ts[k];
        ok = ts[k] > 0 && tv[k] > 0;
      }
      if (!ok) {
        fprintf(stderr, "bench_grad: cc -O2 -c failed on %s\n", names[pairs[p][0]]);
        fail = 1;
        continue;
      }
      int n = crounds < 16 ? crounds : 16;
      crows[ncrows++] = (CRow){names[pairs[p][0]], median(ts, n), median(tv, n), median(tr, n)};
    }
    rmdir(dir);
    printf("\ncc -O2 -c of the emitted C (value, gradient, JVP, HVP): CPU seconds, medians of %d "
           "rounds\n%-24s %10s %10s %8s\n", crounds, "workload", "scalars", "x[...]", "ratio");
    for (int i = 0; i < ncrows; i++)
      printf("%-24s %9.2fs %9.2fs %8.2f\n", crows[i].workload, crows[i].scalars, crows[i].vector,
             crows[i].ratio);
  }
  /* the value function: this gradc's emitted C against ref's */
  VRow vrows[2 * NW];
  int nvrows = 0;
  char vdir[] = "/tmp/bench_grad_ref_XXXXXX";
  if (ref && mkdtemp(vdir)) {
    const char *compilers[2] = {"cc -O2", "tcc"};
    printf("\nthe value function (--abi array) as this gradc emits it against %s's: CPU time per call,\n"
           "medians of %d interleaved rounds\n%-24s %-7s %10s %10s %7s\n",
           ref, ROUNDS, "workload", "by", "this", "ref", "ratio");
    fflush(stdout); /* the compiles take minutes: the tables so far are out */
    for (int b = 0; b < 2; b++) {
      if (strcmp(backends, "both") && strcmp(backends, b ? "tcc" : "cc"))
        continue;
      for (int w = 0; w < NW; w++) {
        if (only && !strstr(names[w], only))
          continue;
        if (value_vs_ref(ref, names[w], srcs[w], vdir, compilers[b], &vrows[nvrows]) < 0) {
          fail = 1;
          continue;
        }
        VRow *v = &vrows[nvrows++];
        printf("%-24s %-7s %8.2fus %8.2fus %7.2f\n", v->workload, v->compiler, 1e6 * v->t_cur, 1e6 * v->t_ref,
               v->ratio);
        fflush(stdout);
      }
    }
    rmdir(vdir);
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
                r->ratio, i + 1 < nrows || ncrows || nvrows ? "," : "");
      }
      for (int i = 0; i < ncrows; i++)
        fprintf(f,
                "  {\"workload\": \"%s\", \"cc_O2_scalars_s\": %.3f, \"cc_O2_vector_s\": %.3f, "
                "\"compile_ratio\": %.4f}%s\n",
                crows[i].workload, crows[i].scalars, crows[i].vector, crows[i].ratio,
                i + 1 < ncrows || nvrows ? "," : "");
      for (int i = 0; i < nvrows; i++)
        fprintf(f,
                "  {\"workload\": \"%s\", \"value_by\": \"%s\", \"value_s\": %.9f, \"value_ref_s\": %.9f, "
                "\"value_ratio_to_ref\": %.4f}%s\n",
                vrows[i].workload, vrows[i].compiler, vrows[i].t_cur, vrows[i].t_ref, vrows[i].ratio,
                i + 1 < nvrows ? "," : "");
      fprintf(f, "]\n");
      fclose(f);
    }
  }
  for (int w = 0; w < NW; w++)
    free(srcs[w]);
  return fail;
}
