/* test_hvp_fixed.c: Hessian-vector products at a fixed point (gradc_hvp_at,
 * hvp_fixed.c) against gradc_fn_hvp's, bit for bit: the value, the
 * gradient and H v; what is stored (nothing for a quadratic, whose H v
 * reads only A and v); the point copied at creation; strong zeros across
 * the cut (a stored factor that is infinite, times a zero tangent); and
 * the errors. hvp_agree runs the same comparison on every example. */
#include "test_util.h"

/* n elements of each of the nwrt wrt variables of f's tangent arguments */
static long arg_size(GradcFn *f, int i) {
  long dims[4], n = 1;
  int rank = gradc_fn_arg_shape(f, i, dims);
  for (int k = 0; k < rank; k++)
    n *= dims[k];
  return n;
}

/* gradc_fn_hvp of output `out` (with wrt; NULL: every param) along v (one
 * array per wrt variable) against gradc_hvp_at h: the same bits for the
 * value, gradient and H v; NaNs and infinities alike. */
static void same_as_fn_hvp(Gradc *g, GradcHvpAt *h, int out, const int *wrt, int nwrt,
                           const double *const *v) {
  GradcFn *f = gradc_fn_hvp(g, out, wrt, nwrt);
  cr_assert_not_null(f, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_run(f, v), GRADC_OK, "%s", gradc_diag_render(g));
  nwrt = (gradc_fn_res_count(f) - 1) / 2;
  int nv = gradc_fn_arg_count(f) - nwrt;
  double *hv[8];
  cr_assert_leq(nwrt, 8);
  for (int k = 0; k < nwrt; k++)
    hv[k] = malloc((size_t)arg_size(f, nv + k) * sizeof **hv);
  cr_assert_eq(gradc_hvp_at_apply(h, v, hv), GRADC_OK, "%s", gradc_diag_render(g));
  double value = gradc_hvp_at_value(h);
  cr_assert(!memcmp(&value, gradc_fn_res_data(f, 0), sizeof value), "value %.17g, gradc_fn_hvp's %.17g",
            value, gradc_fn_res_data(f, 0)[0]);
  for (int k = 0; k < nwrt; k++) {
    long n = arg_size(f, nv + k);
    const double *want_g = gradc_fn_res_data(f, 1 + k), *want_h = gradc_fn_res_data(f, 1 + nwrt + k);
    const double *got_g = gradc_hvp_at_gradient(h, k);
    cr_assert_not_null(got_g);
    for (long i = 0; i < n; i++) {
      cr_assert(!memcmp(&got_g[i], &want_g[i], sizeof *got_g), "gradient %d[%ld]: %.17g, want %.17g", k,
                i, got_g[i], want_g[i]);
      cr_assert(!memcmp(&hv[k][i], &want_h[i], sizeof *want_h), "H v %d[%ld]: %.17g, want %.17g", k, i,
                hv[k][i], want_h[i]);
    }
    free(hv[k]);
  }
}

/* 0.5 x'Ax + sum(sin(x)): H v = 0.5 (A + A') v - sin(x) * v. The sine's
 * second derivative is stored; A is read as the variable it is. */
