/* test_tiered.c: the tiered JIT (tiered.c, GRADC_BACKEND_TIERED). A
 * trainer that starts on libtcc's code and switches to cc -O2's when the
 * background compile ends gives, before the switch, the bits of a trainer
 * pinned to libtcc and, from the step it switches at, the bits of a
 * trainer pinned to cc started from the params of that step. A compile
 * that fails leaves the function on libtcc without a word; freeing a
 * context while its compiler runs stops the compiler. */
#include <errno.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

/* the digits network of the examples (N = 1797 rows, 64-32-10): its
 * products are large enough for OpenBLAS (BLAS_MIN_MNK) */
#define DIGITS GRADC_EXAMPLES "/digits_mlp.expr"

static double wall(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* a fresh compile cache, so that cc really compiles (and takes a while) */
static char cache[64];
static void fresh_cache(void) {
  snprintf(cache, sizeof cache, "/tmp/gradc-test-tiered-XXXXXX");
  cr_assert(mkdtemp(cache), "mkdtemp: %s", strerror(errno));
  setenv("GRADC_CACHE_DIR", cache, 1);
}

/* libtcc and gcc -O2 compute the same bits on most programs (no fused
 * multiply-adds on baseline x86-64): $CC as `cc -mfma -ffp-contract=fast` (fused multiply-adds) makes the cc code
 * differ, so that agreeing with it is not agreeing with libtcc. 1 if so. */
static int cc_with_fma(void) {
#if defined(__x86_64__) && defined(__GNUC__)
  if (!__builtin_cpu_supports("fma"))
    return 0;
  char path[96];
  snprintf(path, sizeof path, "%s/cc-fma", cache);
  FILE *f = fopen(path, "w");
  cr_assert(f);
  fprintf(f, "#!/bin/sh\nexec cc \"$@\" -mfma -ffp-contract=fast\n");
  fclose(f);
  chmod(path, 0755);
  setenv("CC", path, 1);
  return 1;
#else
  return 0;
#endif
}

typedef struct Params {
  double *data[8];
  long n[8], dims[8][4];
  int rank[8], var[8], count;
} Params;

static void params_get(Gradc *g, Params *p) {
  for (int k = 0; k < p->count; k++) {
    const double *d = gradc_get_value(g, p->var[k], p->dims[k], &p->rank[k]);
    memcpy(p->data[k], d, (size_t)p->n[k] * sizeof(double));
  }
}

static void params_init(Gradc *g, Params *p) {
  memset(p, 0, sizeof *p);
  for (int v = 0; v < gradc_var_count(g); v++)
    if (gradc_var_is_param(g, v)) {
      int k = p->count++;
      cr_assert(k < 8);
      p->var[k] = v;
      gradc_get_value(g, v, p->dims[k], &p->rank[k]);
      p->n[k] = 1;
      for (int d = 0; d < p->rank[k]; d++)
        p->n[k] *= p->dims[k][d];
      p->data[k] = malloc((size_t)p->n[k] * sizeof(double));
    }
  params_get(g, p);
}

static void params_free(Params *p) {
  for (int k = 0; k < p->count; k++)
    free(p->data[k]);
}

static void params_same(Gradc *g, const Params *want, const char *what) {
  for (int k = 0; k < want->count; k++) {
    long dims[4];
    int rank;
    const double *d = gradc_get_value(g, want->var[k], dims, &rank);
    cr_assert(!memcmp(d, want->data[k], (size_t)want->n[k] * sizeof(double)), "%s: param %s differs", what,
              gradc_var_name(g, want->var[k]));
  }
}

/* the digits context with the examples' initial params (seed 1) */
static Gradc *digits(int pin, GradcBackend backend) {
  Gradc *g = gradc_new();
  cr_assert(g);
  if (pin)
    gradc_set_backend(g, backend);
  cr_assert_eq(gradc_compile_file(g, DIGITS), GRADC_OK, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_set_defaults(g, 1, 0), GRADC_OK, "%s", gradc_diag_render(g));
  return g;
}

static void train(GradcTrainer *t, long steps) {
  for (long s = 0; s < steps; s++)
    cr_assert_eq(gradc_trainer_step(t, NULL), GRADC_OK);
}

Test(tiered, trainer_switches_to_the_cc_backends_bits, .timeout = 900) {
  fresh_cache();
  int fma = cc_with_fma();
  enum { AFTER = 10 };
  /* tiered (the trainer's default): remember the params before each step
   * until the step whose call ran on the cc code */
  Gradc *g = digits(0, GRADC_BACKEND_TCC);
  GradcTrainer *t = gradc_trainer_new(g, 0, GRADC_GD, 0.5, 0, 0);
  cr_assert(t, "%s", gradc_diag_render(g));
  GradcFn *f = gradc_trainer_fn(t);
  cr_assert_eq(gradc_fn_backend(f), GRADC_BACKEND_TCC, "a tiered function starts on libtcc");
  Params before, init;
  params_init(g, &before);
  params_init(g, &init);
  long at = 0; /* the step whose call switched */
  double t0 = wall();
  for (long s = 1; !at; s++) {
    params_get(g, &before);
    cr_assert_eq(gradc_trainer_step(t, NULL), GRADC_OK, "%s", gradc_diag_render(g));
    if (gradc_fn_backend(f) == GRADC_BACKEND_CC)
      at = s;
    cr_assert(wall() - t0 < 600, "no switch to the cc code after %ld steps", s);
  }
  cr_assert(at > 1, "the compile took no time: the test needs libtcc steps first (cache %s)",
            getenv("GRADC_CACHE_DIR"));
  cr_log_info("the call of step %ld ran on cc -O2's code", at);
  train(t, AFTER);
  Params tiered;
  params_init(g, &tiered);

  /* steps 1 .. at-1 ran libtcc's code: a trainer pinned to tcc agrees */
  Gradc *gt = digits(1, GRADC_BACKEND_TCC);
  GradcTrainer *tt = gradc_trainer_new(gt, 0, GRADC_GD, 0.5, 0, 0);
  cr_assert(tt);
  cr_assert_eq(gradc_fn_backend(gradc_trainer_fn(tt)), GRADC_BACKEND_TCC);
  params_same(gt, &init, "the initial params");
  train(tt, at - 1);
  params_same(gt, &before, "libtcc's steps");

  /* steps at .. at+AFTER ran the cc code: a trainer pinned to cc, from the
   * params before step `at`, agrees to the bit */
  Gradc *gc = digits(1, GRADC_BACKEND_CC);
  for (int k = 0; k < before.count; k++)
    cr_assert_eq(gradc_set_value(gc, before.var[k], before.data[k], before.dims[k], before.rank[k]), GRADC_OK);
  GradcTrainer *tc = gradc_trainer_new(gc, 0, GRADC_GD, 0.5, 0, 0);
  cr_assert(tc);
  cr_assert_eq(gradc_fn_backend(gradc_trainer_fn(tc)), GRADC_BACKEND_CC);
  train(tc, 1 + AFTER);
  params_same(gc, &tiered, "the steps after the switch");
  if (fma) { /* and libtcc's code would have given other bits */
    train(tt, 1 + AFTER);
    int differ = 0;
    for (int k = 0; k < tiered.count; k++) {
      long dims[4];
      int rank;
      differ |= memcmp(gradc_get_value(gt, tiered.var[k], dims, &rank), tiered.data[k],
                       (size_t)tiered.n[k] * sizeof(double)) != 0;
    }
    cr_assert(differ, "cc -mfma and libtcc give the same bits: the test cannot tell them apart");
  }

  params_free(&before);
  params_free(&init);
  params_free(&tiered);
  gradc_trainer_free(t);
  gradc_trainer_free(tt);
  gradc_trainer_free(tc);
  gradc_free(g);
  gradc_free(gt);
  gradc_free(gc);
  ASSERT_NO_LEAKS();
}

/* gradc_fn_tier_wait switches before the next call; the cc code's value
 * and gradient are those of the cc backend's */
static const char *small = "param x[3] = [1, 2, 3]\noutput f = sum(sin(x) * x^2) + prod(x)\n";

static Gradc *small_ctx(GradcBackend b) {
  Gradc *g = gradc_new();
  gradc_set_backend(g, b);
  cr_assert_eq(gradc_compile_string(g, "t.expr", small, strlen(small)), GRADC_OK, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  return g;
}

Test(tiered, wait_switches_to_cc) {
  fresh_cache();
  Gradc *g = small_ctx(GRADC_BACKEND_TIERED), *c = small_ctx(GRADC_BACKEND_CC);
  GradcFn *f = gradc_fn_grad(g, NULL, 0), *fc = gradc_fn_grad(c, NULL, 0);
  cr_assert(f && fc);
  cr_assert_eq(gradc_fn_backend(f), GRADC_BACKEND_TCC);
  cr_assert_eq(gradc_run(f, NULL), GRADC_OK);
  cr_assert_eq(gradc_fn_tier_wait(f, -1), GRADC_BACKEND_CC);
  cr_assert_eq(gradc_fn_tier_wait(f, -1), GRADC_BACKEND_CC, "waiting twice");
  cr_assert_eq(gradc_run(f, NULL), GRADC_OK);
  cr_assert_eq(gradc_run(fc, NULL), GRADC_OK);
  for (int r = 0; r < 2; r++)
    cr_assert(!memcmp(gradc_fn_res_data(f, r), gradc_fn_res_data(fc, r), (r ? 3 : 1) * sizeof(double)));
  cr_assert_eq(gradc_diag_count(g), 0);
  gradc_free(g);
  gradc_free(c);
  ASSERT_NO_LEAKS();
}

Test(tiered, failing_compiler_stays_on_tcc_silently) {
  fresh_cache();
  setenv("CC", "gradc-test-no-such-compiler", 1);
  Gradc *g = small_ctx(GRADC_BACKEND_TIERED), *t = small_ctx(GRADC_BACKEND_TCC);
  GradcFn *f = gradc_fn_grad(g, NULL, 0), *ft = gradc_fn_grad(t, NULL, 0);
  cr_assert(f && ft, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_fn_tier_wait(f, -1), GRADC_BACKEND_TCC);
  cr_assert_eq(gradc_run(f, NULL), GRADC_OK);
  cr_assert_eq(gradc_run(ft, NULL), GRADC_OK);
  cr_assert_eq(gradc_fn_backend(f), GRADC_BACKEND_TCC);
  for (int r = 0; r < 2; r++)
    cr_assert(!memcmp(gradc_fn_res_data(f, r), gradc_fn_res_data(ft, r), (r ? 3 : 1) * sizeof(double)));
  cr_assert_eq(gradc_diag_count(g), 0, "a failed background compile says nothing: %s", gradc_diag_render(g));
  gradc_free(g);
  gradc_free(t);
  unsetenv("CC");
  ASSERT_NO_LEAKS();
}

/* freeing the context while cc compiles kills the compiler: it returns
 * before the compile would have ended, and leaves no child process */
Test(tiered, free_stops_the_compiler) {
  fresh_cache();
  Gradc *g = digits(1, GRADC_BACKEND_TIERED);
  GradcFn *f = gradc_fn_grad(g, NULL, 0), *v = gradc_fn_value(g); /* v waits for f's compile */
  cr_assert(f && v, "%s", gradc_diag_render(g));
  usleep(20000); /* the compiler has started */
  gradc_free(g);
  cr_assert(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD, "a compiler process is left");
  ASSERT_NO_LEAKS();
}

/* pinned backends never tier, the trainer included */
Test(tiered, pinned_backend_is_kept) {
  Gradc *g = digits(1, GRADC_BACKEND_TCC);
  GradcTrainer *t = gradc_trainer_new(g, 0, GRADC_GD, 0.1, 0, 0);
  cr_assert(t);
  cr_assert_eq(gradc_fn_tier_wait(gradc_trainer_fn(t), -1), GRADC_BACKEND_TCC);
  gradc_trainer_free(t);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}
