/* test_ad.c: derivatives (SPEC 1.5) checked against things gradc did not
 * compute: central finite differences, closed forms worked out by hand,
 * and each other (forward mode against reverse mode). Every elementwise
 * built-in and operator is covered, the kink conventions are pinned down,
 * and 2000+ random expressions exercise the rules in combination. */
#include <stdarg.h>
#include <stdint.h>

#define TEST_UTIL_RANDOM
#include "test_util.h"

/* ---- a program with value, gradient and JVP functions ----------------------- */

typedef struct Fns {
  Gradc *g;
  GradcFn *value, *grad, *jvp;
  int nv, no;
} Fns;

static Fns fns_compile(const char *text) {
  Fns f = {.g = compile_ok(text)};
  f.nv = gradc_var_count(f.g);
  f.no = gradc_output_count(f.g);
  f.value = gradc_fn_value(f.g);
  f.grad = gradc_fn_grad(f.g, NULL, 0);
  f.jvp = gradc_fn_jvp(f.g, NULL, 0);
  cr_assert(f.value && f.grad && f.jvp, "%s\n%s", text, gradc_diag_render(f.g));
  cr_assert_eq(gradc_fn_res_count(f.grad), f.no * (1 + f.nv));
  cr_assert_eq(gradc_fn_arg_count(f.jvp), 2 * f.nv);
  return f;
}

static double value_at(const Fns *f, const double *x) {
  double r[16];
  call_scalars(f->value, x, r);
  return r[0];
}

/* Gradient of output 0 by reverse mode (grad[k] for variable k). */
static void reverse_at(const Fns *f, const double *x, double *grad) {
  double r[64];
  call_scalars(f->grad, x, r);
  for (int k = 0; k < f->nv; k++)
    grad[k] = r[f->no + k];
}

/* Directional derivative of output 0 along `dir` by forward mode. */
static double forward_at(const Fns *f, const double *x, const double *dir) {
  double args[32], r[16];
  for (int k = 0; k < f->nv; k++) {
    args[k] = x[k];
    args[f->nv + k] = dir[k];
  }
  call_scalars(f->jvp, args, r);
  return r[f->no];
}

/* Fourth-order central difference: accurate enough for tight tolerances. */
static double central5(const Fns *f, const double *x, int k) {
  double h = 1e-4 * (fabs(x[k]) > 0.01 ? fabs(x[k]) : 0.01), xs[16], v[4];
  static const double off[4] = {-2, -1, 1, 2};
  for (int i = 0; i < 4; i++) {
    memcpy(xs, x, (size_t)f->nv * sizeof *x);
    xs[k] += off[i] * h;
    v[i] = value_at(f, xs);
  }
  return (v[0] - 8 * v[1] + 8 * v[2] - v[3]) / (12 * h);
}

static void fns_free(Fns *f) { gradc_free(f->g); }

/* ---- every elementwise built-in and operator ------------------------------------ */

typedef struct Case {
  const char *expr;                      /* over a, b, c */
  double (*ref)(double a, double b, double c);
  double pts[4][3];                      /* inside the domain, away from kinks */
} Case;

static double r_exp(double a, double b, double c) { (void)b, (void)c; return exp(a); }
static double r_log(double a, double b, double c) { (void)b, (void)c; return log(a); }
static double r_sqrt(double a, double b, double c) { (void)b, (void)c; return sqrt(a); }
static double r_abs(double a, double b, double c) { (void)b, (void)c; return fabs(a); }
static double r_sign(double a, double b, double c) { (void)b, (void)c; return (a > 0) - (a < 0); }
static double r_sin(double a, double b, double c) { (void)b, (void)c; return sin(a); }
static double r_cos(double a, double b, double c) { (void)b, (void)c; return cos(a); }
static double r_tan(double a, double b, double c) { (void)b, (void)c; return tan(a); }
static double r_asin(double a, double b, double c) { (void)b, (void)c; return asin(a); }
static double r_acos(double a, double b, double c) { (void)b, (void)c; return acos(a); }
static double r_atan(double a, double b, double c) { (void)b, (void)c; return atan(a); }
static double r_sinh(double a, double b, double c) { (void)b, (void)c; return sinh(a); }
static double r_cosh(double a, double b, double c) { (void)b, (void)c; return cosh(a); }
static double r_tanh(double a, double b, double c) { (void)b, (void)c; return tanh(a); }
static double r_erf(double a, double b, double c) { (void)b, (void)c; return erf(a); }
static double r_sigmoid(double a, double b, double c) { (void)b, (void)c; return 1 / (1 + exp(-a)); }
static double r_relu(double a, double b, double c) { (void)b, (void)c; return a > 0 ? a : 0; }
static double r_softplus(double a, double b, double c) { (void)b, (void)c; return log(1 + exp(a)); }
static double r_log1p(double a, double b, double c) { (void)b, (void)c; return log1p(a); }
static double r_expm1(double a, double b, double c) { (void)b, (void)c; return expm1(a); }
static double r_pow(double a, double b, double c) { (void)c; return pow(a, b); }
static double r_atan2(double a, double b, double c) { (void)c; return atan2(a, b); }
static double r_max(double a, double b, double c) { (void)c; return a > b ? a : b; }
static double r_min(double a, double b, double c) { (void)c; return a < b ? a : b; }
static double r_where(double a, double b, double c) { return a != 0 ? b : c; }
static double r_where_cmp(double a, double b, double c) { return a > 0.5 ? b * b : c * a; }
static double r_add(double a, double b, double c) { (void)c; return a + b; }
static double r_sub(double a, double b, double c) { (void)c; return a - b; }
static double r_mul(double a, double b, double c) { (void)c; return a * b; }
static double r_div(double a, double b, double c) { (void)c; return a / b; }
static double r_powop(double a, double b, double c) { (void)c; return pow(a, b); }
static double r_cube(double a, double b, double c) { (void)b, (void)c; return a * a * a; }
static double r_inv2(double a, double b, double c) { (void)b, (void)c; return 1 / (a * a); }
static double r_neg(double a, double b, double c) { (void)b, (void)c; return -a; }
static double r_cmp(double a, double b, double c) {
  return (a < b) + 2 * (a <= c) + 4 * (b > c) + 8 * (b >= a) + 16 * (a == b) + 32 * (a != c);
}

