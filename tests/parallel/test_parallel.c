/* test_parallel.c: separability over the rows (separable.c) and blocks of
 * rows on threads (parallel.c): the same bits for any number of threads,
 * and agreement with one call over all the rows. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradc.h"
#include "parallel.h" /* ParCtx.last_blocks: the blocks were used */

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define ASSERT_NO_LEAKS() \
  cr_assert(__lsan_do_recoverable_leak_check() == 0, "memory leaked (see the LSan report above)")
#else
#define ASSERT_NO_LEAKS() ((void)0)
#endif

/* the Iris network of examples/iris_mlp.expr, data set by the test */
static const char *MLP = "input X[N, 2]\ninput label[N]\n"
                         "param V[16, 2] = randn(0.5), b[16] = randn(0.1)\n"
                         "param W[3, 16] = randn(0.5), c[3] = zeros\n"
                         "H = sigmoid(X @ V' + b)\n"
                         "Z = H @ W' + c\n"
                         "output J = -mean(sum(onehot(label, 3) * log_softmax(Z, 1), 1))\n"
                         "output accuracy = mean(argmax(Z, 1) == label)\n"
                         "output S = sum(H)\n"
                         "output pred = argmax(Z, 1)\n";

/* The same with terms that do not depend on the rows added to its sums
 * (separable.c: AFFINE): an L2 regulariser, a param s only in it (dJ/ds
 * does not depend on the rows), a sum plus a constant (were the constant
 * added per block, S would be off by a multiple of it), a vector one
 * through a product with a param, results without rows (count: N the
 * whole data's, not a block's). */
static const char *MLP_L2 = "input X[N, 2]\ninput label[N]\n"
                            "param V[16, 2] = randn(0.5), b[16] = randn(0.1)\n"
                            "param W[3, 16] = randn(0.5), c[3] = zeros, s = 0.3\n"
                            "H = sigmoid(X @ V' + b)\n"
                            "Z = H @ W' + c\n"
                            "output J = -mean(sum(onehot(label, 3) * log_softmax(Z, 1), 1))"
                            " + 0.01 * (sum(V^2) + sum(W^2)) + s^2\n"
                            "output S = 2 * (sum(H) - sum(W^2)) / 3 + s\n"
                            "output T = (sum(H, 0) + b) @ W'\n"
                            "output reg = sum(W^2)\n"
                            "output count = N * s\n"
                            "output pred = argmax(Z, 1)\n";

static Gradc *compile_ok(const char *text) {
  Gradc *g = gradc_new();
  cr_assert_not_null(g);
  GradcStatus st = gradc_compile_string(g, "t.expr", text, strlen(text));
  cr_assert_eq(st, GRADC_OK, "program rejected:\n%s\n%s", text, gradc_diag_render(g));
  return g;
}

static int separable(const char *text, const char *out, char *why, size_t n) {
  Gradc *g = compile_ok(text);
  int k = gradc_separable(g, gradc_output_index(g, out), why, n);
  gradc_free(g);
  return k;
}

Test(separable, sums_and_means) {
  char why[512];
  cr_assert_eq(separable(MLP, "J", why, sizeof why), 2, "%s", why);
  cr_assert(strstr(why, "mean over N"), "%s", why);
  cr_assert_eq(separable(MLP, "accuracy", why, sizeof why), 2, "%s", why);
  cr_assert_eq(separable(MLP, "S", why, sizeof why), 1, "%s", why);
  cr_assert_eq(separable("input x[N]\ninput y[N]\nparam a = 1\noutput L = sum((a*x - y)^2) / 2\n", "L", why,
                         sizeof why), 1, "%s", why);
  /* a gather from a constant table per row (an embedding) */
  cr_assert_eq(separable("input i[N]\nparam E[5, 2] = ones\noutput L = mean(take(E, i, 0)^2)\n", "L", why,
                         sizeof why), 2, "%s", why);
}

