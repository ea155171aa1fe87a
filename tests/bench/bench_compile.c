/* bench_compile: compile latency per stage, per node, from 10^3 to 10^6
 * DAG nodes: parse, DAG (names, folding, hash-consing), differentiate,
 * emit C, libtcc; then one evaluation of value+gradient. Each size runs in
 * a child process so its peak memory (wait4's ru_maxrss) is its own.
 *   bench_compile [--quick] [--max N] [--reps R] [--json FILE]
 *   (every size R times, 3 by default: medians; --size: that size only)
 *   bench_compile --source OPS    (the program of OPS operations, to profile)
 * The growth must be linear: the table prints microseconds per node.
 *
 * The definitions shape (issue 18): a program of N definitions `tK = ...`
 * (one to three operations each over 100 params and earlier definitions),
 * 10^4, 10^5 and 10^6 of them, run as users run it: the CLI binary, `gradc
 * eval FILE` and `gradc grad FILE`. Wall and CPU seconds (user + system,
 * gradc's worker process included) and peak memory (the largest process)
 * per definition, and the growth of the time per definition from the
 * smallest size to the largest (1: linear). The target: grad of 10^6
 * definitions under 5 s wall and under 1 KB per definition.
 *   bench_compile --shape dag|defs|both [--cli GRADC] [--defs N1,N2,...]
 *   bench_compile --source-defs N   (the program of N definitions) */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gradc.h"

/* CPU time of the process: what a stage costs, whatever else the machine
 * is doing (compiling is single-threaded). */
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* A random DAG of n operations over 16 inputs: each reads recent nodes or
 * any earlier one; the unused ones are summed into the output. */
static char *program(long n, size_t *len) {
  size_t cap = (size_t)n * 40 + 4096, at = 0;
  char *s = malloc(cap);
  char *used = calloc((size_t)n + 16, 1);
  unsigned long long r = 88172645463325252ull;
  if (!s || !used)
    exit(1);
  for (long k = 16; k < n + 16; k++) {
    r ^= r << 13; r ^= r >> 7; r ^= r << 17;
    long a = (r & 3) ? k - 1 - (long)((r >> 8) % (k < 32 ? (unsigned long)k : 32)) : (long)((r >> 8) % (unsigned long)k);
    long b = (r & 12) ? k - 1 - (long)((r >> 20) % (k < 32 ? (unsigned long)k : 32)) : (long)((r >> 20) % (unsigned long)k);
    used[a] = used[b] = 1;
    const char *ca = a < 16 ? "x" : "a", *cb = b < 16 ? "x" : "a";
    static const char *const fmts[] = {"a%ld = %s%ld * %s%ld\n", "a%ld = %s%ld + %s%ld\n",
                                       "a%ld = %s%ld - 0.5*%s%ld\n", "a%ld = sin(%s%ld) + %s%ld\n",
                                       "a%ld = tanh(%s%ld) * %s%ld\n"};
    at += (size_t)snprintf(s + at, cap - at, fmts[(r >> 40) % 5], k, ca, a, cb, b);
  }
  at += (size_t)snprintf(s + at, cap - at, "output f = 0");
  for (long k = 16; k < n + 16; k++)
    if (!used[k]) {
      if (at + 32 > cap) {
        cap *= 2;
        s = realloc(s, cap);
        if (!s)
          exit(1);
      }
      at += (size_t)snprintf(s + at, cap - at, " + a%ld", k);
    }
  at += (size_t)snprintf(s + at, cap - at, "\n");
  free(used);
  *len = at;
  return s;
}

typedef struct Row {
  long n;
  int primal, nodes;
  double t[5], eval, total;
  long rss_kb;
  int ok;
} Row;