static const Case cases[] = {
    {"exp(a)", r_exp, {{-1.3, 0, 0}, {0.2, 0, 0}, {2.5, 0, 0}, {-7, 0, 0}}},
    {"log(a)", r_log, {{0.01, 0, 0}, {0.7, 0, 0}, {3, 0, 0}, {150, 0, 0}}},
    {"sqrt(a)", r_sqrt, {{0.01, 0, 0}, {0.7, 0, 0}, {3, 0, 0}, {150, 0, 0}}},
    {"abs(a)", r_abs, {{-2, 0, 0}, {-0.3, 0, 0}, {0.4, 0, 0}, {5, 0, 0}}},
    {"sign(a)", r_sign, {{-2, 0, 0}, {-0.3, 0, 0}, {0.4, 0, 0}, {5, 0, 0}}},
    {"sin(a)", r_sin, {{-2, 0, 0}, {0, 0, 0}, {0.4, 0, 0}, {5, 0, 0}}},
    {"cos(a)", r_cos, {{-2, 0, 0}, {0, 0, 0}, {0.4, 0, 0}, {5, 0, 0}}},
    {"tan(a)", r_tan, {{-1.2, 0, 0}, {0, 0, 0}, {0.4, 0, 0}, {1.4, 0, 0}}},
    {"asin(a)", r_asin, {{-0.9, 0, 0}, {0, 0, 0}, {0.4, 0, 0}, {0.95, 0, 0}}},
    {"acos(a)", r_acos, {{-0.9, 0, 0}, {0, 0, 0}, {0.4, 0, 0}, {0.95, 0, 0}}},
    {"atan(a)", r_atan, {{-20, 0, 0}, {0, 0, 0}, {0.4, 0, 0}, {3, 0, 0}}},
    {"sinh(a)", r_sinh, {{-3, 0, 0}, {0, 0, 0}, {0.4, 0, 0}, {2, 0, 0}}},
    {"cosh(a)", r_cosh, {{-3, 0, 0}, {0, 0, 0}, {0.4, 0, 0}, {2, 0, 0}}},
    {"tanh(a)", r_tanh, {{-3, 0, 0}, {0, 0, 0}, {0.4, 0, 0}, {2, 0, 0}}},
    {"erf(a)", r_erf, {{-2, 0, 0}, {0, 0, 0}, {0.4, 0, 0}, {1.5, 0, 0}}},
    {"sigmoid(a)", r_sigmoid, {{-30, 0, 0}, {-1, 0, 0}, {0, 0, 0}, {4, 0, 0}}},
    {"relu(a)", r_relu, {{-2, 0, 0}, {-0.3, 0, 0}, {0.4, 0, 0}, {5, 0, 0}}},
    {"softplus(a)", r_softplus, {{-30, 0, 0}, {-1, 0, 0}, {0, 0, 0}, {4, 0, 0}}},
    {"log1p(a)", r_log1p, {{-0.9, 0, 0}, {1e-4, 0, 0}, {0.4, 0, 0}, {20, 0, 0}}},
    {"expm1(a)", r_expm1, {{-3, 0, 0}, {1e-4, 0, 0}, {0.4, 0, 0}, {2, 0, 0}}},
    {"pow(a, b)", r_pow, {{0.5, 2, 0}, {1.7, -0.6, 0}, {3, 0.5, 0}, {2, 3, 0}}},
    {"atan2(a, b)", r_atan2, {{1, 2, 0}, {-1, 2, 0}, {1, -2, 0}, {-0.5, -0.1, 0}}},
    {"max(a, b)", r_max, {{1, 2, 0}, {2, 1, 0}, {-1, -3, 0}, {0.3, 0.2, 0}}},
    {"min(a, b)", r_min, {{1, 2, 0}, {2, 1, 0}, {-1, -3, 0}, {0.3, 0.2, 0}}},
    {"where(a, b, c)", r_where, {{1, 2, 3}, {0, 2, 3}, {-0.5, -1, 4}, {0, 0.1, -0.2}}},
    {"where(a > 0.5, b*b, c*a)", r_where_cmp, {{1, 2, 3}, {0, 2, 3}, {0.7, -1, 4}, {0.2, 0.1, -0.2}}},
    {"a + b", r_add, {{1, 2, 0}, {-3, 0.5, 0}, {0, 0, 0}, {1e3, -2e3, 0}}},
    {"a - b", r_sub, {{1, 2, 0}, {-3, 0.5, 0}, {0, 0, 0}, {1e3, -2e3, 0}}},
    {"a * b", r_mul, {{1, 2, 0}, {-3, 0.5, 0}, {0, 0, 0}, {1e3, -2e3, 0}}},
    {"a / b", r_div, {{1, 2, 0}, {-3, 0.5, 0}, {0, -1, 0}, {1e3, -2e3, 0}}},
    {"a ^ b", r_powop, {{0.5, 2, 0}, {1.7, -0.6, 0}, {3, 0.5, 0}, {2, 3.5, 0}}},
    {"a ^ 3", r_cube, {{-2, 0, 0}, {-0.3, 0, 0}, {0, 0, 0}, {1.5, 0, 0}}},
    {"a ^ -2", r_inv2, {{-2, 0, 0}, {-0.3, 0, 0}, {0.5, 0, 0}, {1.5, 0, 0}}},
    {"-a", r_neg, {{-2, 0, 0}, {0, 0, 0}, {0.5, 0, 0}, {1.5, 0, 0}}},
    {"(a < b) + 2*(a <= c) + 4*(b > c) + 8*(b >= a) + 16*(a == b) + 32*(a != c)", r_cmp,
     {{1, 2, 3}, {3, 2, 1}, {0.5, -1, 2}, {-1, 0.5, -1.5}}},
};

