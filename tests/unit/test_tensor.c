/* test_tensor.c: tensors. Every tensor operator's forward (JVP) and
 * reverse (gradient) derivative against central differences, including
 * broadcasting and negative axes; the course's Iris network against a
 * hand-written backprop; shape errors; emitted C independent of N. */
#include <float.h>
#include "test_util.h"

/* ---- a small harness: params with values, a scalar output L ------------- */

static unsigned long long rng = 12345;
static double urand(void) {
  rng = rng * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(rng >> 11) * 0x1.0p-53;
}

/* Fill every variable with values in [lo, hi]. */
static void random_values(Gradc *g, double lo, double hi) {
  for (int i = 0; i < gradc_var_count(g); i++) {
    long dims[4];
    int rank = gradc_var_shape(g, i, dims);
    long n = 1;
    for (int k = 0; k < rank; k++)
      n *= dims[k];
    double *v = malloc((size_t)n * sizeof *v);
    for (long e = 0; e < n; e++)
      v[e] = lo + (hi - lo) * urand();
    cr_assert_eq(gradc_set_value(g, i, v, dims, rank), GRADC_OK, "%s", gradc_diag_render(g));
    free(v);
  }
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK, "%s", gradc_diag_render(g));
}

static double output0(GradcFn *f) { return gradc_fn_res_data(f, 0)[0]; }

/* Reverse and forward derivatives of the first output (a scalar) agree with
 * central differences for every element of every param. */
static void check_derivatives(const char *src, double lo, double hi) {
  Gradc *g = compile_ok(src);
  random_values(g, lo, hi);
  GradcFn *fv = gradc_fn_value(g), *fg = gradc_fn_grad(g, NULL, 0), *fj = gradc_fn_jvp(g, NULL, 0);
  cr_assert(fv && fg && fj, "%s\n%s", src, gradc_diag_render(g));
  cr_assert_eq(gradc_run(fg, NULL), GRADC_OK, "%s", gradc_diag_render(g));
  int no = gradc_output_count(g), nt = gradc_fn_arg_count(fj) - gradc_var_count(g);
  int scalar_outputs_before = 0; /* the gradients of output 0 come first */
  (void)scalar_outputs_before;
  double **tan = calloc((size_t)nt + 1, sizeof *tan);
  long *size = calloc((size_t)nt + 1, sizeof *size);
  int *var = calloc((size_t)nt + 1, sizeof *var);
  for (int i = 0, t = 0; i < gradc_var_count(g); i++) {
    if (!gradc_var_is_param(g, i))
      continue;
    long dims[4];
    int rank = gradc_var_shape(g, i, dims);
    size[t] = 1;
    for (int k = 0; k < rank; k++)
      size[t] *= dims[k];
    tan[t] = calloc((size_t)size[t], sizeof **tan);
    var[t++] = i;
  }
  for (int t = 0; t < nt; t++) {
    double *x = gradc_get_value(g, var[t], NULL, NULL);
    const double *grad = gradc_fn_res_data(fg, no + t);
    for (long e = 0; e < size[t]; e++) {
      double x0 = x[e], h = 1e-6 * fmax(1, fabs(x0));
      x[e] = x0 + h;
      cr_assert_eq(gradc_run(fv, NULL), GRADC_OK);
      double fp = output0(fv);
      x[e] = x0 - h;
      cr_assert_eq(gradc_run(fv, NULL), GRADC_OK);
      double fm = output0(fv);
      x[e] = x0;
      double fd = (fp - fm) / (2 * h);
      tan[t][e] = 1;
      cr_assert_eq(gradc_run(fj, (const double *const *)tan), GRADC_OK);
      tan[t][e] = 0;
      double fwd = gradc_fn_res_data(fj, no)[0];
      double scale = fmax(1, fabs(fd));
      cr_assert(fabs(grad[e] - fd) <= 1e-6 * scale,
                "%s\nreverse d/d%s[%ld] = %.12g, finite difference %.12g", src,
                gradc_var_name(g, var[t]), e, grad[e], fd);
      cr_assert(fabs(fwd - fd) <= 1e-6 * scale, "%s\nforward d/d%s[%ld] = %.12g, finite difference %.12g",
                src, gradc_var_name(g, var[t]), e, fwd, fd);
    }
  }
  for (int t = 0; t < nt; t++)
    free(tan[t]);
  free(tan);
  free(size);
  free(var);
  gradc_free(g);
}

#define DECLS "param A[3, 4], B[4, 2], C[4, 3], x[4], y[4], z[3], c[3, 1], s\n"

Test(tensor, elementwise_with_broadcasting) {
  check_derivatives(DECLS "sum(A * x)", -1, 1);                 /* (3,4) * (4) */
  check_derivatives(DECLS "sum((A + c)^2)", -1, 1);             /* (3,4) + (3,1) */
  check_derivatives(DECLS "sum(s * A - z[0] * x)", -1, 1);      /* scalar broadcast */
  check_derivatives(DECLS "sum(sigmoid(A) * tanh(A + x) / (1 + exp(c)))", -1, 1);
  check_derivatives(DECLS "sum(where(A > 0, A, 2*A) + max(A, x) + min(c, A))", -1, 1);
  check_derivatives(DECLS "sum(log(A) + sqrt(A) + A^3 + pow(A, c))", 0.5, 2);
}

Test(tensor, matrix_products) {
  check_derivatives(DECLS "sum((A @ B)^2)", -1, 1);   /* (3,4)@(4,2) */
  check_derivatives(DECLS "sum(sin(x @ B))", -1, 1);   /* (4)@(4,2) */
  check_derivatives(DECLS "sum(exp(A @ x))", -1, 1);   /* (3,4)@(4) */
  check_derivatives(DECLS "x @ y + dot(x, y)^2", -1, 1); /* (4)@(4) */
  check_derivatives(DECLS "sum((A' @ z) * x)", -1, 1); /* transposed operand */
  check_derivatives(DECLS "sum((C' @ A')^2)", -1, 1);  /* both transposed */
  check_derivatives(DECLS "sum(transpose(A) * C)", -1, 1);
}

Test(tensor, reductions_with_axes) {
  check_derivatives(DECLS "sum(sum(A, 0)^2) + sum(sum(A, -1)^3)", -1, 1);
  check_derivatives(DECLS "sum(mean(A, -2) * x) + mean(A)^2", -1, 1);
  check_derivatives(DECLS "sum(logsumexp(A, -1)) + logsumexp(A)", -1, 1);
  check_derivatives(DECLS "sum(softmax(A, 0) * A) + sum(softmax(x) * y)", -1, 1);
  check_derivatives(DECLS "sum(log_softmax(A, 1) * A)", -1, 1);
}

