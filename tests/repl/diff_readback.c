/* diff_readback.c: what :diff and `gradc diff` print reads back in the
 * language as the derivative (SPEC 2.4, issue 17's "Done when").
 *
 * For every example (examples/NAME.expr and examples/mgh/NAME.expr), the first
 * scalar output and every param: the text of gradc_diff_text, its let
 * lines made definitions and its last line an output, is appended to the
 * example and compiled as a program; its value at the example's point must
 * equal the gradient that reverse mode computes (gradc_fn_grad, what :grad
 * prints) to 1e-12 relative (relative to the largest entry of the
 * gradient, so that an entry that cancels to about 0 is judged on the
 * gradient's scale). Variables without values get fixed values, symbolic
 * dimensions without data the size 8. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradc.h"

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
    free(s);
    s = NULL;
  }
  if (s)
    s[n] = 0;
  fclose(f);
  return s;
}

/* Values for every variable: the file's defaults, else fixed numbers
 * (symbolic dimensions that nothing binds: 8). 0 on success. */
static int give_values(Gradc *g) {
  if (gradc_set_defaults(g, 0, 0) == GRADC_OK)
    return 0;
  gradc_diag_clear(g);
  for (int v = 0; v < gradc_var_count(g); v++) {
    if (gradc_get_value(g, v, NULL, NULL))
      continue;
    long dims[4], n = 1;
    int rank = gradc_var_shape(g, v, dims);
    for (int k = 0; k < rank; k++) {
      if (dims[k] < 0) {
        long bound = gradc_dim_value(g, (int)(-dims[k] - 1));
        dims[k] = bound > 0 ? bound : 8;
      }
      n *= dims[k];
    }
    double *d = malloc((size_t)n * sizeof *d);
    for (long e = 0; e < n; e++) /* away from 0 and from each other */
      d[e] = 0.6 + 0.35 * sin(1.7 * (double)e + 0.9 * v + 0.3);
    gradc_set_value(g, v, d, dims, rank);
    free(d);
  }
  return gradc_set_defaults(g, 0, 0) == GRADC_OK ? 0 : -1;
}

/* The example with the derivative's text appended: "let t1 = E" as
 * "t1 = E", "dL/dw = E" as "output readback_ = E". */
static char *readback_program(const char *file, const char *diff) {
  size_t n = strlen(file) + 2 * strlen(diff) + 64;
  char *p = malloc(n), *at = p;
  at += sprintf(at, "%s\n", file);
  for (const char *line = diff; *line;) {
    const char *end = strchr(line, '\n');
    size_t len = end ? (size_t)(end - line) : strlen(line);
    if (!strncmp(line, "let ", 4)) {
      at += sprintf(at, "%.*s\n", (int)len - 4, line + 4);
    } else {
      const char *eq = strstr(line, " = ");
      at += sprintf(at, "output readback_ = %.*s\n", (int)(len - (size_t)(eq + 3 - line)), eq + 3);
    }
    line += len + (end != NULL);
  }
  return p;
}

static int first_scalar_output(Gradc *g) {
  long dims[4];
  for (int o = 0; o < gradc_output_count(g); o++)
    if (gradc_output_shape(g, o, dims) == 0)
      return o;
  return -1;
}

/* Checks one program (the file at path, or the text `source`); returns
 * how many derivatives it compared. */
