/* hvp_agree.c: Hessian-vector products agree with everything else, on
 * every example (the .expr files of examples/ and examples/mgh/; the Iris network is
 * examples/iris_mlp.expr). For each scalar output, at the file's default
 * point (variables without a default get seeded random values, symbolic
 * dimensions without a value size 6), along a seeded random vector v over
 * every param, gradc_fn_hvp's H v must agree with
 *   - the Hessian times v, H from gradc_fn_hessian (one forward sweep per
 *     element with a constant unit tangent, unrolled into one function:
 *     other code) where the params are at most MAX_UNROLLED, and from
 *     gradc_hessian_dense (what `gradc hessian` prints) times v;
 *   - central differences of the gradient along v, (g(x + h v) - g(x - h v))
 *     / 2h, Richardson-extrapolated, at the first of a ladder of steps that
 *     agrees (as `gradc check` does): a correct H v passes at some step;
 *   - itself with the cc backend, and in emitted C: P_F_hvp compiled with
 *     cc -std=c99 -O2 -Wall -Wextra -pedantic -Werror and called by a
 *     driver written here from the header's prototype.
 * Its gradient must equal gradc_fn_grad's, and gradc_fn_hvp_only's H v
 * (the same without the gradient) its own. The products at a fixed point
 * (gradc_hvp_at: intermediates computed once, then only the tangent
 * sweeps) must give gradc_fn_hvp's value, gradient and H v to the bit, with
 * tcc, with cc and with OpenBLAS's products (gradc_set_blas), along v and
 * again along v after another direction (nothing kept from a product).
 *
 *   hvp_agree EXAMPLES_DIR [NAME-SUBSTRING]
 *
 * Prints one line per example and output; exits 1 if anything disagreed. */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gradc.h"

enum { MAX_UNROLLED = 400, MAX_FILES = 256 };

static int failures, checks;
static char tmpdir[64];

static void fail(const char *what, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(const char *what, const char *fmt, ...) {
  va_list ap;
  printf("FAIL %s: ", what);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  failures++;
}

static uint64_t rng;
static double uniform(void) { /* in [-1, 1) */
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (double)(rng >> 11) * 0x1.0p-52 - 1.0;
}

static long count(const long *dims, int rank) {
  long n = 1;
  for (int i = 0; i < rank; i++)
    n *= dims[i];
  return n;
}

/* ---- a context at the example's point --------------------------------------- */

static Gradc *open_example(const char *path, GradcBackend be) {
  Gradc *g = gradc_new();
  gradc_set_backend(g, be);
  if (gradc_compile_file(g, path) != GRADC_OK) {
    fail(path, "does not compile:\n%s", gradc_diag_render(g));
    gradc_free(g);
    return NULL;
  }
  if (gradc_set_defaults(g, 7, 1) != GRADC_OK) { /* some values are missing */
    gradc_diag_clear(g);
    rng = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < gradc_var_count(g); i++) {
      if (gradc_get_value(g, i, NULL, NULL))
        continue;
      long dims[4];
      int rank = gradc_var_shape(g, i, dims);
      for (int k = 0; k < rank; k++)
        if (dims[k] < 0) {
          long b = gradc_dim_value(g, (int)~dims[k]);
          dims[k] = b > 0 ? b : 8;
        }
      long n = count(dims, rank);
      double *x = malloc((size_t)(n + 1) * sizeof *x);
      for (long e = 0; e < n; e++)
        x[e] = 0.5 * uniform();
      gradc_set_value(g, i, x, dims, rank);
      free(x);
    }
    if (gradc_set_defaults(g, 7, 1) != GRADC_OK) {
      fail(path, "no point:\n%s", gradc_diag_render(g));
      gradc_free(g);
      return NULL;
    }
  }
  return g;
}

/* ---- comparisons ---------------------------------------------------------- */