Test(separable, reasons) {
  char why[512];
  /* batch normalisation: a mean over N fed back into every row */
  cr_assert_eq(separable("input x[N]\nparam a = 1\nmu = mean(a*x)\noutput L = sum((a*x - mu)^2)\n", "L", why,
                         sizeof why), 0);
  cr_assert(strstr(why, "'L'") && strstr(why, "batch normalisation"), "%s", why);
  /* a regulariser added to the mean, then through a nonlinear function */
  cr_assert_eq(separable("input x[N]\nparam a = 1\noutput L = exp(mean((a*x)^2) + a^2)\n", "L", why, sizeof why), 0);
  cr_assert(strstr(why, "nonlinear") && strstr(why, "does not depend on them"), "%s", why);
  cr_assert_eq(separable("input x[N]\nparam a = 1\noutput L = mean(a*x) * (sum(a*x) + a)\n", "L", why, sizeof why), 0);
  cr_assert(strstr(why, "multiplied"), "%s", why);
  /* a mean fed back into the rows with a constant added */
  cr_assert_eq(separable("input x[N]\nparam a = 1\nm = mean(a*x) + a\noutput L = sum((x - m)^2)\n", "L", why,
                         sizeof why), 0);
  cr_assert(strstr(why, "batch normalisation"), "%s", why);
  /* a nonlinear function of a sum */
  cr_assert_eq(separable("input x[N]\nparam a = 1\noutput L = sum(a*x)^2\n", "L", why, sizeof why), 0);
  cr_assert(strstr(why, "nonlinear"), "%s", why);
  /* rows mixed: a difference of neighbours */
  cr_assert_eq(separable("input x[N]\nparam a = 1\noutput L = sum((x[1:] - a*x[:-1])^2)\n", "L", why,
                         sizeof why), 0);
  cr_assert_eq(separable("input x[N]\nparam a = 1\noutput L = max(a*x)\n", "L", why, sizeof why), 0);
  cr_assert(strstr(why, "mixes the rows"), "%s", why);
  /* no rows at all */
  cr_assert_eq(separable("param a = 1\noutput L = a^2\n", "L", why, sizeof why), 0);
  cr_assert(strstr(why, "no input"), "%s", why);
}

/* A sum or mean plus terms without the rows: 4 + the sum's kind. */
Test(separable, regularised) {
  char why[512];
  cr_assert_eq(separable(MLP_L2, "J", why, sizeof why), 6, "%s", why);
  cr_assert(strstr(why, "mean over N") && strstr(why, "computed once"), "%s", why);
  cr_assert_eq(separable(MLP_L2, "S", why, sizeof why), 5, "%s", why);
  cr_assert_eq(separable(MLP_L2, "T", why, sizeof why), 5, "%s", why);
  cr_assert_eq(separable(MLP_L2, "reg", why, sizeof why), 0);
  cr_assert(strstr(why, "independent of the rows"), "%s", why);
  cr_assert_eq(separable("input x[N]\nparam a = 1\noutput L = 2 * (a - mean((a*x)^2)) / 3 - a^2\n", "L", why,
                         sizeof why), 6, "%s", why);
  cr_assert_eq(separable("input x[N]\nparam a = 1\noutput L = N * mean(a*x) + a\n", "L", why, sizeof why), 5,
               "%s", why);
}

/* Iris-like data of n rows: a seeded cloud around three centres. */
static void set_data(Gradc *g, long n) {
  double *x = malloc((size_t)n * 2 * sizeof *x), *y = malloc((size_t)n * sizeof *y);
  cr_assert(x && y);
  unsigned long long s = 12345;
  for (long i = 0; i < n; i++) {
    int k = (int)(i % 3);
    for (int j = 0; j < 2; j++) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      x[2 * i + j] = 1.5 * k + j + (double)(s >> 11) / 9007199254740992.0 - 0.5;
    }
    y[i] = k;
  }
  long dx[2] = {n, 2}, dy[1] = {n};
  cr_assert_eq(gradc_set_value(g, gradc_var_index(g, "X"), x, dx, 2), GRADC_OK);
  cr_assert_eq(gradc_set_value(g, gradc_var_index(g, "label"), y, dy, 1), GRADC_OK);
  cr_assert_eq(gradc_set_defaults(g, 7, 0), GRADC_OK, "%s", gradc_diag_render(g));
  free(x);
  free(y);
}

