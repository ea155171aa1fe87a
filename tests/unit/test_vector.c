/* test_vector.c: vector mode (src/vector.c) against one direction per
 * sweep. Every Jacobian is computed four ways: one JVP per column
 * (gradc_fn_jvp), one VJP per row (gradc_fn_vjp), K columns per call
 * (gradc_fn_jvp_vector) and K rows per call (gradc_fn_vjp_vector), and the
 * vector ones must equal the single ones bit for bit (NaN with NaN) where
 * the arithmetic is the same, which is everywhere in these programs but
 * OpenBLAS's products and whole sums over symbolic dimensions; there to
 * 1e-12 relative. Programs: random tensor expressions over every operator
 * with a tensor rule (matrix products of every shape, transposes, slices,
 * reductions, rank-4 intermediates that go one direction at a time) and
 * the examples with tensors (examples/, the Iris networks). K runs over 1,
 * divisors and non-divisors of the column count, and more than it. */
#include <stdarg.h>
#include <stdint.h>

#define TEST_UTIL_RANDOM
#include "test_util.h"

/* ---- Jacobians four ways --------------------------------------------------------------- */

typedef struct Jacs {
  Gradc *g;
  const int *wrt;   /* NULL: every param */
  int nwrt;
  int w[16];        /* the wrt variables */
  long wsize[16], osize[16];
  int no;
  long rows, cols;
  double *value;    /* every output, flattened */
} Jacs;

static long elements(const long *dims, int rank) {
  long n = 1;
  for (int i = 0; i < rank; i++)
    n *= dims[i];
  return n;
}

static void jacs_open(Jacs *J, Gradc *g, const int *wrt, int nwrt) {
  memset(J, 0, sizeof *J);
  J->g = g;
  J->wrt = wrt;
  if (wrt) {
    J->nwrt = nwrt;
    memcpy(J->w, wrt, (size_t)nwrt * sizeof *wrt);
  } else {
    for (int v = 0; v < gradc_var_count(g); v++)
      if (gradc_var_is_param(g, v))
        J->w[J->nwrt++] = v;
  }
  long dims[8];
  int rank;
  for (int k = 0; k < J->nwrt; k++) {
    cr_assert_not_null(gradc_get_value(g, J->w[k], dims, &rank));
    J->wsize[k] = elements(dims, rank);
    J->cols += J->wsize[k];
  }
  GradcFn *fv = gradc_fn_value(g);
  cr_assert_not_null(fv, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_run(fv, NULL), GRADC_OK, "%s", gradc_diag_render(g));
  J->no = gradc_output_count(g);
  for (int o = 0; o < J->no; o++) {
    J->osize[o] = elements(dims, gradc_fn_res_shape(fv, o, dims));
    J->rows += J->osize[o];
  }
  J->value = calloc((size_t)J->rows + 1, sizeof *J->value);
  for (int o = 0, r = 0; o < J->no; r += (int)J->osize[o++])
    memcpy(J->value + r, gradc_fn_res_data(fv, o), (size_t)J->osize[o] * sizeof(double));
}

static double *jac_new(const Jacs *J) {
  double *m = calloc((size_t)(J->rows * J->cols) + 1, sizeof *m);
  cr_assert_not_null(m);
  return m;
}

static void same_values(const Jacs *J, const double *v, long o, const char *what) {
  long r = 0;
  for (int k = 0; k < o; k++)
    r += J->osize[k];
  for (long i = 0; i < J->osize[o]; i++)
    cr_assert(memcmp(&v[i], &J->value[r + i], sizeof *v) == 0 || (v[i] != v[i] && J->value[r + i] != J->value[r + i]),
              "%s: value %ld of output %ld is %.17g, the value function's %.17g", what, i, o, v[i], J->value[r + i]);
}