/* max |a - b| <= tol * scale (scale >= 1), or both not finite alike */
static int close_to(const double *a, const double *b, long n, double tol, double scale, long *worst) {
  double big = 0;
  *worst = -1;
  for (long i = 0; i < n; i++) {
    if (!isfinite(a[i]) || !isfinite(b[i])) {
      if (!(isnan(a[i]) && isnan(b[i])) && a[i] != b[i]) {
        *worst = i;
        return 0;
      }
      continue;
    }
    double d = fabs(a[i] - b[i]);
    if (d > big) {
      big = d;
      *worst = i;
    }
  }
  return big <= tol * (scale > 1 ? scale : 1);
}

static double inf_norm(const double *a, long n) {
  double m = 0;
  for (long i = 0; i < n; i++)
    if (isfinite(a[i]) && fabs(a[i]) > m)
      m = fabs(a[i]);
  return m;
}

/* ---- one output ------------------------------------------------------------ */

typedef struct Out {
  const char *file, *name;
  char what[600];
  int out, nv, np;      /* variables, params */
  int *param;           /* their indices */
  long *size, n;        /* elements per param, in all */
  double *v;            /* the direction, flat over the params */
  double *hv, *grad;    /* H v and the gradient from gradc_fn_hvp (tcc) */
} Out;

/* Run gradc_fn_hvp on g along o->v into hv (and grad). */
static int run_hvp(Gradc *g, Out *o, double *hv, double *grad) {
  GradcFn *f = gradc_fn_hvp(g, o->out, NULL, 0);
  if (!f) {
    fail(o->what, "gradc_fn_hvp: %s", gradc_diag_render(g));
    return -1;
  }
  const double **v = malloc(((size_t)o->np + 1) * sizeof *v);
  for (long k = 0, off = 0; k < o->np; off += o->size[k], k++)
    v[k] = o->v + off;
  GradcStatus st = gradc_run(f, v);
  free(v);
  if (st != GRADC_OK) {
    fail(o->what, "gradc_run: %s", gradc_diag_render(g));
    return -1;
  }
  for (long k = 0, off = 0; k < o->np; off += o->size[k], k++) {
    memcpy(grad + off, gradc_fn_res_data(f, 1 + (int)k), (size_t)o->size[k] * sizeof *grad);
    memcpy(hv + off, gradc_fn_res_data(f, 1 + o->np + (int)k), (size_t)o->size[k] * sizeof *hv);
  }
  return 0;
}

/* gradc_hvp_at's value, gradient and H v (along w, then along o->v)
 * against gradc_fn_hvp's in the same context, bit for bit. */
static void check_fixed(Gradc *g, Out *o, const char *how) {
  double *hv = malloc((size_t)o->n * sizeof *hv), *grad = malloc((size_t)o->n * sizeof *grad);
  double *w = malloc((size_t)o->n * sizeof *w), *hv_at = malloc((size_t)o->n * sizeof *hv_at);
  const double **vs = malloc(((size_t)o->np + 1) * sizeof *vs);
  const double **ws = malloc(((size_t)o->np + 1) * sizeof *ws);
  double **rs = malloc(((size_t)o->np + 1) * sizeof *rs);
  checks++;
  if (run_hvp(g, o, hv, grad) != 0)
    goto done;
  GradcFn *f = gradc_fn_hvp(g, o->out, NULL, 0);
  double value = gradc_fn_res_data(f, 0)[0];
  GradcHvpAt *h = gradc_hvp_at(g, o->out, NULL, 0);
  if (!h) {
    fail(o->what, "gradc_hvp_at (%s): %s", how, gradc_diag_render(g));
    goto done;
  }
  for (long e = 0; e < o->n; e++)
    w[e] = o->v[o->n - 1 - e] - 0.25;
  for (long k = 0, off = 0; k < o->np; off += o->size[k], k++) {
    vs[k] = o->v + off;
    ws[k] = w + off;
    rs[k] = hv_at + off;
  }
  long at;
  if (gradc_hvp_at_apply(h, ws, rs) != GRADC_OK || gradc_hvp_at_apply(h, vs, rs) != GRADC_OK)
    fail(o->what, "gradc_hvp_at_apply (%s): %s", how, gradc_diag_render(g));
  else if (memcmp(&value, &(double){gradc_hvp_at_value(h)}, sizeof value))
    fail(o->what, "gradc_hvp_at's value %.17g is not gradc_fn_hvp's %.17g (%s)", gradc_hvp_at_value(h),
         value, how);
  else if (!close_to(hv_at, hv, o->n, 0, 1, &at))
    fail(o->what, "gradc_hvp_at's H v %.17g is not gradc_fn_hvp's %.17g (element %ld, %s)", hv_at[at],
         hv[at], at, how);
  else
    for (long k = 0, off = 0; k < o->np; off += o->size[k], k++)
      if (!close_to(gradc_hvp_at_gradient(h, (int)k), grad + off, o->size[k], 0, 1, &at)) {
        fail(o->what, "gradc_hvp_at's gradient is not gradc_fn_hvp's (param %ld, element %ld, %s)", k, at,
             how);
        break;
      }
  gradc_hvp_at_free(h);
done:
  free(hv);
  free(grad);
  free(w);
  free(hv_at);
  free(vs);
  free(ws);
  free(rs);
}

