/* test_spectrum.c: gradc_spectrum (spectrum.c) on quadratics whose
 * Hessians are known: the extreme eigenvalues against LAPACK's dsyev on
 * the matrix itself (or the diagonal, sorted), the kind of point, and the
 * Hutchinson trace against the exact trace. */
#include "test_util.h"

void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info, size_t ljobz, size_t luplo);

static unsigned long long rng_state = 12345;
static double urand(void) { /* uniform in (0, 1), seeded */
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return ((double)(rng_state >> 11) + 0.5) * 0x1.0p-53;
}

/* Every eigenvalue of the symmetric n x n matrix A (not changed), ascending. */
static void eigenvalues(const double *A, int n, double *w) {
  double *a = malloc((size_t)n * n * sizeof *a), q;
  memcpy(a, A, (size_t)n * n * sizeof *a);
  int info = 0, lwork = -1;
  dsyev_("N", "U", &n, a, &n, w, &q, &lwork, &info, 1, 1);
  lwork = (int)q;
  double *work = malloc((size_t)lwork * sizeof *work);
  dsyev_("N", "U", &n, a, &n, w, work, &lwork, &info, 1, 1);
  cr_assert_eq(info, 0, "dsyev");
  free(work);
  free(a);
}

/* Lanczos only: no dense fallback, restarts enough for the hard end */
static const GradcSpectrumOpts lanczos_only = {.dense_max = -1, .maxiter = 100000, .probes = -1,
                                               .seed = 7};

/* 0.5 x' A x with A an input, x a param: its Hessian is A. */
static Gradc *quadratic(const double *A, int n, double xval) {
  Gradc *g = compile_ok("input A[N, N]\nparam x[N]\noutput L = 0.5 * sum(x * (A @ x))\n"
                        "output v = x * 2\n");
  long da[2] = {n, n}, dx[1] = {n};
  double *x = malloc((size_t)n * sizeof *x);
  for (int i = 0; i < n; i++)
    x[i] = xval * (i % 7 - 3);
  cr_assert_eq(gradc_set_value(g, 0, A, da, 2), GRADC_OK, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_set_value(g, 1, x, dx, 1), GRADC_OK, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_set_defaults(g, 1, 0), GRADC_OK, "%s", gradc_diag_render(g));
  free(x);
  return g;
}

/* The spectrum gradc_spectrum finds for output 0 of g, whose Hessian has
 * the eigenvalues w (ascending) and trace tr: the k extreme eigenvalues to
 * 1e-8 relative (with a floor of 1e-13 max|lambda| for a zero eigenvalue),
 * the kind, the trace within three standard errors (and rounding). */
static void check_spectrum(Gradc *g, const double *w, int n, double tr, const GradcSpectrumOpts *o,
                           GradcPointKind kind, int want_dense) {
  GradcSpectrum s;
  cr_assert_eq(gradc_spectrum(g, 0, NULL, 0, o, &s), GRADC_OK, "%s", gradc_diag_render(g));
  double big = fabs(w[n - 1]) > fabs(w[0]) ? fabs(w[n - 1]) : fabs(w[0]);
  cr_assert_eq(s.n, n);
  cr_assert_eq(s.dense, want_dense, "dense %d, want %d (%ld HVPs)", s.dense, want_dense, s.hvps);
  int k = o && o->k ? o->k : 3;
  cr_assert_eq(s.k, k);
  for (int i = 0; i < k; i++) {
    double hi = w[n - 1 - i], lo = w[i];
    cr_assert_leq(fabs(s.largest[i] - hi), 1e-8 * fabs(hi) + 1e-13 * big,
                  "largest[%d] = %.17g, want %.17g", i, s.largest[i], hi);
    cr_assert_leq(fabs(s.smallest[i] - lo), 1e-8 * fabs(lo) + 1e-13 * big,
                  "smallest[%d] = %.17g, want %.17g", i, s.smallest[i], lo);
  }
  cr_assert_eq(s.kind, kind, "kind %s", gradc_point_kind_name(s.kind));
  cr_assert(s.has_trace);
  /* rounding: each z'Hz sums n^2 terms of size max|lambda| */
  cr_assert_leq(fabs(s.trace - tr), 3 * s.trace_stderr + 1e-12 * big * n,
                "trace %.17g +- %.3g, exact %.17g (%ld probes)", s.trace, s.trace_stderr, tr,
                s.probes);
  if (!want_dense)
    cr_assert_eq(s.probes, o && o->probes > 0 ? o->probes : 100);
  gradc_spectrum_free(&s);
}