/* One JVP per column. */
static double *single_forward(const Jacs *J) {
  double *m = jac_new(J), *tan[16];
  GradcFn *f = gradc_fn_jvp(J->g, J->wrt, J->nwrt);
  cr_assert_not_null(f, "%s", gradc_diag_render(J->g));
  for (int k = 0; k < J->nwrt; k++)
    tan[k] = calloc((size_t)J->wsize[k] + 1, sizeof(double));
  for (int k = 0, col = 0; k < J->nwrt; k++)
    for (long e = 0; e < J->wsize[k]; e++, col++) {
      tan[k][e] = 1;
      cr_assert_eq(gradc_run(f, (const double *const *)tan), GRADC_OK, "%s", gradc_diag_render(J->g));
      tan[k][e] = 0;
      for (int o = 0, r = 0; o < J->no; r += (int)J->osize[o++]) {
        const double *t = gradc_fn_res_data(f, J->no + o);
        for (long i = 0; i < J->osize[o]; i++)
          m[(r + i) * J->cols + col] = t[i];
      }
    }
  for (int k = 0; k < J->nwrt; k++)
    free(tan[k]);
  return m;
}

/* One VJP per row. */
static double *single_reverse(const Jacs *J) {
  double *m = jac_new(J);
  for (int o = 0, r = 0; o < J->no; r += (int)J->osize[o++]) {
    GradcFn *f = gradc_fn_vjp(J->g, o, J->wrt, J->nwrt);
    cr_assert_not_null(f, "%s", gradc_diag_render(J->g));
    double *ct = calloc((size_t)J->osize[o] + 1, sizeof *ct);
    for (long i = 0; i < J->osize[o]; i++) {
      ct[i] = 1;
      const double *args[1] = {ct};
      cr_assert_eq(gradc_run(f, args), GRADC_OK, "%s", gradc_diag_render(J->g));
      ct[i] = 0;
      for (int k = 0, col = 0; k < J->nwrt; col += (int)J->wsize[k++])
        memcpy(m + (r + i) * J->cols + col, gradc_fn_res_data(f, 1 + k), (size_t)J->wsize[k] * sizeof(double));
    }
    free(ct);
  }
  return m;
}

/* K columns per call; the spare directions of the last call carry
 * `spare` (their results are not used, whatever they are). */
static double *vector_forward(const Jacs *J, int K, double spare, const char *what) {
  double *m = jac_new(J), *tan[16];
  GradcFn *f = gradc_fn_jvp_vector(J->g, J->wrt, J->nwrt, K);
  cr_assert_not_null(f, "%s: %s", what, gradc_diag_render(J->g));
  cr_assert_eq(gradc_fn_arg_count(f), gradc_var_count(J->g) + J->nwrt);
  cr_assert_eq(gradc_fn_res_count(f), 2 * J->no);
  long dims[8];
  for (int o = 0; o < J->no; o++) { /* results: [K] + the output's shape */
    int rank = gradc_fn_res_shape(f, J->no + o, dims);
    cr_assert_geq(rank, 1);
    cr_assert_eq(dims[0], K);
    cr_assert_eq(elements(dims + 1, rank - 1), J->osize[o]);
  }
  for (int k = 0; k < J->nwrt; k++)
    tan[k] = calloc((size_t)(K * J->wsize[k]) + 1, sizeof(double));
  int var[64];
  long elem[64];
  cr_assert_leq(K, 64);
  int k0 = 0;
  long e0 = 0, col0 = 0;
  while (col0 < J->cols) {
    int nd = 0;
    for (; nd < K; nd++) {
      while (k0 < J->nwrt && e0 >= J->wsize[k0])
        k0++, e0 = 0;
      if (k0 == J->nwrt)
        break;
      var[nd] = k0;
      elem[nd] = e0++;
      tan[k0][nd * J->wsize[k0] + elem[nd]] = 1;
    }
    for (int d = nd; d < K; d++) /* spare directions: anything */
      for (int k = 0; k < J->nwrt; k++)
        for (long e = 0; e < J->wsize[k]; e++)
          tan[k][d * J->wsize[k] + e] = spare;
    cr_assert_eq(gradc_run(f, (const double *const *)tan), GRADC_OK, "%s: %s", what, gradc_diag_render(J->g));
    for (int o = 0; o < J->no; o++)
      same_values(J, gradc_fn_res_data(f, o), o, what);
    for (int d = 0; d < nd; d++) {
      tan[var[d]][d * J->wsize[var[d]] + elem[d]] = 0;
      for (int o = 0, r = 0; o < J->no; r += (int)J->osize[o++]) {
        const double *t = gradc_fn_res_data(f, J->no + o) + d * J->osize[o];
        for (long i = 0; i < J->osize[o]; i++)
          m[(r + i) * J->cols + col0 + d] = t[i];
      }
    }
    col0 += nd;
  }
  for (int k = 0; k < J->nwrt; k++)
    free(tan[k]);
  return m;
}

