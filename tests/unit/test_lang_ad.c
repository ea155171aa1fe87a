/* test_lang_ad.c: grad(E, x) and jvp(E, x, v) inside the language (SPEC
 * 1.8). Values are checked against hand-derived formulas (the chained
 * Rosenbrock's gradient and tridiagonal Hessian, least squares), against
 * the commands' own derivatives (gradc_fn_hessian, gradc_fn_hvp), and
 * third derivatives against differences of second ones; errors have
 * their positions; the emitted C compiles under -Werror and computes the
 * hand-derived numbers; an HVP written in the language costs a small
 * multiple of the value. */
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

#define ROSEN "sum(100*(x[1:] - x[:-1]^2)^2 + (1 - x[:-1])^2)"

/* ---- hand-derived chained Rosenbrock ------------------------------------------ */

/* f = sum_{i<n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 */
static void rosen_grad(const double *x, int n, double *gr) {
  for (int i = 0; i < n; i++) {
    gr[i] = 0;
    if (i < n - 1)
      gr[i] += -400 * x[i] * (x[i + 1] - x[i] * x[i]) - 2 * (1 - x[i]);
    if (i > 0)
      gr[i] += 200 * (x[i] - x[i - 1] * x[i - 1]);
  }
}

/* The tridiagonal Hessian times v. */
static void rosen_hess_times(const double *x, int n, const double *v, double *hv) {
  for (int i = 0; i < n; i++) {
    double d = 0;
    if (i < n - 1)
      d += 1200 * x[i] * x[i] - 400 * x[i + 1] + 2;
    if (i > 0)
      d += 200;
    hv[i] = d * v[i];
    if (i < n - 1)
      hv[i] += -400 * x[i] * v[i + 1];
    if (i > 0)
      hv[i] += -400 * x[i - 1] * v[i - 1];
  }
}

static void set_vec(Gradc *g, const char *name, const double *data, long n) {
  int k = gradc_var_index(g, name);
  cr_assert_geq(k, 0, "no variable %s", name);
  long dims[1] = {n};
  cr_assert_eq(gradc_set_value(g, k, data, dims, 1), GRADC_OK, "%s", gradc_diag_render(g));
}

static void set_mat(Gradc *g, const char *name, const double *data, long r, long c) {
  int k = gradc_var_index(g, name);
  cr_assert_geq(k, 0, "no variable %s", name);
  long dims[2] = {r, c};
  cr_assert_eq(gradc_set_value(g, k, data, dims, 2), GRADC_OK, "%s", gradc_diag_render(g));
}

static void run_ok(Gradc *g, GradcFn *f, const double *const *tangents) {
  cr_assert_not_null(f, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_run(f, tangents), GRADC_OK, "%s", gradc_diag_render(g));
}

/* The result of f called `name`. */
static const double *res(const GradcFn *f, const char *name) {
  for (int i = 0; i < gradc_fn_res_count(f); i++)
    if (!strcmp(gradc_fn_res_name(f, i), name))
      return gradc_fn_res_data(f, i);
  cr_assert_fail("no result %s", name);
  return NULL;
}

static void expect_close(const char *what, int i, double got, double want, double tol) {
  cr_assert(fabs(got - want) <= tol * fmax(1, fabs(want)), "%s[%d] = %.17g, want %.17g", what, i, got, want);
}

/* Points where the test is run: the standard start, and a seeded mixed one. */
static void point(int which, int n, double *x) {
  unsigned s = 12345;
  for (int i = 0; i < n; i++) {
    s = s * 1103515245u + 12345u;
    x[i] = which == 0 ? (i % 2 ? 1 : -1.2) : -1.5 + 3.0 * (double)(s >> 8) / (double)(1u << 24);
  }
}

/* ---- the SPEC example ------------------------------------------------------------ */