static int check_program(const char *path, const char *source) {
  Gradc *g = gradc_new();
  if (source)
    cr_assert(gradc_compile_string(g, path, source, strlen(source)) == GRADC_OK, "%s: %s", source,
              gradc_diag_render(g));
  else
    cr_assert(gradc_compile_file(g, path) == GRADC_OK, "%s: %s", path, gradc_diag_render(g));
  cr_assert(give_values(g) == 0, "%s: no values: %s", path, gradc_diag_render(g));
  char *file = source ? strdup(source) : slurp(path);
  cr_assert(file);
  int out = first_scalar_output(g), compared = 0;
  cr_assert(out >= 0, "%s has no scalar output", path);
  char want_name[256];
  for (int v = 0; v < gradc_var_count(g); v++) {
    if (!gradc_var_is_param(g, v))
      continue;
    char *text = NULL;
    /* every derivative is written, prod's and cumprod's running products
     * (LINSCAN) too: as cumprod() and linscan() */
    cr_assert(gradc_diff_text(g, out, v, &text) == GRADC_OK, "%s: d/d%s: %s", path, gradc_var_name(g, v),
              gradc_diag_render(g));
    char *prog = readback_program(file, text);
    Gradc *r = gradc_new();
    cr_assert(gradc_compile_string(r, path, prog, strlen(prog)) == GRADC_OK,
              "%s: the text of d/d%s does not compile:\n%s\n%s", path, gradc_var_name(g, v), text,
              gradc_diag_render(r));
    for (int k = 0; k < gradc_var_count(g); k++) { /* the same point */
      long dims[4];
      int rank;
      const double *d = gradc_get_value(g, k, dims, &rank);
      gradc_set_value(r, k, d, dims, rank);
    }
    cr_assert(gradc_set_defaults(r, 0, 0) == GRADC_OK, "%s: %s", path, gradc_diag_render(r));
    GradcFn *fv = gradc_fn_value(r);
    cr_assert(fv && gradc_run(fv, NULL) == GRADC_OK, "%s: d/d%s: %s\n%s", path, gradc_var_name(g, v),
              gradc_diag_render(r), text);
    int ro = gradc_output_index(r, "readback_");
    GradcFn *fg = gradc_fn_grad(g, &v, 1);
    cr_assert(fg && gradc_run(fg, NULL) == GRADC_OK, "%s: %s", path, gradc_diag_render(g));
    snprintf(want_name, sizeof want_name, "d%s/d%s", gradc_output_name(g, out), gradc_var_name(g, v));
    int gi = -1;
    for (int i = 0; i < gradc_fn_res_count(fg); i++)
      if (!strcmp(gradc_fn_res_name(fg, i), want_name))
        gi = i;
    cr_assert(gi >= 0 && ro >= 0);
    long gd[4], rd[4], n = 1;
    int grank = gradc_fn_res_shape(fg, gi, gd), rrank = gradc_fn_res_shape(fv, ro, rd);
    cr_assert(grank == rrank, "%s: d/d%s has rank %d, the text %d:\n%s", path, gradc_var_name(g, v), grank,
              rrank, text);
    for (int k = 0; k < grank; k++) {
      cr_assert(gd[k] == rd[k], "%s: d/d%s: dimension %d is %ld, the text's %ld:\n%s", path,
                gradc_var_name(g, v), k, gd[k], rd[k], text);
      n *= gd[k];
    }
    const double *want = gradc_fn_res_data(fg, gi), *got = gradc_fn_res_data(fv, ro);
    double scale = 0;
    for (long e = 0; e < n; e++)
      scale = fmax(scale, fabs(want[e]));
    for (long e = 0; e < n; e++)
      cr_expect(fabs(got[e] - want[e]) <= 1e-12 * fmax(scale, 1e-300) || got[e] == want[e] ||
                    (isnan(got[e]) && isnan(want[e])),
                "%s: d/d%s[%ld]: the text gives %.17g, reverse mode %.17g:\n%s", path, gradc_var_name(g, v), e,
                got[e], want[e], text);
    compared++;
    gradc_free(r);
    free(prog);
    free(text);
  }
  free(file);
  gradc_free(g);
  return compared;
}

static int check_dir(const char *dir) {
  DIR *d = opendir(dir);
  cr_assert(d, "cannot open %s", dir);
  struct dirent *e;
  int files = 0;
  char path[1024];
  while ((e = readdir(d))) {
    size_t n = strlen(e->d_name);
    if (n < 6 || strcmp(e->d_name + n - 5, ".expr"))
      continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    cr_expect(check_program(path, NULL) > 0, "%s: no param compared", path);
    files++;
  }
  closedir(d);
  return files;
}

Test(diff_readback, every_example_and_param_reads_back_as_the_gradient, .timeout = 600) {
  cr_expect(check_dir(GRADC_EXAMPLES) >= 8);
}

Test(diff_readback, every_mgh_problem_reads_back_as_the_gradient, .timeout = 600) {
  cr_expect(check_dir(GRADC_EXAMPLES "/mgh") >= 30);
}

/* Tensor operators whose adjoints the language writes in its own way:
 * outer products, keepdims, transposes, the adjoints of indexing and
 * slicing (masks, selection matrices), reversed running sums, take,
 * reductions, the stable forms, literals, reshapes, derived sizes. */
