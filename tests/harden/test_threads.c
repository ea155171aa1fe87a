/* test_threads.c: the C API from 8 threads at once. gradc.h promises that
 * contexts share nothing; libtcc has global state, which Debian's build
 * serialises with a semaphore (TOOLCHAIN.md 2). Each thread has its own
 * Gradc context: it compiles a program of its own, builds value, gradient,
 * JVP and Hessian functions, runs them many times and checks the numbers
 * against closed forms. Threads do not call Criterion's asserts (they
 * longjmp): each records its first failure, and the main thread asserts
 * after joining. */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>

#include "gradc.h"
#include "harden.h"

#define NTHREADS 8

typedef struct Worker {
  int id;
  char fail[512];   /* the first failure, "" if none */
  long calls;       /* compiled-function calls checked */
  long compiles;    /* functions JIT-compiled */
  double result;    /* for tests that compare threads */
} Worker;

#define CHECK(w, cond, ...)                                         \
  do {                                                              \
    if (!(cond)) {                                                  \
      if (!(w)->fail[0])                                            \
        snprintf((w)->fail, sizeof (w)->fail, __VA_ARGS__);         \
      goto out;                                                     \
    }                                                               \
  } while (0)

static int close_to(double a, double b) {
  return fabs(a - b) <= 1e-12 * (fabs(a) > fabs(b) ? fabs(a) : fabs(b)) + 1e-13;
}

static void run_workers(void *(*fn)(void *), Worker *w, int n) {
  pthread_t th[NTHREADS];
  for (int i = 0; i < n; i++) {
    memset(&w[i], 0, sizeof w[i]);
    w[i].id = i;
    cr_assert_eq(pthread_create(&th[i], NULL, fn, &w[i]), 0);
  }
  for (int i = 0; i < n; i++)
    cr_assert_eq(pthread_join(th[i], NULL), 0);
  for (int i = 0; i < n; i++)
    cr_assert_str_eq(w[i].fail, "", "thread %d: %s", i, w[i].fail);
}

static long total(const Worker *w, int n, int compiles) {
  long s = 0;
  for (int i = 0; i < n; i++)
    s += compiles ? w[i].compiles : w[i].calls;
  return s;
}

static void report(const char *what, const Worker *w, int n) {
  char *s = hfmt("harden: %s: %d threads, %ld JIT compiles, %ld calls checked", what, n,
                 total(w, n, 1), total(w, n, 0));
  cr_log_info("%s", s);
  fprintf(stderr, "%s\n", s);
  free(s);
}

/* ---- scalars: value, gradient, JVP, Hessian --------------------------------- */

#define SCALAR_CALLS 100000

/* L = 0.5*(w*x + b - y)^2 + K*sin(w), K = thread id + 1:
 *   dL/dw = r*x + K*cos(w), dL/db = r, r = w*x + b - y
 *   d2L/dw2 = x^2 - K*sin(w), d2L/dwdb = x, d2L/db2 = 1 */