Test(tensor, indexing_slicing_and_literals) {
  check_derivatives(DECLS "sum(A[1, :] * x) + A[-1, -2]^2", -1, 1);
  check_derivatives(DECLS "sum(A[:, 1:3]^2) + sum(A[0:2, -1])", -1, 1);
  check_derivatives(DECLS "sum([s, x[0], y[3]] * z) + sum([[s, s^2], [x[1], 1]] * A[0:2, 0:2])", -1, 1);
}

Test(tensor, rank_four) {
  check_derivatives("param T[2, 3, 2, 2], u[2]\nsum(sum(T * u, -1)^2) + sum(sum(T, 1) * T[:, 0, :, :])",
                    -1, 1);
}

Test(tensor, values_of_operators) {
  Gradc *g = compile_ok("param A[2, 3], v[3]\noutput P = A @ v\noutput S = sum(A, 0)\n"
                        "output M = softmax(v)\noutput I = argmax(A, 1)\noutput O = onehot(v, 4)\n"
                        "output T = A'\noutput K = A[1, 1:]\n");
  double a[6] = {1, 2, 3, 4, 5, 6}, v[3] = {1, 0, 2};
  long da[2] = {2, 3}, dv[1] = {3};
  cr_assert_eq(gradc_set_value(g, 0, a, da, 2), GRADC_OK);
  cr_assert_eq(gradc_set_value(g, 1, v, dv, 1), GRADC_OK);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  GradcFn *f = gradc_fn_value(g);
  cr_assert(f && gradc_run(f, NULL) == GRADC_OK, "%s", gradc_diag_render(g));
  const double *P = gradc_fn_res_data(f, 0), *S = gradc_fn_res_data(f, 1), *M = gradc_fn_res_data(f, 2);
  const double *I = gradc_fn_res_data(f, 3), *O = gradc_fn_res_data(f, 4), *T = gradc_fn_res_data(f, 5);
  const double *K = gradc_fn_res_data(f, 6);
  cr_assert(P[0] == 7 && P[1] == 16);
  cr_assert(S[0] == 5 && S[1] == 7 && S[2] == 9);
  double z = exp(1) + 1 + exp(2);
  cr_assert(fabs(M[0] - exp(1) / z) < 1e-15 && fabs(M[2] - exp(2) / z) < 1e-15);
  cr_assert(I[0] == 2 && I[1] == 2);
  double onehot[12] = {0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0};
  cr_assert(!memcmp(O, onehot, sizeof onehot));
  cr_assert(T[0] == 1 && T[1] == 4 && T[2] == 2 && T[5] == 6);
  cr_assert(K[0] == 5 && K[1] == 6);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(tensor, onehot_label_out_of_range_is_an_error) {
  Gradc *g = compile_ok("input l[N]\nparam w[3]\nsum(onehot(l, 3) @ w)\n");
  double l[2] = {1, 3}, w[3] = {1, 2, 3};
  long dl[1] = {2}, dw[1] = {3};
  gradc_set_value(g, 0, l, dl, 1);
  gradc_set_value(g, 1, w, dw, 1);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  GradcFn *f = gradc_fn_value(g);
  cr_assert_eq(gradc_run(f, NULL), GRADC_ERR_INPUT);
  cr_assert(strstr(gradc_diag_render(g), "onehot"), "%s", gradc_diag_render(g));
  gradc_free(g);
}

/* ---- shape errors ---------------------------------------------------------- */

static void expect_error(const char *src, int line, int col, const char *text) {
  GradcStatus st;
  Gradc *g = compile_src(src, &st);
  cr_assert_eq(st, GRADC_ERR_INPUT, "accepted:\n%s", src);
  cr_assert_geq(gradc_diag_count(g), 1);
  cr_assert(strstr(gradc_diag_message(g, 0), text), "message '%s' lacks '%s'",
            gradc_diag_message(g, 0), text);
  cr_assert_eq(gradc_diag_line(g, 0), line, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_diag_col(g, 0), col, "%s", gradc_diag_render(g));
  gradc_free(g);
}

Test(tensor, shape_errors_name_the_operator_and_shapes) {
  expect_error("param A[3, 4], B[3, 4]\nL = sum(A @ B)\n", 2, 11,
               "'@': inner dimensions differ for (3, 4) and (3, 4)");
  expect_error("param A[3, 4], v[3]\nsum(A + v)\n", 2, 7, "cannot broadcast shapes (3, 4) and (3)");
  expect_error("param A[3, 4]\nsum(A, 2)\n", 2, 8, "axis 2 is out of range for a tensor of rank 2");
  expect_error("param A[3, 4]\nA[3, 0]\n", 2, 3, "index 3 is out of range");
  expect_error("param A[3, 4], x\n[A, x]\n", 2, 5, "one shape: (3, 4) and scalar");
  expect_error("input X[N, 2]\nparam w[3]\nsum(X @ w)\n", 3, 7, "(N, 2) and (3)");
}

Test(tensor, symbolic_dimensions_must_agree) {
  Gradc *g = compile_ok("input X[N, 2], y[N]\nparam w[2]\nsum((X @ w - y)^2)\n");
  double x[6] = {0}, y[2] = {0}, w[2] = {0};
  long dx[2] = {3, 2}, dy[1] = {2}, dw[1] = {2};
  gradc_set_value(g, 0, x, dx, 2);
  gradc_set_value(g, 1, y, dy, 1);
  gradc_set_value(g, 2, w, dw, 1);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_ERR_INPUT);
  const char *msg = gradc_diag_render(g);
  cr_assert(strstr(msg, "dimension N is 3 in 'X' but 2 in 'y'"), "%s", msg);
  gradc_free(g);
}

/* ---- the course's Iris network ------------------------------------------------ */

/* The course's hand-written backprop for g(W h(V x)), with biases and the
 * mean over the N flowers: dy = yh - y; dw = z' dy; dz = dy w';
 * dv = x' (dz * z * (1 - z)). */