Test(lang_ad, rosenbrock_step_and_penalty_match_the_hand_gradient) {
  Gradc *g = gradc_new();
  cr_assert_eq(gradc_compile_file(g, GRADC_EXAMPLES "/rosenbrock_step.expr"), GRADC_OK, "%s",
               gradc_diag_render(g));
  for (int which = 0; which < 2; which++) {
    enum { N = 7 };
    double x[N], gr[N], hg[N];
    point(which, N, x);
    set_vec(g, "x", x, N);
    cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
    GradcFn *fg = gradc_fn_grad(g, NULL, 0);
    run_ok(g, fg, NULL);
    rosen_grad(x, N, gr);
    rosen_hess_times(x, N, gr, hg);
    double pen = 0;
    for (int i = 0; i < N; i++)
      pen += gr[i] * gr[i];
    const double *step = res(fg, "step"), *dpen = res(fg, "dpenalty/dx");
    for (int i = 0; i < N; i++)
      expect_close("step", i, step[i], x[i] - 1e-3 * gr[i], 1e-13);
    expect_close("penalty", 0, res(fg, "penalty")[0], pen, 1e-13);
    /* d/dx sum(g^2) = 2 H g: second derivatives of f, by reverse over reverse */
    for (int i = 0; i < N; i++)
      expect_close("dpenalty/dx", i, dpen[i], 2 * hg[i], 1e-12);
  }
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- HVP: forward over reverse in the language ----------------------------------------- */

Test(lang_ad, jvp_of_grad_is_the_hessian_times_v) {
  Gradc *g = compile_ok("param x[N]\ninput v[N]\n"
                        "f = " ROSEN "\n"
                        "output fv = f\n"
                        "output hv = jvp(grad(f, x), x, v)\n"
                        "output gg = grad(sum(grad(f, x)^2), x)\n"
                        "output hs = jvp(grad(f, x), x, 0.5)\n");
  enum { N = 6 };
  double x[N], v[N], want[N], gr[N], half[N];
  point(1, N, x);
  for (int i = 0; i < N; i++) {
    v[i] = (double)(i + 1) - 2.5;
    half[i] = 0.5;
  }
  set_vec(g, "x", x, N);
  set_vec(g, "v", v, N);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  GradcFn *fv = gradc_fn_value(g);
  run_ok(g, fv, NULL);
  rosen_hess_times(x, N, v, want);
  const double *hv = res(fv, "hv");
  for (int i = 0; i < N; i++)
    expect_close("hv (hand)", i, hv[i], want[i], 1e-13);
  /* a scalar direction is broadcast: v = 0.5 everywhere */
  rosen_hess_times(x, N, half, want);
  for (int i = 0; i < N; i++)
    expect_close("hs (hand)", i, res(fv, "hs")[i], want[i], 1e-13);
  /* nested grad: 2 H g */
  rosen_grad(x, N, gr);
  rosen_hess_times(x, N, gr, want);
  for (int i = 0; i < N; i++)
    expect_close("gg (hand)", i, res(fv, "gg")[i], 2 * want[i], 1e-12);

  /* the command's Hessian times v, and its own HVP, agree with hv */
  int out = gradc_output_index(g, "fv"), wrt = gradc_var_index(g, "x");
  GradcFn *fh = gradc_fn_hessian(g, out, &wrt, 1);
  run_ok(g, fh, NULL);
  for (int i = 0; i < N; i++) {
    double s = 0;
    for (int j = 0; j < N; j++)
      s += gradc_fn_res_data(fh, 1 + j)[i] * v[j]; /* row j, column i: symmetric */
    expect_close("hessian * v", i, hv[i], s, 1e-13);
  }
  GradcFn *fp = gradc_fn_hvp(g, out, &wrt, 1);
  const double *tan[1] = {v};
  run_ok(g, fp, tan);
  for (int i = 0; i < N; i++)
    expect_close("gradc_fn_hvp", i, hv[i], res(fp, "d2fv/dx.v")[i], 1e-13);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* Third derivatives: the Hessian of an output made of a gradient, against
 * central differences of that output's gradient (itself checked above). */
Test(lang_ad, hessian_of_a_gradient_penalty_matches_differences_of_its_gradient) {
  Gradc *g = gradc_new();
  cr_assert_eq(gradc_compile_file(g, GRADC_EXAMPLES "/rosenbrock_step.expr"), GRADC_OK, "%s",
               gradc_diag_render(g));
  enum { N = 5 };
  double x[N];
  point(1, N, x);
  set_vec(g, "x", x, N);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  int out = gradc_output_index(g, "penalty");
  GradcFn *fh = gradc_fn_hessian(g, out, NULL, 0), *fg = gradc_fn_grad(g, NULL, 0);
  run_ok(g, fh, NULL);
  double *xv = gradc_get_value(g, gradc_var_index(g, "x"), NULL, NULL);
  double hmax = 0;
  for (int j = 0; j < N * N; j++)
    hmax = fmax(hmax, fabs(gradc_fn_res_data(fh, 1 + j / N)[j % N]));
  for (int j = 0; j < N; j++) {
    double gp[N], gm[N], x0 = xv[j], h = 1e-5 * fmax(1, fabs(x0));
    xv[j] = x0 + h;
    run_ok(g, fg, NULL);
    memcpy(gp, res(fg, "dpenalty/dx"), sizeof gp);
    xv[j] = x0 - h;
    run_ok(g, fg, NULL);
    memcpy(gm, res(fg, "dpenalty/dx"), sizeof gm);
    xv[j] = x0;
    for (int i = 0; i < N; i++) {
      double fd = (gp[i] - gm[i]) / (2 * h), an = gradc_fn_res_data(fh, 1 + j)[i];
      cr_assert(fabs(an - fd) <= 1e-6 * hmax, "d2penalty/dx[%d]/dx[%d] = %.12g, differences %.12g", j, i, an,
                fd);
    }
  }
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- with respect to inputs, in functions, free names --------------------------------------- */

Test(lang_ad, grad_and_jvp_with_respect_to_inputs) {
  Gradc *g = compile_ok("param w[2]\ninput X[3, 2], y[3]\n"
                        "r = X @ w - y\nL = 0.5*sum(r^2)\n"
                        "output dLdX = grad(L, X)\noutput dLdy = grad(L, y)\n"
                        "output along = jvp(L, w, 1)\noutput dr = jvp(r, X, 1)\n");
  double w[2] = {0.5, -1.5}, X[6] = {1, 2, 3, 4, 5, 6}, y[3] = {1, -2, 0.25};
  set_vec(g, "w", w, 2);
  set_mat(g, "X", X, 3, 2);
  set_vec(g, "y", y, 3);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  GradcFn *f = gradc_fn_value(g);
  run_ok(g, f, NULL);
  double r[3], gw[2] = {0, 0};
  for (int i = 0; i < 3; i++) {
    r[i] = X[2 * i] * w[0] + X[2 * i + 1] * w[1] - y[i];
    gw[0] += X[2 * i] * r[i];
    gw[1] += X[2 * i + 1] * r[i];
  }
  for (int i = 0; i < 3; i++) {
    for (int j = 0; j < 2; j++)
      expect_close("dLdX", 2 * i + j, res(f, "dLdX")[2 * i + j], r[i] * w[j], 1e-14);
    expect_close("dLdy", i, res(f, "dLdy")[i], -r[i], 1e-14);
    expect_close("dr", i, res(f, "dr")[i], w[0] + w[1], 1e-14);
  }
  expect_close("along", 0, res(f, "along")[0], gw[0] + gw[1], 1e-14);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(lang_ad, grad_inside_a_function_and_of_a_call) {
  Gradc *g = compile_ok("param w[2]\ninput X[3, 2], y[3]\n"
                        "loss(a) = 0.5*sum((X @ a - y)^2)\n"
                        "gdstep(a, lr) = a - lr * grad(loss(a), a)\n"
                        "output w1 = gdstep(w, 0.1)\n"
                        "output gl = grad(loss(w), w)\n"
                        "output L1 = loss(gdstep(w, 0.01))\n");
  double w[2] = {1, 2}, X[6] = {1, 2, 3, 4, 5, 6}, y[3] = {1, 2, 3};
  set_vec(g, "w", w, 2);
  set_mat(g, "X", X, 3, 2);
  set_vec(g, "y", y, 3);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  GradcFn *f = gradc_fn_grad(g, NULL, 0);
  run_ok(g, f, NULL);
  double gw[2] = {0, 0}, w2[2], L1 = 0;
  for (int i = 0; i < 3; i++) {
    double r = X[2 * i] * w[0] + X[2 * i + 1] * w[1] - y[i];
    gw[0] += X[2 * i] * r;
    gw[1] += X[2 * i + 1] * r;
  }
  for (int j = 0; j < 2; j++) {
    expect_close("w1", j, res(f, "w1")[j], w[j] - 0.1 * gw[j], 1e-14);
    expect_close("gl", j, res(f, "gl")[j], gw[j], 1e-14);
    w2[j] = w[j] - 0.01 * gw[j];
  }
  double XtX[2][2] = {{0, 0}, {0, 0}}, r2[3];
  for (int i = 0; i < 3; i++) {
    r2[i] = X[2 * i] * w2[0] + X[2 * i + 1] * w2[1] - y[i];
    L1 += 0.5 * r2[i] * r2[i];
    for (int a = 0; a < 2; a++)
      for (int b = 0; b < 2; b++)
        XtX[a][b] += X[2 * i + a] * X[2 * i + b];
  }
  expect_close("L1", 0, res(f, "L1")[0], L1, 1e-13);
  /* dL1/dw = (I - 0.01 X'X) X' r2: the step's Jacobian, through the inner grad */
  double xr[2] = {0, 0};
  for (int i = 0; i < 3; i++)
    for (int a = 0; a < 2; a++)
      xr[a] += X[2 * i + a] * r2[i];
  for (int a = 0; a < 2; a++) {
    double want = xr[a] - 0.01 * (XtX[a][0] * xr[0] + XtX[a][1] * xr[1]);
    expect_close("dL1/dw", a, res(f, "dL1/dw")[a], want, 1e-12);
  }
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(lang_ad, free_names_nest) {
  /* h = x^2 y: d/dy d/dx h = 2x, jvp along y by 2: 2x^2 */
  Gradc *g = compile_ok("h = x^2*y\ngrad(grad(h, x), y) + jvp(h, y, 2)\n");
  double xv = 3, yv = 5;
  cr_assert_eq(gradc_set_value(g, gradc_var_index(g, "x"), &xv, NULL, 0), GRADC_OK);
  cr_assert_eq(gradc_set_value(g, gradc_var_index(g, "y"), &yv, NULL, 0), GRADC_OK);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  GradcFn *f = gradc_fn_grad(g, NULL, 0);
  run_ok(g, f, NULL);
  expect_close("f", 0, res(f, "f")[0], 2 * xv + 2 * xv * xv, 1e-15);
  expect_close("df/dx", 0, res(f, "df/dx")[0], 2 + 4 * xv, 1e-15);
  expect_close("df/dy", 0, res(f, "df/dy")[0], 0, 1e-15);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- the edges: derivative nodes keep SPEC 1.6's rules -------------------------------- */

Test(lang_ad, derivatives_in_the_language_keep_strong_zeros_and_stable_forms) {
  /* at x = -1 the sqrt branch is not taken: 0, not NaN, once and twice
   * differentiated; norm'(0) = 0; logsumexp's gradient is softmax, finite
   * at 800 */
  Gradc *g = compile_ok("param x, z[3]\n"
                        "s = where(x > 0, sqrt(x), 0)\n"
                        "output g1 = grad(s, x)\noutput g2 = grad(grad(s, x), x)\n"
                        "output gn = grad(norm(z - z), z)\n"
                        "output sm = grad(logsumexp(800*z), z)\n");
  double xv = -1, zv[3] = {1, 0, -1};
  cr_assert_eq(gradc_set_value(g, gradc_var_index(g, "x"), &xv, NULL, 0), GRADC_OK);
  set_vec(g, "z", zv, 3);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  GradcFn *f = gradc_fn_value(g);
  run_ok(g, f, NULL);
  cr_assert_eq(res(f, "g1")[0], 0.0);
  cr_assert_eq(res(f, "g2")[0], 0.0);
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(res(f, "gn")[i], 0.0, "gn[%d] = %g", i, res(f, "gn")[i]);
    double want = i == 0 ? 800 : 0; /* 800 softmax(800 z): all of it on z[0] */
    expect_close("sm", i, res(f, "sm")[i], want, 1e-15);
  }
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- errors ------------------------------------------------------------------------ */

static void expect_error(const char *src, const char *msg, int line, int col) {
  GradcStatus st;
  Gradc *g = compile_src(src, &st);
  cr_assert_eq(st, GRADC_ERR_INPUT, "accepted:\n%s", src);
  int k = find_diag(g, msg);
  cr_assert_geq(k, 0, "no error '%s' for\n%s\ngot:\n%s", msg, src, gradc_diag_render(g));
  cr_assert_eq(gradc_diag_line(g, k), line, "%s: line %d, want %d", msg, gradc_diag_line(g, k), line);
  cr_assert_eq(gradc_diag_col(g, k), col, "%s: column %d, want %d", msg, gradc_diag_col(g, k), col);
  gradc_free(g);
}

Test(lang_ad, errors_have_positions) {
  const char *pre = "param x[4]\ninput v[4]\nf = sum(x^3)\nh = 2*x\n";
  char src[512];
  struct {
    const char *line, *msg;
    int col;
  } cases[] = {
      {"o = grad(f, x + 1)", "second argument must name a param or an input", 15},
      {"o = grad(f, h)", "'h' is not a param or an input", 13},
      {"o = grad(f, 2)", "second argument must name a param or an input", 13},
      {"o = grad(f)", "grad() takes 2 arguments, not 1", 5},
      {"o = jvp(f, x)", "jvp() takes 3 arguments, not 2", 5},
      {"o = jvp(f, x, v, v)", "jvp() takes 3 arguments, not 4", 5},
      {"o = grad(x^2, x)", "grad needs a scalar expression; sum it or use jvp", 11},
      {"o = jvp(f, x, [1, 2])", "the direction has shape (2) but 'x' has shape (4)", 15},
      {"o = jvp(f, x, [v, v])", "the direction has shape (2, 4)", 15},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(src, sizeof src, "%s%s\n", pre, cases[i].line);
    expect_error(src, cases[i].msg, 5, cases[i].col);
  }
  /* a function's parameter bound to an expression: at the body, the call named */
  expect_error("param w\nsq(a) = grad(a^3, a)\noutput o = sq(2*w)\n", "'a' is bound to an expression here", 2,
               19);
  /* reserved names */
  expect_error("param x\ngrad = x^2\n", "'grad' is a built-in function and cannot be used as a name", 2, 1);
  expect_error("param jvp\n", "'jvp' is a built-in function and cannot be used as a name", 1, 7);
  expect_error("param x\njvp(a) = a\n", "'jvp' is a built-in function and cannot be used as a name", 2, 1);
  expect_error("param x\nf(grad) = grad\n", "shadows the built-in function grad", 2, 3);
  ASSERT_NO_LEAKS();
}

/* ---- emitted C ------------------------------------------------------------------------ */

static char dir[64];
static void make_dir(void) {
  strcpy(dir, "/tmp/gradc-test-lang-ad-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}
static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
}

static void write_in_dir(const char *name, const char *text) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "cannot write %s", path);
  cr_assert_geq(fputs(text, f), 0);
  cr_assert_eq(fclose(f), 0);
}

static int sh_in_dir(const char *cmd) {
  char full[1024];
  snprintf(full, sizeof full, "cd '%s' && { %s ; } >log.txt 2>&1", dir, cmd);
  int st = system(full);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void show_log(const char *what) {
  char path[256], buf[4096];
  snprintf(path, sizeof path, "%s/log.txt", dir);
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  buf[n] = 0;
  if (f)
    fclose(f);
  cr_assert_fail("%s failed:\n%s", what, buf);
}

/* The emitted C of the example compiles with the strictest flags, and a
 * driver linked with it (-lm only) computes the hand-derived step, penalty
 * and 2 H g. */
Test(lang_ad, emitted_c_compiles_with_werror_and_computes_the_hand_values, .init = make_dir,
     .fini = remove_dir, .timeout = 60) {
  Gradc *g = gradc_new();
  cr_assert_eq(gradc_compile_file(g, GRADC_EXAMPLES "/rosenbrock_step.expr"), GRADC_OK);
  char *src = NULL, *hdr = NULL;
  cr_assert_eq(gradc_emit(g, "rs", &src, &hdr, "rs.h"), GRADC_OK, "%s", gradc_diag_render(g));
  write_in_dir("rs.c", src);
  write_in_dir("rs.h", hdr);
  free(src);
  free(hdr);
  gradc_free(g);
  write_in_dir("main.c", "#include <stdio.h>\n#include \"rs.h\"\n"
                         "int main(void) {\n"
                         "  double x[5] = {-1.2, 1, -1.2, 1, 0.5}, step[5], pen, dpen[5];\n"
                         "  if (rs_step(5, x, step, NULL) || rs_penalty_grad(5, x, &pen, dpen, NULL)) return 1;\n"
                         "  for (int i = 0; i < 5; i++) printf(\"%.17g %.17g\\n\", step[i], dpen[i]);\n"
                         "  printf(\"%.17g\\n\", pen);\n  return 0;\n}\n");
  if (sh_in_dir("cc -std=c99 -Wall -Wextra -pedantic -Werror -c rs.c -o rs.o"))
    show_log("cc -Werror -c rs.c");
  if (sh_in_dir("cc -std=c99 -Wall -Wextra -pedantic -Werror main.c rs.o -lm -o main && ./main > out.txt"))
    show_log("driver");
  char path[256];
  snprintf(path, sizeof path, "%s/out.txt", dir);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  double x[5] = {-1.2, 1, -1.2, 1, 0.5}, gr[5], hg[5], pen = 0, got, got2;
  rosen_grad(x, 5, gr);
  rosen_hess_times(x, 5, gr, hg);
  for (int i = 0; i < 5; i++) {
    pen += gr[i] * gr[i];
    cr_assert_eq(fscanf(f, "%lf %lf", &got, &got2), 2);
    expect_close("emitted step", i, got, x[i] - 1e-3 * gr[i], 1e-13);
    expect_close("emitted dpenalty/dx", i, got2, 2 * hg[i], 1e-12);
  }
  cr_assert_eq(fscanf(f, "%lf", &got), 1);
  expect_close("emitted penalty", 0, got, pen, 1e-13);
  fclose(f);
}

/* ---- cost ------------------------------------------------------------------------------ */

/* SPEC 1.8: hvp(E, x, v) written jvp(grad(E, x), x, v) costs a small
 * multiple of E. Operations of the emitted code (gradc_fn_op_count) at
 * n = 1000, the HVP against the value alone and against the command's own
 * value+gradient; the ratios are printed for the record. */
Test(lang_ad, hvp_in_the_language_costs_a_small_multiple_of_the_value) {
  Gradc *gv = compile_ok("param x[1000]\noutput f = " ROSEN "\n");
  Gradc *gh = compile_ok("param x[1000]\ninput v[1000]\nf = " ROSEN "\noutput hv = jvp(grad(f, x), x, v)\n");
  GradcFn *fv = gradc_fn_value(gv), *fg = gradc_fn_grad(gv, NULL, 0), *fh = gradc_fn_value(gh);
  cr_assert(fv && fg && fh);
  long ov = gradc_fn_op_count(fv), og = gradc_fn_op_count(fg), oh = gradc_fn_op_count(fh);
  cr_assert_gt(ov, 1000);
  double r = (double)oh / (double)ov;
  fprintf(stderr, "lang_ad: Rosenbrock n=1000: value %ld ops, value+gradient %ld (%.2fx), "
                  "jvp(grad(f, x), x, v) %ld (%.2fx the value)\n",
          ov, og, (double)og / (double)ov, oh, r);
  cr_assert_leq(r, 5.0, "the HVP costs %.2f times the value (%ld / %ld ops)", r, oh, ov);
  gradc_free(gv);
  gradc_free(gh);
  ASSERT_NO_LEAKS();
}