/* The gradient of output o at the params' values + t v, into gr. */
static int grad_along(Gradc *g, Out *o, double t, double *gr) {
  GradcFn *f = gradc_fn_grad(g, NULL, 0);
  if (!f)
    return -1;
  double **x = malloc(((size_t)o->np + 1) * sizeof *x), *saved = malloc(((size_t)o->n + 1) * sizeof *saved);
  for (long k = 0, off = 0; k < o->np; off += o->size[k], k++) {
    x[k] = gradc_get_value(g, o->param[k], NULL, NULL);
    memcpy(saved + off, x[k], (size_t)o->size[k] * sizeof *saved);
    for (long e = 0; e < o->size[k]; e++)
      x[k][e] += t * o->v[off + e];
  }
  GradcStatus st = gradc_run(f, NULL);
  for (long k = 0, off = 0; k < o->np; off += o->size[k], k++)
    memcpy(x[k], saved + off, (size_t)o->size[k] * sizeof *saved);
  /* gradients follow the outputs: the scalar outputs before o, each with np */
  int res = gradc_output_count(g);
  for (int q = 0; q < o->out; q++) {
    long dims[4];
    if (gradc_output_shape(g, q, dims) == 0)
      res += o->np;
  }
  for (long k = 0, off = 0; st == GRADC_OK && k < o->np; off += o->size[k], k++)
    memcpy(gr + off, gradc_fn_res_data(f, res + (int)k), (size_t)o->size[k] * sizeof *gr);
  free(x);
  free(saved);
  return st == GRADC_OK ? 0 : -1;
}

/* Central differences of the gradient along v (Richardson), on a ladder
 * of steps; 0 when some step agrees with hv. */
static void check_differences(Gradc *g, Out *o) {
  double xmax = 0;
  for (long k = 0; k < o->np; k++)
    xmax = fmax(xmax, inf_norm(gradc_get_value(g, o->param[k], NULL, NULL), o->size[k]));
  double vmax = inf_norm(o->v, o->n), h0 = cbrt(2.2e-16) * fmax(1, xmax) / fmax(vmax, 1e-300);
  long n = o->n;
  double *gp = malloc((size_t)(n + 1) * sizeof *gp), *gm = malloc((size_t)(n + 1) * sizeof *gm);
  double *gp2 = malloc((size_t)(n + 1) * sizeof *gp2), *gm2 = malloc((size_t)(n + 1) * sizeof *gm2);
  double *fd = malloc((size_t)(n + 1) * sizeof *fd);
  double best = INFINITY, scale = fmax(inf_norm(o->hv, n), 1);
  int ok = 0, finite = 1;
  for (int s = 0; s < 8 && !ok; s++) {
    double h = h0 / pow(4, s);
    if (grad_along(g, o, h, gp) || grad_along(g, o, -h, gm) || grad_along(g, o, 2 * h, gp2) ||
        grad_along(g, o, -2 * h, gm2)) {
      fail(o->what, "the gradient could not be run");
      break;
    }
    double err = 0, est = 0;
    finite = 1;
    for (long i = 0; i < n; i++) {
      double d1 = (gp[i] - gm[i]) / (2 * h), d2 = (gp2[i] - gm2[i]) / (4 * h);
      fd[i] = (4 * d1 - d2) / 3;
      if (!isfinite(fd[i])) {
        finite = 0;
        continue;
      }
      /* truncation (|d1 - d2|) and rounding in the gradients */
      double e = fabs(d1 - d2) + 1e3 * 2.2e-16 * (fabs(gp[i]) + fabs(gm[i]) + fabs(o->grad[i])) / h;
      if (fabs(o->hv[i] - fd[i]) - e > err)
        err = fabs(o->hv[i] - fd[i]) - e;
      est = fmax(est, e);
    }
    if (!finite)
      continue;
    best = fmin(best, err / scale);
    ok = err <= 1e-6 * scale;
  }
  checks++;
  if (!finite && !ok)
    printf("  %s: differences of the gradient not finite at any step (not compared)\n", o->what);
  else if (!ok)
    fail(o->what, "H v and central differences of the gradient disagree (%.3g of |H v|)", best);
  free(gp);
  free(gm);
  free(gp2);
  free(gm2);
  free(fd);
}