static void backprop(long n, const double *X, const double *label, const double *V, const double *b,
                     const double *W, const double *c, double *dV, double *db, double *dW, double *dc) {
  memset(dV, 0, 32 * sizeof *dV);
  memset(db, 0, 16 * sizeof *db);
  memset(dW, 0, 48 * sizeof *dW);
  memset(dc, 0, 3 * sizeof *dc);
  for (long i = 0; i < n; i++) {
    double z[16], s[3], dy[3], dz[16];
    for (int j = 0; j < 16; j++) {
      double a = b[j];
      for (int k = 0; k < 2; k++)
        a += X[2 * i + k] * V[2 * j + k];
      z[j] = 1 / (1 + exp(-a));
    }
    double m = -INFINITY, sum = 0;
    for (int q = 0; q < 3; q++) {
      s[q] = c[q];
      for (int j = 0; j < 16; j++)
        s[q] += z[j] * W[16 * q + j];
      m = fmax(m, s[q]);
    }
    for (int q = 0; q < 3; q++)
      sum += exp(s[q] - m);
    for (int q = 0; q < 3; q++) /* yh - y, over N for the mean */
      dy[q] = (exp(s[q] - m) / sum - (label[i] == q)) / (double)n;
    for (int j = 0; j < 16; j++) {
      dz[j] = 0;
      for (int q = 0; q < 3; q++) {
        dW[16 * q + j] += z[j] * dy[q];
        dz[j] += dy[q] * W[16 * q + j];
      }
      double d = dz[j] * z[j] * (1 - z[j]);
      db[j] += d;
      for (int k = 0; k < 2; k++)
        dV[2 * j + k] += X[2 * i + k] * d;
    }
    for (int q = 0; q < 3; q++)
      dc[q] += dy[q];
  }
}