Test(ad, every_builtin_agrees_with_central_differences) {
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const Case *cs = &cases[i];
    char text[256];
    snprintf(text, sizeof text, "param a, b, c\noutput L = %s\n", cs->expr);
    Fns f = fns_compile(text);
    cr_assert_eq(f.nv, 3);
    for (int p = 0; p < 4; p++) {
      const double *x = cs->pts[p];
      double v = value_at(&f, x), want = cs->ref(x[0], x[1], x[2]);
      cr_assert_lt(rel_diff(v, want), 1e-14, "%s at (%g, %g, %g): value %.17g, libm %.17g",
                   cs->expr, x[0], x[1], x[2], v, want);
      double grad[3];
      reverse_at(&f, x, grad);
      for (int k = 0; k < 3; k++) {
        double e[3] = {0, 0, 0};
        e[k] = 1;
        double fwd = forward_at(&f, x, e), fd = central5(&f, x, k);
        cr_assert(isfinite(grad[k]) && isfinite(fwd), "%s: not finite", cs->expr);
        cr_assert_lt(fabs(grad[k] - fd), 1e-7 * (fabs(fd) > 1 ? fabs(fd) : 1),
                     "%s at (%g, %g, %g): reverse d/d%c = %.17g, central difference %.17g",
                     cs->expr, x[0], x[1], x[2], "abc"[k], grad[k], fd);
        cr_assert_lt(fabs(fwd - fd), 1e-7 * (fabs(fd) > 1 ? fabs(fd) : 1),
                     "%s at (%g, %g, %g): forward d/d%c = %.17g, central difference %.17g",
                     cs->expr, x[0], x[1], x[2], "abc"[k], fwd, fd);
      }
    }
    fns_free(&f);
  }
  ASSERT_NO_LEAKS();
}

/* ---- kinks (SPEC 1.5: PyTorch's conventions) ------------------------------------------ */

/* Value, reverse-mode gradient and forward-mode unit derivatives at x. */
static void all_at(const char *expr, const double *x, double *v, double *rev, double *fwd) {
  char text[256];
  snprintf(text, sizeof text, "param a, b, c\noutput L = %s\n", expr);
  Fns f = fns_compile(text);
  *v = value_at(&f, x);
  reverse_at(&f, x, rev);
  for (int k = 0; k < 3; k++) {
    double e[3] = {0, 0, 0};
    e[k] = 1;
    fwd[k] = forward_at(&f, x, e);
  }
  fns_free(&f);
}

static void expect_derivs(const char *expr, double a, double b, double c, double da, double db,
                          double dc) {
  double x[3] = {a, b, c}, v, rev[3], fwd[3], want[3] = {da, db, dc};
  all_at(expr, x, &v, rev, fwd);
  for (int k = 0; k < 3; k++) {
    cr_assert_eq(rev[k], want[k], "%s at (%g, %g, %g): reverse d/d%c = %.17g, want %g", expr, a,
                 b, c, "abc"[k], rev[k], want[k]);
    cr_assert_eq(fwd[k], want[k], "%s at (%g, %g, %g): forward d/d%c = %.17g, want %g", expr, a,
                 b, c, "abc"[k], fwd[k], want[k]);
  }
}

Test(ad, relu_has_derivative_zero_at_zero) {
  expect_derivs("relu(a)", 0, 0, 0, 0, 0, 0);
  expect_derivs("relu(a)", 1e-300, 0, 0, 1, 0, 0);
  expect_derivs("relu(a)", -1e-300, 0, 0, 0, 0, 0);
  ASSERT_NO_LEAKS();
}