/* H (n x n) times v against hv; `how` names where H came from. */
static void check_matrix(Out *o, const double *H, const char *how) {
  double *hv = calloc((size_t)o->n + 1, sizeof *hv), scale = 0;
  for (long i = 0; i < o->n; i++) {
    double s = 0;
    for (long j = 0; j < o->n; j++) {
      hv[i] += H[i * o->n + j] * o->v[j];
      s += fabs(H[i * o->n + j] * o->v[j]);
    }
    scale = fmax(scale, s);
  }
  long w;
  checks++;
  if (!close_to(o->hv, hv, o->n, 1e-11, scale, &w))
    fail(o->what, "H v = %.17g but (%s) times v = %.17g at element %ld", o->hv[w], how, hv[w], w);
  free(hv);
}

static void check_hessians(Gradc *g, Out *o) {
  double *H = malloc((size_t)(o->n * o->n + 1) * sizeof *H), value;
  if (gradc_hessian_dense(g, o->out, NULL, 0, o->n, &value, H) != GRADC_OK)
    fail(o->what, "gradc_hessian_dense: %s", gradc_diag_render(g));
  else
    check_matrix(o, H, "gradc_hessian_dense");
  GradcFn *h = gradc_fn_hessian(g, o->out, NULL, 0);
  if (!h || gradc_run(h, NULL) != GRADC_OK) {
    fail(o->what, "gradc_fn_hessian: %s", gradc_diag_render(g));
  } else {
    /* results: the value, then row r as one block per param */
    for (long r = 0, res = 1; r < o->n; r++)
      for (long k = 0, col = 0; k < o->np; col += o->size[k], k++, res++)
        memcpy(H + r * o->n + col, gradc_fn_res_data(h, (int)res), (size_t)o->size[k] * sizeof *H);
    check_matrix(o, H, "gradc_fn_hessian");
  }
  free(H);
}

/* ---- emitted C ---------------------------------------------------------------- */

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
  char cmd[4096], full[4400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  snprintf(full, sizeof full, "cd '%s' && { %s ; } >log.txt 2>&1", tmpdir, cmd);
  int st = system(full);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *name) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "rb");
  if (!f)
    return strdup("");
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  s[fread(s, 1, (size_t)n, f)] = 0;
  fclose(f);
  return s;
}

static FILE *open_tmp(const char *name, const char *mode) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  return fopen(path, mode);
}

/* The prototype of o's P_F_hvp in the header: the line after the comment
 * "NAME: value, gradient and Hessian-vector product". Malloc'd. */
static char *prototype(const char *hdr, const char *name) {
  char key[512];
  snprintf(key, sizeof key, "/* %s: value, gradient and Hessian-vector product", name);
  const char *c = strstr(hdr, key), *p = c ? strstr(c, "\nint ") : NULL;
  const char *e = p ? strstr(p, ");") : NULL;
  if (!e)
    return NULL;
  return strndup(p + 1, (size_t)(e - p));
}