static const char *const programs[] = {
    "param W[2, 2], v[2]\nL = sum((W @ v)^2)",
    "param A[3, 4]\nL = sum(A[1:, ::2]^2) + sum(A[0, :]*A[:, 1][0]) + A[-1, -1]^3",
    "param x[5]\nL = sum(cumsum(x)^2) + sum(x*cumsum(x[::-1]))",
    "param x[4]\ninput i[3] = [0, 2, 2]\nL = sum(take(x, i)^2)",
    "param X[3, 4]\ninput k[2] = [3, 1]\nL = sum(take(X, k, axis=1)^2) + sum(take(X, [2, 0], axis=0))",
    "param X[3, 4]\nL = sum(softmax(X, axis=1)*X) + logsumexp(X) + max(X) + sum(max(X, axis=0))",
    "param X[3, 4]\nL = sum(log_softmax(X, axis=0)^2) + sum(logsumexp(X, axis=1)) + sum(min(X, axis=1))",
    "param x[6]\nL = prod(x) + norm(x) + sum(prod(reshape(x, [2, 3]), axis=1))",
    /* running products: prod's partials, cumprod and linscan, whose
     * derivatives are linscans the other way; zeros in the data */
    "param x[5]\ninput w[5] = [1, -2, 0.5, 3, 1]\nL = prod(x*w) + sum(cumprod(x)*w) + sum(cumprod(x[::-1])^2)",
    "param A[3, 4]\nL = prod(A) + sum(prod(A, axis=0)) + sum(prod(A, axis=1)^2) + sum(cumprod(A, axis=1)*A) + "
    "sum(cumprod(A, axis=0)^2) + sum(cumprod(A))",
    "param x[N]\nL = prod(x) + sum(cumprod(x)) + sum(cumprod(x[::-1])[::-1]*x)",
    /* slices of slices of symbolic length: x[1:][:-1] is N-2 of N-1 (the
     * stop was dropped, reading back as a different derivative) */
    "param x[N]\nL = sum(x[1:][:-1]^2) + prod(x[1:]) + sum(cumprod(x[2:])) + sum(linscan(x[1:], x[:-1]))",
    "param a[4], r[4]\nL = sum(linscan(a, r)^2) + sum(linscan(0.9, r[::-1])[::-1]*a) + sum(linscan(a, 1))",
    "param P[2, 3]\ninput Z[2, 3] = [[1, 0, 2], [0.5, 3, -1]]\nL = sum(linscan(P, Z, axis=1)*Z) + "
    "sum(linscan(P*Z, P, axis=0)^2) + prod(P*Z)",
    "param x[4]\nL = sum(grad(prod(x), x)^2) + sum(grad(sum(cumprod(x)), x))",
    "param a, b\nL = atan2(a, b) + where(a > b, a^2, b^3) + relu(a - b) + abs(a) + maximum(a, b) + "
    "minimum(a, b^2)",
    "param M[3, 3]\nL = sum(M' @ M) + sum(transpose(M)*M) + sum(M / sum(M, axis=1, keepdims=true))",
    "param x[N]\nL = sum(x[1::2] * x[::2]) + sum(x[1:] - x[:-1]^2) + x[-1]*x[0] + mean(x[2:])",
    "param x[3]\nL = sum([x[0]*x[1], x[2], x[0]]^2) + sum([[x[0], 1], [x[1], x[2]]] @ x[:2])",
    "param x[4]\nL = sum(reshape(x, [2, 2]) @ reshape(x, [2, 2])) + sum(x[:, None] * x[None, :])",
    "param x[3], y[3]\nL = dot(x, y) + sum(stack([x, y], axis=0)^2) + sum(concat([x, y])^3)",
    "param a, b\nL = logaddexp(a, b) + clip(a, 0, 1) + mod(a, 0.3) + log_sigmoid(b) + sigmoid(a)*tanh(b) + "
    "erf(a) + softplus(b) + log1p(a) + expm1(b) + sqrt(a)/b + a^b + 2^a + exp(-a)*sin(b)*cos(b)",
    "param w[2], b\ninput X[5, 2] = [[1, 2], [0, 1], [3, -1], [2, 2], [-1, 0]]\n"
    "input y[5] = [1, 0, 1, 1, 0]\nz = X @ w + b\nL = mean(softplus(z) - y*z) + 0.1*sum(w^2)",
    "param V[4, 2], W[3, 4]\ninput X[5, 2] = [[1, 2], [0, 1], [3, -1], [2, 2], [-1, 0]]\n"
    "input label[5] = [0, 2, 1, 1, 0]\nH = tanh(X @ V')\nZ = H @ W'\n"
    "L = -mean(sum(onehot(label, 3) * log_softmax(Z, 1), 1))",
    "param x[N]\nL = sum(x[1:]*x[:-1]) + sum(x[::2]) + x[-2]",
    "param P[2, 3]\nL = sum(P^2 / sum(P^2, axis=0)) + sum(mean(P, axis=1)^2) + sum(P[:, 1:] * P[:, :-1])",
    "param x, y\nL = x^3/3 - x + sin(y)^2 + cos(y)^2 + 0.5*(x*y - 1)^2",
    /* take() with negative indices (numpy: -d..-1 from the end): the
     * adjoint's mask must compare with the indices normalised */
    "param x[4]\ninput idx[2] = [0, -1]\nL = sum(take(x, idx)*[10, 100])",
    "param x[5]\ninput j = -2\nL = take(x, j)^2 + sum(take(x, [-1, -5]))",
    "param X[3, 4]\ninput k[3] = [-1, 0, -4]\nL = sum(take(X, k, axis=1)^2) + sum(take(X, [-3, 2], axis=0)*X[0])",
    "param X[2, 3]\ninput k[2] = [-1, 4]\nL = sum(take(X, k)^2)",
    "param x[N]\ninput k[3] = [-1, 0, -2]\nL = sum(take(x, k)*x[:3]) + sum(onehot(k + 2, 3)*x[:3])",
};

Test(diff_readback, tensor_operators_read_back_as_the_gradient, .timeout = 600) {
  for (size_t i = 0; i < sizeof programs / sizeof *programs; i++)
    cr_expect(check_program("readback.expr", programs[i]) > 0, "%s: no param compared", programs[i]);
}