static void run(long n, Row *row) {
  size_t len;
  char *src = program(n, &len);
  double t0 = now();
  Gradc *g = gradc_new();
  GradcStatus st = gradc_compile_string(g, "bench.expr", src, len);
  free(src);
  row->primal = gradc_node_count(g);
  GradcFn *f = st == GRADC_OK ? gradc_fn_grad(g, NULL, 0) : NULL;
  if (!f) {
    fputs(gradc_diag_render(g), stderr);
    return;
  }
  row->nodes = gradc_node_count(g);
  gradc_timings(g, f, row->t);
  int nv = gradc_var_count(g), nr = gradc_fn_res_count(f);
  double *x = malloc((size_t)nv * sizeof *x), *res = malloc((size_t)nr * sizeof *res);
  const double **args = malloc((size_t)nv * sizeof *args);
  double **out = malloc((size_t)nr * sizeof *out);
  for (int i = 0; i < nv; i++) {
    x[i] = 0.1 + 0.05 * i;
    args[i] = &x[i];
  }
  for (int i = 0; i < nr; i++)
    out[i] = &res[i];
  double t1 = now();
  row->ok = gradc_call(f, args, out) == GRADC_OK;
  row->eval = now() - t1;
  row->total = now() - t0;
  free(x);
  free(res);
  free(args);
  free(out);
  gradc_free(g);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* One size in a child process (so that its peak memory is its own). */
static int run_child(long n, Row *out) {
  int fd[2];
  if (pipe(fd) < 0)
    return 0;
  pid_t pid = fork();
  if (pid == 0) { /* the child measures one size and sends its row back */
    close(fd[0]);
    Row r = {.n = n};
    run(n, &r);
    ssize_t w = write(fd[1], &r, sizeof r);
    _exit(w == (ssize_t)sizeof r && r.ok ? 0 : 1);
  }
  close(fd[1]);
  Row r = {.n = n};
  ssize_t got = read(fd[0], &r, sizeof r);
  close(fd[0]);
  int status;
  struct rusage ru;
  wait4(pid, &status, 0, &ru);
  r.rss_kb = ru.ru_maxrss;
  if (got != (ssize_t)sizeof r || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return 0;
  *out = r;
  return 1;
}

/* The median of every figure over reps runs (each stage on its own). */
static void median_row(Row *runs, int reps, Row *m) {
  *m = runs[0];
  double v[16];
  for (int f = 0; f < 7; f++) {
    for (int i = 0; i < reps; i++)
      v[i] = f < 5 ? runs[i].t[f] : f == 5 ? runs[i].eval : runs[i].total;
    qsort(v, (size_t)reps, sizeof *v, cmp_double);
    double x = reps % 2 ? v[reps / 2] : 0.5 * (v[reps / 2 - 1] + v[reps / 2]);
    if (f < 5)
      m->t[f] = x;
    else if (f == 5)
      m->eval = x;
    else
      m->total = x;
  }
  for (int i = 0; i < reps; i++)
    v[i] = (double)runs[i].rss_kb;
  qsort(v, (size_t)reps, sizeof *v, cmp_double);
  m->rss_kb = (long)v[reps / 2];
}

/* ---- the definitions shape, through the CLI ------------------------------------ */

/* N definitions over params a0..a99: tK reads t(K-1) and, in most forms,
 * a recent or any earlier definition; the output adds three of them. Every
 * definition is used, and every value stays in (-1, 1). */
static char *defs_program(long n, size_t *len) {
  size_t cap = (size_t)n * 48 + 4096, at = 0;
  char *s = malloc(cap);
  unsigned long long r = 88172645463325252ull;
  if (!s)
    exit(1);
  at += (size_t)snprintf(s + at, cap - at, "param");
  for (int i = 0; i < 100; i++)
    at += (size_t)snprintf(s + at, cap - at, "%s a%d = %g", i ? "," : "", i, ((i * 37) % 100 - 50) / 100.0);
  at += (size_t)snprintf(s + at, cap - at, "\n");
  for (long k = 0; k < n; k++) {
    r ^= r << 13; r ^= r >> 7; r ^= r << 17;
    int i = (int)((r >> 8) % 100), j = (int)((r >> 16) % 100);
    char p[24], q[24];
    if (k > 0)
      snprintf(p, sizeof p, "t%ld", k - 1);
    else
      snprintf(p, sizeof p, "a%d", (i + 1) % 100);
    if (k < 2)
      snprintf(q, sizeof q, "a%d", j);
    else
      snprintf(q, sizeof q, "t%ld", (r & 3) ? k - 1 - (long)((r >> 24) % (unsigned long long)(k < 32 ? k : 32))
                                          : (long)((r >> 24) % (unsigned long long)k));
    switch ((r >> 40) % 5) {
    case 0: at += (size_t)snprintf(s + at, cap - at, "t%ld = tanh(%s + a%d)\n", k, p, i); break;
    case 1: at += (size_t)snprintf(s + at, cap - at, "t%ld = 0.5*%s + a%d*%s\n", k, p, i, q); break;
    case 2: at += (size_t)snprintf(s + at, cap - at, "t%ld = sin(%s) * a%d\n", k, p, i); break;
    case 3: at += (size_t)snprintf(s + at, cap - at, "t%ld = %s * %s\n", k, p, q); break;
    default: at += (size_t)snprintf(s + at, cap - at, "t%ld = a%d*%s - %s*a%d\n", k, i, p, q, j); break;
    }
  }
  at += (size_t)snprintf(s + at, cap - at, "output f = t%ld + t%ld + t%ld\n", n - 1, n / 2, n / 3);
  *len = at;
  return s;
}

typedef struct CliRun {
  double wall, cpu;
  long rss_kb;
} CliRun;

static double wall_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* gradc CMD FILE, its output thrown away: 0 when it exits 0. */
static int run_cli(const char *gradc, const char *cmd, const char *file, CliRun *out) {
  double t0 = wall_now();
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open("/dev/null", O_WRONLY);
    if (fd >= 0)
      dup2(fd, 1);
    execl(gradc, gradc, cmd, file, (char *)NULL);
    _exit(127);
  }
  if (pid < 0)
    return -1;
  int status;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0)
    if (errno != EINTR)
      return -1;
  out->wall = wall_now() - t0;
  out->cpu = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
             1e-6 * (double)ru.ru_stime.tv_usec;
  out->rss_kb = ru.ru_maxrss; /* the largest of gradc and its worker */
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

typedef struct DefsRow {
  long n;
  CliRun run[2]; /* eval, grad: medians */
} DefsRow;

/* Each size: eval and grad, reps times each. Returns the rows done. */
static int defs_shape(const char *gradc, const long *sizes, int nsizes, int reps, DefsRow *rows, int *fail) {
  char dir[] = "/tmp/gradc-bench-defs-XXXXXX", file[64];
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    *fail = 1;
    return 0;
  }
  snprintf(file, sizeof file, "%s/defs.expr", dir);
  static const char *const cmds[2] = {"eval", "grad"};
  int done = 0;
  for (int si = 0; si < nsizes && !*fail; si++) {
    size_t len;
    char *src = defs_program(sizes[si], &len);
    FILE *f = fopen(file, "w");
    if (!f || fwrite(src, 1, len, f) != len || fclose(f) != 0) {
      perror(file);
      free(src);
      *fail = 1;
      break;
    }
    free(src);
    rows[done].n = sizes[si];
    for (int c = 0; c < 2 && !*fail; c++) {
      double wall[16], cpu[16], rss[16];
      for (int k = 0; k < reps && !*fail; k++) {
        CliRun r = {0};
        if (run_cli(gradc, cmds[c], file, &r) != 0) {
          fprintf(stderr, "bench_compile: %s %s (%ld definitions) failed\n", gradc, cmds[c], sizes[si]);
          *fail = 1;
        }
        wall[k] = r.wall, cpu[k] = r.cpu, rss[k] = (double)r.rss_kb;
      }
      if (!*fail)
        rows[done].run[c] = (CliRun){median(wall, reps), median(cpu, reps), (long)median(rss, reps)};
    }
    if (!*fail)
      done++;
  }
  unlink(file);
  rmdir(dir);
  printf("the definitions shape through the CLI (%s), medians of %d:\n", gradc, reps);
  printf("%9s | %21s %8s %8s | %21s %8s %8s\n", "defs", "eval: wall, cpu", "peak MB", "B/def", "grad: wall, cpu",
         "peak MB", "B/def");
  for (int si = 0; si < done; si++) {
    printf("%9ld |", rows[si].n);
    for (int c = 0; c < 2; c++) {
      const CliRun *r = &rows[si].run[c];
      printf(" %9.3fs %9.3fs %8.0f %8.0f |", r->wall, r->cpu, r->rss_kb / 1024.0, r->rss_kb * 1024.0 / (double)rows[si].n);
    }
    printf("\n");
  }
  if (done >= 2) { /* the time per definition, at the largest size over the smallest */
    const DefsRow *a = &rows[0], *b = &rows[done - 1];
    printf("growth of the time per definition from %ld to %ld definitions (1: linear):\n", a->n, b->n);
    for (int c = 0; c < 2; c++)
      printf("  %s: wall %.2f, cpu %.2f\n", cmds[c], (b->run[c].wall / (double)b->n) / (a->run[c].wall / (double)a->n),
             (b->run[c].cpu / (double)b->n) / (a->run[c].cpu / (double)a->n));
  }
  return done;
}