/* K rows per call. */
static double *vector_reverse(const Jacs *J, int K, const char *what) {
  double *m = jac_new(J);
  for (int o = 0, r = 0; o < J->no; r += (int)J->osize[o++]) {
    GradcFn *f = gradc_fn_vjp_vector(J->g, o, J->wrt, J->nwrt, K);
    cr_assert_not_null(f, "%s: %s", what, gradc_diag_render(J->g));
    cr_assert_eq(gradc_fn_res_count(f), 1 + J->nwrt);
    double *ct = calloc((size_t)(K * J->osize[o]) + 1, sizeof *ct);
    for (long r0 = 0; r0 < J->osize[o]; r0 += K) {
      int nd = J->osize[o] - r0 < K ? (int)(J->osize[o] - r0) : K;
      for (int d = 0; d < nd; d++)
        ct[d * J->osize[o] + r0 + d] = 1;
      const double *args[1] = {ct};
      cr_assert_eq(gradc_run(f, args), GRADC_OK, "%s: %s", what, gradc_diag_render(J->g));
      for (int d = 0; d < nd; d++)
        ct[d * J->osize[o] + r0 + d] = 0;
      same_values(J, gradc_fn_res_data(f, 0), o, what);
      for (int k = 0, col = 0; k < J->nwrt; col += (int)J->wsize[k++]) {
        long dims[8];
        int rank = gradc_fn_res_shape(f, 1 + k, dims);
        cr_assert_eq(dims[0], K);
        cr_assert_eq(elements(dims + 1, rank - 1), J->wsize[k]);
        const double *a = gradc_fn_res_data(f, 1 + k);
        for (int d = 0; d < nd; d++)
          memcpy(m + (r + r0 + d) * J->cols + col, a + d * J->wsize[k], (size_t)J->wsize[k] * sizeof *a);
      }
    }
    free(ct);
  }
  return m;
}

/* exact: the same bits (or both NaN); else within 1e-12 relative (an
 * absolute 1e-12 below 1). */
static void compare(const Jacs *J, const double *want, const double *got, int exact, const char *what,
                    const char *prog) {
  for (long i = 0; i < J->rows; i++)
    for (long j = 0; j < J->cols; j++) {
      double x = want[i * J->cols + j], y = got[i * J->cols + j];
      int ok;
      if (x != x || y != y)
        ok = x != x && y != y;
      else if (exact)
        ok = memcmp(&x, &y, sizeof x) == 0;
      else
        ok = x == y || fabs(x - y) <= 1e-12 * fmax(1, fmax(fabs(x), fabs(y)));
      cr_assert(ok, "%s: J[%ld][%ld] is %a (%.17g), one direction at a time %a (%.17g)\n--- program:\n%s", what,
                i, j, y, y, x, x, prog);
    }
}

/* The four Jacobians of g at its values, K running over ks. */
static void check_all(Gradc *g, const int *wrt, int nwrt, const int *ks, int nk, int exact, const char *prog) {
  Jacs J;
  jacs_open(&J, g, wrt, nwrt);
  double *fwd = single_forward(&J), *rev = single_reverse(&J);
  for (int i = 0; i < nk; i++) {
    char what[64];
    snprintf(what, sizeof what, "forward, K = %d", ks[i]);
    double *vf = vector_forward(&J, ks[i], i % 2 ? NAN : 1.0, what);
    compare(&J, fwd, vf, exact, what, prog);
    snprintf(what, sizeof what, "reverse, K = %d", ks[i]);
    double *vr = vector_reverse(&J, ks[i], what);
    compare(&J, rev, vr, exact, what, prog);
    free(vf);
    free(vr);
  }
  free(fwd);
  free(rev);
  free(J.value);
}

/* ---- random tensor programs -------------------------------------------------------------- */

/* next_u64, uniform, pick, Str and put: test_util.h */