/* Write in.bin and driver.c for o's P_F_hvp, build, run it and compare
 * its results with the JIT's. */
static void check_emitted(Gradc *g, Out *o, const char *hdr, int idx) {
  char *proto = prototype(hdr, o->name);
  checks++;
  if (!proto) {
    fail(o->what, "the header has no P_F_hvp for it");
    return;
  }
  char *open = strchr(proto, '('), fname[256];
  snprintf(fname, sizeof fname, "%.*s", (int)(open - proto - 4), proto + 4);
  FILE *bin = open_tmp("in.bin", "wb"), *c = open_tmp("driver.c", "w");
  fprintf(c, "#include <stdio.h>\n#include <stdlib.h>\n#include \"p.h\"\n"
             "static double *rd(FILE *f, long n) {\n"
             "  double *a = malloc((size_t)(n + 1) * sizeof *a);\n"
             "  if (!a || fread(a, sizeof *a, (size_t)n, f) != (size_t)n) exit(3);\n"
             "  return a;\n}\n"
             "int main(void) {\n  FILE *f = fopen(\"in.bin\", \"rb\");\n  if (!f) return 2;\n");
  /* arguments: dimensions, the variables, the direction; results: the
   * value, the gradient, H v; the workspace */
  char call[65536];
  int cn = snprintf(call, sizeof call, "  int rc = %s(", fname);
  int nin = 0, nres = 0, ndim = 0, first = 1;
  long *ressize = malloc((size_t)(2 * o->np + 2) * sizeof *ressize);
  char *list = strndup(open + 1, strlen(open + 1) - 1);
  for (char *save, *a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
    while (*a == ' ' || *a == '\n') /* the header wraps long prototypes */
      a++;
    const char *sep = first ? "" : ", ";
    first = 0;
    if (!strncmp(a, "long ", 5)) {
      cn += snprintf(call + cn, sizeof call - (size_t)cn, "%s%ldL", sep, gradc_dim_value(g, ndim++));
    } else if (!strcmp(a, "double *work")) {
      cn += snprintf(call + cn, sizeof call - (size_t)cn, "%s0", sep);
    } else if (!strncmp(a, "double *", 8)) { /* a result */
      int r = nres++;
      long sz = r == 0 ? 1 : o->size[(r - 1) % o->np];
      if (r < 2 * o->np + 2)
        ressize[r] = sz;
      fprintf(c, "  double *r%d = malloc(%ld * sizeof(double));\n", r, sz + 1);
      cn += snprintf(call + cn, sizeof call - (size_t)cn, "%sr%d", sep, r);
    } else { /* an input: variable nin, or the direction's part nin - nv */
      long dims[4], sz;
      int rank;
      const double *x;
      if (nin < o->nv) {
        x = gradc_get_value(g, nin, dims, &rank);
        sz = count(dims, rank);
      } else {
        long off = 0;
        for (int k = 0; k < nin - o->nv; k++)
          off += o->size[k];
        x = o->v + off;
        sz = o->size[nin - o->nv];
      }
      fwrite(x, sizeof *x, (size_t)sz, bin);
      fprintf(c, "  double *a%d = rd(f, %ld);\n", nin, sz);
      cn += snprintf(call + cn, sizeof call - (size_t)cn, "%sa%d%s", sep, nin,
                     strncmp(a, "const double *", 14) ? "[0]" : "");
      nin++;
    }
  }
  free(list);
  fprintf(c, "%s);\n  if (rc != 0) return 10 + rc;\n", call);
  for (int r = 0; r < nres && r < 2 * o->np + 2; r++)
    fprintf(c, "  for (long i = 0; i < %ld; i++) printf(\"%%a\\n\", r%d[i]);\n", ressize[r], r);
  free(ressize);
  fprintf(c, "  return 0;\n}\n");
  fclose(c);
  fclose(bin);
  free(proto);
  if (nres != 1 + 2 * o->np || nin != o->nv + o->np) {
    fail(o->what, "P_F_hvp takes %d inputs and %d results, not %d and %d", nin, nres, o->nv + o->np,
         1 + 2 * o->np);
    return;
  }
  if (sh("cc -std=c99 -O2 -Wall -Wextra -pedantic -Werror driver.c p.o -o driver%d -lm && "
         "./driver%d > out.txt",
         idx, idx) != 0) {
    char *log = slurp("log.txt");
    fail(o->what, "the driver of P_F_hvp failed:\n%s", log);
    free(log);
    return;
  }
  char *text = slurp("out.txt"), *s = text;
  double *got = malloc((size_t)(2 * o->n + 2) * sizeof *got);
  int bad = 0;
  for (long i = 0; i < 1 + 2 * o->n && !bad; i++) {
    char *end;
    got[i] = strtod(s, &end);
    bad = end == s;
    s = end;
  }
  long w;
  if (bad)
    fail(o->what, "the driver printed too little:\n%s", text);
  else if (!close_to(got + 1, o->grad, o->n, 1e-12, inf_norm(o->grad, o->n), &w))
    fail(o->what, "emitted C's gradient %.17g, the JIT's %.17g (element %ld)", got[1 + w], o->grad[w], w);
  else if (!close_to(got + 1 + o->n, o->hv, o->n, 1e-12, inf_norm(o->hv, o->n), &w))
    fail(o->what, "emitted C's H v %.17g, the JIT's %.17g (element %ld)", got[1 + o->n + w], o->hv[w], w);
  free(got);
  free(text);
}