static void *scalar_worker(void *arg) {
  Worker *w = arg;
  double K = w->id + 1;
  char *src = hfmt("param w, b\ninput x, y\noutput L = 0.5*(w*x + b - y)^2 + %g*sin(w)\n", K);
  Gradc *g = gradc_new();
  GradcFn *fv = NULL, *fg = NULL, *fj = NULL, *fh = NULL;
  CHECK(w, g, "gradc_new");
  CHECK(w, gradc_compile_string(g, "t.expr", src, strlen(src)) == GRADC_OK, "compile: %s",
        gradc_diag_render(g));
  fv = gradc_fn_value(g);
  fg = gradc_fn_grad(g, NULL, 0);
  fj = gradc_fn_jvp(g, NULL, 0);
  fh = gradc_fn_hessian(g, 0, NULL, 0);
  CHECK(w, fv && fg && fj && fh, "building functions: %s", gradc_diag_render(g));
  w->compiles += 4;
  CHECK(w, gradc_fn_arg_count(fg) == 4 && gradc_fn_res_count(fg) == 3, "grad: %d args, %d results",
        gradc_fn_arg_count(fg), gradc_fn_res_count(fg));
  CHECK(w, !strcmp(gradc_fn_res_name(fg, 1), "dL/dw") && !strcmp(gradc_fn_res_name(fg, 2), "dL/db"),
        "result names %s, %s", gradc_fn_res_name(fg, 1), gradc_fn_res_name(fg, 2));
  CHECK(w, gradc_fn_res_count(fh) == 5, "hessian: %d results", gradc_fn_res_count(fh));
  int iw = gradc_var_index(g, "w"), ib = gradc_var_index(g, "b"), ix = gradc_var_index(g, "x"),
      iy = gradc_var_index(g, "y");
  CHECK(w, iw >= 0 && ib >= 0 && ix >= 0 && iy >= 0, "variables");
  for (long k = 0; k < SCALAR_CALLS; k++) {
    double vw = 0.001 * (double)(k % 2000) - 1, vb = 0.5 - 0.0003 * (double)(k % 3000);
    double vx = 1.5 + 0.01 * w->id, vy = -0.25 * (double)(k % 7);
    double vals[4];
    vals[iw] = vw, vals[ib] = vb, vals[ix] = vx, vals[iy] = vy;
    const double *args[5] = {&vals[0], &vals[1], &vals[2], &vals[3], NULL};
    double r = vw * vx + vb - vy;
    double L = 0.5 * r * r + K * sin(vw);
    double dw = r * vx + K * cos(vw), db = r;
    double res[8];
    double *out[8];
    for (int i = 0; i < 8; i++)
      out[i] = &res[i];
    switch (k % 4) {
    case 0:
      CHECK(w, gradc_call(fv, args, out) == GRADC_OK, "value call");
      CHECK(w, close_to(res[0], L), "value %.17g, expected %.17g", res[0], L);
      break;
    case 1:
      CHECK(w, gradc_call(fg, args, out) == GRADC_OK, "grad call");
      CHECK(w, close_to(res[0], L) && close_to(res[1], dw) && close_to(res[2], db),
            "grad (%.17g, %.17g, %.17g), expected (%.17g, %.17g, %.17g)", res[0], res[1], res[2],
            L, dw, db);
      break;
    case 2: { /* JVP along (1, 2) for (w, b) */
      double tw = 1, tb = 2;
      const double *jargs[7] = {args[0], args[1], args[2], args[3], &tw, &tb, NULL};
      CHECK(w, gradc_call(fj, jargs, out) == GRADC_OK, "jvp call");
      CHECK(w, close_to(res[0], L) && close_to(res[1], dw * tw + db * tb),
            "jvp (%.17g, %.17g), expected (%.17g, %.17g)", res[0], res[1], L, dw * tw + db * tb);
      break;
    }
    case 3:
      CHECK(w, gradc_call(fh, args, out) == GRADC_OK, "hessian call");
      CHECK(w,
            close_to(res[0], L) && close_to(res[1], vx * vx - K * sin(vw)) &&
                close_to(res[2], vx) && close_to(res[3], vx) && close_to(res[4], 1),
            "hessian (%.17g; %.17g %.17g %.17g %.17g)", res[0], res[1], res[2], res[3], res[4]);
      break;
    }
    w->calls++;
  }
out:
  gradc_free(g);
  free(src);
  return NULL;
}

TestSuite(threads, .timeout = 600);

Test(threads, scalar_functions_from_8_threads) {
  Worker w[NTHREADS];
  run_workers(scalar_worker, w, NTHREADS);
  cr_assert_eq(total(w, NTHREADS, 0), (long)NTHREADS * SCALAR_CALLS);
  report("scalar value/grad/jvp/hessian", w, NTHREADS);
  ASSERT_NO_LEAKS();
}

/* ---- tensors: values set on the context, gradc_run, workspaces --------------- */

#define TENSOR_RUNS 2000

