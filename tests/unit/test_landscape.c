/* test_landscape.c: gradc_direction_random and gradc_landscape
 * (landscape.c). The directions against Li et al.'s filter normalisation
 * computed here from the params; the values against gradc_run at the same
 * params, rebuilt here, bit for bit. */
#include <stdint.h>

#include "test_util.h"

static double row_norm(const double *x, long n) {
  double s = 0;
  for (long i = 0; i < n; i++)
    s += x[i] * x[i];
  return sqrt(s);
}

static uint64_t bits(double x) {
  uint64_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

/* W[3, 4], b[3], V[2, 3], s: one array per param, declaration order */
static const char *net = "param W[3, 4] = randn(1), b[3] = randn(1)\n"
                         "param V[2, 3] = randn(2), s = 0.5\n"
                         "input x[4] = [1, -2, 0.5, 3]\n"
                         "output L = sum(tanh(V @ tanh(W @ x + b))^2) * s\n"
                         "output h = tanh(W @ x + b)\n";

static void alloc(double *d[4]) {
  static const long n[4] = {12, 3, 6, 1};
  for (int k = 0; k < 4; k++)
    cr_assert_not_null(d[k] = calloc((size_t)n[k], sizeof(double)));
}

static void release(double *d[4]) {
  for (int k = 0; k < 4; k++)
    free(d[k]);
}

Test(landscape, filter_rows_take_the_norms_of_the_params_rows_and_biases_stay) {
  Gradc *g = compile_ok(net);
  cr_assert_eq(gradc_set_defaults(g, 3, 0), GRADC_OK);
  double *d[4];
  alloc(d);
  GradcDirectionKind kind = GRADC_DIRECTION_UNIT;
  cr_assert_eq(gradc_direction_random(g, 11, 0, NULL, d, &kind), GRADC_OK, "%s", gradc_diag_render(g));
  cr_assert_eq(kind, GRADC_DIRECTION_FILTER);
  const double *W = gradc_get_value(g, gradc_var_index(g, "W"), NULL, NULL);
  const double *V = gradc_get_value(g, gradc_var_index(g, "V"), NULL, NULL);
  for (int r = 0; r < 3; r++) {
    double want = row_norm(W + 4 * r, 4), got = row_norm(d[0] + 4 * r, 4);
    cr_assert(fabs(got - want) <= 1e-14 * want, "row %d of W: %.17g, want %.17g", r, got, want);
  }
  for (int r = 0; r < 2; r++) {
    double want = row_norm(V + 3 * r, 3), got = row_norm(d[2] + 3 * r, 3);
    cr_assert(fabs(got - want) <= 1e-14 * want, "row %d of V: %.17g, want %.17g", r, got, want);
  }
  for (int i = 0; i < 3; i++)
    cr_assert_eq(d[1][i], 0.0, "the bias b moves");
  cr_assert_eq(d[3][0], 0.0, "the scalar s moves");
  /* not the params themselves: the direction inside each row is random */
  double cosine = 0;
  for (int i = 0; i < 4; i++)
    cosine += d[0][i] * W[i];
  cosine /= row_norm(d[0], 4) * row_norm(W, 4);
  cr_assert(fabs(cosine) < 0.999999, "row 0 of the direction is parallel to W's");
  release(d);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(landscape, a_seed_and_index_give_one_direction_and_others_differ) {
  Gradc *g = compile_ok(net);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  double *a[4], *b[4], *c[4], *e[4];
  alloc(a);
  alloc(b);
  alloc(c);
  alloc(e);
  cr_assert_eq(gradc_direction_random(g, 5, 0, NULL, a, NULL), GRADC_OK);
  cr_assert_eq(gradc_direction_random(g, 5, 0, NULL, b, NULL), GRADC_OK);
  cr_assert_eq(gradc_direction_random(g, 5, 1, NULL, c, NULL), GRADC_OK);
  cr_assert_eq(gradc_direction_random(g, 6, 0, NULL, e, NULL), GRADC_OK);
  int same_c = 1, same_e = 1;
  for (int i = 0; i < 12; i++) {
    cr_assert_eq(bits(a[0][i]), bits(b[0][i]), "seed 5, index 0 twice: element %d differs", i);
    same_c &= a[0][i] == c[0][i];
    same_e &= a[0][i] == e[0][i];
  }
  cr_assert(!same_c && !same_e, "another index or seed gives the same direction");
  release(a);
  release(b);
  release(c);
  release(e);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(landscape, without_matrices_directions_are_unit_and_orthogonal) {
  Gradc *g = compile_ok("param x[5] = [1, 2, 3, 4, 5], y = 2\noutput f = sum(x^2) * y\n");
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  double x1[5], y1, x2[5], y2, x3[5], y3;
  double *d1[2] = {x1, &y1}, *d2[2] = {x2, &y2}, *d3[2] = {x3, &y3};
  GradcDirectionKind kind = GRADC_DIRECTION_FILTER;
  cr_assert_eq(gradc_direction_random(g, 1, 0, NULL, d1, &kind), GRADC_OK);
  cr_assert_eq(kind, GRADC_DIRECTION_UNIT);
  cr_assert_eq(gradc_direction_random(g, 1, 1, (const double *const *)d1, d2, NULL), GRADC_OK);
  double n1 = y1 * y1, n2 = y2 * y2, dot = y1 * y2;
  for (int i = 0; i < 5; i++) {
    n1 += x1[i] * x1[i];
    n2 += x2[i] * x2[i];
    dot += x1[i] * x2[i];
  }
  cr_assert(fabs(n1 - 1) < 1e-14 && fabs(n2 - 1) < 1e-14, "norms %.17g and %.17g", sqrt(n1), sqrt(n2));
  cr_assert(fabs(dot) < 1e-15, "d1 . d2 = %g", dot);
  /* against a longer vector: orthogonal to it and as long */
  double ax[5] = {3, 0, 0, 0, 0}, ay = 4;
  const double *against[2] = {ax, &ay};
  cr_assert_eq(gradc_direction_random(g, 1, 1, against, d3, NULL), GRADC_OK);
  double n3 = y3 * y3, dot3 = 4 * y3 + 3 * x3[0];
  for (int i = 0; i < 5; i++)
    n3 += x3[i] * x3[i];
  cr_assert(fabs(sqrt(n3) - 5) < 1e-13 && fabs(dot3) < 1e-13, "length %.17g, dot %g", sqrt(n3), dot3);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(landscape, zero_weight_matrices_give_no_direction) {
  Gradc *g = compile_ok("param W[2, 2] = zeros, b[2] = ones\noutput f = sum((W @ b)^2 + b)\n");
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  double w[4], b[2];
  double *d[2] = {w, b};
  cr_assert_eq(gradc_direction_random(g, 0, 0, NULL, d, NULL), GRADC_ERR_INPUT);
  cr_assert(strstr(gradc_diag_render(g), "direction is zero"), "%s", gradc_diag_render(g));
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* p = c + a d1 + b d2 (or (1 - a) c + a e + b d2) set on the context, then
 * gradc_run: the value must be the landscape's to the last bit. */
Test(landscape, values_are_the_bits_of_gradc_run_at_the_same_params) {
  Gradc *g = compile_ok(net);
  cr_assert_eq(gradc_set_defaults(g, 2, 0), GRADC_OK);
  static const long n[4] = {12, 3, 6, 1};
  static const char *names[4] = {"W", "b", "V", "s"};
  double *c[4], *d1[4], *d2[4], *e[4];
  alloc(d1);
  alloc(d2);
  alloc(e);
  for (int k = 0; k < 4; k++) {
    const double *v = gradc_get_value(g, gradc_var_index(g, names[k]), NULL, NULL);
    cr_assert_not_null(c[k] = malloc((size_t)n[k] * sizeof(double)));
    memcpy(c[k], v, (size_t)n[k] * sizeof(double));
    for (long i = 0; i < n[k]; i++)
      e[k][i] = c[k][i] * 0.5 - 0.25; /* another point in param space */
  }
  cr_assert_eq(gradc_direction_random(g, 9, 0, NULL, d1, NULL), GRADC_OK);
  cr_assert_eq(gradc_direction_random(g, 9, 1, NULL, d2, NULL), GRADC_OK);
  const double alpha[3] = {-0.75, 0.1, 1.3}, beta[2] = {-0.3, 0.9};
  double plane[6], line[3];
  const double *const *D1 = (const double *const *)d1, *const *D2 = (const double *const *)d2;
  const double *const *E = (const double *const *)e;
  cr_assert_eq(gradc_landscape(g, 0, D1, NULL, D2, alpha, 3, beta, 2, plane, NULL, NULL), GRADC_OK, "%s",
               gradc_diag_render(g));
  cr_assert_eq(gradc_landscape(g, 0, NULL, E, NULL, alpha, 3, NULL, 0, line, NULL, NULL), GRADC_OK);
  GradcFn *f = gradc_fn_value(g);
  cr_assert_not_null(f);
  for (int path = 0; path < 2; path++)
    for (int j = 0; j < (path ? 1 : 2); j++)
      for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 4; k++) {
          double *p = gradc_get_value(g, gradc_var_index(g, names[k]), NULL, NULL);
          for (long t = 0; t < n[k]; t++) {
            volatile double x = path ? (1 - alpha[i]) * c[k][t] + alpha[i] * e[k][t] : c[k][t] + alpha[i] * d1[k][t];
            if (!path)
              x = x + beta[j] * d2[k][t];
            p[t] = x;
          }
        }
        cr_assert_eq(gradc_run(f, NULL), GRADC_OK);
        double want = gradc_fn_res_data(f, 0)[0], got = path ? line[i] : plane[j * 3 + i];
        cr_assert_eq(bits(got), bits(want), "%s point (%d, %d): %.17g, gradc_run %.17g", path ? "line" : "plane", i,
                     j, got, want);
      }
  /* the context's params are back where they were after the landscape */
  for (int k = 0; k < 4; k++) {
    double *p = gradc_get_value(g, gradc_var_index(g, names[k]), NULL, NULL);
    memcpy(p, c[k], (size_t)n[k] * sizeof(double));
  }
  double again;
  const double zero = 0;
  cr_assert_eq(gradc_landscape(g, 0, D1, NULL, NULL, &zero, 1, NULL, 0, &again, NULL, NULL), GRADC_OK);
  cr_assert_eq(gradc_run(f, NULL), GRADC_OK);
  cr_assert_eq(bits(again), bits(gradc_fn_res_data(f, 0)[0]), "the value at the centre");
  /* a tensor output is refused */
  cr_assert_eq(gradc_landscape(g, 1, D1, NULL, NULL, &zero, 1, NULL, 0, &again, NULL, NULL), GRADC_ERR_USAGE);
  for (int k = 0; k < 4; k++)
    free(c[k]);
  release(d1);
  release(d2);
  release(e);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}
