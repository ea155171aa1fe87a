/* test_sparsity.c: sparsity patterns, colourings and compressed
 * derivatives (sparsity.c, colouring.cpp, sparse.c). Patterns of random
 * programs must hold every nonzero of the dense Jacobian and Hessian
 * (computed one column at a time); known structures give exact patterns;
 * compressed values equal the dense ones; ColPack's colourings have the
 * properties that direct recovery needs. */
#include "test_util.h"

#include "colouring.h"

static unsigned long long rng = 88172645463325252ull;
static double urand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) * 0x1.0p-53;
}
static int irand(int n) { return (int)(urand() * n); }

static long var_size(Gradc *g, int v) {
  long dims[4], n = 1;
  int rank = gradc_var_shape(g, v, dims);
  for (int k = 0; k < rank; k++)
    n *= dims[k] < 0 ? gradc_dim_value(g, (int)~dims[k]) : dims[k];
  return n;
}

static long out_size(Gradc *g, int o) {
  long dims[4], n = 1;
  int rank = gradc_output_shape(g, o, dims);
  for (int k = 0; k < rank; k++)
    n *= dims[k] < 0 ? gradc_dim_value(g, (int)~dims[k]) : dims[k];
  return n;
}

/* Every variable gets values in [lo, hi]; a variable named c gets some
 * exact zeros (zeros of data count with GRADC_SPARSE_AT_VALUES). */
static void set_random(Gradc *g, double lo, double hi) {
  for (int v = 0; v < gradc_var_count(g); v++) {
    long dims[4];
    int rank = gradc_var_shape(g, v, dims);
    long n = 1;
    for (int k = 0; k < rank; k++)
      n *= dims[k];
    double *x = malloc((size_t)n * sizeof *x);
    for (long e = 0; e < n; e++)
      x[e] = !strcmp(gradc_var_name(g, v), "c") && urand() < 0.4 ? 0.0 : lo + (hi - lo) * urand();
    cr_assert_eq(gradc_set_value(g, v, x, dims, rank), GRADC_OK, "%s", gradc_diag_render(g));
    free(x);
  }
  cr_assert_eq(gradc_set_defaults(g, 1, 0), GRADC_OK, "%s", gradc_diag_render(g));
}

static int *params(Gradc *g, int *n) {
  int *w = malloc(((size_t)gradc_var_count(g) + 1) * sizeof *w);
  *n = 0;
  for (int v = 0; v < gradc_var_count(g); v++)
    if (gradc_var_is_param(g, v))
      w[(*n)++] = v;
  return w;
}

/* The dense Jacobian of every output w.r.t. the params, one JVP per
 * column: J[i * ncol + j], rows the outputs' elements stacked. */
static double *dense_jacobian(Gradc *g, long *nrow, long *ncol) {
  int np;
  int *w = params(g, &np);
  GradcFn *f = gradc_fn_jvp(g, w, np);
  cr_assert_not_null(f, "%s", gradc_diag_render(g));
  int no = gradc_output_count(g);
  *nrow = *ncol = 0;
  for (int o = 0; o < no; o++)
    *nrow += out_size(g, o);
  long *off = calloc((size_t)np + 1, sizeof *off);
  for (int k = 0; k < np; k++)
    off[k + 1] = off[k] + var_size(g, w[k]);
  *ncol = off[np];
  double *seed = calloc((size_t)*ncol + 1, sizeof *seed);
  const double **tan = calloc((size_t)np + 1, sizeof *tan);
  for (int k = 0; k < np; k++)
    tan[k] = seed + off[k];
  double *J = calloc((size_t)(*nrow * *ncol) + 1, sizeof *J);
  for (long j = 0; j < *ncol; j++) {
    seed[j] = 1;
    cr_assert_eq(gradc_run(f, tan), GRADC_OK, "%s", gradc_diag_render(g));
    seed[j] = 0;
    for (int o = 0, r = 0; o < no; o++) {
      const double *t = gradc_fn_res_data(f, no + o);
      for (long e = 0; e < out_size(g, o); e++, r++)
        J[r * *ncol + j] = t[e];
    }
  }
  free(off);
  free(seed);
  free(tan);
  free(w);
  return J;
}