int main(int argc, char **argv) {
  long max = 600000, only = 0;
  int reps = 3, shape = 3; /* 1: the random DAG, 2: the definitions, 3: both */
  const char *json = NULL;
#ifdef GRADC_CLI
  const char *gradc = GRADC_CLI;
#else
  const char *gradc = "gradc";
#endif
  long defs[8] = {10000, 100000, 1000000};
  int ndefs = 3;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) {
      max = 4300;
      defs[0] = 1000, defs[1] = 10000, ndefs = 2;
    } else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
      const char *v = argv[++i];
      shape = !strcmp(v, "dag") ? 1 : !strcmp(v, "defs") ? 2 : !strcmp(v, "both") ? 3 : 0;
      if (!shape) {
        fprintf(stderr, "bench_compile: --shape dag|defs|both\n");
        return 2;
      }
    } else if (!strcmp(argv[i], "--cli") && i + 1 < argc) {
      gradc = argv[++i];
    } else if (!strcmp(argv[i], "--defs") && i + 1 < argc) {
      ndefs = 0;
      for (char *p = argv[++i], *end; *p && ndefs < 8; p = *end ? end + 1 : end) {
        defs[ndefs] = strtol(p, &end, 10);
        if (end == p || defs[ndefs] < 3) {
          fprintf(stderr, "bench_compile: --defs N1,N2,... (each at least 3)\n");
          return 2;
        }
        ndefs++;
      }
    } else if (!strcmp(argv[i], "--source-defs") && i + 1 < argc && atol(argv[i + 1]) >= 3) {
      size_t len;
      char *src = defs_program(atol(argv[++i]), &len);
      fwrite(src, 1, len, stdout);
      free(src);
      return 0;
    } else if (!strcmp(argv[i], "--max") && i + 1 < argc) {
      max = atol(argv[++i]);
    } else if (!strcmp(argv[i], "--json") && i + 1 < argc)
      json = argv[++i];
    else if (!strcmp(argv[i], "--size") && i + 1 < argc && atol(argv[i + 1]) > 0)
      only = atol(argv[++i]);
    else if (!strcmp(argv[i], "--reps") && i + 1 < argc && atoi(argv[i + 1]) >= 1 && atoi(argv[i + 1]) <= 15)
      reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--source") && i + 1 < argc) { /* the program, for profiling */
      size_t len;
      char *src = program(atol(argv[++i]), &len);
      fwrite(src, 1, len, stdout);
      free(src);
      return 0;
    } else {
      fprintf(stderr, "usage: bench_compile [--quick] [--max N] [--size OPS] [--reps R] [--json FILE] [--source OPS]\n"
                      "                     [--shape dag|defs|both] [--cli GRADC] [--defs N1,N2,...] [--source-defs N]\n");
      return 2;
    }
  }
  Row rows[8];
  int nrows = 0, fail = 0;
  /* about 1.7 primal nodes per operation: 600,000 operations is 10^6 nodes */
  long sizes[] = {430, 4300, 43000, 430000, 600000};
  int nsizes = 5;
  if (only) {
    sizes[0] = max = only;
    nsizes = 1;
  }
  for (int si = 0; si < nsizes && sizes[si] <= max && nrows < 8 && (shape & 1); si++) {
    long n = sizes[si];
    Row runs[16];
    int ok = 1;
    for (int k = 0; k < reps && ok; k++)
      ok = run_child(n, &runs[k]);
    if (!ok) {
      fprintf(stderr, "bench_compile: size %ld failed\n", n);
      fail = 1;
      continue;
    }
    Row r;
    median_row(runs, reps, &r);
    rows[nrows++] = r;
  }
  if (shape & 1)
    printf("%9s %9s %9s | %9s %9s %9s %9s %9s | %9s %9s | %8s %9s %9s\n", "ops", "primal", "+grad", "parse",
           "DAG", "diff", "emit", "tcc", "eval", "total", "us/node", "peak MB", "B/node");
  for (int i = 0; i < nrows; i++) {
    Row *r = &rows[i];
    printf("%9ld %9d %9d | %8.1fms %8.1fms %8.1fms %8.1fms %8.1fms | %8.1fms %8.2fs | %8.2f %9.0f %9.0f\n",
           r->n, r->primal, r->nodes, 1e3 * r->t[0], 1e3 * r->t[1], 1e3 * r->t[2], 1e3 * r->t[3],
           1e3 * r->t[4], 1e3 * r->eval, r->total, 1e6 * r->total / r->nodes, r->rss_kb / 1024.0,
           r->rss_kb * 1024.0 / r->nodes);
  }
  DefsRow drows[8];
  int ndone = 0;
  if (shape & 2) {
    if (shape & 1)
      printf("\n");
    ndone = defs_shape(gradc, defs, ndefs, reps, drows, &fail);
  }
  if (json) {
    FILE *f = fopen(json, "w");
    if (f) {
      fprintf(f, "[\n");
      for (int i = 0; i < ndone; i++) /* the definitions shape: rows with "definitions" */
        fprintf(f, "  {\"definitions\": %ld, \"eval_wall_s\": %.4f, \"eval_cpu_s\": %.4f, "
                   "\"eval_peak_rss_kb\": %ld, \"grad_wall_s\": %.4f, \"grad_cpu_s\": %.4f, "
                   "\"grad_peak_rss_kb\": %ld}%s\n",
                drows[i].n, drows[i].run[0].wall, drows[i].run[0].cpu, drows[i].run[0].rss_kb, drows[i].run[1].wall,
                drows[i].run[1].cpu, drows[i].run[1].rss_kb, i + 1 < ndone || nrows ? "," : "");
      for (int i = 0; i < nrows; i++) {
        Row *r = &rows[i];
        fprintf(f, "  {\"ops\": %ld, \"primal_nodes\": %d, \"nodes\": %d, \"parse_s\": %.6f, \"dag_s\": %.6f, "
                   "\"diff_s\": %.6f, \"emit_s\": %.6f, \"tcc_s\": %.6f, \"eval_s\": %.6f, "
                   "\"total_s\": %.6f, \"peak_rss_kb\": %ld}%s\n",
                r->n, r->primal, r->nodes, r->t[0], r->t[1], r->t[2], r->t[3], r->t[4], r->eval, r->total,
                r->rss_kb, i + 1 < nrows ? "," : "");
      }
      fprintf(f, "]\n");
      fclose(f);
    }
  }
  return fail;
}