/* L = mean((X @ W - y)^2) over N rows; dL/dW = 2/N X'(X W - y) */
static void *tensor_worker(void *arg) {
  Worker *w = arg;
  const char *src = "input X[N, 3], y[N]\nparam W[3]\noutput L = mean((X @ W - y)^2)\n"
                    "output r = X @ W - y\n";
  enum { N = 17 + NTHREADS };
  long n = 17 + w->id; /* a different N in each thread */
  double X[N * 3], y[N], W[3];
  Gradc *g = gradc_new();
  GradcFn *fg = NULL;
  CHECK(w, g, "gradc_new");
  CHECK(w, gradc_compile_string(g, "t.expr", src, strlen(src)) == GRADC_OK, "compile: %s",
        gradc_diag_render(g));
  int iX = gradc_var_index(g, "X"), iy = gradc_var_index(g, "y"), iW = gradc_var_index(g, "W");
  for (long i = 0; i < n; i++) {
    for (int j = 0; j < 3; j++)
      X[i * 3 + j] = sin((double)(i * 3 + j + w->id));
    y[i] = cos((double)i) * (w->id + 1);
  }
  long dX[2] = {n, 3}, dy[1] = {n}, dW[1] = {3};
  CHECK(w, gradc_set_value(g, iX, X, dX, 2) == GRADC_OK && gradc_set_value(g, iy, y, dy, 1) == GRADC_OK,
        "set_value: %s", gradc_diag_render(g));
  fg = gradc_fn_grad(g, NULL, 0);
  CHECK(w, fg, "grad: %s", gradc_diag_render(g));
  w->compiles++;
  for (long k = 0; k < TENSOR_RUNS; k++) {
    for (int j = 0; j < 3; j++)
      W[j] = 0.01 * (double)((k + j) % 100) - 0.5;
    CHECK(w, gradc_set_value(g, iW, W, dW, 1) == GRADC_OK, "set W");
    CHECK(w, gradc_set_defaults(g, 0, 0) == GRADC_OK, "defaults: %s", gradc_diag_render(g));
    CHECK(w, gradc_run(fg, NULL) == GRADC_OK, "run: %s", gradc_diag_render(g));
    double L = 0, dL[3] = {0, 0, 0};
    for (long i = 0; i < n; i++) {
      double r = X[i * 3] * W[0] + X[i * 3 + 1] * W[1] + X[i * 3 + 2] * W[2] - y[i];
      L += r * r / (double)n;
      for (int j = 0; j < 3; j++)
        dL[j] += 2.0 / (double)n * X[i * 3 + j] * r;
    }
    const double *gL = gradc_fn_res_data(fg, 0), *gr = gradc_fn_res_data(fg, 1);
    const double *gW = gradc_fn_res_data(fg, 2);
    CHECK(w, gL && gr && gW, "no results");
    CHECK(w, fabs(gL[0] - L) <= 1e-12 * (1 + fabs(L)), "L %.17g, expected %.17g", gL[0], L);
    for (int j = 0; j < 3; j++)
      CHECK(w, fabs(gW[j] - dL[j]) <= 1e-12 * (1 + fabs(dL[j])), "dL/dW[%d] %.17g, expected %.17g",
            j, gW[j], dL[j]);
    double r0 = X[0] * W[0] + X[1] * W[1] + X[2] * W[2] - y[0];
    CHECK(w, fabs(gr[0] - r0) <= 1e-12 * (1 + fabs(r0)), "r[0] %.17g, expected %.17g", gr[0], r0);
    w->calls++;
  }
out:
  gradc_free(g);
  return NULL;
}

Test(threads, tensor_functions_from_8_threads) {
  Worker w[NTHREADS];
  run_workers(tensor_worker, w, NTHREADS);
  cr_assert_eq(total(w, NTHREADS, 0), (long)NTHREADS * TENSOR_RUNS);
  report("tensor grad with gradc_run", w, NTHREADS);
  ASSERT_NO_LEAKS();
}

/* ---- many compiles: contexts made and freed while others compile ------------ */

#define ROUNDS 50

static void *churn_worker(void *arg) {
  Worker *w = arg;
  for (int round = 0; round < ROUNDS; round++) {
    double c = w->id * 100 + round;
    char *src = hfmt("f = exp(%g*x/1000) + x^3\n", c);
    Gradc *g = gradc_new();
    CHECK(w, g, "gradc_new");
    GradcStatus st = gradc_compile_string(g, "t.expr", src, strlen(src));
    free(src);
    if (st != GRADC_OK) {
      snprintf(w->fail, sizeof w->fail, "compile: %s", gradc_diag_render(g));
      gradc_free(g);
      goto out;
    }
    GradcFn *fv = gradc_fn_value(g), *fg = gradc_fn_grad(g, NULL, 0);
    if (!fv || !fg) {
      snprintf(w->fail, sizeof w->fail, "functions: %s", gradc_diag_render(g));
      gradc_free(g);
      goto out;
    }
    w->compiles += 2;
    double x = 0.5 + w->id, res[2], *out[2] = {&res[0], &res[1]};
    const double *args[1] = {&x};
    int ok = gradc_call(fg, args, out) == GRADC_OK;
    double e = exp(c * x / 1000);
    ok = ok && close_to(res[0], e + x * x * x) && close_to(res[1], c / 1000 * e + 3 * x * x);
    w->calls++;
    /* an error in another program: the diagnostics are this context's own */
    Gradc *bad = gradc_new();
    char *bsrc = hfmt("param w%d\noutput L = w%d + q%d\n", w->id, w->id, round);
    GradcStatus bst = gradc_compile_string(bad, "bad.expr", bsrc, strlen(bsrc));
    char *want = hfmt("bad.expr:2:%d: error: undeclared name 'q%d'", 17 + (w->id > 9), round);
    int diag_ok = bst == GRADC_ERR_INPUT && !strncmp(gradc_diag_render(bad), want, strlen(want));
    if (!diag_ok && !w->fail[0])
      snprintf(w->fail, sizeof w->fail, "diagnostic: expected '%s', got '%s'", want,
               gradc_diag_render(bad));
    free(want);
    free(bsrc);
    gradc_free(bad);
    gradc_free(g);
    CHECK(w, ok, "round %d: (%.17g, %.17g)", round, res[0], res[1]);
    CHECK(w, diag_ok, "diagnostic");
  }
out:
  return NULL;
}