/* Shapes: 0 scalar, 1 (3), 2 (2), 3 (3, 2), 4 (2, 3); the params c, a, h,
 * b, f have them. The symbolic program (`sym`) has n[N] and m[N, 2] as
 * shapes 1 and 3. */
enum { NSHAPE = 5 };
static const char leaf_of[NSHAPE] = {'c', 'a', 'h', 'b', 'f'};

static void gen(Str *b, int shape, int depth, int sym);

/* A template: '#k' is an operand of shape k. */
static void fill(Str *b, const char *tpl, int depth, int sym) {
  for (const char *p = tpl; *p; p++) {
    if (*p == '#') {
      put(b, "(");
      gen(b, p[1] - '0', depth - 1, sym);
      put(b, ")");
      p++;
    } else {
      put(b, "%c", *p);
    }
  }
}

/* The elementwise rules (ad_contrib) with the direction axis broadcast
 * against the primal partials, kinks included; '@' is the operand's
 * shape, '$' a shape it broadcasts from. */
static const char *const unary[] = {
    "sin(@)", "tanh(@)", "sigmoid(@)", "exp(@)/4", "log(2.5 + @)", "sqrt(2.5 + @)", "softplus(@)",
    "atan(@)", "-(@)", "(@)^2/2", "(@)^3/4", "2^(@/2)", "abs(@)", "relu(@)", "sign(@)", "erf(@)",
    "log1p(@*0.4)", "expm1(@/2)", "asin(@/9)", "cosh(@)/2", "clip(@, -0.5, 0.5)"};
static const char *const binary[] = {
    "@ + $", "@ - $", "@ * $", "@/(3 + $^2)", "pow(1.25 + @^2, $/2)", "atan2(@, 2.5 + $^2)", "max(@, $)",
    "min($, @)", "where(@ > $, @, $)", "logaddexp(@, $)", "$ * @ * @"};

static void gen_elementwise(Str *b, int shape, int depth, int sym) {
  int bin = pick(2);
  const char *tpl = bin ? binary[pick((int)(sizeof binary / sizeof *binary))]
                        : unary[pick((int)(sizeof unary / sizeof *unary))];
  /* the other operand: the same shape, a trailing part of it, or a scalar */
  int other = shape;
  if (pick(3) == 0) /* in the symbolic program shape 1 is (N): not a part of (2, 3) */
    other = shape == 3 ? (pick(2) ? 2 : 0) : shape == 4 && !sym ? (pick(2) ? 1 : 0) : 0;
  for (const char *p = tpl; *p; p++) {
    if (*p == '@' || *p == '$') {
      put(b, "(");
      gen(b, *p == '@' ? shape : other, depth - 1, sym);
      put(b, ")");
    } else {
      put(b, "%c", *p);
    }
  }
}

/* Tensor operators by the shape they make. */
static const char *const to_shape[NSHAPE][16] = {
    {"sum(#1)", "sum(#3)", "dot(#1, #1)", "#2 @ #2", "max(#1)", "prod(#2)", "logsumexp(#1)", "mean(#4)",
     "#1[1]", "#3[2, 1]", "sum(#3 * #4')", "min(#3)", "sum(cumsum(#4, axis=1))", "norm(#1 + 3)", NULL},
    {"#3 @ #2", "#4' @ #2", "#2 @ #4", "sum(#3, axis=1)", "cumsum(#1)", "softmax(#1)", "log_softmax(#1)",
     "[#0, #0, #0]", "#3[:, 0]", "max(#3, axis=1)", "prod(#3, axis=1)", "take(#1, [2, 0, 2])",
     "#1[::-1]", "reshape(#3, [6])[1:4]", "concat([#2, reshape(#0, [1])], axis=0)", NULL},
    {"#1 @ #3", "#3' @ #1", "sum(#3, axis=0)", "#1[1:]", "#1[::2]", "mean(#4, axis=1)", "#4 @ #1",
     "logsumexp(#3, axis=0)", "stack([#0, #0])", "take(#4, [1, 1, 0], axis=1) @ #1", NULL},
    {"#1[:, None] * #2", "#4'", "transpose(#4)", "reshape(#4, [3, 2])", "cumsum(#3, axis=0)",
     "softmax(#3, axis=1)", "stack([#1, #1], axis=1)", "#3 @ (#4 @ #3)", "#3 @ [[1, 0.5], [-0.5, 1]]",
     "reshape(sum(reshape(#3, [1, 3, 2, 1]) * reshape(#3, [1, 3, 2, 1]), axis=3), [3, 2])",
     "#4' @ (#2[:, None] * #2)", "#1[:, None] @ #2[None, :]", "concat([#3[:1], #3[1:]], axis=0)", NULL},
    {"#3'", "#2[:, None] * #1", "#4 @ [[1, 0, 2], [0, 1, 0], [1, 1, 1]]", "#2[:, None] @ #1[None, :]",
     "take(#3, [1, 0], axis=1)'", "reshape(#1[:, None] * #2, [2, 3])", "max(#4, #3')", NULL},
};