Test(ad, abs_has_derivative_zero_at_zero) {
  expect_derivs("abs(a)", 0, 0, 0, 0, 0, 0);
  expect_derivs("abs(a)", -0.0, 0, 0, 0, 0, 0);
  expect_derivs("abs(a)", -2, 0, 0, -1, 0, 0);
  ASSERT_NO_LEAKS();
}

Test(ad, sign_has_derivative_zero_everywhere) {
  expect_derivs("sign(a)", 0, 0, 0, 0, 0, 0);
  expect_derivs("sign(a)", 3, 0, 0, 0, 0, 0);
  expect_derivs("sign(a*b)", -3, 2, 0, 0, 0, 0);
  double x[3] = {0, 0, 0}, v, rev[3], fwd[3];
  all_at("sign(a)", x, &v, rev, fwd);
  cr_assert_eq(v, 0);
  ASSERT_NO_LEAKS();
}

Test(ad, max_and_min_of_equal_arguments_split_half_and_half) {
  expect_derivs("max(a, b)", 1.5, 1.5, 0, 0.5, 0.5, 0);
  expect_derivs("min(a, b)", 1.5, 1.5, 0, 0.5, 0.5, 0);
  expect_derivs("max(a, b)", 2, 1, 0, 1, 0, 0);
  expect_derivs("min(a, b)", 2, 1, 0, 0, 1, 0);
  /* ties through different expressions: max(2a, b) at 2a = b */
  expect_derivs("max(2*a, b)", 1, 2, 0, 1, 0.5, 0);
  ASSERT_NO_LEAKS();
}

Test(ad, where_sends_the_derivative_to_the_chosen_branch_only) {
  expect_derivs("where(c, a, b)", 2, 3, 1, 1, 0, 0);
  expect_derivs("where(c, a, b)", 2, 3, 0, 0, 1, 0);
  expect_derivs("where(c, a, b)", 2, 3, -7, 1, 0, 0);
  expect_derivs("where(a > 0, a*b, b*b)", 2, 3, 0, 3, 2, 0);
  expect_derivs("where(a > 0, a*b, b*b)", -2, 3, 0, 0, 6, 0);
  ASSERT_NO_LEAKS();
}

Test(ad, comparisons_have_derivative_zero) {
  expect_derivs("(a < b)*a", 1, 2, 0, 1, 0, 0);
  expect_derivs("(a == b) + (a != b) + (a <= b) + (a >= b) + (a > b)", 1, 2, 0, 0, 0, 0);
  ASSERT_NO_LEAKS();
}

/* pow(0, b): the b-derivative is 0, not 0*log(0) = NaN (PyTorch). */
Test(ad, power_of_zero_has_finite_derivatives) {
  expect_derivs("pow(a, b)", 0, 2, 0, 0, 0, 0);
  expect_derivs("a ^ 2.5", 0, 0, 0, 0, 0, 0);
  expect_derivs("a ^ b", 0, 3, 0, 0, 0, 0);
  ASSERT_NO_LEAKS();
}

/* ---- closed forms ---------------------------------------------------------------------- */

/* L = 0.5 (w x - y)^2 at w = 2, x = 3, y = 1: r = 5,
 * dL/dw = r x = 15, dL/dx = r w = 10, dL/dy = -r = -5. */
