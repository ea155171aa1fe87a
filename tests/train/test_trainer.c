/* test_trainer.c: the trainer API of gradc.h (gradc_trainer_new / step /
 * full_data / free) on problems whose minimum is known exactly: every
 * optimizer must reach it, the first updates must follow the textbook
 * rules, and mini-batches must be seeded and give the whole data back. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradc.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#define ASSERT_NO_LEAKS() \
  cr_assert(__lsan_do_recoverable_leak_check() == 0, "memory leaked (see the LSan report above)")
#else
#define ASSERT_NO_LEAKS() ((void)0)
#endif

/* sum((w - t)^2) with t = [1, -2, 3]: minimum 0 at w = t */
static const char *VEC_QUAD = "param w[3] = zeros\n"
                              "output L = sum((w - [1, -2, 3])^2)\n";
static const double TARGET[3] = {1, -2, 3};

static Gradc *compile_ok(const char *text) {
  Gradc *g = gradc_new();
  cr_assert_not_null(g);
  GradcStatus st = gradc_compile_string(g, "t.expr", text, strlen(text));
  cr_assert_eq(st, GRADC_OK, "program rejected:\n%s\n%s", text, gradc_diag_render(g));
  return g;
}

static void defaults_ok(Gradc *g, unsigned long long seed) {
  GradcStatus st = gradc_set_defaults(g, seed, 0);
  cr_assert_eq(st, GRADC_OK, "gradc_set_defaults: %s", gradc_diag_render(g));
}

static GradcTrainer *trainer_ok(Gradc *g, const char *loss, GradcOptimizer opt, double lr, long batch,
                                unsigned long long seed) {
  int out = gradc_output_index(g, loss);
  cr_assert_geq(out, 0, "no output %s", loss);
  GradcTrainer *t = gradc_trainer_new(g, out, opt, lr, batch, seed);
  cr_assert_not_null(t, "gradc_trainer_new: %s", gradc_diag_render(g));
  return t;
}

static double step_ok(GradcTrainer *t, Gradc *g) {
  double l = NAN;
  GradcStatus st = gradc_trainer_step(t, &l);
  cr_assert_eq(st, GRADC_OK, "gradc_trainer_step: %s", gradc_diag_render(g));
  return l;
}

static const double *value_of(Gradc *g, const char *name, long *n) {
  int v = gradc_var_index(g, name);
  cr_assert_geq(v, 0, "no variable %s", name);
  long dims[8];
  int rank;
  const double *d = gradc_get_value(g, v, dims, &rank);
  cr_assert_not_null(d, "%s has no value", name);
  long k = 1;
  for (int i = 0; i < rank; i++)
    k *= dims[i];
  if (n)
    *n = k;
  return d;
}

/* Train the vector quadratic and check that w ends within tol of t, and
 * that the loss that step() reports ends near 0. */