static void gen(Str *b, int shape, int depth, int sym) {
  if (depth <= 0 || pick(6) == 0) {
    if (pick(3) == 0 && shape == 0)
      put(b, "%.3g", uniform(-1.5, 1.5));
    else if (sym && shape == 1)
      put(b, "n");
    else if (sym && shape == 3)
      put(b, "m");
    else
      put(b, "%c", leaf_of[shape]);
    return;
  }
  if (sym && (shape == 1 || shape == 3)) { /* N-sized: elementwise and reductions over N only */
    if (pick(3) == 0 && shape == 1) {
      fill(b, pick(2) ? "sum(#3, axis=1)" : "#3[:, 1]", depth, sym);
      return;
    }
    if (pick(3) == 0 && shape == 3) {
      fill(b, pick(2) ? "#1[:, None] * #2" : "cumsum(#3, axis=0)", depth, sym);
      return;
    }
    gen_elementwise(b, shape, depth, sym);
    return;
  }
  if (sym && shape == 0 && pick(2)) {
    static const char *const red[] = {"sum(#1)", "sum(#3)", "dot(#1, #1)", "mean(#3)", "max(#1)", "#1[1]",
                                      "logsumexp(#3)", "sum(#1[1:] * #1[:-1])"};
    fill(b, red[pick(8)], depth, sym);
    return;
  }
  if (sym && shape == 2 && pick(2)) {
    fill(b, pick(2) ? "#1 @ #3" : "sum(#3, axis=0)", depth, sym);
    return;
  }
  if (sym || pick(2)) { /* the tensor operators above are of literal sizes */
    gen_elementwise(b, shape, depth, sym);
    return;
  }
  int n = 0;
  while (to_shape[shape][n])
    n++;
  fill(b, to_shape[shape][pick(n)], depth, sym);
}

static const char *decls(int sym) {
  return sym ? "param c, h[2], f[2, 3], n[N], m[N, 2]\n" : "param c, a[3], h[2], b[3, 2], f[2, 3]\n";
}

/* A program of three random outputs of random shapes, at a random point. */
static Gradc *random_program(Str *text, int sym, int depth, GradcBackend be, int blas) {
  text->len = 0;
  put(text, "%s", decls(sym));
  for (int o = 0; o < 3; o++) {
    put(text, "output r%d = ", o);
    gen(text, pick(NSHAPE), depth, sym);
    put(text, "\n");
  }
  Gradc *g = compile_ok(text->s);
  gradc_set_backend(g, be);
  cr_assert_eq(gradc_set_blas(g, blas), 0); /* 0: the loops, whatever the default */
  for (int v = 0; v < gradc_var_count(g); v++) {
    long dims[4];
    int rank = gradc_var_shape(g, v, dims);
    for (int i = 0; i < rank; i++)
      if (dims[i] < 0)
        dims[i] = 4; /* N */
    long n = elements(dims, rank);
    double x[16];
    for (long i = 0; i < n; i++)
      x[i] = pick(10) == 0 ? 0 : uniform(-1, 1); /* zeros: kinks and strong zeros */
    cr_assert_eq(gradc_set_value(g, v, x, dims, rank), GRADC_OK, "%s", gradc_diag_render(g));
  }
  cr_assert_eq(gradc_set_defaults(g, 1, 0), GRADC_OK, "%s", gradc_diag_render(g));
  return g;
}

