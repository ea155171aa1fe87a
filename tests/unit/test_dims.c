/* test_dims.c: sizes derived from symbolic dimensions (ir.h DimExpr):
 * concat of any mix of symbolic and literal pieces (2*N, 2*N-1,
 * (N+1)//2 + N//2 + N), reshape merging or splitting a symbolic axis
 * (X[N, 4] to [-1, 2] is (2*N, 2)), elementwise operators between sizes
 * that are provably equal (compiled as one shape), provably different (an
 * error when compiling) or only possibly equal (checked at call time, the
 * error naming the place). Values against numbers worked out here;
 * gradients, JVPs and Hessians against central differences; tcc and cc to
 * the bit; the emitted C under -Werror; for several N. */
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

/* Deterministic values for every variable, with symbolic dimensions n. */
static void set_values(Gradc *g, long n) {
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
    for (long e = 0; e < size; e++)
      v[e] = 0.3 + 0.9 * sin(1.7 * (double)e + 0.6 * i);
    cr_assert_eq(gradc_set_value(g, i, v, dims, rank), GRADC_OK, "%s", gradc_diag_render(g));
    free(v);
  }
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK, "%s", gradc_diag_render(g));
}

static Gradc *load(const char *src, long n, int cc) {
  Gradc *g = gradc_new();
  gradc_set_backend(g, cc ? GRADC_BACKEND_CC : GRADC_BACKEND_TCC);
  cr_assert_eq(gradc_compile_string(g, "t.expr", src, strlen(src)), GRADC_OK, "%s\n%s", src,
               gradc_diag_render(g));
  set_values(g, n);
  return g;
}

static long res_size(GradcFn *f, int r) {
  long dims[4], size = 1;
  int rank = gradc_fn_res_shape(f, r, dims);
  for (int k = 0; k < rank; k++)
    size *= dims[k];
  return size;
}

/* The gradient and JVP of output 0 w.r.t. param 0 against central
 * differences of the value, and the Hessian against central differences
 * of the gradient; then every result of the gradient and the Hessian is
 * the same to the bit with cc. */
static void check_derivatives(const char *src, long n) {
  Gradc *g = load(src, n, 0);
  int no = gradc_output_count(g), x = 0;
  while (!gradc_var_is_param(g, x))
    x++;
  int wrt[1] = {x};
  GradcFn *fv = gradc_fn_value(g), *fg = gradc_fn_grad(g, wrt, 1), *fj = gradc_fn_jvp(g, wrt, 1);
  GradcFn *fh = gradc_fn_hessian(g, 0, wrt, 1);
  cr_assert(fv && fg && fj && fh, "%s\n%s", src, gradc_diag_render(g));
  cr_assert_eq(gradc_run(fh, NULL), GRADC_OK, "%s", gradc_diag_render(g));
  long dims[4];
  int rank;
  double *xv = gradc_get_value(g, x, dims, &rank);
  long size = 1;
  for (int k = 0; k < rank; k++)
    size *= dims[k];
  double *grad = malloc((size_t)size * sizeof *grad), *gp = malloc((size_t)size * sizeof *gp);
  double *gm = malloc((size_t)size * sizeof *gm), *tan = calloc((size_t)size, sizeof *tan);
  cr_assert_eq(gradc_run(fg, NULL), GRADC_OK, "%s", gradc_diag_render(g));
  memcpy(grad, gradc_fn_res_data(fg, no), (size_t)size * sizeof *grad);
  for (long e = 0; e < size; e++) {
    double x0 = xv[e], h = 1e-5, fp, fm;
    xv[e] = x0 + h;
    cr_assert_eq(gradc_run(fv, NULL), GRADC_OK);
    fp = gradc_fn_res_data(fv, 0)[0];
    cr_assert_eq(gradc_run(fg, NULL), GRADC_OK);
    memcpy(gp, gradc_fn_res_data(fg, no), (size_t)size * sizeof *gp);
    xv[e] = x0 - h;
    cr_assert_eq(gradc_run(fv, NULL), GRADC_OK);
    fm = gradc_fn_res_data(fv, 0)[0];
    cr_assert_eq(gradc_run(fg, NULL), GRADC_OK);
    memcpy(gm, gradc_fn_res_data(fg, no), (size_t)size * sizeof *gm);
    xv[e] = x0;
    double fd = (fp - fm) / (2 * h);
    tan[e] = 1;
    const double *tans[1] = {tan};
    cr_assert_eq(gradc_run(fj, tans), GRADC_OK);
    tan[e] = 0;
    double fwd = gradc_fn_res_data(fj, no)[0];
    cr_assert(fabs(grad[e] - fd) <= 1e-6 * fmax(1, fabs(fd)), "%sN = %ld: reverse d/dx[%ld] = %.12g, differences %.12g",
              src, n, e, grad[e], fd);
    cr_assert(fabs(fwd - fd) <= 1e-6 * fmax(1, fabs(fd)), "%sN = %ld: forward d/dx[%ld] = %.12g, differences %.12g",
              src, n, e, fwd, fd);
    const double *row = gradc_fn_res_data(fh, 1 + (int)e);
    for (long j = 0; j < size; j++) {
      double hd = (gp[j] - gm[j]) / (2 * h);
      cr_assert(fabs(row[j] - hd) <= 1e-5 * fmax(1, fabs(hd)), "%sN = %ld: H[%ld][%ld] = %.12g, differences %.12g",
                src, n, e, j, row[j], hd);
    }
  }
  /* the same to the bit with the system compiler */
  Gradc *c = load(src, n, 1);
  GradcFn *cg = gradc_fn_grad(c, wrt, 1), *ch = gradc_fn_hessian(c, 0, wrt, 1);
  cr_assert(cg && ch && gradc_run(cg, NULL) == GRADC_OK && gradc_run(ch, NULL) == GRADC_OK, "%s",
            gradc_diag_render(c));
  cr_assert_eq(gradc_run(fg, NULL), GRADC_OK);
  for (int r = 0; r < gradc_fn_res_count(fg); r++)
    cr_assert(!memcmp(gradc_fn_res_data(fg, r), gradc_fn_res_data(cg, r), (size_t)res_size(fg, r) * sizeof(double)),
              "%sN = %ld: gradient result %d differs between tcc and cc", src, n, r);
  for (int r = 0; r < gradc_fn_res_count(fh); r++)
    cr_assert(!memcmp(gradc_fn_res_data(fh, r), gradc_fn_res_data(ch, r), (size_t)res_size(fh, r) * sizeof(double)),
              "%sN = %ld: Hessian result %d differs between tcc and cc", src, n, r);
  gradc_free(c);
  free(grad);
  free(gp);
  free(gm);
  free(tan);
  gradc_free(g);
}