static void converges(GradcOptimizer opt, double lr, int steps, double tol) {
  Gradc *g = compile_ok(VEC_QUAD);
  defaults_ok(g, 0);
  GradcTrainer *t = trainer_ok(g, "L", opt, lr, 0, 0);
  double first = step_ok(t, g), last = first;
  cr_assert_float_eq(first, 14.0, 1e-12, "the loss at w = 0 is 1 + 4 + 9, got %.17g", first);
  for (int s = 1; s < steps; s++)
    last = step_ok(t, g);
  long n;
  const double *w = value_of(g, "w", &n);
  cr_assert_eq(n, 3);
  for (int i = 0; i < 3; i++)
    cr_assert(fabs(w[i] - TARGET[i]) < tol, "opt %d: w[%d] = %.17g, want %g within %g", (int)opt, i, w[i],
              TARGET[i], tol);
  cr_assert(last < 1e-5, "opt %d: final loss %.17g", (int)opt, last);
  gradc_trainer_free(t);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(trainer, gd_reaches_the_minimum_of_a_vector_quadratic) {
  converges(GRADC_GD, 0.1, 200, 1e-9);
}

Test(trainer, momentum_reaches_the_minimum_of_a_vector_quadratic) {
  converges(GRADC_MOMENTUM, 0.05, 600, 1e-6);
}

Test(trainer, adam_reaches_the_minimum_of_a_vector_quadratic) {
  converges(GRADC_ADAM, 0.05, 3000, 1e-3);
}

/* A scalar param with a scalar input: the input is data and must not move. */
static void scalar_converges(GradcOptimizer opt, double lr, int steps, double tol) {
  Gradc *g = compile_ok("param a = 5\ninput c\noutput L = (a - c)^2 + 1\n");
  cr_assert_eq(gradc_set_value_text(g, "c", "-2"), GRADC_OK, "%s", gradc_diag_render(g));
  defaults_ok(g, 0);
  GradcTrainer *t = trainer_ok(g, "L", opt, lr, 0, 0);
  double first = step_ok(t, g), last = first;
  cr_assert_float_eq(first, 50.0, 1e-12, "loss at a = 5, c = -2: %.17g", first);
  for (int s = 1; s < steps; s++)
    last = step_ok(t, g);
  cr_assert(fabs(value_of(g, "a", NULL)[0] + 2) < tol, "opt %d: a = %.17g, want -2", (int)opt,
            value_of(g, "a", NULL)[0]);
  cr_assert_eq(value_of(g, "c", NULL)[0], -2.0, "the input moved");
  cr_assert(fabs(last - 1) < 1e-5, "opt %d: loss %.17g, want 1", (int)opt, last);
  gradc_trainer_free(t);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(trainer, every_optimizer_minimises_a_scalar_quadratic) {
  scalar_converges(GRADC_GD, 0.1, 200, 1e-9);
  scalar_converges(GRADC_MOMENTUM, 0.05, 600, 1e-6);
  scalar_converges(GRADC_ADAM, 0.1, 3000, 1e-3);
}

/* The first updates, computed by hand: gradient 2(w - t) at w = 0 is -2t. */
Test(trainer, gd_update_is_w_minus_lr_times_gradient) {
  Gradc *g = compile_ok(VEC_QUAD);
  defaults_ok(g, 0);
  GradcTrainer *t = trainer_ok(g, "L", GRADC_GD, 0.1, 0, 0);
  step_ok(t, g);
  const double *w = value_of(g, "w", NULL);
  for (int i = 0; i < 3; i++) /* w1 = 0 - 0.1 * (-2t) = 0.2t */
    cr_assert_float_eq(w[i], 0.2 * TARGET[i], 1e-15, "w[%d] = %.17g", i, w[i]);
  double l = step_ok(t, g); /* the loss before the 2nd update: sum((0.8t)^2) */
  cr_assert_float_eq(l, 0.64 * 14, 1e-12, "loss %.17g", l);
  gradc_trainer_free(t);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(trainer, momentum_update_accumulates_the_velocity) {
  Gradc *g = compile_ok(VEC_QUAD);
  defaults_ok(g, 0);
  GradcTrainer *t = trainer_ok(g, "L", GRADC_MOMENTUM, 0.1, 0, 0);
  step_ok(t, g); /* m1 = g1 = -2t, w1 = 0.2t */
  step_ok(t, g); /* g2 = 2(0.2t - t) = -1.6t, m2 = 0.9 m1 + g2 = -3.4t, w2 = 0.2t + 0.34t */
  const double *w = value_of(g, "w", NULL);
  for (int i = 0; i < 3; i++)
    cr_assert_float_eq(w[i], 0.54 * TARGET[i], 1e-14, "w[%d] = %.17g", i, w[i]);
  gradc_trainer_free(t);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(trainer, adam_first_step_moves_each_entry_by_lr) {
  Gradc *g = compile_ok(VEC_QUAD);
  defaults_ok(g, 0);
  GradcTrainer *t = trainer_ok(g, "L", GRADC_ADAM, 0.01, 0, 0);
  step_ok(t, g); /* bias-corrected m/sqrt(v) is sign(gradient) on step 1 */
  const double *w = value_of(g, "w", NULL);
  for (int i = 0; i < 3; i++)
    cr_assert_float_eq(w[i], 0.01 * (TARGET[i] > 0 ? 1 : -1), 1e-9, "w[%d] = %.17g", i, w[i]);
  gradc_trainer_free(t);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* Training starts from values set on the context, not only defaults. */
Test(trainer, starts_from_values_set_by_the_caller) {
  Gradc *g = compile_ok("param w[3]\noutput L = sum((w - [1, -2, 3])^2)\n");
  double w0[3] = {1, -2, 4};
  long dims[1] = {3};
  cr_assert_eq(gradc_set_value(g, gradc_var_index(g, "w"), w0, dims, 1), GRADC_OK);
  defaults_ok(g, 0);
  GradcTrainer *t = trainer_ok(g, "L", GRADC_GD, 0.25, 0, 0);
  double l = step_ok(t, g);
  cr_assert_float_eq(l, 1.0, 1e-15, "loss %.17g", l);
  const double *w = value_of(g, "w", NULL); /* 4 - 0.25 * 2 = 3.5 */
  cr_assert_float_eq(w[2], 3.5, 1e-15);
  cr_assert_eq(w[0], 1.0);
  cr_assert_eq(w[1], -2.0);
  gradc_trainer_free(t);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(trainer, a_tensor_loss_is_refused) {
  Gradc *g = compile_ok("param w[3] = ones\noutput r = w * 2\noutput L = sum(r)\n");
  defaults_ok(g, 0);
  GradcTrainer *t = gradc_trainer_new(g, gradc_output_index(g, "r"), GRADC_GD, 0.1, 0, 0);
  cr_assert_null(t, "a vector output was accepted as a loss");
  cr_assert_geq(gradc_diag_count(g), 1);
  cr_assert(strstr(gradc_diag_render(g), "scalar"), "diagnostic: %s", gradc_diag_render(g));
  gradc_diag_clear(g);
  t = gradc_trainer_new(g, 7, GRADC_GD, 0.1, 0, 0);
  cr_assert_null(t, "output 7 does not exist");
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(trainer, a_program_without_params_is_refused) {
  Gradc *g = compile_ok("input x = 2\noutput L = x^2\n");
  defaults_ok(g, 0);
  GradcTrainer *t = gradc_trainer_new(g, 0, GRADC_ADAM, 0.1, 0, 0);
  cr_assert_null(t);
  cr_assert(strstr(gradc_diag_render(g), "no param"), "diagnostic: %s", gradc_diag_render(g));
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- mini-batches ---------------------------------------------------------- */

/* y = 2 x0 - x1 exactly, 20 rows: every batch has the same minimum. */
static const char *REGRESSION = "input X[N, 2], y[N]\n"
                                "param w[2] = zeros\n"
                                "output L = mean((X @ w - y)^2)\n";
enum { ROWS = 20 };

static Gradc *regression(void) {
  Gradc *g = compile_ok(REGRESSION);
  double X[ROWS * 2], y[ROWS];
  for (int i = 0; i < ROWS; i++) {
    X[2 * i] = (double)(i % 5) - 2;
    X[2 * i + 1] = (double)((i * 7) % 11) / 5 - 1;
    y[i] = 2 * X[2 * i] - X[2 * i + 1];
  }
  long dx[2] = {ROWS, 2}, dy[1] = {ROWS};
  cr_assert_eq(gradc_set_value(g, gradc_var_index(g, "X"), X, dx, 2), GRADC_OK);
  cr_assert_eq(gradc_set_value(g, gradc_var_index(g, "y"), y, dy, 1), GRADC_OK);
  defaults_ok(g, 0);
  return g;
}

static long dim_n(Gradc *g) {
  for (int k = 0; k < gradc_dim_count(g); k++)
    if (!strcmp(gradc_dim_name(g, k), "N"))
      return gradc_dim_value(g, k);
  cr_assert_fail("no dimension N");
  return -1;
}

Test(trainer, mini_batches_converge_and_give_the_data_back) {
  Gradc *g = regression();
  GradcTrainer *t = trainer_ok(g, "L", GRADC_GD, 0.1, 4, 1);
  step_ok(t, g);
  cr_assert_eq(dim_n(g), 4, "a step on a batch of 4 binds N = %ld", dim_n(g));
  for (int s = 1; s < 800; s++)
    step_ok(t, g);
  const double *w = value_of(g, "w", NULL);
  cr_assert(fabs(w[0] - 2) < 1e-6 && fabs(w[1] + 1) < 1e-6, "w = [%.17g, %.17g], want [2, -1]", w[0], w[1]);
  cr_assert_eq(gradc_trainer_full_data(t), GRADC_OK, "%s", gradc_diag_render(g));
  cr_assert_eq(dim_n(g), ROWS);
  long n;
  const double *X = value_of(g, "X", &n);
  cr_assert_eq(n, 2 * ROWS);
  for (int i = 0; i < ROWS; i++) /* in the original order */
    cr_assert_eq(X[2 * i], (double)(i % 5) - 2, "row %d of X changed", i);
  /* training may go on after full_data */
  step_ok(t, g);
  gradc_trainer_free(t);
  /* freeing the trainer puts the whole data back too */
  cr_assert_eq(dim_n(g), ROWS);
  value_of(g, "y", &n);
  cr_assert_eq(n, ROWS);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* The params after a few mini-batch steps with a given seed. */
static void batch_run(unsigned long long seed, double w[2], double losses[5]) {
  Gradc *g = regression();
  GradcTrainer *t = trainer_ok(g, "L", GRADC_ADAM, 0.05, 3, seed);
  for (int s = 0; s < 5; s++)
    losses[s] = step_ok(t, g);
  memcpy(w, value_of(g, "w", NULL), 2 * sizeof *w);
  gradc_trainer_free(t);
  gradc_free(g);
}

Test(trainer, mini_batches_are_seeded) {
  double a[2], b[2], c[2], la[5], lb[5], lc[5];
  batch_run(42, a, la);
  batch_run(42, b, lb);
  batch_run(43, c, lc);
  cr_assert(!memcmp(a, b, sizeof a) && !memcmp(la, lb, sizeof la), "the same seed gave different batches");
  cr_assert(memcmp(la, lc, sizeof la) != 0, "seeds 42 and 43 gave the same batch losses");
  ASSERT_NO_LEAKS();
}

Test(trainer, a_batch_as_large_as_the_data_is_the_whole_data) {
  Gradc *g1 = regression(), *g2 = regression();
  GradcTrainer *t1 = trainer_ok(g1, "L", GRADC_GD, 0.1, ROWS, 5);
  GradcTrainer *t2 = trainer_ok(g2, "L", GRADC_GD, 0.1, 0, 5);
  for (int s = 0; s < 10; s++) {
    double l1 = step_ok(t1, g1), l2 = step_ok(t2, g2);
    cr_assert_eq(l1, l2, "step %d: %.17g vs %.17g", s, l1, l2);
  }
  cr_assert_eq(dim_n(g1), ROWS);
  gradc_trainer_free(t1);
  gradc_trainer_free(t2);
  gradc_free(g1);
  gradc_free(g2);
  ASSERT_NO_LEAKS();
}

/* ---- a loss or gradient that stops being finite ------------------------------- */

/* The last diagnostic's message, which must name the step. */
static const char *last_message(Gradc *g) {
  int n = gradc_diag_count(g);
  cr_assert_gt(n, 0, "no diagnostic");
  return gradc_diag_message(g, n - 1);
}

/* a^4 by gd with lr 1 from a = 2 overshoots further at every step until
 * the loss overflows: the step that finds it returns GRADC_ERR_NONFINITE
 * and puts back the params before the previous update, the last at which
 * the loss and the gradient were finite. */
Test(trainer, a_loss_that_overflows_stops_and_goes_back_to_the_last_finite_params) {
  Gradc *g = compile_ok("param a = 2\noutput L = a^4\n");
  defaults_ok(g, 0);
  GradcTrainer *t = trainer_ok(g, "L", GRADC_GD, 1.0, 0, 0);
  double a[64];
  a[0] = value_of(g, "a", NULL)[0];
  GradcStatus st = GRADC_OK;
  int k = 0; /* updates made */
  double l = 0;
  while (k < 60) {
    st = gradc_trainer_step(t, &l);
    if (st != GRADC_OK)
      break;
    cr_assert(isfinite(l), "step %d reported a loss %g as GRADC_OK", k + 1, l);
    a[++k] = value_of(g, "a", NULL)[0];
    /* the textbook update, computed here */
    cr_assert_eq(a[k], a[k - 1] - 4 * a[k - 1] * a[k - 1] * a[k - 1], "a after step %d", k);
  }
  cr_assert_eq(st, GRADC_ERR_NONFINITE, "the run never stopped: status %d after %d steps", (int)st, k);
  cr_assert(k >= 3, "stopped after %d steps only", k);
  cr_assert(!isfinite(l), "the loss reported with GRADC_ERR_NONFINITE is %g", l);
  /* the loss at a[k] is not finite, at a[k - 1] it was */
  cr_assert(!isfinite(pow(a[k], 4)) && isfinite(pow(a[k - 1], 4)));
  cr_assert_eq(value_of(g, "a", NULL)[0], a[k - 1], "a = %.17g, want %.17g (step %d)", value_of(g, "a", NULL)[0],
               a[k - 1], k - 1);
  cr_assert_eq(gradc_trainer_steps(t), k - 1);
  char want[64];
  snprintf(want, sizeof want, "at step %d ", k);
  cr_assert_not_null(strstr(last_message(g), want), "message: %s (want '%s')", last_message(g), want);
  cr_assert_not_null(strstr(last_message(g), "loss"), "message: %s", last_message(g));
  /* nothing further to go back to */
  cr_assert_eq(gradc_trainer_revert(t), GRADC_ERR_USAGE);
  cr_assert_eq(value_of(g, "a", NULL)[0], a[k - 1]);
  gradc_trainer_free(t);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* sqrt(a) at 0: the loss is 0 but the gradient is infinite on the first
 * step: nothing moves. */
Test(trainer, an_infinite_gradient_on_the_first_step_keeps_the_initial_params) {
  Gradc *g = compile_ok("param a = 0, b = 1\noutput L = sqrt(a) + b^2\n");
  defaults_ok(g, 0);
  for (int opt = GRADC_GD; opt <= GRADC_ADAM; opt++) {
    GradcTrainer *t = trainer_ok(g, "L", (GradcOptimizer)opt, 0.1, 0, 0);
    double l = NAN;
    cr_assert_eq(gradc_trainer_step(t, &l), GRADC_ERR_NONFINITE, "opt %d", opt);
    cr_assert_eq(l, 1.0, "the loss is finite and reported: %g", l);
    cr_assert_eq(value_of(g, "a", NULL)[0], 0.0);
    cr_assert_eq(value_of(g, "b", NULL)[0], 1.0, "b moved although a's gradient is infinite");
    cr_assert_eq(gradc_trainer_steps(t), 0);
    cr_assert_not_null(strstr(last_message(g), "gradient"), "message: %s", last_message(g));
    cr_assert_not_null(strstr(last_message(g), "step 0"), "message: %s", last_message(g));
    cr_assert_eq(gradc_trainer_revert(t), GRADC_ERR_USAGE);
    gradc_diag_clear(g);
    gradc_trainer_free(t);
  }
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* A finite gradient times a huge learning rate: the update would
 * overflow, so it is not made. */
Test(trainer, an_update_that_overflows_is_not_made) {
  Gradc *g = compile_ok("param w[3] = zeros\noutput L = sum((w - [1, -2, 3])^2)\n");
  defaults_ok(g, 0);
  GradcTrainer *t = trainer_ok(g, "L", GRADC_GD, 1e308, 0, 0);
  cr_assert_eq(gradc_trainer_step(t, NULL), GRADC_ERR_NONFINITE);
  long n;
  const double *w = value_of(g, "w", &n);
  for (long i = 0; i < n; i++)
    cr_assert_eq(w[i], 0.0, "w[%ld] = %g", i, w[i]);
  cr_assert_eq(gradc_trainer_steps(t), 0);
  cr_assert_not_null(strstr(last_message(g), "update of step 1"), "message: %s", last_message(g));
  cr_assert_not_null(strstr(last_message(g), "w[0]"), "message: %s", last_message(g));
  gradc_trainer_free(t);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* gradc_trainer_revert puts back the params before the last update, once. */
Test(trainer, revert_goes_back_one_update) {
  Gradc *g = compile_ok(VEC_QUAD);
  defaults_ok(g, 0);
  GradcTrainer *t = trainer_ok(g, "L", GRADC_GD, 0.1, 0, 0);
  cr_assert_eq(gradc_trainer_revert(t), GRADC_ERR_USAGE, "a revert before any step");
  step_ok(t, g);
  double w1[3];
  memcpy(w1, value_of(g, "w", NULL), sizeof w1);
  step_ok(t, g);
  cr_assert_eq(gradc_trainer_steps(t), 2);
  cr_assert_neq(value_of(g, "w", NULL)[0], w1[0]);
  cr_assert_eq(gradc_trainer_revert(t), GRADC_OK);
  cr_assert_eq(gradc_trainer_steps(t), 1);
  for (int i = 0; i < 3; i++)
    cr_assert_eq(value_of(g, "w", NULL)[i], w1[i]);
  cr_assert_eq(gradc_trainer_revert(t), GRADC_ERR_USAGE, "a second revert");
  gradc_diag_clear(g);
  gradc_trainer_free(t);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}