static void random_programs(int count, int sym, GradcBackend be, int blas) {
  Str text = {0};
  static const int ks[] = {1, 3, 4, 7, 18, 40}, ks_cc[] = {1, 7}; /* 18 columns */
  int cc = be == GRADC_BACKEND_CC; /* every function is a compile */
  for (int i = 0; i < count; i++) {
    Gradc *g = random_program(&text, sym, 3, be, blas);
    /* bit for bit, but for OpenBLAS and whole sums over N */
    check_all(g, NULL, 0, cc ? ks_cc : ks, cc ? 2 : 6, !blas && !sym, text.s);
    gradc_free(g);
  }
  free(text.s);
}

Test(vector, random_programs_tcc, .timeout = 600) {
  random_programs(60, 0, GRADC_BACKEND_TCC, 0);
  ASSERT_NO_LEAKS();
}

Test(vector, random_programs_cc, .timeout = 600) {
  random_programs(3, 0, GRADC_BACKEND_CC, 0);
  ASSERT_NO_LEAKS();
}

Test(vector, random_programs_blas, .timeout = 600) {
  random_programs(15, 0, GRADC_BACKEND_TCC, 1);
  ASSERT_NO_LEAKS();
}

Test(vector, random_programs_symbolic, .timeout = 600) {
  random_programs(25, 1, GRADC_BACKEND_TCC, 0);
  ASSERT_NO_LEAKS();
}

/* ---- the examples ---------------------------------------------------------------------- */

/* An example file, with `extra` lines after it (tensor outputs) and a
 * value `set` (NAME=VALUE, or NULL). */
static Gradc *example(const char *file, const char *extra, const char *set, GradcBackend be, int blas) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", GRADC_EXAMPLES, file);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  Str text = {0};
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf - 1, f)) > 0) {
    buf[n] = 0;
    put(&text, "%s", buf);
  }
  fclose(f);
  put(&text, "\n%s\n", extra);
  Gradc *g = gradc_new();
  GradcStatus st = gradc_compile_string(g, path, text.s, text.len);
  cr_assert_eq(st, GRADC_OK, "%s", gradc_diag_render(g));
  free(text.s);
  gradc_set_backend(g, be);
  cr_assert_eq(gradc_set_blas(g, blas), 0); /* 0: the loops, whatever the default */
  if (set) {
    char name[64];
    const char *eq = strchr(set, '=');
    snprintf(name, sizeof name, "%.*s", (int)(eq - set), set);
    cr_assert_eq(gradc_set_value_text(g, name, eq + 1), GRADC_OK, "%s", gradc_diag_render(g));
  }
  cr_assert_eq(gradc_set_defaults(g, 7, 1), GRADC_OK, "%s", gradc_diag_render(g));
  return g;
}

static void examples(GradcBackend be, int blas) {
  static const struct {
    const char *file, *extra, *set, *wrt[4];
  } ex[] = {
      {"iris_mlp.expr", "output scores = Z[:20]\noutput hidden = sum(H, 0)", NULL, {NULL}},
      {"batchnorm_mlp.expr", "output scores = Z[::10]", NULL, {NULL}},
      {"residual_mlp.expr", "output scores = Z[100:110]\noutput res = R[:3]'", NULL, {NULL}},
      {"logistic_regression.expr", "output zs = z", NULL, {NULL}},
      {"linear_regression.expr", "output fit = w*x + b", NULL, {NULL}},
      {"digits_mlp.expr", "output scores = Z[:2]", NULL, {"c", "b", NULL}},
      {"seed_sincos.expr", "", NULL, {NULL}},
      /* grad() inside the language: derivatives of a gradient */
      {"rosenbrock_step.expr", "output g = grad(f, x)[1:]", "x=[1.5, 0.5, -1, 2, 0.25]", {NULL}},
  };
  static const int ks[] = {1, 5, 16};
  for (size_t i = 0; i < sizeof ex / sizeof *ex; i++) {
    if (be == GRADC_BACKEND_CC && i > 0)
      break; /* the Iris network only: every function is a compile */
    Gradc *g = example(ex[i].file, ex[i].extra, ex[i].set, be, blas);
    int wrt[4], nwrt = 0;
    for (; ex[i].wrt[nwrt]; nwrt++)
      cr_assert_geq(wrt[nwrt] = gradc_var_index(g, ex[i].wrt[nwrt]), 0);
    char label[256];
    snprintf(label, sizeof label, "%s + %s", ex[i].file, ex[i].extra);
    /* whole sums over N (means, the loss) add in another order */
    check_all(g, nwrt ? wrt : NULL, nwrt, ks, be == GRADC_BACKEND_CC ? 2 : 3, 0, label);
    gradc_free(g);
  }
}