/* The value of output `out` with every symbolic dimension n and values
 * x (param 0) given; its shape in dims. */
static const double *eval_out(Gradc *g, const double *x, long n, int out, long *dims, int *rank) {
  long d[1] = {n};
  cr_assert_eq(gradc_set_value(g, 0, x, d, 1), GRADC_OK, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK, "%s", gradc_diag_render(g));
  GradcFn *f = gradc_fn_value(g);
  cr_assert(f && gradc_run(f, NULL) == GRADC_OK, "%s", gradc_diag_render(g));
  *rank = gradc_fn_res_shape(f, out, dims);
  return gradc_fn_res_data(f, out);
}

/* ---- values ---------------------------------------------------------------------- */

Test(dims, concat_of_symbolic_and_literal_pieces) {
  Gradc *g = compile_ok("param x[N]\n"
                        "output A = concat([x, x])\n"                     /* 2*N */
                        "output B = concat([x, x[1:]])\n"                 /* 2*N-1 */
                        "output C = concat([x[0::2], x[1::2], x])\n"      /* 2*N (Hermite) */
                        "output D = concat([[9], x, [8, 7], x[::-1], [6]])\n"
                        "output E = concat([x[1:], x[:-1], x[::2]])\n");  /* 2*N-2+(N+1)//2 */
  for (long n = 1; n <= 5; n++) {
    double x[5];
    for (long i = 0; i < n; i++)
      x[i] = (double)(i + 1);
    long dims[4];
    int rank;
    const double *v;
    /* the expected values, built here from x */
    double want[5][32];
    long len[5] = {0};
    for (long i = 0; i < n; i++)
      want[0][len[0]++] = x[i];
    for (long i = 0; i < n; i++)
      want[0][len[0]++] = x[i];
    for (long i = 0; i < n; i++)
      want[1][len[1]++] = x[i];
    for (long i = 1; i < n; i++)
      want[1][len[1]++] = x[i];
    for (long i = 0; i < n; i += 2)
      want[2][len[2]++] = x[i];
    for (long i = 1; i < n; i += 2)
      want[2][len[2]++] = x[i];
    for (long i = 0; i < n; i++)
      want[2][len[2]++] = x[i];
    want[3][len[3]++] = 9;
    for (long i = 0; i < n; i++)
      want[3][len[3]++] = x[i];
    want[3][len[3]++] = 8;
    want[3][len[3]++] = 7;
    for (long i = n - 1; i >= 0; i--)
      want[3][len[3]++] = x[i];
    want[3][len[3]++] = 6;
    for (long i = 1; i < n; i++)
      want[4][len[4]++] = x[i];
    for (long i = 0; i + 1 < n; i++)
      want[4][len[4]++] = x[i];
    for (long i = 0; i < n; i += 2)
      want[4][len[4]++] = x[i];
    for (int o = 0; o < 5; o++) {
      v = eval_out(g, x, n, o, dims, &rank);
      cr_assert(rank == 1 && dims[0] == len[o], "N = %ld: output %d has %ld elements, want %ld", n, o, dims[0],
                len[o]);
      for (long i = 0; i < len[o]; i++)
        cr_assert(v[i] == want[o][i], "N = %ld: output %d[%ld] = %g, want %g", n, o, i, v[i], want[o][i]);
    }
  }
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(dims, reshape_merging_and_splitting_a_symbolic_axis) {
  Gradc *g = compile_ok("param x[N]\ninput X[N, 4]\n"
                        "output A = reshape(X, [-1, 2])\n"          /* (2*N, 2) */
                        "output B = reshape(X, [-1])\n"             /* (4*N) */
                        "output C = reshape(x, [N, 1])\n"
                        "output D = reshape(concat([x, x]), [N, 2])\n"
                        "output E = reshape(concat([x, x]), [2, -1])\n"
                        "output F = reshape(reshape(X, [-1]), [N, 2, 2])\n");
  for (long n = 1; n <= 4; n++) {
    double x[4], X[16];
    for (long i = 0; i < n; i++)
      x[i] = (double)(10 * i);
    for (long i = 0; i < 4 * n; i++)
      X[i] = (double)i + 0.5;
    long dX[2] = {n, 4};
    cr_assert_eq(gradc_set_value(g, 1, X, dX, 2), GRADC_OK);
    long dims[4];
    int rank;
    const double *v = eval_out(g, x, n, 0, dims, &rank);
    cr_assert(rank == 2 && dims[0] == 2 * n && dims[1] == 2);
    for (long i = 0; i < 4 * n; i++)
      cr_assert(v[i] == X[i]);
    v = eval_out(g, x, n, 1, dims, &rank);
    cr_assert(rank == 1 && dims[0] == 4 * n && v[4 * n - 1] == X[4 * n - 1]);
    v = eval_out(g, x, n, 2, dims, &rank);
    cr_assert(rank == 2 && dims[0] == n && dims[1] == 1 && v[n - 1] == x[n - 1]);
    v = eval_out(g, x, n, 3, dims, &rank);
    cr_assert(rank == 2 && dims[0] == n && dims[1] == 2);
    for (long i = 0; i < 2 * n; i++) /* row-major: x then x again */
      cr_assert(v[i] == x[i % n]);
    v = eval_out(g, x, n, 4, dims, &rank);
    cr_assert(rank == 2 && dims[0] == 2 && dims[1] == n && v[n] == x[0]);
    v = eval_out(g, x, n, 5, dims, &rank);
    cr_assert(rank == 3 && dims[0] == n && dims[1] == 2 && dims[2] == 2 && v[3] == X[3]);
  }
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* The shapes the compiler gives: equal forms are one dimension. */
Test(dims, provably_equal_sizes_are_one_shape) {
  Gradc *g = compile_ok("param x[N]\ninput X[N, 4]\n"
                        "output A = concat([x, x]) * reshape(X[:, 0:2], [-1])\n"  /* 2*N and 2*N */
                        "output B = concat([x[0::2], x[1::2]]) + x\n"           /* N and N */
                        "output C = concat([x, x[1:]]) + concat([x[:-1], x])\n" /* 2*N-1 both ways */
                        "output D = reshape(X, [-1])[::2] * concat([x, x])\n"); /* (4*N+1)//2 is 2*N */
  char *src = NULL;
  cr_assert_eq(gradc_emit(g, "t", &src, NULL, NULL), GRADC_OK, "%s", gradc_diag_render(g));
  /* no call-time check of sizes: every check compares two sizes with != */
  cr_assert(!strstr(src, " != g_d") && !strstr(src, " != N"), "a size check was emitted:\n%s", src);
  free(src);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

static void expect_error(const char *src, int line, int col, const char *text) {
  GradcStatus st;
  Gradc *g = compile_src(src, &st);
  cr_assert_eq(st, GRADC_ERR_INPUT, "accepted:\n%s", src);
  cr_assert(strstr(gradc_diag_message(g, 0), text), "message '%s' lacks '%s'", gradc_diag_message(g, 0), text);
  cr_assert_eq(gradc_diag_line(g, 0), line, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_diag_col(g, 0), col, "%s", gradc_diag_render(g));
  gradc_free(g);
}

Test(dims, provably_different_sizes_are_an_error_when_compiling) {
  expect_error("param x[N]\nsum(concat([x, x]) * x)\n", 2, 20, "cannot broadcast shapes (2*N) and (N)");
  expect_error("param x[N]\nsum(x + x[1:])\n", 2, 7, "cannot broadcast shapes (N) and (N-1)");
  expect_error("param x[N]\nsum(concat([x, x[1:]]) * concat([x, x]))\n", 2, 24,
               "cannot broadcast shapes (2*N-1) and (2*N)");
  expect_error("input X[N, 4]\nparam w[3]\nsum(reshape(X, [-1, 2]) @ w)\n", 3, 25, "(2*N, 2) and (3)");
  expect_error("param x[N]\nsum(reshape(concat([x, x, x]), [N, 2]))\n", 2, 32, "cannot reshape (3*N) to (N, 2): the sizes differ");
  expect_error("input X[N, M]\nsum(reshape(X, [-1]))\n", 2, 16, "their product is not a size gradc can hold");
  expect_error("param x[N]\nsum(concat([x, x[::2], x[::3], x[::4], x[::5], x[::6], x[::7], x[::8], x[::9]]))\n",
               2, 12, "a sum of more than 8 others");
}

/* Sizes derived from sizes derived from ...: each atom shared by later
 * sizes is bounded and evaluated once (no walk of the sharing tree, which
 * grows as 3^depth), and deeper than DIM_MAX_DEPTH is an error. */
Test(dims, deep_derivations_are_quick_and_bounded, .timeout = 20) {
  char src[4096];
  for (int depth = 30; depth <= 40; depth += 10) {
    size_t k = (size_t)snprintf(src, sizeof src, "param x[N]\ny0 = x\n");
    for (int i = 1; i <= depth; i++)
      k += (size_t)snprintf(src + k, sizeof src - k, "y%d = concat([y%d, y%d[::2], [1]])[::3]\n", i, i - 1, i - 1);
    snprintf(src + k, sizeof src - k, "output f = sum(y%d * y%d[::-1])\n", depth, depth);
    GradcStatus st;
    Gradc *g = compile_src(src, &st);
    if (depth == 40) {
      cr_assert_eq(st, GRADC_ERR_INPUT);
      cr_assert(strstr(gradc_diag_message(g, 0), "derived too many times over"), "%s", gradc_diag_render(g));
    } else {
      cr_assert_eq(st, GRADC_OK, "%s", gradc_diag_render(g));
      double x[7] = {1, 2, 3, 4, 5, 6, 7};
      long d[1] = {7};
      gradc_set_value(g, 0, x, d, 1);
      cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
      GradcFn *f = gradc_fn_grad(g, NULL, 0);
      cr_assert(f && gradc_run(f, NULL) == GRADC_OK, "%s", gradc_diag_render(g));
      /* y_i = (y + y[::2] + [1])[::3], worked out from x: y_30 = [1, 1] */
      cr_assert_eq(gradc_fn_res_data(f, 0)[0], 2);
    }
    gradc_free(g);
  }
}

/* Sizes that may be equal are checked at call time: the error names the
 * place, the two sizes and their values. */
static void expect_call_error(const char *src, long n, int line, int col, const char *text) {
  Gradc *g = compile_ok(src);
  double x[16] = {0};
  long d[1] = {n};
  cr_assert_eq(gradc_set_value(g, 0, x, d, 1), GRADC_OK);
  for (int i = 1; i < gradc_var_count(g); i++) { /* X[N, 3] */
    long dX[2] = {n, 3};
    cr_assert_eq(gradc_set_value(g, i, x, dX, 2), GRADC_OK);
  }
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  GradcFn *f = gradc_fn_grad(g, NULL, 0);
  cr_assert_not_null(f, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_run(f, NULL), GRADC_ERR_INPUT, "N = %ld ran", n);
  cr_assert(strstr(gradc_diag_message(g, 0), text), "message '%s' lacks '%s'", gradc_diag_message(g, 0), text);
  cr_assert_eq(gradc_diag_line(g, 0), line, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_diag_col(g, 0), col, "%s", gradc_diag_render(g));
  gradc_free(g);
}

Test(dims, possibly_equal_sizes_are_checked_at_call_time_at_their_place) {
  static const char *twice = "param x[N]\na = concat([x[0::2], x[0::2]])\noutput L = sum(a * x)\n";
  expect_call_error(twice, 3, 3, 18, "dimension 2*((N+1)//2) is 4 but dimension N is 3");
  check_derivatives(twice, 4); /* N even: the sizes agree */
  static const char *split = "param x[N]\ninput X[N, 3]\noutput L = sum(reshape(X, [-1, 2]) @ [1, 2] * x[0])\n";
  expect_call_error(split, 3, 3, 27, "dimension (3*N+1)//2 is 5 but dimension (3*N)//2 is 4");
  check_derivatives(split, 2);
  static const char *named = "param x[N]\noutput L = sum(reshape(concat([x[::2], x[1::2]]), [N]) * x)\n";
  for (long n = 1; n <= 4; n++) /* (N+1)//2 + N//2 is N: nothing to check */
    check_derivatives(named, n);
  static const char *rows = "param x[N]\nA = reshape(concat([x[::2], x[::2]]), [N, 1])\noutput L = sum(A * x)\n";
  expect_call_error(rows, 3, 2, 40, "dimension 2*((N+1)//2) is 4 but dimension N is 3");
}

/* ---- derivatives ---------------------------------------------------------------- */

Test(dims, derivatives_through_symbolic_concat_and_reshape, .timeout = 240) {
  static const char *progs[] = {
      "param x[N]\nc = concat([x, x])\nd = concat([x, x[1:]])\nf = concat([x[0::2], x[1::2], x])\n"
      "output L = sum(sin(c) * f^2) + sum(d * concat([x[:-1], [0.5], x[::-1][1:]])) + c[-1] * d[0] + sum(c[1:-1:2])\n",
      "param x[N]\ninput X[N, 4]\nW = reshape(X, [-1, 2]) * reshape(concat([x, x]), [-1, 1])\n"
      "output L = sum(tanh(W)) + sum(reshape(X, [-1]) * concat([x, x, x, x])^2) + sum(reshape(concat([x, x]), [N, 2]) @ [1, -1])\n",
      "param x[N]\ninput X[N, 4]\nA = concat([X * x[:, None], X], axis=0)\n"
      "output L = sum((A' @ concat([x, x^2]))^2) + sum(prod(reshape(concat([x, [1.5, 2]]), [-1, 1]), axis=1))\n",
      "param x[N]\ny = concat([x, x[1:] * x[:-1], [1]])\n"
      "output L = mean(y^2) + logsumexp(y) + sum(cumsum(y, axis=0) * y) + max(y) + norm(concat([x, x]))\n",
  };
  for (size_t p = 0; p < sizeof progs / sizeof *progs; p++)
    for (long n = 1; n <= 4; n++)
      check_derivatives(progs[p], n);
  ASSERT_NO_LEAKS();
}

/* ---- the emitted C -------------------------------------------------------------- */

Test(dims, emitted_c_compiles_with_strict_warnings) {
  static const char *src =
      "param x[N]\ninput X[N, 4]\nc = concat([x, x[1:], [2], x[0::2], x[1::2]])\n"
      "output L = sum(c^2) + sum(reshape(X, [-1, 2]) * reshape(concat([x, x]), [-1, 1]))\n"
      "output V = reshape(concat([x, x, x, x]), [N, 4]) * X\n";
  Gradc *g = compile_ok(src);
  char *c = NULL, *h = NULL;
  cr_assert_eq(gradc_emit(g, "dims", &c, &h, "dims.h"), GRADC_OK, "%s", gradc_diag_render(g));
  char dir[] = "/tmp/gradc-test-dims-XXXXXX", path[128], cmd[512];
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/dims.c", dir);
  FILE *f = fopen(path, "w");
  cr_assert(f && fputs(c, f) >= 0 && fclose(f) == 0);
  snprintf(path, sizeof path, "%s/dims.h", dir);
  f = fopen(path, "w");
  cr_assert(f && fputs(h, f) >= 0 && fclose(f) == 0);
  snprintf(cmd, sizeof cmd,
           "cd %s && cc -std=c99 -Wall -Wextra -pedantic -Werror -c dims.c -o dims.o > cc.log 2>&1", dir);
  int st = system(cmd);
  snprintf(cmd, sizeof cmd, "cat %s/cc.log >&2; rm -rf %s", dir, dir);
  if (st)
    cr_assert_eq(system(cmd), 0);
  else {
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
  }
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the emitted C does not compile under -Werror");
  free(c);
  free(h);
  gradc_free(g);
}