/* The dense Hessian of output `out` w.r.t. the params. */
static double *dense_hessian(Gradc *g, int out, long *n) {
  int np;
  int *w = params(g, &np);
  GradcFn *f = gradc_fn_hessian(g, out, w, np);
  cr_assert_not_null(f, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_run(f, NULL), GRADC_OK, "%s", gradc_diag_render(g));
  *n = 0;
  for (int k = 0; k < np; k++)
    *n += var_size(g, w[k]);
  double *H = calloc((size_t)(*n * *n) + 1, sizeof *H);
  for (long r = 0, res = 1; r < *n; r++)
    for (int k = 0, c = 0; k < np; c += (int)var_size(g, w[k]), k++, res++)
      memcpy(H + r * *n + c, gradc_fn_res_data(f, (int)res), (size_t)var_size(g, w[k]) * sizeof *H);
  free(w);
  return H;
}

static long position(const GradcSparse *s, long i, long j) {
  for (long q = s->rowptr[i]; q < s->rowptr[i + 1]; q++)
    if (s->col[q] == j)
      return q;
  return -1;
}

static int near(double a, double b) {
  if (isnan(a) || isnan(b))
    return isnan(a) && isnan(b);
  return fabs(a - b) <= 1e-12 * fmax(1, fmax(fabs(a), fabs(b)));
}

/* The pattern holds every nonzero of the dense matrix M (nrow x ncol), its
 * rows are sorted, and the compressed values equal M's entries. */
static void check_sparse(const char *src, GradcSparse *s, const double *M, long nrow, long ncol) {
  cr_assert_eq(s->nrow, nrow, "%s", src);
  cr_assert_eq(s->ncol, ncol, "%s", src);
  cr_assert_eq(gradc_sparse_eval(s), GRADC_OK, "%s", src);
  for (long i = 0; i < nrow; i++) {
    for (long q = s->rowptr[i] + 1; q < s->rowptr[i + 1]; q++)
      cr_assert(s->col[q - 1] < s->col[q], "%s\nrow %ld is not sorted", src, i);
    for (long j = 0; j < ncol; j++) {
      double v = M[i * ncol + j];
      long q = position(s, i, j);
      if (v != 0)
        cr_assert(q >= 0, "%s\nthe pattern misses (%ld, %ld) = %g", src, i, j, v);
      if (q >= 0)
        cr_assert(near(s->value[q], v), "%s\nentry (%ld, %ld): sparse %.17g, dense %.17g", src, i, j,
                  s->value[q], v);
    }
  }
}

/* ---- random programs ------------------------------------------------------- */

typedef struct Gen {
  char buf[8192];
  size_t n;
} Gen;

static void gput(Gen *g, const char *s) {
  size_t k = strlen(s);
  cr_assert(g->n + k < sizeof g->buf);
  memcpy(g->buf + g->n, s, k + 1);
  g->n += k;
}

static void scalar(Gen *g, int depth);

/* A vector of 6 elements, built from the tensor operators. */
static void vec(Gen *g, int depth) {
  static const char *const leaves[] = {"x", "reshape(y, [6])", "(c * x)", "(B @ x)", "x[::-1]", "c"};
  if (depth <= 0) {
    gput(g, leaves[irand(6)]);
    return;
  }
  static const char *const forms[] = {
      "exp(0.3 * #)", "sin(#)", "tanh(#)", "log(1 + #^2)", "sqrt(1 + #^2)", "abs(#)", "relu(#)",
      "sigmoid(#)", "softplus(#)", "(# + #)", "(# - #)", "(# * #)", "(# / (2 + #^2))", "maximum(#, #)",
      "where(# > 0, #, #)", "#^2", "#^3", "concat([#[1:], #[:1]])", "#[::-1]", "cumsum(#)", "(B @ #)",
      "(# @ B)", "reshape(transpose(reshape(#, [2, 3])), [6])", "take(#, [5, 0, 1, 1, 2, 3])",
      "(# + $)", "($ * #)", "(c * #)", "concat([#[0:3], 0 * #[3:6]])", "softmax(#)", "(# * max(#))",
      "reshape(sum(reshape(#, [2, 3]), axis=1)[:, None] * reshape(#, [2, 3]), [6])",
      "concat([#[0::2], #[1::2]])", "stack([#[0], #[3], #[1], #[4], #[2], #[5]])", "where(c > 0, #, #)",
      "(L @ #)", "(transpose(L) @ #)", "(# @ L)", "(# @ transpose(L))",
      "reshape(reshape(#, [3, 2]) @ reshape(#, [2, 3]), [9])[1:7]",
      "reshape(transpose(reshape(#, [2, 3])) @ reshape(#, [2, 3]), [9])[0:6]",
  };
  const char *f = forms[irand((int)(sizeof forms / sizeof *forms))];
  for (const char *p = f; *p; p++) {
    if (*p == '#') { /* parenthesised: #[1:] and #^2 bind to all of it */
      gput(g, "(");
      vec(g, depth - 1 - irand(2));
      gput(g, ")");
    } else if (*p == '$')
      scalar(g, depth - 1);
    else {
      char c[2] = {*p, 0};
      gput(g, c);
    }
  }
}