Test(vector, examples_tcc, .timeout = 600) {
  examples(GRADC_BACKEND_TCC, 0);
  ASSERT_NO_LEAKS();
}

Test(vector, examples_blas, .timeout = 600) {
  examples(GRADC_BACKEND_TCC, 1);
  ASSERT_NO_LEAKS();
}

Test(vector, examples_cc, .timeout = 600) {
  examples(GRADC_BACKEND_CC, 0);
  ASSERT_NO_LEAKS();
}

/* ---- the interface --------------------------------------------------------------------- */

Test(vector, arguments_and_errors) {
  Gradc *g = compile_ok("param x[3], W[2, 3], T[2, 2, 2, 2]\noutput y = W @ sin(x)\noutput z = T * 2\n");
  int wx[1] = {0}, wt[1] = {2};
  GradcFn *f = gradc_fn_jvp_vector(g, wx, 1, 0);
  cr_assert_null(f);
  cr_assert_eq(gradc_fn_jvp_vector(g, wx, 1, GRADC_MAX_DIRECTIONS + 1), NULL);
  cr_assert_eq(gradc_fn_jvp_vector(g, wt, 1, 2), NULL); /* rank 4: no room */
  cr_assert(strstr(gradc_diag_render(g), "rank 4"), "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_fn_jvp_vector(g, wx, 1, 2), NULL); /* output z has rank 4 */
  cr_assert_eq(gradc_fn_vjp_vector(g, 1, wx, 1, 2), NULL);
  cr_assert_eq(gradc_fn_vjp_vector(g, 5, wx, 1, 2), NULL);
  gradc_diag_clear(g);
  f = gradc_fn_vjp_vector(g, 0, wx, 1, 3); /* output y only: fine */
  cr_assert_not_null(f, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_fn_arg_count(f), 4);
  cr_assert_str_eq(gradc_fn_arg_name(f, 3), "cotangent of y");
  long dims[8];
  cr_assert_eq(gradc_fn_arg_shape(f, 3, dims), 2);
  cr_assert_eq(dims[0], 3);
  cr_assert_eq(dims[1], 2);
  cr_assert_str_eq(gradc_fn_res_name(f, 1), "dy/dx");
  cr_assert_eq(gradc_fn_vjp_vector(g, 0, wx, 1, 3), f, "cached");
  gradc_free(g);

  g = compile_ok("param x[3], W[2, 3]\noutput y = W @ sin(x)\noutput s = sum(x)\n");
  f = gradc_fn_jvp_vector(g, wx, 1, 4);
  cr_assert_not_null(f, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_fn_jvp_vector(g, wx, 1, 4), f, "cached");
  cr_assert_neq(gradc_fn_jvp_vector(g, wx, 1, 5), f, "another K, another function");
  cr_assert_str_eq(gradc_fn_arg_name(f, 2), "tangent of x");
  cr_assert_eq(gradc_fn_arg_shape(f, 2, dims), 2);
  cr_assert(dims[0] == 4 && dims[1] == 3);
  cr_assert_str_eq(gradc_fn_res_name(f, 2), "dy");
  cr_assert_eq(gradc_fn_res_shape(f, 2, dims), 2);
  cr_assert(dims[0] == 4 && dims[1] == 2);
  cr_assert_eq(gradc_fn_res_shape(f, 3, dims), 1);
  cr_assert_eq(dims[0], 4);
  /* directions that are not unit vectors: row d is the JVP along row d */
  double xv[3] = {0.3, -1.2, 2.0}, Wv[6] = {1, 2, 3, -1, 0.5, 0.25};
  long dx[1] = {3}, dw[2] = {2, 3};
  cr_assert_eq(gradc_set_value(g, 0, xv, dx, 1), GRADC_OK);
  cr_assert_eq(gradc_set_value(g, 1, Wv, dw, 2), GRADC_OK);
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
  double T[12] = {1, 2, 3, -1, 0, 0.5, 0, 0, 0, 1e300, -2, 7};
  const double *targs[1] = {T};
  cr_assert_eq(gradc_run(f, targs), GRADC_OK);
  const double *dy = gradc_fn_res_data(f, 2), *ds = gradc_fn_res_data(f, 3);
  GradcFn *f1 = gradc_fn_jvp(g, wx, 1);
  for (int d = 0; d < 4; d++) {
    const double *one[1] = {T + 3 * d};
    cr_assert_eq(gradc_run(f1, one), GRADC_OK);
    for (int i = 0; i < 2; i++)
      cr_assert_eq(dy[2 * d + i], gradc_fn_res_data(f1, 2)[i], "direction %d", d);
    cr_assert_eq(ds[d], gradc_fn_res_data(f1, 3)[0], "direction %d", d);
  }
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* Symbolic dimensions: one function for every size of N. */
Test(vector, symbolic_sizes) {
  Gradc *g = compile_ok("input A[N, N]\nparam x[N]\noutput r = tanh(A @ x) + x^2\n");
  static const int ks[] = {1, 4, 9};
  for (int n = 1; n <= 9; n += 4) {
    double A[81], x[9];
    for (int i = 0; i < n * n; i++)
      A[i] = uniform(-1, 1);
    for (int i = 0; i < n; i++)
      x[i] = uniform(-1, 1);
    long da[2] = {n, n}, dx[1] = {n};
    cr_assert_eq(gradc_set_value(g, 0, A, da, 2), GRADC_OK);
    cr_assert_eq(gradc_set_value(g, 1, x, dx, 1), GRADC_OK);
    cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK, "%s", gradc_diag_render(g));
    check_all(g, NULL, 0, ks, 3, 1, "tanh(A @ x) + x^2");
  }
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- gradc_rt_matmul ---------------------------------------------------------------------- */

#include "ir.h"

/* The product of libtcc's code has the bits of the emitted loops: each
 * element 0.0 plus its products in increasing order; non-finite entries,
 * signed zeros, both transposes, sizes around the blocks (256 columns,
 * 128 rows). */
Test(matmul_rt, same_bits_as_the_loops) {
  static const long sizes[][3] = {{1, 1, 1}, {2, 3, 4}, {5, 300, 7}, {3, 257, 130}, {64, 40, 129}, {7, 1, 300}, {9, 263, 131},
                                    {12, 10, 300}, {6, 2, 5}};
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++)
    for (int t = 0; t < 4; t++) {
      long m = sizes[s][0], n = sizes[s][1], k = sizes[s][2];
      int ta = t & 1, tb = t >> 1;
      double *A = malloc((size_t)(m * k) * sizeof *A), *B = malloc((size_t)(k * n) * sizeof *B);
      double *C = malloc((size_t)(m * n) * sizeof *C);
      cr_assert(A && B && C);
      for (long i = 0; i < m * k; i++)
        A[i] = pick(9) == 0 ? (pick(2) ? -0.0 : 0.0) : uniform(-2, 2) * pow(10, pick(7) - 3);
      for (long i = 0; i < k * n; i++)
        B[i] = pick(50) == 0 ? (pick(2) ? INFINITY : NAN) : uniform(-2, 2);
      long lda = ta ? m : k, ldb = tb ? k : n;
      gradc_rt_matmul(m, n, k, A, lda, ta, B, ldb, tb, C);
      for (long i = 0; i < m; i++)
        for (long j = 0; j < n; j++) {
          double acc = 0.0;
          for (long p = 0; p < k; p++)
            acc += (ta ? A[p * lda + i] : A[i * lda + p]) * (tb ? B[j * ldb + p] : B[p * ldb + j]);
          double got = C[i * n + j];
          cr_assert(memcmp(&acc, &got, sizeof acc) == 0 || (acc != acc && got != got),
                    "%ldx%ldx%ld ta=%d tb=%d: C[%ld][%ld] = %a, loops %a", m, n, k, ta, tb, i, j, got, acc);
        }
      free(A);
      free(B);
      free(C);
    }
}