/* ---- one example -------------------------------------------------------------- */

static void check_file(const char *dir, const char *rel) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  Gradc *gt = open_example(path, GRADC_BACKEND_TCC), *gc = gt ? open_example(path, GRADC_BACKEND_CC) : NULL;
  Gradc *gb = gc ? open_example(path, GRADC_BACKEND_TCC) : NULL;
  if (gb && gradc_set_blas(gb, 1) < 0) { /* built without OpenBLAS */
    gradc_free(gb);
    gb = NULL;
  }
  char *src = NULL, *hdr = NULL;
  int emitted = 0;
  if (gc && gradc_emit(gt, "p", &src, &hdr, "p.h") == GRADC_OK) {
    FILE *f1 = open_tmp("p.c", "w"), *f2 = open_tmp("p.h", "w");
    fputs(src, f1);
    fputs(hdr, f2);
    fclose(f1);
    fclose(f2);
    emitted = sh("cc -std=c99 -O2 -Wall -Wextra -pedantic -Werror -c p.c -o p.o") == 0;
    if (!emitted) {
      char *log = slurp("log.txt");
      fail(rel, "emitted C does not compile:\n%s", log);
      free(log);
    }
  } else if (gc) {
    fail(rel, "gradc_emit: %s", gradc_diag_render(gt));
  }
  for (int q = 0; gc && q < gradc_output_count(gt); q++) {
    long dims[4];
    if (gradc_output_shape(gt, q, dims) != 0)
      continue;
    Out o = {.file = rel, .name = gradc_output_name(gt, q), .out = q, .nv = gradc_var_count(gt)};
    snprintf(o.what, sizeof o.what, "%s %s", rel, o.name);
    o.param = malloc(((size_t)o.nv + 1) * sizeof *o.param);
    o.size = malloc(((size_t)o.nv + 1) * sizeof *o.size);
    for (int i = 0; i < o.nv; i++)
      if (gradc_var_is_param(gt, i)) {
        int rank;
        gradc_get_value(gt, i, dims, &rank);
        o.param[o.np] = i;
        o.size[o.np++] = count(dims, rank);
        o.n += count(dims, rank);
      }
    if (o.n == 0) {
      free(o.param);
      free(o.size);
      continue;
    }
    rng = 0x2545f4914f6cdd1dull + (uint64_t)q;
    o.v = malloc((size_t)o.n * sizeof *o.v);
    for (long e = 0; e < o.n; e++)
      o.v[e] = uniform();
    o.hv = malloc((size_t)o.n * sizeof *o.hv);
    o.grad = malloc((size_t)o.n * sizeof *o.grad);
    double *hv_cc = malloc((size_t)o.n * sizeof *hv_cc), *g_cc = malloc((size_t)o.n * sizeof *g_cc);
    double *gr = malloc((size_t)o.n * sizeof *gr);
    int failed_before = failures;
    if (run_hvp(gt, &o, o.hv, o.grad) == 0 && run_hvp(gc, &o, hv_cc, g_cc) == 0) {
      long w;
      checks += 2;
      if (!close_to(o.hv, hv_cc, o.n, 1e-12, inf_norm(o.hv, o.n), &w))
        fail(o.what, "H v with tcc %.17g, with cc %.17g (element %ld)", o.hv[w], hv_cc[w], w);
      if (grad_along(gt, &o, 0, gr) != 0 || !close_to(o.grad, gr, o.n, 0, 1, &w))
        fail(o.what, "gradc_fn_hvp's gradient is not gradc_fn_grad's");
      GradcFn *lean = gradc_fn_hvp_only(gt, q, NULL, 0);
      const double **vs = malloc(((size_t)o.np + 1) * sizeof *vs);
      for (long k = 0, off = 0; k < o.np; off += o.size[k], k++)
        vs[k] = o.v + off;
      checks++;
      if (!lean || gradc_run(lean, vs) != GRADC_OK)
        fail(o.what, "gradc_fn_hvp_only: %s", gradc_diag_render(gt));
      for (long k = 0, off = 0; lean && k < o.np; off += o.size[k], k++)
        if (!close_to(gradc_fn_res_data(lean, 1 + (int)k), o.hv + off, o.size[k], 0, 1, &w))
          fail(o.what, "gradc_fn_hvp_only's H v is not gradc_fn_hvp's (param %ld, element %ld)", k, w);
      free(vs);
      check_fixed(gt, &o, "tcc");
      check_fixed(gc, &o, "cc");
      if (gb)
        check_fixed(gb, &o, "tcc, BLAS");
      if (o.n <= MAX_UNROLLED)
        check_hessians(gt, &o);
      check_differences(gt, &o);
      if (emitted)
        check_emitted(gt, &o, hdr, q);
      if (failures == failed_before)
        printf("ok %s (%ld params, |H v| = %.6g)\n", o.what, o.n, inf_norm(o.hv, o.n));
    }
    free(hv_cc);
    free(g_cc);
    free(gr);
    free(o.v);
    free(o.hv);
    free(o.grad);
    free(o.param);
    free(o.size);
  }
  free(src);
  free(hdr);
  gradc_free(gt);
  gradc_free(gc);
  gradc_free(gb);
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: hvp_agree EXAMPLES_DIR [NAME-SUBSTRING]\n");
    return 2;
  }
  const char *dir = argv[1], *only = argc > 2 ? argv[2] : NULL;
  /* data files in the examples are named relative to their directory */
  if (chdir(dir) != 0) {
    perror(dir);
    return 2;
  }
  strcpy(tmpdir, "/tmp/gradc-hvp-XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 2;
  }
  char *files[MAX_FILES];
  int nf = 0;
  const char *subs[2] = {".", "mgh"};
  for (int s = 0; s < 2; s++) {
    DIR *d = opendir(subs[s]);
    for (struct dirent *e; d && (e = readdir(d)) && nf < MAX_FILES;) {
      size_t len = strlen(e->d_name);
      if (len < 6 || strcmp(e->d_name + len - 5, ".expr"))
        continue;
      char rel[512];
      snprintf(rel, sizeof rel, "%s%s%s", s ? subs[s] : "", s ? "/" : "", e->d_name);
      if (!only || strstr(rel, only))
        files[nf++] = strdup(rel);
    }
    if (d)
      closedir(d);
  }
  qsort(files, (size_t)nf, sizeof *files, by_name);
  for (int i = 0; i < nf; i++) {
    check_file(".", files[i]);
    fflush(stdout);
    free(files[i]);
  }
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd) != 0)
    fprintf(stderr, "could not remove %s\n", tmpdir);
  printf("hvp_agree: %d files, %d checks, %d failed\n", nf, checks, failures);
  if (nf == 0)
    return 1;
  return failures ? 1 : 0;
}