static void scalar(Gen *g, int depth) {
  static const char *const forms[] = {"sum(#)", "prod(#[0:3])", "max(#)", "dot(#, #)", "#[2]",
                                      "logsumexp(#)", "mean(# * #)", "sum(#)^2"};
  const char *f = forms[irand((int)(sizeof forms / sizeof *forms))];
  for (const char *p = f; *p; p++) {
    if (*p == '#') {
      gput(g, "(");
      vec(g, depth - 1);
      gput(g, ")");
    } else {
      char c[2] = {*p, 0};
      gput(g, c);
    }
  }
}

Test(sparsity, random_programs_patterns_hold_every_nonzero, .timeout = 300) {
  int sparse_j = 0, sparse_h = 0, trials = 80;
  for (int trial = 0; trial < trials; trial++) {
    Gen gen = {.n = 0};
    gput(&gen, "param x[6]\nparam y[2, 3]\ninput c[6]\n"
              "B = abs(arange(6)[:, None] - arange(6)[None, :]) <= 1\n"
              "L = arange(6)[:, None] >= arange(6)[None, :]\noutput v = ");
    vec(&gen, 3);
    gput(&gen, "\noutput s = ");
    scalar(&gen, 4);
    gput(&gen, "\n");
    Gradc *g = compile_ok(gen.buf);
    set_random(g, -1, 1);
    long nrow, ncol, n;
    double *J = dense_jacobian(g, &nrow, &ncol);
    double *H = dense_hessian(g, 1, &n);
    for (int flags = 0; flags <= GRADC_SPARSE_AT_VALUES; flags++) {
      for (int dir = 0; dir < 3; dir++) {
        int f = flags | (dir == 1 ? GRADC_SPARSE_FORWARD : dir == 2 ? GRADC_SPARSE_REVERSE : 0);
        GradcSparse *s = gradc_sparse_jacobian(g, NULL, 0, NULL, 0, f);
        cr_assert_not_null(s, "%s\n%s", gen.buf, gradc_diag_render(g));
        check_sparse(gen.buf, s, J, nrow, ncol);
        sparse_j += flags == 0 && dir == 0 && s->nnz < nrow * ncol / 2;
        gradc_sparse_free(s);
      }
      GradcSparse *h = gradc_sparse_hessian(g, 1, NULL, 0, flags);
      cr_assert_not_null(h, "%s\n%s", gen.buf, gradc_diag_render(g));
      check_sparse(gen.buf, h, H, n, n);
      sparse_h += flags == 0 && h->nnz < n * n / 2;
      for (long i = 0; i < n; i++) /* symmetric */
        for (long q = h->rowptr[i]; q < h->rowptr[i + 1]; q++)
          cr_assert(position(h, h->col[q], i) >= 0, "%s\nnot symmetric at (%ld, %ld)", gen.buf, i, h->col[q]);
      gradc_sparse_free(h);
    }
    free(J);
    free(H);
    gradc_free(g);
  }
  /* not all dense: the test would pass a pattern of every entry */
  cr_assert_geq(sparse_j, trials / 4, "only %d of %d Jacobian patterns are under half full", sparse_j, trials);
  cr_assert_geq(sparse_h, trials / 4, "only %d of %d Hessian patterns are under half full", sparse_h, trials);
  ASSERT_NO_LEAKS();
}