Test(hvp_fixed, quadratic_plus_sine) {
  Gradc *g = compile_ok("input A[N, N]\nparam x[N]\noutput L = 0.5 * sum(x * (A @ x)) + sum(sin(x))\n");
  enum { n = 7 };
  double A[n * n], x[n], v[n], hv[n];
  for (int i = 0; i < n * n; i++)
    A[i] = (double)((i * 37) % 11) - 5;
  for (int i = 0; i < n; i++) {
    x[i] = 0.3 * i - 1;
    v[i] = (double)(i % 3) - 1;
  }
  long da[2] = {n, n}, dx[1] = {n};
  cr_assert_eq(gradc_set_value(g, 0, A, da, 2), GRADC_OK);
  cr_assert_eq(gradc_set_value(g, 1, x, dx, 1), GRADC_OK);
  cr_assert_eq(gradc_set_defaults(g, 1, 0), GRADC_OK, "%s", gradc_diag_render(g));
  GradcHvpAt *h = gradc_hvp_at(g, 0, NULL, 0);
  cr_assert_not_null(h, "%s", gradc_diag_render(g));
  cr_assert_gt(gradc_hvp_at_stored(h), 0, "sin(x) is stored");
  cr_assert_leq(gradc_hvp_at_stored(h), 2 * n, "%ld doubles stored for n = %d",
                gradc_hvp_at_stored(h), n);
  const double *vs[1] = {v};
  double *hs[1] = {hv};
  cr_assert_eq(gradc_hvp_at_apply(h, vs, hs), GRADC_OK);
  for (int i = 0; i < n; i++) {
    double want = -sin(x[i]) * v[i];
    for (int j = 0; j < n; j++)
      want += 0.5 * (A[i * n + j] + A[j * n + i]) * v[j];
    cr_assert_leq(fabs(hv[i] - want), 1e-12 * 64, "H v[%d] = %.17g, want %.17g", i, hv[i], want);
  }
  same_as_fn_hvp(g, h, 0, (int[]){1}, 1, vs);
  gradc_hvp_at_free(h);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* A quadratic's H v needs nothing from the point: nothing is stored. */
Test(hvp_fixed, quadratic_stores_nothing) {
  Gradc *g = compile_ok("input A[3, 3] = randn(1)\nparam x[3] = randn(1)\n"
                        "output L = 0.5 * sum(x * (A @ x))\n");
  cr_assert_eq(gradc_set_defaults(g, 5, 0), GRADC_OK, "%s", gradc_diag_render(g));
  GradcHvpAt *h = gradc_hvp_at(g, 0, NULL, 0);
  cr_assert_not_null(h, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_hvp_at_stored(h), 0);
  double v[3] = {1, -2, 0.5};
  same_as_fn_hvp(g, h, 0, NULL, 0, (const double *const[]){v});
  gradc_hvp_at_free(h);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* The Iris network (with OpenBLAS's products too, where gradc has them):
 * several directions in turn (nothing of one product is kept for the
 * next), the wrt variables in another order than declared. */
Test(hvp_fixed, iris_network) {
  for (int blas = 0; blas <= 1; blas++) {
    Gradc *g = gradc_new();
    if (blas && gradc_set_blas(g, 1) < 0) { /* built without OpenBLAS */
      gradc_free(g);
      break;
    }
    cr_assert_eq(gradc_compile_file(g, GRADC_EXAMPLES "/iris_mlp.expr"), GRADC_OK, "%s",
                 gradc_diag_render(g));
    cr_assert_eq(gradc_set_defaults(g, 3, 0), GRADC_OK, "%s", gradc_diag_render(g));
    int wrt[4] = {gradc_var_index(g, "W"), gradc_var_index(g, "V"), gradc_var_index(g, "c"),
                  gradc_var_index(g, "b")};
    GradcHvpAt *h = gradc_hvp_at(g, 0, wrt, 4);
    cr_assert_not_null(h, "%s", gradc_diag_render(g));
    cr_assert_gt(gradc_hvp_at_stored(h), 150 * 16, "the hidden units' values are stored (%ld doubles)",
                 gradc_hvp_at_stored(h));
    long size[4] = {3 * 16, 16 * 2, 3, 16};
    double *v[4];
    for (int round = 0; round < 3; round++) {
      for (int k = 0; k < 4; k++) {
        v[k] = malloc((size_t)size[k] * sizeof **v);
        for (long i = 0; i < size[k]; i++)
          v[k][i] = sin(1.0 + (double)i + 7.0 * k + 13.0 * round);
      }
      same_as_fn_hvp(g, h, 0, wrt, 4, (const double *const *)v);
      for (int k = 0; k < 4; k++)
        free(v[k]);
    }
    gradc_hvp_at_free(h);
    gradc_free(g);
  }
  ASSERT_NO_LEAKS();
}

/* The point is copied: changing the context's values afterwards (here to
 * a different number of rows) changes nothing; a new one is at the new
 * point. */
Test(hvp_fixed, point_is_copied) {
  Gradc *g = compile_ok("input X[N, 2]\nparam w[2]\noutput L = sum(exp(X @ w))\n");
  double X[6] = {1, 2, -1, 0.5, 0.25, -2}, w[2] = {0.3, -0.2}, v[2] = {1, -1};
  long dx[2] = {3, 2}, dw[1] = {2};
  cr_assert_eq(gradc_set_value(g, 0, X, dx, 2), GRADC_OK);
  cr_assert_eq(gradc_set_value(g, 1, w, dw, 1), GRADC_OK);
  cr_assert_eq(gradc_set_defaults(g, 1, 0), GRADC_OK, "%s", gradc_diag_render(g));
  GradcHvpAt *h = gradc_hvp_at(g, 0, NULL, 0);
  cr_assert_not_null(h, "%s", gradc_diag_render(g));
  const double *vs[1] = {v};
  double before[2], after[2], fresh[2];
  double *rb[1] = {before}, *ra[1] = {after}, *rf[1] = {fresh};
  cr_assert_eq(gradc_hvp_at_apply(h, vs, rb), GRADC_OK);
  double value = gradc_hvp_at_value(h);
  long dx2[2] = {2, 2};
  double w2[2] = {-0.5, 0.1};
  cr_assert_eq(gradc_set_value(g, 0, X, dx2, 2), GRADC_OK); /* N = 2 now */
  cr_assert_eq(gradc_set_value(g, 1, w2, dw, 1), GRADC_OK);
  cr_assert_eq(gradc_set_defaults(g, 1, 0), GRADC_OK, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_hvp_at_apply(h, vs, ra), GRADC_OK);
  cr_assert(!memcmp(before, after, sizeof before), "H v moved with the context's values");
  cr_assert(!memcmp(&value, &(double){gradc_hvp_at_value(h)}, sizeof value));
  GradcHvpAt *h2 = gradc_hvp_at(g, 0, NULL, 0);
  cr_assert_not_null(h2, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_hvp_at_apply(h2, vs, rf), GRADC_OK);
  /* H v = X' diag(exp(X w)) X v at the new point, rows 0..1 */
  for (int i = 0; i < 2; i++) {
    double want = 0;
    for (int r = 0; r < 2; r++) {
      double e = exp(X[2 * r] * w2[0] + X[2 * r + 1] * w2[1]), xv = X[2 * r] * v[0] + X[2 * r + 1] * v[1];
      want += X[2 * r + i] * e * xv;
    }
    cr_assert_leq(fabs(fresh[i] - want), 1e-13 * (1 + fabs(want)), "H v[%d] = %.17g, want %.17g", i,
                  fresh[i], want);
  }
  same_as_fn_hvp(g, h2, 0, NULL, 0, vs);
  gradc_hvp_at_free(h);
  gradc_hvp_at_free(h2);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* Strong zeros across the cut: at x = 0, sqrt(x)'s derivatives are
 * infinite and are stored; along a direction with v_x = 0 they multiply a
 * zero tangent, which must give 0 (SPEC 1.6), not NaN, as in
 * gradc_fn_hvp's single function. */
Test(hvp_fixed, strong_zeros_across_the_cut) {
  const char *progs[] = {"param x, y\noutput f = sqrt(x) * y + y^2\n",
                         "param x, y\noutput f = sqrt(x) + y * exp(y)\n",
                         "param x[2]\noutput f = sqrt(sum(x^2))^2\n"};
  double dirs[3][2] = {{0, 1}, {1, 0}, {1, 1}};
  for (int p = 0; p < 3; p++) {
    Gradc *g = compile_ok(progs[p]);
    if (p < 2) {
      double x = 0, y = 1.5;
      cr_assert_eq(gradc_set_value(g, 0, &x, NULL, 0), GRADC_OK);
      cr_assert_eq(gradc_set_value(g, 1, &y, NULL, 0), GRADC_OK);
    } else {
      double x[2] = {0, 0};
      cr_assert_eq(gradc_set_value(g, 0, x, (long[]){2}, 1), GRADC_OK);
    }
    cr_assert_eq(gradc_set_defaults(g, 1, 0), GRADC_OK, "%s", gradc_diag_render(g));
    GradcHvpAt *h = gradc_hvp_at(g, 0, NULL, 0);
    cr_assert_not_null(h, "%s", gradc_diag_render(g));
    for (int d = 0; d < 3; d++) {
      const double *v[2] = {&dirs[d][0], &dirs[d][1]};
      const double *vx[1] = {dirs[d]};
      same_as_fn_hvp(g, h, 0, NULL, 0, p < 2 ? v : vx);
    }
    if (p == 0) { /* along (0, 1): (H v)_x = 1/(2 sqrt(0)) = inf, exactly */
      double hx, hy;
      cr_assert_eq(gradc_hvp_at_apply(h, (const double *const[]){&dirs[0][0], &dirs[0][1]},
                                      (double *const[]){&hx, &hy}), GRADC_OK);
      cr_assert(isinf(hx) && hx > 0, "(H v)_x = %g", hx);
      cr_assert_eq(hy, 2.0);
    }
    gradc_hvp_at_free(h);
    gradc_free(g);
  }
  ASSERT_NO_LEAKS();
}

Test(hvp_fixed, errors) {
  Gradc *g = compile_ok("input label[N]\nparam z[N, 3]\n"
                        "output v = z * 2\n"
                        "output L = -sum(onehot(label, 3) * log_softmax(z, 1))\n");
  cr_assert_null(gradc_hvp_at(g, 1, NULL, 0));
  cr_assert_geq(find_diag(g, "no values"), 0, "%s", gradc_diag_render(g));
  gradc_diag_clear(g);
  double lab[2] = {0, 3}, z[6] = {0, 1, 2, 3, 4, 5};
  cr_assert_eq(gradc_set_value(g, 0, lab, (long[]){2}, 1), GRADC_OK);
  cr_assert_eq(gradc_set_value(g, 1, z, (long[]){2, 3}, 2), GRADC_OK);
  cr_assert_eq(gradc_set_defaults(g, 1, 0), GRADC_OK, "%s", gradc_diag_render(g));
  cr_assert_null(gradc_hvp_at(g, 0, NULL, 0)); /* v is not a scalar */
  cr_assert_geq(find_diag(g, "needs a scalar output"), 0, "%s", gradc_diag_render(g));
  cr_assert_null(gradc_hvp_at(g, 5, NULL, 0));
  cr_assert_null(gradc_hvp_at(g, 1, (int[]){7}, 1));
  cr_assert_geq(find_diag(g, "no variable 7"), 0, "%s", gradc_diag_render(g));
  gradc_diag_clear(g);
  cr_assert_null(gradc_hvp_at(g, 1, NULL, 0)); /* label 3 is out of range: the first function fails */
  cr_assert_geq(find_diag(g, "onehot()"), 0, "%s", gradc_diag_render(g));
  gradc_diag_clear(g);
  lab[1] = 2;
  cr_assert_eq(gradc_set_value(g, 0, lab, (long[]){2}, 1), GRADC_OK);
  GradcHvpAt *h = gradc_hvp_at(g, 1, NULL, 0);
  cr_assert_not_null(h, "%s", gradc_diag_render(g));
  cr_assert_not_null(gradc_hvp_at_gradient(h, 0));
  cr_assert_null(gradc_hvp_at_gradient(h, 1));
  cr_assert_null(gradc_hvp_at_gradient(h, -1));
  double v[6] = {1, 0, 0, 0, 0, 1};
  same_as_fn_hvp(g, h, 1, NULL, 0, (const double *const[]){v});
  gradc_hvp_at_free(h);
  gradc_hvp_at_free(NULL);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}