/* Every result of f, concatenated (malloc'd), *len elements. */
static double *results(GradcFn *f, long *len) {
  long total = 0;
  for (int r = 0; r < gradc_fn_res_count(f); r++) {
    long dims[4], n = 1;
    int rank = gradc_fn_res_shape(f, r, dims);
    for (int k = 0; k < rank; k++)
      n *= dims[k];
    total += n;
  }
  double *all = malloc((size_t)total * sizeof *all);
  long at = 0;
  for (int r = 0; r < gradc_fn_res_count(f); r++) {
    long dims[4], n = 1;
    int rank = gradc_fn_res_shape(f, r, dims);
    for (int k = 0; k < rank; k++)
      n *= dims[k];
    memcpy(all + at, gradc_fn_res_data(f, r), (size_t)n * sizeof *all);
    at += n;
  }
  *len = total;
  return all;
}

enum { VALUE, GRAD, HVP };

/* The results of one kind of function with T threads and blocks of B rows
 * (B = 0: one call over all the rows). */
static double *run_text(const char *text, long n, int kind, int T, long B, GradcBackend be, long *len) {
  Gradc *g = compile_ok(text);
  gradc_set_backend(g, be);
  set_data(g, n);
  gradc_set_threads(g, T);
  gradc_set_block_rows(g, B > 0 ? B : n + 1);
  int J = gradc_output_index(g, "J");
  GradcFn *f = kind == VALUE ? gradc_fn_value(g) : kind == GRAD ? gradc_fn_grad(g, NULL, 0)
                                                                : gradc_fn_hvp(g, J, NULL, 0);
  cr_assert_not_null(f, "%s", gradc_diag_render(g));
  double *tan[8] = {0};
  int nparams = 0;
  for (int v = 0; v < gradc_var_count(g); v++)
    nparams += gradc_var_is_param(g, v);
  if (kind == HVP) /* v: one array per param, in param order */
    for (int k = 0; k < nparams; k++) {
      long dims[4], m = 1;
      int rank = gradc_fn_arg_shape(f, gradc_var_count(g) + k, dims);
      for (int d = 0; d < rank; d++)
        m *= dims[d];
      tan[k] = malloc((size_t)m * sizeof(double));
      for (long e = 0; e < m; e++)
        tan[k][e] = sin(1.0 + (double)e + 10.0 * k);
    }
  GradcStatus st = gradc_run(f, kind == HVP ? (const double *const *)tan : NULL);
  cr_assert_eq(st, GRADC_OK, "%s", gradc_diag_render(g));
  cr_assert_eq(par_ctx(g)->last_blocks, B > 0 ? (n + B - 1) / B : 0, "blocks of the run");
  double *r = results(f, len);
  for (int k = 0; k < 8; k++)
    free(tan[k]);
  gradc_free(g);
  return r;
}

static double *run(long n, int kind, int T, long B, GradcBackend be, long *len) {
  return run_text(MLP, n, kind, T, B, be, len);
}

static void same_bits_text(const char *text, int kind, GradcBackend be) {
  long n = 5000, l1, l2;
  double *one = run_text(text, n, kind, 1, 64, be, &l1);
  int threads[] = {2, 3, 16};
  for (size_t i = 0; i < sizeof threads / sizeof *threads; i++) {
    double *t = run_text(text, n, kind, threads[i], 64, be, &l2);
    cr_assert_eq(l1, l2);
    for (long e = 0; e < l1; e++)
      cr_assert(memcmp(&one[e], &t[e], sizeof *one) == 0, "%d threads differ from 1 (kind %d) at %ld of %ld: %.17g %.17g",
                threads[i], kind, e, l1, one[e], t[e]);
    free(t);
  }
  /* and close to one call over all the rows */
  double *whole = run_text(text, n, kind, 1, 0, be, &l2);
  cr_assert_eq(l1, l2);
  int differs = 0;
  for (long e = 0; e < l1; e++) {
    cr_assert(fabs(one[e] - whole[e]) <= 1e-12 * (fabs(whole[e]) + 1), "element %ld: %.17g vs %.17g", e, one[e],
              whole[e]);
    differs |= one[e] != whole[e];
  }
  (void)differs; /* the sums may or may not round differently */
  free(one);
  free(whole);
  ASSERT_NO_LEAKS();
}