/* ---- known structures: exact patterns ---------------------------------------- */

static Gradc *sized(const char *src, long n) {
  Gradc *g = compile_ok(src);
  cr_assert_eq(gradc_set_dim(g, 0, n), GRADC_OK);
  cr_assert_eq(gradc_set_defaults(g, 3, 0), GRADC_OK, "%s", gradc_diag_render(g));
  return g;
}

/* s has exactly the entries (i, j) for which want(i, j) holds. */
static void check_exact(const GradcSparse *s, int (*want)(long, long, long), long n) {
  long count = 0;
  for (long i = 0; i < s->nrow; i++)
    for (long j = 0; j < s->ncol; j++) {
      int in = position(s, i, j) >= 0;
      cr_assert_eq(in, want(i, j, n), "entry (%ld, %ld): %s the pattern", i, j, in ? "in" : "not in");
      count += in;
    }
  cr_assert_eq(count, s->nnz);
}

static int tridiagonal(long i, long j, long n) {
  (void)n;
  return labs(i - j) <= 1;
}

Test(sparsity, chained_rosenbrock_hessian_is_tridiagonal_with_three_colours) {
  Gradc *g = sized("param x[N] = -1.2\noutput f = sum(100*(x[1:] - x[:-1]^2)^2 + (1 - x[:-1])^2)\n", 50);
  GradcSparse *s = gradc_sparse_hessian(g, 0, NULL, 0, 0);
  cr_assert_not_null(s, "%s", gradc_diag_render(g));
  cr_assert_eq(s->nnz, 3 * 50 - 2);
  cr_assert_leq(s->ncolours, 3);
  check_exact(s, tridiagonal, 50);
  long n;
  double *H = dense_hessian(g, 0, &n);
  check_sparse("rosenbrock", s, H, n, n);
  free(H);
  gradc_sparse_free(s);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

static int broyden_band(long i, long j, long n) {
  (void)n;
  return j >= i - 5 && j <= i + 1;
}

Test(sparsity, broyden_banded_jacobian_reads_the_band_mask) {
  Gradc *g = sized("param x[N] = -1\nI = arange(N)[:, None]\nJ = arange(N)[None, :]\n"
                   "band = (J >= I - 5)*(J <= I + 1)*(J != I)\n"
                   "output r = x*(2 + 5*x^2) + 1 - band @ (x*(1 + x))\n",
                   30);
  GradcSparse *s = gradc_sparse_jacobian(g, NULL, 0, NULL, 0, 0);
  cr_assert_not_null(s, "%s", gradc_diag_render(g));
  check_exact(s, broyden_band, 30);
  cr_assert_eq(s->ncolours, 7, "a band of 7: 7 colours, got %d", s->ncolours);
  long nrow, ncol;
  double *J = dense_jacobian(g, &nrow, &ncol);
  check_sparse("broyden", s, J, nrow, ncol);
  free(J);
  gradc_sparse_free(s);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* GRADC_SPARSE_IF_FEW: a dense pattern is not coloured (ColPack takes
 * seconds on 1000 x 1000 and cannot beat dense sweeps); a band still is. */
Test(sparsity, if_few_skips_the_colouring_of_dense_patterns) {
  Gradc *g = sized("param x[N] = 0.5\ninput A[N, N] = ones\noutput r = tanh(A @ x) + x^2\n", 40);
  GradcSparse *s = gradc_sparse_jacobian(g, NULL, 0, NULL, 0, GRADC_SPARSE_IF_FEW);
  cr_assert_not_null(s, "%s", gradc_diag_render(g));
  cr_assert_eq(s->nnz, 40 * 40);
  cr_assert_eq(s->jvp_sweeps, -1);
  cr_assert_eq(s->vjp_sweeps, -1);
  cr_assert_geq(2 * s->ncolours, 40, "a lower bound above half the side: %d", s->ncolours);
  cr_assert_eq(gradc_sparse_eval(s), GRADC_ERR_USAGE);
  gradc_diag_clear(g);
  gradc_sparse_free(s);
  gradc_free(g);
  g = sized("param x[N] = -1\nI = arange(N)[:, None]\nJ = arange(N)[None, :]\n"
            "band = (J >= I - 5)*(J <= I + 1)*(J != I)\n"
            "output r = x*(2 + 5*x^2) + 1 - band @ (x*(1 + x))\n",
            30);
  s = gradc_sparse_jacobian(g, NULL, 0, NULL, 0, GRADC_SPARSE_IF_FEW);
  cr_assert_not_null(s, "%s", gradc_diag_render(g));
  cr_assert_eq(s->ncolours, 7, "the band is still coloured: %d", s->ncolours);
  cr_assert_eq(gradc_sparse_eval(s), GRADC_OK);
  gradc_sparse_free(s);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

static int blocks_of_3(long i, long j, long n) {
  (void)n;
  return i / 3 == j / 3;
}

Test(sparsity, block_diagonal_hessian) {
  Gradc *g = sized("param x[N] = 0.5\nX = reshape(x, [-1, 3])\noutput f = sum(sum(X, axis=1)^2) + sum(exp(x))\n", 12);
  GradcSparse *s = gradc_sparse_hessian(g, 0, NULL, 0, 0);
  cr_assert_not_null(s, "%s", gradc_diag_render(g));
  check_exact(s, blocks_of_3, 12);
  cr_assert_eq(s->ncolours, 3);
  long n;
  double *H = dense_hessian(g, 0, &n);
  check_sparse("blocks", s, H, n, n);
  free(H);
  gradc_sparse_free(s);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

static int arrow(long i, long j, long n) {
  (void)n;
  return i == 0 || j == 0 || i == j;
}

Test(sparsity, arrow_hessian) {
  Gradc *g = sized("param x[N] = 0.5\noutput f = x[0] * sum(x[1:]) + sum(x^3)\n", 9);
  GradcSparse *s = gradc_sparse_hessian(g, 0, NULL, 0, 0);
  cr_assert_not_null(s, "%s", gradc_diag_render(g));
  check_exact(s, arrow, 9);
  cr_assert_eq(s->nnz, 3 * 9 - 2);
  long n;
  double *H = dense_hessian(g, 0, &n);
  check_sparse("arrow", s, H, n, n);
  free(H);
  gradc_sparse_free(s);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

static int diagonal(long i, long j, long n) {
  (void)n;
  return i == j;
}

Test(sparsity, data_zeros_count_at_values_only) {
  /* the Jacobian of A @ x is A: its zeros are the data's, known at a point */
  Gradc *g = compile_ok("param x[4]\ninput A[4, 4]\noutput r = A @ x\n");
  double A[16] = {0}, x[4] = {1, 2, 3, 4};
  for (int i = 0; i < 4; i++)
    A[i * 5] = i + 1;
  long da[2] = {4, 4}, dx[1] = {4};
  cr_assert_eq(gradc_set_value(g, gradc_var_index(g, "A"), A, da, 2), GRADC_OK);
  cr_assert_eq(gradc_set_value(g, gradc_var_index(g, "x"), x, dx, 1), GRADC_OK);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  GradcSparse *at = gradc_sparse_jacobian(g, NULL, 0, NULL, 0, GRADC_SPARSE_AT_VALUES);
  GradcSparse *any = gradc_sparse_jacobian(g, NULL, 0, NULL, 0, 0);
  cr_assert(at && any, "%s", gradc_diag_render(g));
  check_exact(at, diagonal, 4);
  cr_assert_eq(any->nnz, 16, "any A: dense");
  cr_assert_eq(at->ncolours, 1);
  cr_assert_eq(gradc_sparse_eval(at), GRADC_OK);
  for (int i = 0; i < 4; i++)
    cr_assert_eq(at->value[i], i + 1);
  gradc_sparse_free(at);
  gradc_sparse_free(any);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(sparsity, gathers_and_known_conditions_are_exact) {
  Gradc *g = compile_ok("param x[4] = 1\noutput a = take(x, [2, 0, -1])\n"
                        "output b = where(arange(4) < 2, x, 0) + 0 * x\n"
                        "output c = sum(x * (x > 0))\n");
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  int outs[1] = {0};
  GradcSparse *a = gradc_sparse_jacobian(g, outs, 1, NULL, 0, 0);
  cr_assert_not_null(a, "%s", gradc_diag_render(g));
  cr_assert_eq(a->nnz, 3);
  cr_assert(position(a, 0, 2) >= 0 && position(a, 1, 0) >= 0 && position(a, 2, 3) >= 0);
  outs[0] = 1;
  GradcSparse *b = gradc_sparse_jacobian(g, outs, 1, NULL, 0, 0);
  cr_assert_not_null(b);
  cr_assert_eq(b->nnz, 2);
  cr_assert(position(b, 0, 0) >= 0 && position(b, 1, 1) >= 0);
  /* x * (x > 0) is piecewise linear: its Hessian is zero */
  GradcSparse *h = gradc_sparse_hessian(g, 2, NULL, 0, 0);
  cr_assert_not_null(h);
  cr_assert_eq(h->nnz, 0);
  cr_assert_eq(h->ncolours, 0);
  cr_assert_eq(gradc_sparse_eval(h), GRADC_OK);
  gradc_sparse_free(a);
  gradc_sparse_free(b);
  gradc_sparse_free(h);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- the target sizes --------------------------------------------------------- */

Test(sparsity, rosenbrock_1e5_sparse_hessian_agrees_with_hvps, .timeout = 120) {
  long n = 100000;
  Gradc *g = compile_ok("param x[N]\noutput f = sum(100*(x[1:] - x[:-1]^2)^2 + (1 - x[:-1])^2)\n");
  double *x = malloc((size_t)n * sizeof *x);
  for (long i = 0; i < n; i++)
    x[i] = 4 * urand() - 2;
  cr_assert_eq(gradc_set_value(g, 0, x, &n, 1), GRADC_OK);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  GradcSparse *s = gradc_sparse_hessian(g, 0, NULL, 0, GRADC_SPARSE_AT_VALUES);
  cr_assert_not_null(s, "%s", gradc_diag_render(g));
  cr_assert_eq(s->nnz, 3 * n - 2);
  cr_assert_leq(s->ncolours, 3);
  cr_assert_eq(gradc_sparse_eval(s), GRADC_OK, "%s", gradc_diag_render(g));
  GradcFn *hvp = gradc_fn_hvp(g, 0, NULL, 0);
  cr_assert_not_null(hvp);
  double *v = malloc((size_t)n * sizeof *v), *hv = malloc((size_t)n * sizeof *hv);
  for (int trial = 0; trial < 3; trial++) {
    for (long i = 0; i < n; i++)
      v[i] = 2 * urand() - 1;
    const double *tan[1] = {v};
    cr_assert_eq(gradc_run(hvp, tan), GRADC_OK);
    for (long i = 0; i < n; i++) { /* H v from the nonzeros */
      hv[i] = 0;
      for (long q = s->rowptr[i]; q < s->rowptr[i + 1]; q++)
        hv[i] += s->value[q] * v[s->col[q]];
    }
    const double *want = gradc_fn_res_data(hvp, 2);
    for (long i = 0; i < n; i++)
      cr_assert(fabs(hv[i] - want[i]) <= 1e-9 * fmax(1, fabs(want[i])), "(H v)[%ld]: sparse %.17g, HVP %.17g",
                i, hv[i], want[i]);
  }
  free(v);
  free(hv);
  free(x);
  gradc_sparse_free(s);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- errors ----------------------------------------------------------------------- */

Test(sparsity, bad_requests_get_diagnostics) {
  Gradc *g = compile_ok("param x[N] = 1\noutput v = x * 2\noutput f = sum(x)^2\n");
  /* no size for N */
  cr_assert_null(gradc_sparse_hessian(g, 1, NULL, 0, 0));
  cr_assert_geq(find_diag(g, "symbolic dimension"), 0, "%s", gradc_diag_render(g));
  gradc_diag_clear(g);
  cr_assert_eq(gradc_set_dim(g, 0, 0), GRADC_ERR_INPUT);
  gradc_diag_clear(g);
  cr_assert_eq(gradc_set_dim(g, 0, 20000), GRADC_OK);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  /* not a scalar output */
  cr_assert_null(gradc_sparse_hessian(g, 0, NULL, 0, 0));
  cr_assert_geq(find_diag(g, "scalar output"), 0, "%s", gradc_diag_render(g));
  gradc_diag_clear(g);
  /* a dense 20000 x 20000 Hessian: refused, not gigabytes */
  cr_assert_null(gradc_sparse_hessian(g, 1, NULL, 0, 0));
  cr_assert_geq(find_diag(g, "too dense"), 0, "%s", gradc_diag_render(g));
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- ColPack's colourings ----------------------------------------------------------- */

/* A random CSR pattern; symmetric with its diagonal if `sym`. */
static void random_pattern(long n, long m, double p, int sym, long **rowptr, long **col) {
  char *a = calloc((size_t)(n * m) + 1, 1);
  for (long i = 0; i < n; i++)
    for (long j = 0; j < m; j++)
      if (urand() < p || (sym && i == j))
        a[i * m + j] = a[sym ? j * m + i : i * m + j] = 1;
  *rowptr = calloc((size_t)n + 1, sizeof **rowptr);
  *col = malloc(((size_t)(n * m) + 1) * sizeof **col);
  long q = 0;
  for (long i = 0; i < n; i++) {
    for (long j = 0; j < m; j++)
      if (a[i * m + j])
        (*col)[q++] = j;
    (*rowptr)[i + 1] = q;
  }
  free(a);
}

Test(colouring, distance2_and_star_colourings_separate_what_recovery_needs) {
  for (int trial = 0; trial < 200; trial++) {
    long n = 1 + irand(40), m = 1 + irand(40);
    double p = urand() * 0.3;
    long *rp, *col;
    random_pattern(n, m, p, 0, &rp, &col);
    int *cc = malloc((size_t)m * sizeof *cc), *rc = malloc((size_t)n * sizeof *rc);
    int kc = colour_columns(n, m, rp, col, cc), kr = colour_rows(n, m, rp, col, rc);
    cr_assert(kc >= 0 && kr >= 0);
    for (long i = 0; i < n; i++) /* columns in one row: different colours */
      for (long a = rp[i]; a < rp[i + 1]; a++) {
        cr_assert(cc[col[a]] >= 0 && cc[col[a]] < kc && rc[i] >= 0 && rc[i] < kr);
        for (long b = a + 1; b < rp[i + 1]; b++)
          cr_assert_neq(cc[col[a]], cc[col[b]], "columns %ld and %ld share row %ld", col[a], col[b], i);
      }
    for (long i = 0; i < n; i++) /* rows with a common column: different colours */
      for (long k = i + 1; k < n; k++)
        for (long a = rp[i]; a < rp[i + 1]; a++)
          for (long b = rp[k]; b < rp[k + 1]; b++)
            if (col[a] == col[b])
              cr_assert_neq(rc[i], rc[k]);
    free(rp);
    free(col);
    free(cc);
    free(rc);
    /* star: distance-1, and every edge (i, j) has j alone in its colour
     * in row i, or i alone in its colour in row j */
    random_pattern(n, n, p, 1, &rp, &col);
    int *sc = malloc((size_t)n * sizeof *sc);
    int ks = colour_star(n, rp, col, sc);
    cr_assert(ks >= 0);
    for (long i = 0; i < n; i++)
      for (long a = rp[i]; a < rp[i + 1]; a++) {
        long j = col[a];
        if (j == i)
          continue;
        cr_assert_neq(sc[i], sc[j], "neighbours %ld and %ld share a colour", i, j);
        int alone_i = 1, alone_j = 1;
        for (long b = rp[i]; b < rp[i + 1]; b++)
          alone_i &= col[b] == j || sc[col[b]] != sc[j];
        for (long b = rp[j]; b < rp[j + 1]; b++)
          alone_j &= col[b] == i || sc[col[b]] != sc[i];
        cr_assert(alone_i || alone_j, "edge (%ld, %ld) cannot be recovered directly", i, j);
      }
    free(rp);
    free(col);
    free(sc);
  }
}