/* The same for 0.5 x' A x, against LAPACK's dsyev on A. */
static void check_against_dsyev(const double *A, int n, const GradcSpectrumOpts *o,
                                GradcPointKind kind, int want_dense) {
  Gradc *g = quadratic(A, n, 0.1);
  double *w = malloc((size_t)n * sizeof *w), tr = 0;
  eigenvalues(A, n, w);
  for (int i = 0; i < n; i++)
    tr += A[(size_t)i * n + i];
  check_spectrum(g, w, n, tr, o, kind, want_dense);
  free(w);
  gradc_free(g);
}

Test(spectrum, spread_diagonal_by_lanczos, .timeout = 120) {
  int n = 500;
  double *d = malloc((size_t)n * sizeof *d), *w = malloc((size_t)n * sizeof *w), tr = 0;
  for (int i = 0; i < n; i++) { /* 1 .. 1e4, log-spaced, in a shuffled order */
    w[i] = pow(10, 4.0 * i / (n - 1));
    d[(i * 7) % n] = w[i];
    tr += w[i];
  }
  Gradc *g = compile_ok("input d[N]\nparam x[N]\noutput L = 0.5 * sum(d * x^2) + sum(x)\n");
  long dn[1] = {n};
  cr_assert_eq(gradc_set_value(g, 0, d, dn, 1), GRADC_OK);
  for (int i = 0; i < n; i++)
    d[i] = i % 3;
  cr_assert_eq(gradc_set_value(g, 1, d, dn, 1), GRADC_OK);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  check_spectrum(g, w, n, tr, &lanczos_only, GRADC_POINT_MINIMUM, 0);
  /* by default: Lanczos gives up after n products, the dense solve finishes */
  GradcSpectrumOpts def = {.probes = -1};
  check_spectrum(g, w, n, tr, &def, GRADC_POINT_MINIMUM, 1);
  gradc_free(g);
  free(d);
  free(w);
  ASSERT_NO_LEAKS();
}

Test(spectrum, random_dense_spd_by_lanczos, .timeout = 120) {
  int n = 200;
  double *B = malloc((size_t)n * n * sizeof *B), *A = calloc((size_t)n * n, sizeof *A);
  for (int i = 0; i < n * n; i++)
    B[i] = 2 * urand() - 1;
  for (int i = 0; i < n; i++) /* A = B'B / n + 0.1 I */
    for (int j = 0; j < n; j++) {
      double a = 0;
      for (int r = 0; r < n; r++)
        a += B[(size_t)r * n + i] * B[(size_t)r * n + j];
      A[(size_t)i * n + j] = a / n + (i == j ? 0.1 : 0);
    }
  check_against_dsyev(A, n, &lanczos_only, GRADC_POINT_MINIMUM, 0);
  GradcSpectrumOpts k5 = lanczos_only;
  k5.k = 5;
  k5.probes = 400;
  check_against_dsyev(A, n, &k5, GRADC_POINT_MINIMUM, 0);
  /* -A: a maximum */
  for (int i = 0; i < n * n; i++)
    A[i] = -A[i];
  check_against_dsyev(A, n, &lanczos_only, GRADC_POINT_MAXIMUM, 0);
  free(A);
  free(B);
  ASSERT_NO_LEAKS();
}

Test(spectrum, indefinite_by_lanczos, .timeout = 120) {
  int n = 300;
  double *A = malloc((size_t)n * n * sizeof *A);
  for (int i = 0; i < n; i++) /* a symmetric random matrix: semicircle, both signs */
    for (int j = 0; j <= i; j++)
      A[(size_t)i * n + j] = A[(size_t)j * n + i] = (2 * urand() - 1) / sqrt(n);
  check_against_dsyev(A, n, &lanczos_only, GRADC_POINT_SADDLE, 0);
  free(A);
  ASSERT_NO_LEAKS();
}

/* One exactly zero eigenvalue of a positive semidefinite A: degenerate. */
Test(spectrum, semidefinite_is_degenerate, .timeout = 120) {
  int n = 100;
  double *A = calloc((size_t)n * n, sizeof *A);
  for (int i = 0; i < n; i++)
    A[(size_t)i * n + i] = i == 37 ? 0 : 1 + i;
  check_against_dsyev(A, n, &lanczos_only, GRADC_POINT_DEGENERATE, 0);
  free(A);
  ASSERT_NO_LEAKS();
}