static void same_bits_for_any_threads(int kind, GradcBackend be) { same_bits_text(MLP, kind, be); }

Test(threads, value_same_bits) { same_bits_for_any_threads(VALUE, GRADC_BACKEND_TCC); }
/* regularised: the sums from the blocks, the terms without rows once */
Test(threads, regularised_value_same_bits) { same_bits_text(MLP_L2, VALUE, GRADC_BACKEND_TCC); }
Test(threads, regularised_grad_same_bits) { same_bits_text(MLP_L2, GRAD, GRADC_BACKEND_TCC); }
Test(threads, regularised_hvp_same_bits) { same_bits_text(MLP_L2, HVP, GRADC_BACKEND_TCC); }
Test(threads, regularised_grad_same_bits_cc, .timeout = 120) { same_bits_text(MLP_L2, GRAD, GRADC_BACKEND_CC); }
Test(threads, grad_same_bits) { same_bits_for_any_threads(GRAD, GRADC_BACKEND_TCC); }
Test(threads, hvp_same_bits) { same_bits_for_any_threads(HVP, GRADC_BACKEND_TCC); }
Test(threads, grad_same_bits_cc, .timeout = 120) { same_bits_for_any_threads(GRAD, GRADC_BACKEND_CC); }

/* The default block size at N = 10^6: blocked sums against one call. */
Test(threads, million_rows_against_one_call, .timeout = 120) {
  long n = 1000000, l1, l2;
  double *blocked = run(n, GRAD, 2, 4096, GRADC_BACKEND_TCC, &l1);
  double *whole = run(n, GRAD, 1, 0, GRADC_BACKEND_TCC, &l2);
  cr_assert_eq(l1, l2);
  double worst = 0;
  for (long e = 0; e < l1; e++) {
    double rel = fabs(blocked[e] - whole[e]) / (fabs(whole[e]) + 1e-300);
    if (whole[e] != 0 && rel > worst)
      worst = rel;
    cr_assert(whole[e] != 0 || blocked[e] == 0 || fabs(blocked[e]) < 1e-12, "element %ld", e);
  }
  cr_assert_leq(worst, 1e-10, "worst relative difference %g", worst);
  free(blocked);
  free(whole);
}