Test(ad, seed_example_gradient_is_exact) {
  Gradc *g = gradc_new();
  cr_assert_eq(gradc_compile_file(g, GRADC_EXAMPLES "/seed_scalar.expr"), GRADC_OK, "%s",
               gradc_diag_render(g));
  cr_assert_eq(gradc_var_count(g), 3);
  cr_assert_str_eq(gradc_var_name(g, 0), "w");
  cr_assert_str_eq(gradc_var_name(g, 1), "x");
  cr_assert_str_eq(gradc_var_name(g, 2), "y");
  GradcFn *f = gradc_fn_grad(g, NULL, 0);
  cr_assert_not_null(f, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_fn_res_count(f), 4);
  cr_assert_str_eq(gradc_fn_res_name(f, 1), "df/dw");
  double x[3] = {2, 3, 1}, r[4];
  call_scalars(f, x, r);
  cr_assert_eq(r[0], 12.5);
  cr_assert_eq(r[1], 15);
  cr_assert_eq(r[2], 10);
  cr_assert_eq(r[3], -5);
  /* forward mode along (1, 2, 3): 15 + 20 - 15 = 20 */
  GradcFn *j = gradc_fn_jvp(g, NULL, 0);
  cr_assert_not_null(j);
  double a[6] = {2, 3, 1, 1, 2, 3}, jr[2];
  call_scalars(j, a, jr);
  cr_assert_eq(jr[0], 12.5);
  cr_assert_eq(jr[1], 20);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* The Hessian of L = 0.5 r^2, r = w x - y, is g g^T + r H_r with
 * g = grad r = (x, w, -1) and H_r = [[0,1,0],[1,0,0],[0,0,0]]. At w = 2,
 * x = 3, y = 1 (r = 5):
 *   [[9, 6, -3],     [[0, 5, 0],     [[ 9, 11, -3],
 *    [6, 4, -2],  +   [5, 0, 0],  =   [11,  4, -2],
 *    [-3, -2, 1]]     [0, 0, 0]]      [-3, -2,  1]]
 * (so not [[9,6,-3],[6,4,1],[-3,1,1]], which drops the r H_r term and has
 * the wrong sign for d2L/dx/dy = -w). */
Test(ad, hessian_of_the_seed_example_is_exact) {
  Gradc *g = compile_ok("0.5*(w*x-y)^2\n");
  GradcFn *h = gradc_fn_hessian(g, 0, NULL, 0);
  cr_assert_not_null(h, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_fn_res_count(h), 10);
  cr_assert_str_eq(gradc_fn_res_name(h, 2), "d2f/dw/dx");
  double x[3] = {2, 3, 1}, r[10];
  call_scalars(h, x, r);
  const double want[3][3] = {{9, 11, -3}, {11, 4, -2}, {-3, -2, 1}};
  cr_assert_eq(r[0], 12.5);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      cr_assert_eq(r[1 + 3 * i + j], want[i][j], "H[%d][%d] = %.17g, want %g", i, j,
                   r[1 + 3 * i + j], want[i][j]);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* A wrt list picks and orders the Hessian's rows and columns. */
Test(ad, hessian_follows_the_wrt_order) {
  Gradc *g = compile_ok("0.5*(w*x-y)^2\n");
  int wrt[2] = {2, 0}; /* y, w */
  GradcFn *h = gradc_fn_hessian(g, 0, wrt, 2);
  cr_assert_not_null(h, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_fn_res_count(h), 5);
  double x[3] = {2, 3, 1}, r[5];
  call_scalars(h, x, r);
  cr_assert_eq(r[1], 1);  /* d2/dy2 */
  cr_assert_eq(r[2], -3); /* d2/dy/dw = -x */
  cr_assert_eq(r[3], -3);
  cr_assert_eq(r[4], 9);  /* d2/dw2 = x^2 */
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- vector literals ----------------------------------------------------------------- */

/* [a, b, c] builds a vector (SPEC 1.4); each entry must get its share of
 * the adjoint, in both modes. Here p = 2, q = 1, v = (1, 2, 3) and
 * X = [[1, 2, 3], [4, 5, 6]]. */
Test(ad, gradients_flow_through_vector_literals) {
  static const struct {
    const char *text;
    double L, dp, dq;
  } cases[] = {
      /* 3p + 4q */
      {"param p, q\ninput v[3], X[2, 3]\noutput L = sum([p, q] * [3, 4])\n", 10, 3, 4},
      /* p sum(v) */
      {"param p, q\ninput v[3], X[2, 3]\noutput L = sum(v * [p, p, q])\n", 9, 3, 3},
      /* v . (p, 2p, q) = p + 4p + 3q */
      {"param p, q\ninput v[3], X[2, 3]\noutput L = dot(v, [p, 2*p, q])\n", 13, 5, 3},
      /* sum(X (p, p, q)) = p (1+2+4+5) + q (3+6) */
      {"param p, q\ninput v[3], X[2, 3]\noutput L = sum(X @ [p, p, q])\n", 33, 12, 9},
  };
  static const double p = 2, q = 1, v[3] = {1, 2, 3}, X[6] = {1, 2, 3, 4, 5, 6};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    Gradc *g = compile_ok(cases[i].text);
    GradcFn *fg = gradc_fn_grad(g, NULL, 0), *fj = gradc_fn_jvp(g, NULL, 0);
    cr_assert(fg && fj, "%s\n%s", cases[i].text, gradc_diag_render(g));
    cr_assert_eq(gradc_fn_res_count(fg), 3);
    double L = NAN, dp = NAN, dq = NAN, tp = 1, tq = 0, jL = NAN, jd = NAN;
    const double *args[6] = {&p, &q, v, X, &tp, &tq};
    double *res[3] = {&L, &dp, &dq};
    cr_assert_eq(gradc_call(fg, args, res), GRADC_OK);
    cr_assert_eq(L, cases[i].L, "%s: L = %.17g", cases[i].text, L);
    cr_assert_eq(dp, cases[i].dp, "%s: reverse dL/dp = %.17g, want %g", cases[i].text, dp, cases[i].dp);
    cr_assert_eq(dq, cases[i].dq, "%s: reverse dL/dq = %.17g, want %g", cases[i].text, dq, cases[i].dq);
    double *jres[2] = {&jL, &jd};
    cr_assert_eq(gradc_call(fj, args, jres), GRADC_OK);
    cr_assert_eq(jd, cases[i].dp, "%s: forward dL/dp = %.17g, want %g", cases[i].text, jd, cases[i].dp);
    gradc_free(g);
  }
  ASSERT_NO_LEAKS();
}

/* ---- random expressions ---------------------------------------------------------------------- */

/* next_u64, uniform, pick, Str and put: test_util.h */

enum { BATCH = 8 }; /* random expressions per compiled program */

/* An expression over a, b, c (each in [-1, 1]) whose value is within
 * [-2, 2] by construction, so every domain restriction below holds:
 * log and sqrt see at least 0.5, asin/acos at most 0.8 in magnitude,
 * log1p at least 0.2, pow a base of at least 0.55, tan an angle of at
 * most 1, atan2 an x (or y) of at least 0.5. `smooth` leaves out the
 * kinks (abs, sign, relu, max, min, where, comparisons). */
static void gen(Str *b, int depth, int smooth);

/* An operator applied to random operands (depth >= 1). */
static void gen_op(Str *b, int depth, int smooth) {
  static const char *const unary[] = {
      "sin(#)", "cos(#)", "tanh(#)", "erf(#)", "sigmoid(#)", "atan(#)", "exp(#)/4",
      "log(2.5 + #)", "sqrt(2.5 + #)*0.9", "softplus(#)*0.9", "asin(#/2.5)",
      "acos(#/2.5) - 1", "sinh(#)/2", "cosh(#)/2", "tan(#/2)", "log1p(#*0.4)",
      "expm1(#/2)", "-(#)", "(#)^2/2", "(#)^3/4", "(1.5 + #/4)^-2", "2^(#/2)",
      /* kinks from here on */
      "abs(#)", "sign(#)", "relu(#)"};
  static const char *const binary[] = {
      "(# + #)/2", "(# - #)/2", "# * #/2", "#/(3 + #)", "pow(1.25 + #*0.35, #/2)",
      "(1.25 + #*0.35)^(#/2)", "atan2(#, 2.5 + #)", "atan2(2.5 + #, #) - 1.5",
      /* kinks from here on */
      "max(#, #)", "min(#, #)", "(# < #)", "(# >= #)", "where(# > #, #, #)"};
  enum { NU = sizeof unary / sizeof *unary, NB = sizeof binary / sizeof *binary };
  int binop = pick(2);
  const char *tpl = binop ? binary[pick(smooth ? NB - 5 : NB)] : unary[pick(smooth ? NU - 3 : NU)];
  for (const char *p = tpl; *p; p++) {
    if (*p == '#') { /* parenthesised: one operand whatever it holds */
      put(b, "(");
      gen(b, depth - 1, smooth);
      put(b, ")");
    } else
      put(b, "%c", *p);
  }
}

/* A variable, a constant (one time in five, or at the bottom), or an
 * operator. */
static void gen(Str *b, int depth, int smooth) {
  if (depth == 0 || pick(5) == 0) {
    int k = pick(4);
    if (k < 3)
      put(b, "%c", "abc"[k]);
    else
      put(b, "%.3g", uniform(-2, 2));
    return;
  }
  gen_op(b, depth, smooth);
}

/* All outputs of a program at x: values, gradients (grad[o*nv + k]) and
 * directional derivatives along dir (tan[o]). */
static void values_all(const Fns *f, const double *x, double *v) { call_scalars(f->value, x, v); }

static void reverse_all(const Fns *f, const double *x, double *grad) {
  double r[256];
  call_scalars(f->grad, x, r);
  memcpy(grad, r + f->no, (size_t)(f->no * f->nv) * sizeof *grad);
}

static void forward_all(const Fns *f, const double *x, const double *dir, double *tan) {
  double args[32], r[64];
  for (int k = 0; k < f->nv; k++) {
    args[k] = x[k];
    args[f->nv + k] = dir[k];
  }
  call_scalars(f->jvp, args, r);
  memcpy(tan, r + f->no, (size_t)f->no * sizeof *tan);
}

/* Central differences of every output in variable k. */
static void central_all(const Fns *f, const double *x, int k, double h, double *d) {
  double xp[3], xm[3], vp[BATCH], vm[BATCH];
  memcpy(xp, x, sizeof xp);
  memcpy(xm, x, sizeof xm);
  xp[k] += h;
  xm[k] -= h;
  values_all(f, xp, vp);
  values_all(f, xm, vm);
  for (int o = 0; o < f->no; o++)
    d[o] = (vp[o] - vm[o]) / (2 * h);
}

/* Checks forward = reverse = central differences for `count` random
 * expressions, BATCH of them per program (as outputs L0, L1...: one JIT
 * compile serves several, which keeps the sanitizer build fast); returns
 * how many points had to be redrawn because a kink was within reach of
 * the difference step. */
static int check_random_expressions(int count, int depth) {
  int redrawn = 0;
  Str text = {0}, expr[BATCH] = {{0}};
  for (int n = 0; n < count; n += BATCH) {
    text.len = 0;
    put(&text, "param a, b, c\n");
    for (int o = 0; o < BATCH; o++) {
      expr[o].len = 0;
      gen_op(&expr[o], depth, 0);
      put(&text, "output L%d = %s\n", o, expr[o].s);
    }
    Fns f = fns_compile(text.s);
    cr_assert_eq(f.no, BATCH);
    double x[3], fd[3][BATCH], d2[BATCH];
    /* a point where the central differences at two steps agree, i.e. no
     * kink or jump lies within the steps */
    for (int tries = 0;; tries++) {
      cr_assert_lt(tries, 20, "no smooth point for %s", text.s);
      for (int k = 0; k < 3; k++)
        x[k] = uniform(-1, 1);
      int ok = 1;
      for (int k = 0; k < 3; k++) {
        central_all(&f, x, k, 1e-6, fd[k]);
        central_all(&f, x, k, 1e-5, d2);
        for (int o = 0; o < BATCH; o++)
          ok &= fabs(fd[k][o] - d2[o]) <= 1e-5 * (fabs(fd[k][o]) > 1 ? fabs(fd[k][o]) : 1);
      }
      if (ok)
        break;
      redrawn++;
    }
    double v[BATCH], grad[BATCH * 3], fwd[3][BATCH], dir[3], along[BATCH];
    values_all(&f, x, v);
    reverse_all(&f, x, grad);
    for (int k = 0; k < 3; k++) {
      double e[3] = {0, 0, 0};
      e[k] = 1;
      forward_all(&f, x, e, fwd[k]);
      dir[k] = uniform(-1, 1);
    }
    forward_all(&f, x, dir, along);
    for (int o = 0; o < BATCH; o++) {
      const char *ex = expr[o].s;
      cr_assert(isfinite(v[o]), "%s at (%.17g, %.17g, %.17g): value %g", ex, x[0], x[1], x[2], v[o]);
      cr_assert_leq(fabs(v[o]), 2.0 + 1e-9, "%s: value %g escapes [-2, 2]", ex, v[o]);
      double dot = 0;
      for (int k = 0; k < 3; k++) {
        double g = grad[o * 3 + k], fw = fwd[k][o], d = fd[k][o];
        double scale = fabs(d) > 1 ? fabs(d) : 1;
        cr_assert(isfinite(g) && isfinite(fw), "%s: not finite", ex);
        cr_assert_leq(fabs(fw - g), 1e-12 * scale,
                      "%s at (%.17g, %.17g, %.17g): d/d%c forward %.17g, reverse %.17g", ex,
                      x[0], x[1], x[2], "abc"[k], fw, g);
        cr_assert_leq(fabs(g - d), 1e-6 * scale,
                      "%s at (%.17g, %.17g, %.17g): d/d%c reverse %.17g, central difference %.17g",
                      ex, x[0], x[1], x[2], "abc"[k], g, d);
        dot += dir[k] * g;
      }
      /* a random direction: forward mode gives the gradient's dot product */
      cr_assert_leq(fabs(along[o] - dot), 1e-12 * (fabs(dot) > 1 ? fabs(dot) : 1) + 1e-14,
                    "%s: along a direction forward %.17g, grad . dir %.17g", ex, along[o], dot);
    }
    fns_free(&f);
  }
  free(text.s);
  for (int o = 0; o < BATCH; o++)
    free(expr[o].s);
  return redrawn;
}

Test(ad, random_expressions_agree_in_all_three_ways, .timeout = 120) {
  int redrawn = check_random_expressions(1000, 3);
  redrawn += check_random_expressions(1000, 5);
  redrawn += check_random_expressions(200, 7);
  cr_assert_lt(redrawn, 50, "%d points were near a kink", redrawn);
  ASSERT_NO_LEAKS();
}

/* Forward over reverse against central differences of the gradient. */
Test(ad, random_hessians_match_differences_of_the_gradient, .timeout = 60) {
  Str text = {0};
  for (int n = 0; n < 150; n++) {
    text.len = 0;
    put(&text, "param a, b, c\noutput L = ");
    gen_op(&text, 4, 1);
    put(&text, "\n");
    Fns f = fns_compile(text.s);
    GradcFn *h = gradc_fn_hessian(f.g, 0, NULL, 0);
    cr_assert_not_null(h, "%s", gradc_diag_render(f.g));
    double x[3], r[10];
    for (int k = 0; k < 3; k++)
      x[k] = uniform(-1, 1);
    call_scalars(h, x, r);
    for (int j = 0; j < 3; j++) {
      double step = 1e-5, xp[3], xm[3], gp[3], gm[3];
      memcpy(xp, x, sizeof x);
      memcpy(xm, x, sizeof x);
      xp[j] += step;
      xm[j] -= step;
      reverse_at(&f, xp, gp);
      reverse_at(&f, xm, gm);
      for (int i = 0; i < 3; i++) {
        double fd = (gp[i] - gm[i]) / (2 * step), hij = r[1 + 3 * i + j];
        cr_assert_leq(fabs(hij - fd), 1e-5 * (fabs(fd) > 1 ? fabs(fd) : 1),
                      "%s at (%.17g, %.17g, %.17g): H[%d][%d] = %.17g, difference %.17g", text.s,
                      x[0], x[1], x[2], i, j, hij, fd);
        cr_assert_leq(fabs(hij - r[1 + 3 * j + i]), 1e-12 * (fabs(hij) > 1 ? fabs(hij) : 1),
                      "%s: H is not symmetric", text.s);
      }
    }
    fns_free(&f);
  }
  free(text.s);
  ASSERT_NO_LEAKS();
}

/* One forward-over-reverse sweep: H v equals the Hessian times v, and the
 * gradient it returns equals the reverse-mode gradient. */
Test(ad, random_hvps_match_the_hessian_times_v, .timeout = 60) {
  Str text = {0};
  for (int n = 0; n < 100; n++) {
    text.len = 0;
    put(&text, "param a, b, c\noutput L = ");
    gen_op(&text, 4, 1);
    put(&text, "\n");
    Fns f = fns_compile(text.s);
    GradcFn *h = gradc_fn_hessian(f.g, 0, NULL, 0);
    GradcFn *hv = gradc_fn_hvp(f.g, 0, NULL, 0);
    cr_assert_not_null(h, "%s", gradc_diag_render(f.g));
    cr_assert_not_null(hv, "%s", gradc_diag_render(f.g));
    cr_assert_eq(gradc_fn_arg_count(hv), 6);
    cr_assert_eq(gradc_fn_res_count(hv), 7);
    cr_assert_str_eq(gradc_fn_res_name(hv, 4), "d2L/da.v");
    double x[6], r[10], s[7], gr[3];
    for (int k = 0; k < 6; k++)
      x[k] = uniform(-1, 1);
    call_scalars(h, x, r);
    call_scalars(hv, x, s);
    reverse_at(&f, x, gr);
    for (int i = 0; i < 3; i++) {
      double hvi = 0, scale = 1;
      for (int j = 0; j < 3; j++) {
        hvi += r[1 + 3 * i + j] * x[3 + j];
        scale += fabs(r[1 + 3 * i + j] * x[3 + j]);
      }
      if (!isfinite(hvi))
        continue;
      cr_assert_leq(fabs(s[4 + i] - hvi), 1e-12 * scale, "%s: (Hv)[%d] = %.17g, H*v = %.17g",
                    text.s, i, s[4 + i], hvi);
      cr_assert(s[1 + i] == gr[i] || (isnan(s[1 + i]) && isnan(gr[i])), "%s: gradient %d", text.s, i);
    }
    fns_free(&f);
  }
  free(text.s);
  ASSERT_NO_LEAKS();
}

/* gradc_hessian_dense (one HVP function, unit vectors, several per call)
 * against gradc_fn_hessian (one unrolled forward sweep per variable, with
 * constant unit tangents: other code, folded differently), on random
 * expressions of 3 scalars and on a tensor of 11 elements, more than one
 * call's worth of columns. Rows follow the wrt order in both. */
Test(ad, hessians_from_hvp_columns_match_the_unrolled_ones, .timeout = 60) {
  Str text = {0};
  for (int n = 0; n < 60; n++) {
    text.len = 0;
    put(&text, "param a, b, c\noutput L = ");
    gen_op(&text, 4, 1);
    put(&text, "\n");
    Fns f = fns_compile(text.s);
    double x[3], r[10], H[9], value;
    for (int k = 0; k < 3; k++) {
      x[k] = uniform(-1, 1);
      cr_assert_eq(gradc_set_value(f.g, k, &x[k], NULL, 0), GRADC_OK);
    }
    cr_assert_eq(gradc_set_defaults(f.g, 0, 0), GRADC_OK, "%s", gradc_diag_render(f.g));
    int wrt[3] = {2, 0, 1};
    GradcFn *h = gradc_fn_hessian(f.g, 0, wrt, 3);
    cr_assert_not_null(h, "%s", gradc_diag_render(f.g));
    call_scalars(h, x, r);
    cr_assert_eq(gradc_hessian_dense(f.g, 0, wrt, 3, 3, &value, H), GRADC_OK, "%s", gradc_diag_render(f.g));
    cr_assert(value == r[0] || (isnan(value) && isnan(r[0])), "%s: value", text.s);
    for (int i = 0; i < 9; i++) {
      double scale = fabs(r[1 + i]) > 1 ? fabs(r[1 + i]) : 1;
      if (!isfinite(r[1 + i]))
        cr_assert(!isfinite(H[i]), "%s: H[%d] = %.17g, unrolled %.17g", text.s, i, H[i], r[1 + i]);
      else
        cr_assert_leq(fabs(H[i] - r[1 + i]), 1e-12 * scale, "%s: H[%d] = %.17g, unrolled %.17g",
                      text.s, i, H[i], r[1 + i]);
    }
    cr_assert_eq(gradc_hessian_dense(f.g, 0, wrt, 3, 4, &value, H), GRADC_ERR_USAGE);
    fns_free(&f);
  }
  free(text.s);
  /* 11 + 1 variables: two calls of 8 columns, the second partly past the end */
  Gradc *g = compile_ok("param x[11], s\noutput f = sum(sin(x) * x[::-1]) * s^2 + prod(x[:3])\n");
  double xv[11], s = 0.75, H[144], value;
  long dims[1] = {11};
  for (int k = 0; k < 11; k++)
    xv[k] = uniform(-1, 1);
  cr_assert_eq(gradc_set_value(g, 0, xv, dims, 1), GRADC_OK);
  cr_assert_eq(gradc_set_value(g, 1, &s, NULL, 0), GRADC_OK);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK, "%s", gradc_diag_render(g));
  GradcFn *h = gradc_fn_hessian(g, 0, NULL, 0);
  cr_assert_not_null(h, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_run(h, NULL), GRADC_OK, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_hessian_dense(g, 0, NULL, 0, 12, &value, H), GRADC_OK, "%s", gradc_diag_render(g));
  cr_assert_eq(value, gradc_fn_res_data(h, 0)[0]);
  for (int row = 0, res = 1; row < 12; row++, res += 2) { /* row r: x's block, then s's */
    const double *bx = gradc_fn_res_data(h, res), *bs = gradc_fn_res_data(h, res + 1);
    for (int j = 0; j < 12; j++) {
      double want = j < 11 ? bx[j] : bs[0], scale = fabs(want) > 1 ? fabs(want) : 1;
      cr_assert_leq(fabs(H[row * 12 + j] - want), 1e-12 * scale, "H[%d][%d] = %.17g, unrolled %.17g",
                    row, j, H[row * 12 + j], want);
    }
  }
  gradc_free(g);
  ASSERT_NO_LEAKS();
}