Test(threads, compile_and_free_from_8_threads) {
  Worker w[NTHREADS];
  run_workers(churn_worker, w, NTHREADS);
  cr_assert_eq(total(w, NTHREADS, 1), (long)NTHREADS * ROUNDS * 2);
  report("compile, call and free", w, NTHREADS);
  ASSERT_NO_LEAKS();
}

/* ---- training the Iris network in every thread: the same numbers ------------ */

#define TRAIN_STEPS 100

static void *train_worker(void *arg) {
  Worker *w = arg;
  Gradc *g = gradc_new();
  GradcTrainer *t = NULL;
  w->result = NAN;
  CHECK(w, g, "gradc_new");
  CHECK(w, gradc_compile_file(g, GRADC_EXAMPLES "/iris_mlp.expr") == GRADC_OK, "compile: %s",
        gradc_diag_render(g));
  CHECK(w, gradc_set_defaults(g, 7, 0) == GRADC_OK, "defaults: %s", gradc_diag_render(g));
  int loss = gradc_output_index(g, "J");
  CHECK(w, loss >= 0, "no output J");
  t = gradc_trainer_new(g, loss, GRADC_ADAM, 0.01, 32, 7);
  CHECK(w, t, "trainer: %s", gradc_diag_render(g));
  w->compiles++;
  double l = NAN;
  for (int s = 0; s < TRAIN_STEPS; s++) {
    CHECK(w, gradc_trainer_step(t, &l) == GRADC_OK, "step %d: %s", s, gradc_diag_render(g));
    w->calls++;
  }
  CHECK(w, isfinite(l), "loss %g", l);
  w->result = l;
out:
  gradc_trainer_free(t);
  gradc_free(g);
  return NULL;
}

Test(threads, iris_training_from_8_threads_gives_the_same_loss) {
  Worker w[NTHREADS];
  run_workers(train_worker, w, NTHREADS);
  /* the same seed in every thread: the same mini-batches, bit-identical */
  for (int i = 1; i < NTHREADS; i++)
    cr_assert(w[i].result == w[0].result, "thread %d: loss %.17g, thread 0: %.17g", i, w[i].result,
              w[0].result);
  /* and the same as one thread alone */
  Worker solo;
  memset(&solo, 0, sizeof solo);
  train_worker(&solo);
  cr_assert_str_eq(solo.fail, "");
  cr_assert(solo.result == w[0].result, "alone %.17g, in threads %.17g", solo.result, w[0].result);
  report("Iris training (adam, batches of 32)", w, NTHREADS);
  ASSERT_NO_LEAKS();
}

/* ---- the cc backend: fork + exec of the system compiler from threads -------- */

static void *cc_worker(void *arg) {
  Worker *w = arg;
  char *src = hfmt("param a\noutput L = a*a*%d + sqrt(a)\n", w->id + 1);
  Gradc *g = gradc_new();
  CHECK(w, g, "gradc_new");
  gradc_set_backend(g, GRADC_BACKEND_CC);
  CHECK(w, gradc_compile_string(g, "t.expr", src, strlen(src)) == GRADC_OK, "compile");
  GradcFn *fg = gradc_fn_grad(g, NULL, 0);
  CHECK(w, fg, "cc grad: %s", gradc_diag_render(g));
  w->compiles++;
  for (int k = 1; k <= 1000; k++) {
    double a = k * 0.01, res[2], *out[2] = {&res[0], &res[1]};
    const double *args[1] = {&a};
    CHECK(w, gradc_call(fg, args, out) == GRADC_OK, "call");
    double K = w->id + 1;
    CHECK(w, close_to(res[0], a * a * K + sqrt(a)) && close_to(res[1], 2 * a * K + 0.5 / sqrt(a)),
          "a=%g: (%.17g, %.17g)", a, res[0], res[1]);
    w->calls++;
  }
out:
  gradc_free(g);
  free(src);
  return NULL;
}

Test(threads, cc_backend_from_8_threads) {
  Worker w[NTHREADS];
  run_workers(cc_worker, w, NTHREADS);
  cr_assert_eq(total(w, NTHREADS, 1), NTHREADS);
  report("cc backend grad", w, NTHREADS);
  ASSERT_NO_LEAKS();
}