/* A label out of range in one block: the same diagnostic as one call. */
Test(threads, failing_block_reports) {
  Gradc *g = compile_ok(MLP);
  set_data(g, 1000);
  long dims[4];
  int rank;
  double *y = gradc_get_value(g, gradc_var_index(g, "label"), dims, &rank);
  y[700] = 5;
  gradc_set_threads(g, 2);
  gradc_set_block_rows(g, 100);
  GradcFn *f = gradc_fn_grad(g, NULL, 0);
  cr_assert_not_null(f);
  cr_assert_eq(gradc_run(f, NULL), GRADC_ERR_INPUT);
  cr_assert(strstr(gradc_diag_render(g), "element 700 of 'label'"), "%s", gradc_diag_render(g));
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* Not separable (a batch statistic): one call, whatever the threads. */
Test(threads, batch_statistics_run_as_one_call) {
  const char *bn = "input x[N]\nparam a = 0.5\nmu = mean(a*x)\noutput L = sum((a*x - mu)^2)\n";
  double v[2];
  for (int k = 0; k < 2; k++) {
    Gradc *g = compile_ok(bn);
    long n = 3000, d[1] = {n};
    double *x = malloc((size_t)n * sizeof *x);
    for (long i = 0; i < n; i++)
      x[i] = sin((double)i);
    gradc_set_value(g, 0, x, d, 1);
    free(x);
    cr_assert_eq(gradc_set_defaults(g, 1, 0), GRADC_OK);
    gradc_set_threads(g, k ? 4 : 1);
    gradc_set_block_rows(g, k ? 100 : 0);
    GradcFn *f = gradc_fn_grad(g, NULL, 0);
    cr_assert_eq(gradc_run(f, NULL), GRADC_OK, "%s", gradc_diag_render(g));
    v[k] = gradc_fn_res_data(f, 1)[0];
    cr_assert_eq(par_ctx(g)->last_blocks, 0, "a batch statistic must not be cut into blocks");
    gradc_free(g);
  }
  cr_assert(v[0] == v[1], "%.17g vs %.17g", v[0], v[1]);
}

/* Not separable after a term without rows was added (a nonlinear function
 * of mean + a): one call, and the gradients keep their shapes. */
Test(threads, affine_through_nonlinear_runs_as_one_call) {
  const char *text = "input X[N, 2]\ninput label[N]\nparam W[3, 2] = randn(0.5), a = 0.3\n"
                     "output L = exp(mean(X @ W') + a)\n";
  double v[2][7];
  for (int k = 0; k < 2; k++) {
    Gradc *g = compile_ok(text);
    set_data(g, 3000);
    gradc_set_threads(g, k ? 2 : 1);
    gradc_set_block_rows(g, k ? 100 : 0);
    GradcFn *f = gradc_fn_grad(g, NULL, 0);
    cr_assert_eq(gradc_run(f, NULL), GRADC_OK, "%s", gradc_diag_render(g));
    cr_assert_eq(par_ctx(g)->last_blocks, 0);
    long dims[4];
    cr_assert_eq(gradc_fn_res_shape(f, 1, dims), 2);
    cr_assert(dims[0] == 3 && dims[1] == 2, "dL/dW has shape (%ld, %ld)", dims[0], dims[1]);
    v[k][0] = gradc_fn_res_data(f, 0)[0];
    memcpy(&v[k][1], gradc_fn_res_data(f, 1), 6 * sizeof(double));
    gradc_free(g);
  }
  cr_assert(memcmp(v[0], v[1], sizeof v[0]) == 0);
}

/* Training, full batch and mini-batches: the same params with 1 and 3 threads. */
static void train_params(const char *text, int T, long batch, double *out, long *n) {
  Gradc *g = compile_ok(text);
  set_data(g, 3000);
  gradc_set_threads(g, T);
  gradc_set_block_rows(g, 128);
  GradcTrainer *t = gradc_trainer_new(g, gradc_output_index(g, "J"), GRADC_ADAM, 0.05, batch, 3);
  cr_assert_not_null(t, "%s", gradc_diag_render(g));
  for (int s = 0; s < 20; s++) {
    cr_assert_eq(gradc_trainer_step(t, NULL), GRADC_OK, "%s", gradc_diag_render(g));
    cr_assert_eq(par_ctx(g)->last_blocks, ((batch ? batch : 3000) + 127) / 128);
  }
  *n = 0;
  for (int v = 0; v < gradc_var_count(g); v++) {
    if (!gradc_var_is_param(g, v))
      continue;
    long dims[4];
    int rank;
    const double *p = gradc_get_value(g, v, dims, &rank);
    long m = 1;
    for (int d = 0; d < rank; d++)
      m *= dims[d];
    memcpy(out + *n, p, (size_t)m * sizeof *p);
    *n += m;
  }
  gradc_trainer_free(t);
  gradc_free(g);
}

Test(threads, train_same_bits) {
  double a[200], b[200];
  long na, nb;
  long batches[] = {0, 1000};
  const char *texts[] = {MLP, MLP_L2};
  for (int p = 0; p < 2; p++)
    for (int k = 0; k < 2; k++) {
      train_params(texts[p], 1, batches[k], a, &na);
      train_params(texts[p], 3, batches[k], b, &nb);
      cr_assert_eq(na, nb);
      cr_assert(memcmp(a, b, (size_t)na * sizeof *a) == 0, "%s, batch %ld: params differ", p ? "L2" : "plain",
                batches[k]);
    }
  ASSERT_NO_LEAKS();
}

Test(threads, default_is_the_cores) {
  Gradc *g = gradc_new();
  cr_assert_geq(gradc_threads(g), 1);
  gradc_set_threads(g, 5);
  cr_assert_eq(gradc_threads(g), 5);
  gradc_free(g);
}