Test(spectrum, small_n_is_solved_dense) {
  Gradc *g = compile_ok("param x = 0.5, y = -1\noutput L = x^2 - y^2 + 3*x*y\n");
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  GradcSpectrum s;
  cr_assert_eq(gradc_spectrum(g, 0, NULL, 0, NULL, &s), GRADC_OK, "%s", gradc_diag_render(g));
  /* H = [[2, 3], [3, -2]]: eigenvalues +-sqrt(13) */
  cr_assert_eq(s.k, 2);
  cr_assert(s.dense);
  cr_assert_eq(s.hvps, 2);
  cr_assert_leq(fabs(s.largest[0] - sqrt(13)), 1e-14);
  cr_assert_leq(fabs(s.smallest[0] + sqrt(13)), 1e-14);
  cr_assert_leq(fabs(s.largest[1] + sqrt(13)), 1e-14);
  cr_assert_eq(s.kind, GRADC_POINT_SADDLE);
  cr_assert_eq(s.trace, 0);
  cr_assert_eq(s.probes, 0);
  /* gradient (2x + 3y, -2y + 3x) = (-2, 3.5) */
  cr_assert_leq(fabs(s.gradient_norm - sqrt(4 + 12.25)), 1e-14);
  cr_assert_eq(s.value, 0.25 - 1 - 1.5);
  gradc_spectrum_free(&s);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* A linear function of 100 params: H = 0, found by the first Lanczos run. */
Test(spectrum, zero_hessian_is_degenerate) {
  Gradc *g = compile_ok("param x[100] = randn(1)\noutput L = sum(x) * 3\n");
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  GradcSpectrum s;
  cr_assert_eq(gradc_spectrum(g, 0, NULL, 0, NULL, &s), GRADC_OK, "%s", gradc_diag_render(g));
  cr_assert_eq(s.dense, 0);
  for (int i = 0; i < 3; i++)
    cr_assert(s.largest[i] == 0 && s.smallest[i] == 0);
  cr_assert_eq(s.kind, GRADC_POINT_DEGENERATE);
  cr_assert_eq(s.tolerance, 0);
  cr_assert_eq(s.trace, 0);
  cr_assert_leq(fabs(s.gradient_norm - 30), 1e-12);
  gradc_spectrum_free(&s);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(spectrum, largest_only) {
  int n = 200;
  double *A = calloc((size_t)n * n, sizeof *A), w[200];
  for (int i = 0; i < n; i++)
    A[(size_t)i * n + i] = sin(i + 1.0) * (1 + i % 13);
  eigenvalues(A, n, w);
  Gradc *g = quadratic(A, n, 1);
  GradcSpectrumOpts o = {.largest_only = 1, .k = 2, .tol = 1e-9, .dense_max = -1};
  GradcSpectrum s;
  cr_assert_eq(gradc_spectrum(g, 0, NULL, 0, &o, &s), GRADC_OK, "%s", gradc_diag_render(g));
  cr_assert_null(s.smallest);
  cr_assert_eq(s.kind, GRADC_POINT_UNKNOWN);
  cr_assert_eq(s.has_trace, 0, "probes = 0: no trace");
  for (int i = 0; i < 2; i++)
    cr_assert_leq(fabs(s.largest[i] - w[n - 1 - i]), 1e-9 * fabs(w[n - 1 - i]), "%.17g %.17g",
                  s.largest[i], w[n - 1 - i]);
  gradc_spectrum_free(&s);
  gradc_free(g);
  free(A);
  ASSERT_NO_LEAKS();
}

/* The top eigenvalue alone, well separated: plain Lanczos tested after
 * every product finds it in fewer products than one ARPACK cycle (20). */
Test(spectrum, top_eigenvalue_by_lanczos_steps) {
  int n = 300;
  double *d = malloc((size_t)n * sizeof *d);
  for (int i = 0; i < n; i++)
    d[i] = i == 123 ? 50 : 1 + (i * 37 % 101) / 10.0;
  Gradc *g = compile_ok("input d[N]\nparam x[N] = ones\noutput L = 0.5 * sum(d * x^2)\n");
  long dn[1] = {n};
  cr_assert_eq(gradc_set_value(g, 0, d, dn, 1), GRADC_OK);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  GradcSpectrumOpts o = {.largest_only = 1, .k = 1, .tol = 1e-10, .dense_max = -1};
  GradcSpectrum s;
  cr_assert_eq(gradc_spectrum(g, 0, NULL, 0, &o, &s), GRADC_OK, "%s", gradc_diag_render(g));
  cr_assert_leq(fabs(s.largest[0] - 50), 1e-9 * 50, "%.17g", s.largest[0]);
  cr_assert_lt(s.hvps, 20, "%ld products", s.hvps);
  gradc_spectrum_free(&s);
  gradc_free(g);
  free(d);
  ASSERT_NO_LEAKS();
}

Test(spectrum, errors) {
  Gradc *g = compile_ok("param x = 1, y = 2\ninput z = 3\noutput L = x^2 * y\noutput v = [x, y]\n"
                        "output s = sqrt(x - 4)\n");
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  GradcSpectrum s;
  cr_assert_eq(gradc_spectrum(g, 1, NULL, 0, NULL, &s), GRADC_ERR_USAGE);
  cr_assert_geq(find_diag(g, "needs a scalar output"), 0, "%s", gradc_diag_render(g));
  GradcSpectrumOpts o = {.k = 3};
  cr_assert_eq(gradc_spectrum(g, 0, NULL, 0, &o, &s), GRADC_ERR_USAGE);
  cr_assert_geq(find_diag(g, "k = 3 is more than the 2 eigenvalues"), 0, "%s",
                gradc_diag_render(g));
  cr_assert_null(s.largest);
  int wrt_z[1] = {2};
  cr_assert_eq(gradc_spectrum(g, 0, wrt_z, 1, NULL, &s), GRADC_OK, "an input may be wrt");
  cr_assert(s.n == 1 && s.largest[0] == 0 && s.kind == GRADC_POINT_DEGENERATE);
  gradc_spectrum_free(&s);
  cr_assert_eq(gradc_spectrum(g, 2, NULL, 0, NULL, &s), GRADC_ERR_INPUT, "sqrt(-3)");
  cr_assert_geq(find_diag(g, "s is not finite at this point"), 0, "%s", gradc_diag_render(g));
  gradc_free(g);
  g = compile_ok("input x = 1\noutput L = x^2\n");
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  cr_assert_eq(gradc_spectrum(g, 0, NULL, 0, NULL, &s), GRADC_ERR_USAGE, "no params");
  cr_assert_geq(find_diag(g, "at least one variable"), 0, "%s", gradc_diag_render(g));
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* gradc_fn_hvp_only computes the H v of gradc_fn_hvp, bit for bit. */
Test(spectrum, hvp_only_matches_hvp) {
  Gradc *g = compile_ok("input X[4, 2]\nparam W[3, 2] = randn(1), b[3] = randn(1)\n"
                        "output L = sum(tanh(X @ W' + b)^2) + sum(W^3)\n");
  double x[8] = {1, -2, 0.5, 3, -1, 1, 2, 0.25};
  long dx[2] = {4, 2};
  cr_assert_eq(gradc_set_value(g, 0, x, dx, 2), GRADC_OK);
  cr_assert_eq(gradc_set_defaults(g, 3, 0), GRADC_OK, "%s", gradc_diag_render(g));
  GradcFn *full = gradc_fn_hvp(g, 0, NULL, 0), *only = gradc_fn_hvp_only(g, 0, NULL, 0);
  cr_assert(full && only, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_fn_res_count(only), 3); /* the value, then H v */
  cr_assert_str_eq(gradc_fn_res_name(only, 1), "d2L/dW.v");
  double vw[6] = {0.3, -1, 2, 0.5, 0.125, -0.75}, vb[3] = {1, 2, -3};
  const double *tan[2] = {vw, vb};
  cr_assert_eq(gradc_run(full, tan), GRADC_OK);
  cr_assert_eq(gradc_run(only, tan), GRADC_OK);
  cr_assert(!memcmp(gradc_fn_res_data(full, 0), gradc_fn_res_data(only, 0), sizeof(double)));
  cr_assert(!memcmp(gradc_fn_res_data(full, 3), gradc_fn_res_data(only, 1), sizeof vw));
  cr_assert(!memcmp(gradc_fn_res_data(full, 4), gradc_fn_res_data(only, 2), sizeof vb));
  cr_assert_null(gradc_fn_hvp_only(g, 1, NULL, 0), "no output 1");
  gradc_free(g);
  ASSERT_NO_LEAKS();
}