Test(tensor, iris_gradient_matches_hand_written_backprop) {
  Gradc *g = gradc_new();
  cr_assert_eq(gradc_compile_file(g, GRADC_EXAMPLES "/iris_mlp.expr"), GRADC_OK, "%s",
               gradc_diag_render(g));
  cr_assert_eq(gradc_set_defaults(g, 3, 0), GRADC_OK, "%s", gradc_diag_render(g));
  int J = gradc_output_index(g, "J");
  int vars[6];
  const char *names[6] = {"X", "label", "V", "b", "W", "c"};
  for (int i = 0; i < 6; i++)
    cr_assert_geq(vars[i] = gradc_var_index(g, names[i]), 0);
  long dims[4];
  int rank;
  const double *X = gradc_get_value(g, vars[0], dims, &rank);
  long n = dims[0];
  cr_assert_eq(n, 150);
  int wrt[4] = {vars[2], vars[3], vars[4], vars[5]};
  GradcFn *f = gradc_fn_grad(g, wrt, 4);
  cr_assert(f && gradc_run(f, NULL) == GRADC_OK, "%s", gradc_diag_render(g));
  double dV[32], db[16], dW[48], dc[3];
  backprop(n, X, gradc_get_value(g, vars[1], NULL, NULL), gradc_get_value(g, vars[2], NULL, NULL),
           gradc_get_value(g, vars[3], NULL, NULL), gradc_get_value(g, vars[4], NULL, NULL),
           gradc_get_value(g, vars[5], NULL, NULL), dV, db, dW, dc);
  const double *want[4] = {dV, db, dW, dc};
  long sizes[4] = {32, 16, 48, 3};
  int no = gradc_output_count(g), scalar_before = 0;
  for (int o = 0; o < J; o++)
    scalar_before += gradc_output_shape(g, o, dims) == 0;
  for (int k = 0; k < 4; k++) {
    const double *got = gradc_fn_res_data(f, no + scalar_before * 4 + k);
    for (long e = 0; e < sizes[k]; e++)
      cr_assert(fabs(got[e] - want[k][e]) <= 1e-13 + 1e-10 * fabs(want[k][e]),
                "d%s[%ld]: gradc %.17g, hand-written %.17g", names[2 + k], e, got[e], want[k][e]);
  }
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* The emitted C does not depend on the number of rows: N is a parameter. */
Test(tensor, emitted_iris_code_is_the_same_for_any_n) {
  char *src[2];
  for (int t = 0; t < 2; t++) {
    Gradc *g = gradc_new();
    cr_assert_eq(gradc_compile_file(g, GRADC_EXAMPLES "/iris_mlp.expr"), GRADC_OK);
    if (t == 1) { /* a million rows of data bound to X: emission must not care */
      long dx[2] = {1000000, 2}, dl[1] = {1000000};
      double *x = calloc(2000000, sizeof *x), *l = calloc(1000000, sizeof *l);
      cr_assert_eq(gradc_set_value(g, gradc_var_index(g, "X"), x, dx, 2), GRADC_OK);
      cr_assert_eq(gradc_set_value(g, gradc_var_index(g, "label"), l, dl, 1), GRADC_OK);
      free(x);
      free(l);
    }
    cr_assert_eq(gradc_emit(g, "iris", &src[t], NULL, NULL), GRADC_OK, "%s", gradc_diag_render(g));
    gradc_free(g);
  }
  cr_assert_str_eq(src[0], src[1]);
  cr_assert(strstr(src[0], "long N"), "N is not a parameter of the emitted functions");
  free(src[0]);
  free(src[1]);
}

/* The C that the cc backend compiles with gcc -O2 is the emitted code's
 * body; it must agree with libtcc's to the last bit on every example. */
Test(tensor, tcc_and_cc_agree_to_the_bit_on_the_examples, .timeout = 240) {
  static const char *files[] = {"iris_mlp", "batchnorm_mlp", "residual_mlp", "logistic_regression",
                                "linear_regression", "seed_scalar", "seed_sincos"};
  for (size_t k = 0; k < sizeof files / sizeof *files; k++) {
    char path[512];
    snprintf(path, sizeof path, GRADC_EXAMPLES "/%s.expr", files[k]);
    Gradc *g[2];
    GradcFn *f[2];
    for (int b = 0; b < 2; b++) {
      g[b] = gradc_new();
      gradc_set_backend(g[b], b ? GRADC_BACKEND_CC : GRADC_BACKEND_TCC);
      cr_assert_eq(gradc_compile_file(g[b], path), GRADC_OK, "%s", gradc_diag_render(g[b]));
      cr_assert_eq(gradc_set_defaults(g[b], 7, 1), GRADC_OK, "%s", gradc_diag_render(g[b]));
      f[b] = gradc_fn_grad(g[b], NULL, 0);
      cr_assert(f[b] && gradc_run(f[b], NULL) == GRADC_OK, "%s: %s", files[k], gradc_diag_render(g[b]));
    }
    for (int r = 0; r < gradc_fn_res_count(f[0]); r++) {
      long dims[4];
      int rank = gradc_fn_res_shape(f[0], r, dims);
      long n = 1;
      for (int i = 0; i < rank; i++)
        n *= dims[i];
      cr_assert(!memcmp(gradc_fn_res_data(f[0], r), gradc_fn_res_data(f[1], r), (size_t)n * sizeof(double)),
                "%s: result %s differs between tcc and cc", files[k], gradc_fn_res_name(f[0], r));
    }
    gradc_free(g[0]);
    gradc_free(g[1]);
  }
}

/* The Hessian over tensor variables, flattened in order (SPEC 2.2),
 * against central differences of the reverse-mode gradient. */
Test(tensor, hessian_of_tensor_variables_matches_differences_of_the_gradient) {
  Gradc *g = compile_ok("param A[2, 3], v[3], s\n"
                        "output L = sum(tanh(A @ v) * s) + sum(sigmoid(A)^2) + s^3\n");
  random_values(g, -1, 1);
  GradcFn *h = gradc_fn_hessian(g, 0, NULL, 0), *gr = gradc_fn_grad(g, NULL, 0);
  cr_assert(h && gr && gradc_run(h, NULL) == GRADC_OK, "%s", gradc_diag_render(g));
  int vars[3] = {0, 1, 2};
  long size[3] = {6, 3, 1}, total = 10;
  double H[10][10];
  for (long row = 0, res = 1; row < total; row++)
    for (int k = 0, col = 0; k < 3; col += (int)size[k], k++, res++)
      memcpy(&H[row][col], gradc_fn_res_data(h, (int)res), (size_t)size[k] * sizeof(double));
  /* column j of H: the change of the gradient along element j */
  for (int jv = 0, j = 0; jv < 3; jv++)
    for (long e = 0; e < size[jv]; e++, j++) {
      double *x = gradc_get_value(g, vars[jv], NULL, NULL), x0 = x[e], step = 1e-5;
      double gp[10], gm[10];
      for (int sgn = 0; sgn < 2; sgn++) {
        x[e] = x0 + (sgn ? -step : step);
        cr_assert_eq(gradc_run(gr, NULL), GRADC_OK);
        for (int k = 0, i = 0; k < 3; k++)
          for (long c = 0; c < size[k]; c++, i++)
            (sgn ? gm : gp)[i] = gradc_fn_res_data(gr, 1 + k)[c];
      }
      x[e] = x0;
      for (int i = 0; i < 10; i++) {
        double fd = (gp[i] - gm[i]) / (2 * step);
        cr_assert(fabs(H[i][j] - fd) < 1e-6 * fmax(1, fabs(fd)), "H[%d][%d] = %.12g, differences %.12g",
                  i, j, H[i][j], fd);
        cr_assert(fabs(H[i][j] - H[j][i]) < 1e-12 * fmax(1, fabs(H[i][j])), "H is not symmetric at %d,%d", i, j);
      }
    }
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- the built-ins of SPEC 1.7 ------------------------------------------------ */

Test(tensor, new_reductions_with_keyword_axes) {
  check_derivatives(DECLS "sum(A / sum(A, axis=1, keepdims=true))", 0.5, 2);
  check_derivatives(DECLS "sum(max(A, axis=1)^2) + max(x) * min(y) + sum(min(A, axis=0, keepdims=true) * x)", -1, 1);
  check_derivatives(DECLS "prod(x) + sum(prod(A, axis=-1)^2) + sum(prod(A, 0, keepdims=true) * A)", -1, 1);
  check_derivatives(DECLS "sum(cumsum(A, axis=1)^2) + sum(cumsum(A, 0) * A) + sum(cumsum(x) * y)", -1, 1);
  check_derivatives(DECLS "norm(x) + sum(norm(A, axis=0)) + sum(norm(A, 1, keepdims=true) * A)", -1, 1);
  check_derivatives(DECLS "sum(logsumexp(A, axis=1, keepdims=true) * A) + sum(mean(A, axis=0) * x)", -1, 1);
  check_derivatives(DECLS "sum(softmax(A, axis=0) * A) + sum(log_softmax(A, axis=-1) * A)", -1, 1);
}

Test(tensor, new_elementwise_functions) {
  check_derivatives(DECLS "sum(clip(A, -0.5, 0.5) * A) + sum(clip(x, y, 2) * x)", -1, 1);
  check_derivatives(DECLS "sum(log_sigmoid(A) + logaddexp(A, x) + logaddexp(x, y)^2)", -3, 3);
  check_derivatives(DECLS "sum(mod(A, 0.7) * A) + sum(mod(x, y + 2))", 0.1, 0.6);
  check_derivatives(DECLS "sum((floor(A) + ceil(A) + round(A) + 1) * A) + s**2 * pi + e * true", 0.1, 0.4);
  check_derivatives(DECLS "sum(maximum(A, x) + minimum(c, A)) + sum(max(A, x))", -1, 1);
}

Test(tensor, new_shape_functions) {
  check_derivatives(DECLS "sum(concat([A, c, A * 2], axis=1)^2) + sum(concat([x, y, z])^3)", -1, 1);
  check_derivatives(DECLS "sum(stack([x, y], axis=1) @ [1, 2]) + sum(stack([A, A^2], axis=-1)^2)", -1, 1);
  check_derivatives(DECLS "sum(reshape(A, [-1, 6]) @ reshape(C, [6, -1])) + sum(reshape(x, [2, 2]) @ B[0:2, :])", -1, 1);
  check_derivatives(DECLS "sum(take(A, [2, 0, 2], axis=0)^2) + sum(take(x, [[1, 1], [-1, 0]])^3) + take(z, 1)", -1, 1);
  check_derivatives(DECLS "sum(arange(4) * x) + sum(arange(1, 4) * z) + sum(eye(3) @ A)", -1, 1);
}

Test(tensor, values_of_the_new_built_ins) {
  Gradc *g = compile_ok("param v[4] = [2, -3, 0.5, 2]\noutput P = prod(v)\noutput C = cumsum(v)\n"
                        "output M = max(v)\noutput N = norm([3, 4])\noutput R = round([0.5, 1.5, -2.5, 2.6])\n"
                        "output D = mod([7, -7, 7, -7], [3, 3, -3, -3])\noutput L = logaddexp(-inf_, -inf_)\n"
                        "output T = take(v, [3, 1])\noutput S = reshape(arange(4), [2, 2])\n"
                        "output K = concat([v[0:1], [10, 20]])\noutput E = sum(eye(3))\n"
                        "input inf_\n");
  double inf = INFINITY;
  cr_assert_eq(gradc_set_value(g, 1, &inf, NULL, 0), GRADC_OK, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK, "%s", gradc_diag_render(g));
  GradcFn *f = gradc_fn_value(g);
  cr_assert(f && gradc_run(f, NULL) == GRADC_OK, "%s", gradc_diag_render(g));
  const double *P = gradc_fn_res_data(f, 0), *C = gradc_fn_res_data(f, 1), *M = gradc_fn_res_data(f, 2);
  const double *N = gradc_fn_res_data(f, 3), *R = gradc_fn_res_data(f, 4), *D = gradc_fn_res_data(f, 5);
  const double *L = gradc_fn_res_data(f, 6), *T = gradc_fn_res_data(f, 7), *S = gradc_fn_res_data(f, 8);
  const double *K = gradc_fn_res_data(f, 9), *E = gradc_fn_res_data(f, 10);
  cr_assert(P[0] == -6);
  cr_assert(C[0] == 2 && C[1] == -1 && C[2] == -0.5 && C[3] == 1.5);
  cr_assert(M[0] == 2);
  cr_assert(N[0] == 5);
  cr_assert(R[0] == 0 && R[1] == 2 && R[2] == -2 && R[3] == 3); /* half to even, as numpy */
  cr_assert(D[0] == 1 && D[1] == 2 && D[2] == -2 && D[3] == -1); /* Python's % */
  cr_assert(L[0] == -INFINITY);
  cr_assert(T[0] == 2 && T[1] == -3);
  cr_assert(S[0] == 0 && S[1] == 1 && S[2] == 2 && S[3] == 3);
  cr_assert(K[0] == 2 && K[1] == 10 && K[2] == 20);
  cr_assert(E[0] == 3);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(tensor, max_reduction_ties_split_and_prod_handles_zeros) {
  Gradc *g = compile_ok("param v[4], w[4]\noutput L = max(v) + prod(w)\n");
  double v[4] = {1, 3, 3, 3}, w[4] = {2, 0, 3, 0};
  long d4[1] = {4};
  gradc_set_value(g, 0, v, d4, 1);
  gradc_set_value(g, 1, w, d4, 1);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  GradcFn *f = gradc_fn_grad(g, NULL, 0);
  cr_assert(f && gradc_run(f, NULL) == GRADC_OK, "%s", gradc_diag_render(g));
  const double *gv = gradc_fn_res_data(f, 1), *gw = gradc_fn_res_data(f, 2);
  cr_assert(gv[0] == 0 && fabs(gv[1] - 1.0 / 3) < 1e-16 && gv[1] == gv[2] && gv[2] == gv[3]);
  cr_assert(gw[0] == 0 && gw[1] == 0 && gw[2] == 0 && gw[3] == 0); /* two zeros */
  w[3] = 0.5; /* one zero: the product of the others there */
  gradc_set_value(g, 1, w, d4, 1);
  cr_assert(gradc_run(f, NULL) == GRADC_OK, "%s", gradc_diag_render(g));
  gw = gradc_fn_res_data(f, 2);
  cr_assert(gw[0] == 0 && gw[1] == 3 && gw[2] == 0 && gw[3] == 0);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* The partial of prod(x) w.r.t. x_i is the product of the others, computed
 * without dividing by x_i: where the product underflows or overflows,
 * prod/x_i would give 0 or inf (0/1e-200, inf/1e200), or lose digits to a
 * subnormal product. Both modes, along an axis too, and the Hessian. */
static void prod_partials(const double *x, const double *want) {
  Gradc *g = compile_ok("param v[3], A[2, 3]\noutput L = prod(v) + sum(prod(A, axis=1) * [1, 0])\n");
  double A[6];
  long d3[1] = {3}, d23[2] = {2, 3};
  memcpy(A, x, 3 * sizeof *A);
  for (int k = 0; k < 3; k++) /* the second row reaches no output */
    A[3 + k] = 2;
  gradc_set_value(g, 0, x, d3, 1);
  gradc_set_value(g, 1, A, d23, 2);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  GradcFn *fg = gradc_fn_grad(g, NULL, 0), *fj = gradc_fn_jvp(g, NULL, 0);
  cr_assert(fg && fj && gradc_run(fg, NULL) == GRADC_OK, "%s", gradc_diag_render(g));
  const double *gv = gradc_fn_res_data(fg, 1), *gA = gradc_fn_res_data(fg, 2);
  double tv[3] = {0}, tA[6] = {0};
  const double *tans[2] = {tv, tA};
  for (int k = 0; k < 3; k++) {
    cr_assert(gv[k] == want[k] && gA[k] == want[k] && gA[3 + k] == 0,
              "reverse d/dv[%d] = %.17g, d/dA[0,%d] = %.17g, want %.17g", k, gv[k], k, gA[k], want[k]);
    tv[k] = 1;
    cr_assert_eq(gradc_run(fj, tans), GRADC_OK);
    double dv = gradc_fn_res_data(fj, 1)[0];
    tv[k] = 0;
    tA[k] = 1;
    cr_assert_eq(gradc_run(fj, tans), GRADC_OK);
    double dA = gradc_fn_res_data(fj, 1)[0];
    tA[k] = 0;
    cr_assert(dv == want[k] && dA == want[k], "forward d/dv[%d] = %.17g, d/dA[0,%d] = %.17g, want %.17g", k,
              dv, k, dA, want[k]);
  }
  gradc_free(g);
}

Test(tensor, prod_partials_are_the_products_of_the_others_when_prod_underflows_or_overflows) {
  /* prod underflows to 0: prod/x_i would be 0 everywhere */
  prod_partials((double[]){1e-200, 1e-200, 1e200}, (double[]){1e-200 * 1e200, 1e-200 * 1e200, 0});
  /* prod overflows to inf: prod/x_i would be inf everywhere */
  prod_partials((double[]){1e200, 1e200, 1e-200}, (double[]){1e200 * 1e-200, 1e200 * 1e-200, INFINITY});
  /* a subnormal x_0 x_1: prod/x_1 is 0.99998..., not x_0 x_2 = 1 */
  prod_partials((double[]){1e-300, 1e-20, 1e300}, (double[]){1e-20 * 1e300, 1e-300 * 1e300, 1e-300 * 1e-20});
  /* zeros, as before: the product of the others */
  prod_partials((double[]){0, 3, 0}, (double[]){0, 0, 0});
  prod_partials((double[]){2, 3, 0}, (double[]){0, 0, 6});
  ASSERT_NO_LEAKS();
}

/* Where the running products over- or underflow on the way although the
 * product or a partial is finite (prod([1e200, 1e200, 1e-200, 1e-200]) is
 * 1; its partials are 1e-200 and 1e200, but x_0 x_1 is inf and x_2 x_3 is
 * 0 in doubles): the value, both modes' partials and cumprod are those of
 * the exact products (long double, 15 exponent bits, as the reference),
 * rounded, to a few ulps; where the true partial overflows it is inf. */
static int close_ulps(double got, long double want) {
  double w = (double)want; /* rounded: 0 or inf out of range */
  if (w == 0 || isinf(w))
    return got == w;
  return fabs(got - w) <= 4 * fabs(w) * 0x1p-52 + 4 * 0x1p-1074;
}

Test(tensor, prod_and_cumprod_are_finite_where_the_exact_products_are) {
  static const double pts[][4] = {{1e200, 1e200, 1e-200, 1e-200}, {1e300, 1e300, 1e-300, 1e-300},
                                  {1e-300, 3e-300, 1e300, 2e300},  {5e-324, 1e300, 1e10, 2},
                                  {-1e308, 1e308, -1e-308, 1e-300}, {0, 1e300, 1e-300, 5},
                                  {1e300, 1e300, 1e300, 1e-300}};
  Gradc *g = compile_ok("param x[4]\noutput p = prod(x)\noutput c = cumprod(x)\n");
  Gradc *gp = compile_ok("param x[4]\noutput p = prod(x)\n");
  long d4[1] = {4};
  for (size_t t = 0; t < sizeof pts / sizeof *pts; t++) {
    const double *x = pts[t];
    long double all = 1;
    for (int k = 0; k < 4; k++)
      all *= x[k];
    gradc_set_value(g, 0, x, d4, 1);
    gradc_set_value(gp, 0, x, d4, 1);
    GradcFn *fv = gradc_fn_value(g), *fg = gradc_fn_grad(gp, NULL, 0), *fj = gradc_fn_jvp(gp, NULL, 0);
    cr_assert(fv && fg && fj && gradc_run(fv, NULL) == GRADC_OK && gradc_run(fg, NULL) == GRADC_OK,
              "%s %s", gradc_diag_render(g), gradc_diag_render(gp));
    double p = gradc_fn_res_data(fv, 0)[0];
    cr_expect(close_ulps(p, all), "point %zu: prod = %.17g, want %.17Lg", t, p, all);
    const double *c = gradc_fn_res_data(fv, 1);
    long double run = 1;
    for (int k = 0; k < 4; k++) {
      run *= x[k];
      cr_expect(close_ulps(c[k], run), "point %zu: cumprod[%d] = %.17g, want %.17Lg", t, k, c[k], run);
    }
    const double *gr = gradc_fn_res_data(fg, 1);
    for (int i = 0; i < 4; i++) {
      long double others = 1;
      for (int k = 0; k < 4; k++)
        others *= k == i ? 1 : x[k];
      cr_expect(close_ulps(gr[i], others), "point %zu: reverse dp/dx[%d] = %.17g, want %.17Lg", t, i, gr[i],
                others);
      double dir[4] = {0};
      dir[i] = 1;
      const double *tans[1] = {dir};
      cr_assert_eq(gradc_run(fj, tans), GRADC_OK);
      double fw = gradc_fn_res_data(fj, 1)[0];
      cr_expect(close_ulps(fw, others), "point %zu: forward dp/dx[%d] = %.17g, want %.17Lg", t, i, fw, others);
    }
  }
  gradc_free(g);
  gradc_free(gp);
  ASSERT_NO_LEAKS();
}

/* The Hessian of prod(x): d2/dx_i dx_j is the product of the entries other
 * than i and j (0 on the diagonal), with no division, so exact where the
 * product underflows and at any zeros; over a symbolic N and along an axis. */
Test(tensor, prod_hessian_is_the_product_of_the_other_entries) {
  static const double pts[][4] = {{1e-200, 1e-200, 1e200, 3}, {0, 0, 2, 3}, {0, 0, 0, 5}, {2, -1, 0.5, 7}};
  static const char *srcs[] = {"param x[N]\noutput p = prod(x)\n",
                               "param x[4]\noutput p = sum(prod(reshape(x, [2, 2]), axis=0) * [1, 0]) + "
                               "sum(prod(reshape(x, [2, 2]), axis=0) * [0, 1])\n",
                               "param x[4]\noutput p = prod(reshape(x, [2, 2]))\n"};
  for (int s = 0; s < 3; s++)
    for (int k = 0; k < 4; k++) {
      Gradc *g = compile_ok(srcs[s]);
      long d4[1] = {4};
      gradc_set_value(g, 0, pts[k], d4, 1);
      cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
      GradcFn *h = gradc_fn_hessian(g, 0, NULL, 0);
      cr_assert(h && gradc_run(h, NULL) == GRADC_OK, "%s", gradc_diag_render(g));
      for (int i = 0; i < 4; i++) {
        const double *row = gradc_fn_res_data(h, 1 + i);
        for (int j = 0; j < 4; j++) {
          double want = 1;
          /* columns of reshape(x, [2, 2]): {0, 2} and {1, 3} */
          int same_col = s == 1 ? (i % 2) == (j % 2) : 1;
          for (int m = 0; m < 4; m++)
            if (m != i && m != j && (s != 1 || m % 2 == i % 2))
              want *= pts[k][m];
          if (i == j || !same_col)
            want = 0;
          cr_assert(row[j] == want, "%sat point %d: H[%d][%d] = %.17g, want %.17g", srcs[s], k, i, j, row[j],
                    want);
        }
      }
      gradc_free(g);
    }
  ASSERT_NO_LEAKS();
}

Test(tensor, take_index_not_an_integer_or_out_of_range_is_an_error) {
  Gradc *g = compile_ok("input l[N]\nparam w[3]\nsum(take(w, l))\n");
  double l[2] = {1, 3}, w[3] = {1, 2, 3};
  long dl[1] = {2}, dw[1] = {3};
  gradc_set_value(g, 0, l, dl, 1);
  gradc_set_value(g, 1, w, dw, 1);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  GradcFn *f = gradc_fn_grad(g, NULL, 0); /* the gradient alone scatters: it checks too */
  cr_assert_eq(gradc_run(f, NULL), GRADC_ERR_INPUT);
  cr_assert(strstr(gradc_diag_render(g), "the index 3 (element 1 of 'l')"), "%s", gradc_diag_render(g));
  l[1] = 0.5;
  gradc_set_value(g, 0, l, dl, 1);
  cr_assert_eq(gradc_run(gradc_fn_value(g), NULL), GRADC_ERR_INPUT);
  cr_assert(strstr(gradc_diag_render(g), "the index 0.5"), "%s", gradc_diag_render(g));
  gradc_free(g);
}

Test(tensor, misuse_of_the_new_built_ins_is_an_error_at_its_place) {
  expect_error("param pi\npi\n", 1, 7, "'pi' is a built-in constant");
  expect_error("param x[2] = [1, 2, 3]\nsum(x)\n", 1, 14, "has shape (3), but 'x' is declared with shape (2)");
  expect_error("param A[3, 4]\nsum(A, axis=2)\n", 2, 8, "axis 2 is out of range for a tensor of rank 2");
  expect_error("param A[3, 4]\nsum(A, axis=0.5)\n", 2, 8, "the axis must be an integer literal");
  expect_error("param A[3, 4]\nsum(A, keepdims=3)\n", 2, 8, "keepdims must be true or false");
  expect_error("param A[3, 4]\nsum(exp(A, axis=1))\n", 2, 12, "exp() takes no keyword argument 'axis'");
  expect_error("param A[3, 4]\nsum(max(A, A, axis=1))\n", 2, 15, "max(a, b) is elementwise");
  expect_error("param A[3, 4]\nsum(reshape(A, [5, -1]))\n", 2, 16, "cannot infer -1");
  expect_error("param A[3, 4], x[3]\nsum(concat([A, x]))\n", 2, 16, "(3, 4) and (3) do not fit together");
  expect_error("param A[3, 4]\nsum(clip(A, 1))\n", 2, 5, "clip() takes 3 arguments, not 2");
  expect_error("input X[N, M]\nsum(reshape(X, [-1]))\n", 2, 16, "their product is not a size gradc can hold");
}

Test(tensor, new_built_ins_emit_loops_and_tcc_and_cc_agree_to_the_bit) {
  static const char *src =
      "input X[N, 4], label[N]\nparam w[4] = [0.5, -1, 2, 0.25]\n"
      "Z = X * w\n"
      "output L = -sum(take(log_softmax(Z, axis=1), label, axis=1) * eye(N)) + sum(norm(Z, axis=1))"
      " + sum(cumsum(Z, 1)^2) + sum(prod(Z, axis=0)) + sum(max(Z, axis=0)) + sum(min(Z, axis=1, keepdims=true) * Z)"
      " + sum(reshape(Z, [N, 2, 2]) * [1, -1]) + sum(arange(N) * Z[:, 0]) + sum(logaddexp(Z, 1) + clip(Z, -1, 1))\n";
  double x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 1, 1, 2, 2}, label[3] = {2, 0, 3};
  long dx[2] = {3, 4}, dl[1] = {3};
  Gradc *g[2];
  GradcFn *f[2];
  for (int b = 0; b < 2; b++) {
    g[b] = gradc_new();
    gradc_set_backend(g[b], b ? GRADC_BACKEND_CC : GRADC_BACKEND_TCC);
    cr_assert_eq(gradc_compile_string(g[b], "t.expr", src, strlen(src)), GRADC_OK, "%s", gradc_diag_render(g[b]));
    gradc_set_value(g[b], 0, x, dx, 2);
    gradc_set_value(g[b], 1, label, dl, 1);
    cr_assert_eq(gradc_set_defaults(g[b], 0, 0), GRADC_OK, "%s", gradc_diag_render(g[b]));
    f[b] = gradc_fn_grad(g[b], NULL, 0);
    cr_assert(f[b] && gradc_run(f[b], NULL) == GRADC_OK, "%s", gradc_diag_render(g[b]));
  }
  for (int r = 0; r < gradc_fn_res_count(f[0]); r++) {
    long dims[4];
    int rank = gradc_fn_res_shape(f[0], r, dims);
    long n = 1;
    for (int i = 0; i < rank; i++)
      n *= dims[i];
    cr_assert(!memcmp(gradc_fn_res_data(f[0], r), gradc_fn_res_data(f[1], r), (size_t)n * sizeof(double)),
              "result %s differs between tcc and cc", gradc_fn_res_name(f[0], r));
  }
  gradc_free(g[0]);
  gradc_free(g[1]);
}

/* Derivative code multiplies by an operand that may be infinite with
 * strong zeros (SPEC 1.6); with BLAS such a product runs as cblas_dgemm
 * when every element is finite, else as the loops: sqrt'(0) = inf in the
 * adjoint of X @ W' gives the same gradient with and without BLAS. The
 * product is [64, 8] by [8, 8]: BLAS_MIN_MNK multiply-adds, so that BLAS
 * takes it (smaller ones are always loops). */
Test(tensor, strong_zero_products_by_blas_fall_back_to_loops_at_infinities) {
  static const char *src = "input X[64, 8]\nparam W[8, 8]\noutput L = sum(sqrt(X @ W'))\n";
  double x[64 * 8], ws[2][64];
  for (int r = 0; r < 64; r++) /* rows with zeros: X[8][0] = 4, X[8][1] = 0 */
    for (int j = 0; j < 8; j++)
      x[r * 8 + j] = r % 8 == j || r % 3 == 0 ? 1 + r % 5 : 0;
  for (int i = 0; i < 64; i++) {
    ws[0][i] = i % 9 == 0 ? 1 + i / 9 : 0; /* diagonal: zeros in X @ W' */
    ws[1][i] = 0.25 + (i % 7) * 0.5;       /* none */
  }
  long dx[2] = {64, 8}, dw[2] = {8, 8};
  for (int c = 0; c < 2; c++) {
    double grad[2][64];
    for (int blas = 0; blas < 2; blas++) {
      Gradc *g = gradc_new();
      if (gradc_set_blas(g, blas) < 0) {
        gradc_free(g);
        return; /* built without OpenBLAS: nothing to compare */
      }
      cr_assert_eq(gradc_compile_string(g, "t.expr", src, strlen(src)), GRADC_OK);
      gradc_set_value(g, 0, x, dx, 2);
      gradc_set_value(g, 1, ws[c], dw, 2);
      cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK, "%s", gradc_diag_render(g));
      GradcFn *f = gradc_fn_grad(g, NULL, 0);
      cr_assert(f && gradc_run(f, NULL) == GRADC_OK, "%s", gradc_diag_render(g));
      memcpy(grad[blas], gradc_fn_res_data(f, 1), sizeof grad[blas]);
      gradc_free(g);
    }
    for (int i = 0; i < 64; i++) {
      double a = grad[0][i], b = grad[1][i];
      cr_assert(a == b || fabs(a - b) <= 1e-14 * fabs(a), "dL/dW[%d]: loops %.17g, BLAS %.17g", i, a, b);
    }
    if (c == 0) /* dL/dW[1][1] sums inf * 0 (strong: 0) and finite terms */
      cr_assert(isinf(grad[1][8]) && isfinite(grad[1][9]), "%g %g", grad[1][8], grad[1][9]);
    else
      cr_assert(isfinite(grad[1][8]) && isfinite(grad[1][9]), "%g %g", grad[1][8], grad[1][9]);
  }
}

/* OpenBLAS takes products of at least BLAS_MIN_MNK = 4096 multiply-adds
 * (tests/bench/bench_blas), tested at run time when a dimension is
 * symbolic; gradc_emit uses it only when asked (the file then needs
 * -lopenblas), the JIT by default. */
static int emits_dgemm(const char *src, int blas, int *runtime_test) {
  Gradc *g = gradc_new();
  if (blas >= 0 && gradc_set_blas(g, blas) < 0) {
    gradc_free(g);
    return -1;
  }
  cr_assert_eq(gradc_compile_string(g, "t.expr", src, strlen(src)), GRADC_OK, "%s", gradc_diag_render(g));
  char *c = NULL;
  cr_assert_eq(gradc_emit(g, "p", &c, NULL, NULL), GRADC_OK, "%s", gradc_diag_render(g));
  int has = strstr(c, "cblas_dgemm(") != NULL;
  if (runtime_test)
    *runtime_test = strstr(c, ">= 4096.0") != NULL;
  free(c);
  gradc_free(g);
  return has;
}

Test(tensor, blas_takes_products_of_at_least_4096_multiply_adds) {
  int rt = 0;
  if (emits_dgemm("input X[64, 8]\nparam W[8, 8]\noutput L = sum(X @ W')\n", 1, &rt) < 0)
    return; /* built without OpenBLAS */
  cr_assert_eq(emits_dgemm("input X[64, 8]\nparam W[8, 8]\noutput L = sum(X @ W')\n", 1, &rt), 1);
  cr_assert_eq(rt, 0, "known sizes need no test at run time");
  cr_assert_eq(emits_dgemm("input X[63, 8]\nparam W[8, 8]\noutput L = sum(X @ W')\n", 1, NULL), 0,
               "63*8*8 multiply-adds stay loops");
  cr_assert_eq(emits_dgemm("input X[N, 8]\nparam W[8, 8]\noutput L = sum(X @ W')\n", 1, &rt), 1);
  cr_assert_eq(rt, 1, "a symbolic dimension: m*n*k tested at run time");
  cr_assert_eq(emits_dgemm("input X[64, 8]\nparam W[8, 8]\noutput L = sum(X @ W')\n", -1, NULL), 0,
               "gradc_emit: no BLAS unless asked");
  cr_assert_eq(emits_dgemm("input X[64, 8]\nparam W[8, 8]\noutput L = sum(X @ W')\n", 0, NULL), 0);
}

/* With a symbolic dimension the test at run time picks BLAS or the loops:
 * both sides give the loops' value within rounding, small N and large. */
Test(tensor, blas_by_default_in_the_jit_agrees_with_the_loops) {
  static const char *src = "input X[N, 8]\nparam W[8, 8]\noutput L = sum(tanh(X @ W'))\n";
  for (int rows = 2; rows <= 512; rows *= 16) {
    double *x = malloc((size_t)rows * 8 * sizeof *x), w[64], val[2], grad[2][64];
    for (int i = 0; i < rows * 8; i++)
      x[i] = sin(0.37 * i);
    for (int i = 0; i < 64; i++)
      w[i] = cos(0.11 * i) * 0.5;
    for (int b = 0; b < 2; b++) { /* b = 0: the default (BLAS when built with it), 1: loops */
      Gradc *g = gradc_new();
      if (b)
        gradc_set_blas(g, 0);
      cr_assert_eq(gradc_compile_string(g, "t.expr", src, strlen(src)), GRADC_OK);
      long dx[2] = {rows, 8}, dw[2] = {8, 8};
      gradc_set_value(g, 0, x, dx, 2);
      gradc_set_value(g, 1, w, dw, 2);
      cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK, "%s", gradc_diag_render(g));
      GradcFn *f = gradc_fn_grad(g, NULL, 0);
      cr_assert(f && gradc_run(f, NULL) == GRADC_OK, "%s", gradc_diag_render(g));
      val[b] = gradc_fn_res_data(f, 0)[0];
      memcpy(grad[b], gradc_fn_res_data(f, 1), sizeof grad[b]);
      gradc_free(g);
    }
    cr_assert(fabs(val[0] - val[1]) <= 1e-12 * fabs(val[1]), "N = %d: %.17g vs %.17g", rows, val[0], val[1]);
    for (int i = 0; i < 64; i++)
      cr_assert(fabs(grad[0][i] - grad[1][i]) <= 1e-12 * fmax(1, fabs(grad[1][i])), "N = %d, dL/dW[%d]", rows, i);
    if (rows == 2) /* 2*8*8 < 4096: the loops on both sides */
      cr_assert(val[0] == val[1] && !memcmp(grad[0], grad[1], sizeof grad[0]), "N = 2 runs the loops");
    free(x);
  }
}

/* tanh is gradc's own (runtime/gradc_rt.h: g_tanh, no call): libtcc's code
 * (gcc's compile of it in matmul_rt.c) and the cc backend's (inline in the
 * emitted C) give the same bits, within 2.5 ulp of the exact tanh, with
 * tanh's signs, zeros, limits and NaN. */
Test(tensor, tanh_is_the_same_bits_on_both_backends_and_within_2_5_ulp) {
  static const char *src = "input x[N]\noutput y = tanh(x)\n";
  enum { NPT = 200000, NSPECIAL = 8 };
  static double x[NPT + NSPECIAL];
  for (int i = 0; i < NPT; i++) /* dense near 0, out to +-25 */
    x[i] = (i % 2 ? -1 : 1) * 25.0 * pow((double)i / NPT, 3);
  const double special[NSPECIAL] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 1e-310, -1e-300, 700};
  memcpy(x + NPT, special, sizeof special);
  long n = NPT + NSPECIAL;
  double *y[2];
  for (int b = 0; b < 2; b++) {
    Gradc *g = gradc_new();
    gradc_set_backend(g, b ? GRADC_BACKEND_CC : GRADC_BACKEND_TCC);
    cr_assert_eq(gradc_compile_string(g, "t.expr", src, strlen(src)), GRADC_OK);
    gradc_set_value(g, 0, x, &n, 1);
    cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK, "%s", gradc_diag_render(g));
    GradcFn *f = gradc_fn_value(g);
    cr_assert(f && gradc_run(f, NULL) == GRADC_OK, "%s", gradc_diag_render(g));
    y[b] = malloc((size_t)n * sizeof(double));
    memcpy(y[b], gradc_fn_res_data(f, 0), (size_t)n * sizeof(double));
    gradc_free(g);
  }
  cr_assert(!memcmp(y[0], y[1], (size_t)n * sizeof(double)), "tanh differs between tcc and cc");
  double worst = 0;
  for (int i = 0; i < NPT; i++) {
    long double want = tanhl((long double)x[i]);
    double w = (double)want, ulp = nextafter(fabs(w), INFINITY) - fabs(w);
    double err = (double)fabsl((long double)y[0][i] - want) / ulp;
    worst = err > worst ? err : worst;
    cr_assert(err <= 2.5, "tanh(%a) = %a, %.2f ulp from %a", x[i], y[0][i], err, w);
  }
  cr_log_info("worst error %.3f ulp", worst);
  const double *s = y[0] + NPT;
  cr_assert(s[0] == 0 && !signbit(s[0]) && s[1] == 0 && signbit(s[1]), "tanh(+-0) = +-0");
  cr_assert(s[2] == 1 && s[3] == -1 && isnan(s[4]), "tanh(+-inf) = +-1, tanh(NaN) = NaN");
  cr_assert(s[5] == 1e-310 && s[6] == -1e-300 && s[7] == 1, "tiny and large arguments: %a %a %a", s[5], s[6], s[7]);
  free(y[0]);
  free(y[1]);
}
