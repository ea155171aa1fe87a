/* check.c: `gradc check` and the REPL's `:check` (SPEC section 2): every
 * derivative of every output (the Jacobian blocks of tensor outputs too),
 * in reverse and in forward mode, against central differences.
 *
 * The differences come with an estimate of their own error, so that a
 * correct derivative passes however large or badly scaled the function is:
 * for element x of a wrt variable, with a step h,
 *   D1 = (f(x+h) - f(x-h)) / 2h,   D2 = (f(x+2h) - f(x-2h)) / 4h,
 * the finite difference is Richardson's (4 D1 - D2) / 3, and its error is
 * estimated as |D1 - D2| (truncation, generously: the extrapolated value's
 * is of higher order) plus a safety factor times the rounding in the
 * values, eps * (|f(x+h)| + |f(x-h)| + |f(x)|) / h. A derivative D passes
 * when
 *   |D - FD| <= tol * max(|D|, |FD|, 1) + estimated error,
 * reported as a relative error |D - FD| / max(|D|, |FD|, 1) against the
 * allowed (tol + estimate / max(|D|, |FD|, 1)). The steps form a ladder,
 * h = cbrt(eps) * max(1, |x|) and 1/16, 1/256, ... 1/16^7 of it (none crossing
 * zero), the next tried only while some entry has not passed: a derivative
 * passes at the first step that agrees, fails if none does (the least bad
 * step is reported). One step too coarse (sin at 1e6) or too fine does not
 * fail a correct derivative.
 *
 * A non-finite derivative where the differences are finite is a mismatch.
 * Where the function is not finite at the point or at a difference point,
 * the entry is not compared (neither passed nor failed). Variables and
 * outputs with more than MAX_SAMPLED elements are sampled evenly. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define MAX_SAMPLED 200     /* elements per variable and per output */
#define NWORST 10           /* rows of the table of the worst entries */
#define NSKIPPED 5          /* entries not compared that are listed */
#define ROUND_SAFETY 10.0   /* on the estimate of rounding in the values */
#define NSTEPS 8            /* step sizes tried, each 1/16 of the one before */
#define ABS_FLOOR 1.0       /* the absolute floor of the relative error */
#define POINT_ELEMS 6       /* tensors with more elements are elided */
#define JSON_POINT_ELEMS 10000

typedef struct Entry {
  int out, var, forward;
  long oel, vel;            /* element of the output and of the variable */
  double ad, fd, err, allowed;
  const char *why;          /* not compared: why */
  double fval;              /* not compared: the value that is not finite */
} Entry;

typedef struct Check {
  Gradc *g;
  const Opts *o;
  const int *wrt;
  int no, nwrt;
  long *osize, *ons;        /* per output: elements, sampled elements */
  long *wsize, *wns, *woff; /* per wrt variable: elements, sampled, offset */
  long nin;                 /* sampled variable elements in all */
  long *ooff, nout;         /* per output: offset of its samples; in all */
  long **odims;             /* per output: its shape */
  int *orank;
  double **base;            /* per output: the value at the point */
  double **rev;             /* per output: [sampled out elem][sampled in elem] */
  double *fp1, *fm1, *fp2, *fm2; /* sampled output elements at x±h, x±2h */
  Entry *cand;              /* per sampled output element and mode: the best */
  char *state;              /* comparison so far over the steps (an ST_) */
  char *diffable;           /* [o * nwrt + k] */
  long compared, mismatches, not_compared;
  double max_err;
  Entry worst[NWORST];
  int nworst;
  Entry skipped[NSKIPPED];
  int nskipped;
} Check;

/* The j-th of the min(n, MAX_SAMPLED) elements that are compared. */
static long sample(long n, long j) {
  return n <= MAX_SAMPLED ? j : (long)((unsigned long long)j * (unsigned long long)n / MAX_SAMPLED);
}

static long nsampled(long n) {
  return n < MAX_SAMPLED ? n : MAX_SAMPLED;
}

/* How far over its allowance an entry is (> 1: a mismatch). */
static double score(const Entry *e) {
  if (!(e->err <= INFINITY))
    return INFINITY;
  return e->allowed > 0 ? e->err / e->allowed : e->err > 0 ? INFINITY : 0;
}

static void keep_worst(Check *c, const Entry *e) {
  double s = score(e);
  int i = c->nworst;
  if (i == NWORST) {
    if (!(s > score(&c->worst[NWORST - 1])))
      return;
    i--;
  } else {
    c->nworst++;
  }
  while (i > 0 && s > score(&c->worst[i - 1])) {
    c->worst[i] = c->worst[i - 1];
    i--;
  }
  c->worst[i] = *e;
}

static void fmt_num(char *buf, size_t n, double x, int digits) {
  if (isnan(x))
    snprintf(buf, n, "NaN");
  else if (isinf(x))
    snprintf(buf, n, "%s", x > 0 ? "Infinity" : "-Infinity");
  else
    snprintf(buf, n, "%.*g", digits, x);
}

/* "[i,j]" for element el of a tensor of shape dims (nothing for a scalar). */
static int fmt_index(char *out, size_t n, const long *dims, int rank, long el) {
  long idx[8], rest = el;
  int k = 0;
  out[0] = 0;
  for (int i = rank - 1; i >= 0; i--) {
    idx[i] = dims[i] > 0 ? rest % dims[i] : 0;
    rest = dims[i] > 0 ? rest / dims[i] : 0;
  }
  for (int i = 0; i < rank && (size_t)k < n; i++) {
    int w = snprintf(out + k, n - (size_t)k, "%s%ld%s", i ? "," : "[", idx[i], i + 1 == rank ? "]" : "");
    if (w < 0)
      break;
    k += w;
  }
  return k;
}

/* dy[i]/dx[j] */
static void entry_name(const Check *c, const Entry *e, char *out, size_t n) {
  char oi[128], vi[128];
  long dims[8];
  int rank;
  fmt_index(oi, sizeof oi, c->odims[e->out], c->orank[e->out], e->oel);
  gradc_get_value(c->g, e->var, dims, &rank);
  fmt_index(vi, sizeof vi, dims, rank, e->vel);
  snprintf(out, n, "d%s%s/d%s%s", output_label(c->g, c->o, e->out, 1), oi, gradc_var_name(c->g, e->var), vi);
}

static void check_free(Check *c) {
  for (int o = 0; o < c->no; o++) {
    if (c->base)
      free(c->base[o]);
    if (c->rev)
      free(c->rev[o]);
    if (c->odims)
      free(c->odims[o]);
  }
  free(c->base);
  free(c->rev);
  free(c->odims);
  free(c->orank);
  free(c->osize);
  free(c->ons);
  free(c->ooff);
  free(c->wsize);
  free(c->wns);
  free(c->woff);
  free(c->fp1);
  free(c->fm1);
  free(c->fp2);
  free(c->fm2);
  free(c->cand);
  free(c->state);
  free(c->diffable);
}

/* Sizes, the values at the point and the reverse-mode rows (one VJP per
 * sampled element of each output). -1 on an error, reported on g. */
static int prepare(Check *c) {
  Gradc *g = c->g;
  int no = c->no, nwrt = c->nwrt;
  c->osize = calloc((size_t)no + 1, sizeof *c->osize);
  c->ons = calloc((size_t)no + 1, sizeof *c->ons);
  c->ooff = calloc((size_t)no + 1, sizeof *c->ooff);
  c->orank = calloc((size_t)no + 1, sizeof *c->orank);
  c->odims = calloc((size_t)no + 1, sizeof *c->odims);
  c->base = calloc((size_t)no + 1, sizeof *c->base);
  c->rev = calloc((size_t)no + 1, sizeof *c->rev);
  c->wsize = calloc((size_t)nwrt + 1, sizeof *c->wsize);
  c->wns = calloc((size_t)nwrt + 1, sizeof *c->wns);
  c->woff = calloc((size_t)nwrt + 1, sizeof *c->woff);
  c->diffable = calloc((size_t)no * (size_t)nwrt + 1, 1);
  if (!c->osize || !c->ons || !c->ooff || !c->orank || !c->odims || !c->base || !c->rev ||
      !c->wsize || !c->wns || !c->woff || !c->diffable) {
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory");
    return -1;
  }
  for (int k = 0; k < nwrt; k++) {
    long dims[8];
    int rank;
    if (!gradc_get_value(g, c->wrt[k], dims, &rank)) {
      gradc_error(g, GRADC_ERR_INPUT, "no value for %s", gradc_var_name(g, c->wrt[k]));
      return -1;
    }
    c->wsize[k] = count(dims, rank);
    c->wns[k] = nsampled(c->wsize[k]);
    c->woff[k] = c->nin;
    c->nin += c->wns[k];
  }
  GradcFn *fv = gradc_fn_value(g);
  if (!fv || gradc_run(fv, NULL) != GRADC_OK)
    return -1;
  for (int o = 0; o < no; o++) {
    c->odims[o] = calloc(8, sizeof(long));
    if (!c->odims[o]) {
      gradc_error(g, GRADC_ERR_NOMEM, "out of memory");
      return -1;
    }
    c->orank[o] = gradc_fn_res_shape(fv, o, c->odims[o]);
    c->osize[o] = count(c->odims[o], c->orank[o]);
    c->ons[o] = nsampled(c->osize[o]);
    c->ooff[o] = c->nout;
    c->nout += c->ons[o];
    c->base[o] = malloc(((size_t)c->osize[o] + 1) * sizeof(double));
    if (!c->base[o]) {
      gradc_error(g, GRADC_ERR_NOMEM, "out of memory");
      return -1;
    }
    memcpy(c->base[o], gradc_fn_res_data(fv, o), (size_t)c->osize[o] * sizeof(double));
    for (int k = 0; k < nwrt; k++)
      c->diffable[o * nwrt + k] = (char)gradc_differentiable(g, o, c->wrt[k]);
  }
  c->fp1 = calloc((size_t)c->nout + 1, sizeof(double));
  c->fm1 = calloc((size_t)c->nout + 1, sizeof(double));
  c->fp2 = calloc((size_t)c->nout + 1, sizeof(double));
  c->fm2 = calloc((size_t)c->nout + 1, sizeof(double));
  c->cand = calloc((size_t)c->nout * 2 + 1, sizeof(Entry));
  c->state = calloc((size_t)c->nout * 2 + 1, 1);
  if (!c->fp1 || !c->fm1 || !c->fp2 || !c->fm2 || !c->cand || !c->state) {
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory");
    return -1;
  }
  /* reverse mode: the rows of each output's Jacobian that are compared */
  for (int o = 0; o < no; o++) {
    int any = 0;
    for (int k = 0; k < nwrt; k++)
      any |= c->diffable[o * nwrt + k];
    if (!any || c->nin == 0)
      continue;
    GradcFn *f = gradc_fn_vjp(g, o, c->wrt, nwrt);
    if (!f)
      return -1;
    double *ct = calloc((size_t)c->osize[o] + 1, sizeof *ct);
    c->rev[o] = malloc(((size_t)c->ons[o] * (size_t)c->nin + 1) * sizeof(double));
    if (!ct || !c->rev[o]) {
      free(ct);
      gradc_error(g, GRADC_ERR_NOMEM, "out of memory");
      return -1;
    }
    for (long j = 0; j < c->ons[o]; j++) {
      long i = sample(c->osize[o], j);
      ct[i] = 1;
      const double *args[1] = {ct};
      GradcStatus s = gradc_run(f, args);
      ct[i] = 0;
      if (s != GRADC_OK) {
        free(ct);
        return -1;
      }
      for (int k = 0; k < nwrt; k++) {
        const double *adj = gradc_fn_res_data(f, 1 + k);
        double *row = c->rev[o] + j * c->nin + c->woff[k];
        for (long jj = 0; jj < c->wns[k]; jj++)
          row[jj] = adj[sample(c->wsize[k], jj)];
      }
    }
    free(ct);
  }
  return 0;
}

enum { ST_OPEN, ST_PASSED, ST_FAILED, ST_NOT_COMPARED };

/* Entry e (mode e->forward) of sampled output element s at this step: a
 * pass is final; otherwise the least bad so far is kept. */
static void candidate(Check *c, long s, const Entry *e, int st) {
  long at = 2 * s + e->forward;
  char *old = &c->state[at];
  if (*old == ST_PASSED)
    return;
  if (st == ST_PASSED) {
    c->compared++;
    if (!(e->err <= c->max_err))
      c->max_err = e->err;
    keep_worst(c, e);
    *old = ST_PASSED;
  } else if (*old == ST_OPEN || (*old == ST_NOT_COMPARED && st == ST_FAILED) ||
             (*old == ST_FAILED && st == ST_FAILED && score(e) < score(&c->cand[at]))) {
    c->cand[at] = *e;
    *old = (char)st;
  }
}

/* After the last step: what did not pass is a mismatch or not compared. */
static void settle(Check *c, long s) {
  for (int mode = 0; mode < 2; mode++) {
    long at = 2 * s + mode;
    Entry *e = &c->cand[at];
    if (c->state[at] == ST_FAILED) {
      c->compared++;
      c->mismatches++;
      if (!(e->err <= c->max_err))
        c->max_err = e->err;
      keep_worst(c, e);
    } else if (c->state[at] == ST_NOT_COMPARED) {
      c->not_compared++;
      if (mode == 0 && c->nskipped < NSKIPPED)
        c->skipped[c->nskipped++] = *e;
    }
    c->state[at] = ST_OPEN;
  }
}

/* Compare element j of output o with element jj of variable k, in both
 * modes, given the values at the difference points of one step (sp1 =
 * (x+h) - (x-h), sp2 likewise for 2h). */
static void compare(Check *c, int o, long j, int k, long jj, double fwd, double sp1, double sp2, double h) {
  long s = c->ooff[o] + j, i = sample(c->osize[o], j);
  double f0 = c->base[o][i], p1 = c->fp1[s], m1 = c->fm1[s], p2 = c->fp2[s], m2 = c->fm2[s];
  Entry e = {.out = o, .var = c->wrt[k], .oel = i, .vel = sample(c->wsize[k], jj)};
  const char *why = NULL;
  double bad = !isfinite(p1) ? p1 : !isfinite(m1) ? m1 : !isfinite(p2) ? p2 : !isfinite(m2) ? m2 : 0;
  double d1 = (p1 - m1) / sp1, d2 = (p2 - m2) / sp2;
  double fd = (4 * d1 - d2) / 3;
  if (!isfinite(f0))
    why = "at the point", bad = f0;
  else if (bad != 0)
    why = "at a difference point";
  else if (!isfinite(d1) || !isfinite(d2) || !isfinite(fd))
    why = "in the differences (they overflow)", bad = isfinite(d1) ? d2 : d1;
  double rounding = DBL_EPSILON * (fabs(p1) + fabs(m1) + fabs(f0)) / h;
  double est = fabs(d1 - d2) + ROUND_SAFETY * rounding;
  double rev = c->rev[o] ? c->rev[o][j * c->nin + c->woff[k] + jj] : NAN;
  for (int mode = 0; mode < 2; mode++) {
    double ad = mode ? fwd : rev;
    e.forward = mode;
    if (why) {
      e.why = why;
      e.fval = bad;
      candidate(c, s, &e, ST_NOT_COMPARED);
      continue;
    }
    double scale = fmax(ABS_FLOOR, fmax(isfinite(ad) ? fabs(ad) : 0, fabs(fd)));
    e.ad = ad;
    e.fd = fd;
    e.err = isfinite(ad) ? fabs(ad - fd) / scale : INFINITY;
    e.allowed = c->o->tol + est / scale;
    candidate(c, s, &e, e.err <= e.allowed ? ST_PASSED : ST_FAILED);
  }
}

/* Does element s of every output still wait for a step? */
static int open_entries(const Check *c) {
  for (long s = 0; s < 2 * c->nout; s++)
    if (c->state[s] != ST_PASSED)
      return 1;
  return 0;
}

/* Run the value function with x[el] = xv and keep the sampled outputs. */
static int values_at(Check *c, GradcFn *fv, double *x, long el, double xv, double *out) {
  x[el] = xv;
  if (gradc_run(fv, NULL) != GRADC_OK)
    return -1;
  for (int o = 0; o < c->no; o++) {
    const double *d = gradc_fn_res_data(fv, o);
    for (long j = 0; j < c->ons[o]; j++)
      out[c->ooff[o] + j] = d[sample(c->osize[o], j)];
  }
  return 0;
}

/* Forward mode and the differences: per sampled element of each wrt
 * variable, one JVP and four evaluations. */
static int sweep(Check *c) {
  Gradc *g = c->g;
  GradcFn *fv = gradc_fn_value(g), *fj = gradc_fn_jvp(g, c->wrt, c->nwrt);
  if (!fv || !fj)
    return -1;
  long *sizes = calloc((size_t)c->nwrt + 1, sizeof *sizes);
  double **tan = sizes ? zero_tangents(g, c->wrt, c->nwrt, sizes) : NULL;
  int rc = tan ? 0 : -1;
  if (rc)
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory");
  for (int k = 0; !rc && k < c->nwrt; k++) {
    int any = 0;
    for (int o = 0; o < c->no; o++)
      any |= c->diffable[o * c->nwrt + k];
    if (!any)
      continue;
    long dims[8];
    int rank;
    double *x = gradc_get_value(g, c->wrt[k], dims, &rank);
    for (long jj = 0; !rc && jj < c->wns[k]; jj++) {
      long el = sample(c->wsize[k], jj);
      double x0 = x[el];
      tan[k][el] = 1;
      rc = gradc_run(fj, (const double *const *)tan) == GRADC_OK ? 0 : -1;
      tan[k][el] = 0;
      double *fwd = rc ? NULL : malloc((size_t)c->nout * sizeof *fwd);
      if (!rc && !fwd)
        rc = -1;
      for (int o = 0; !rc && o < c->no; o++) { /* the JVP, kept across steps */
        const double *d = gradc_fn_res_data(fj, c->no + o);
        for (long j = 0; j < c->ons[o]; j++) {
          fwd[c->ooff[o] + j] = d[sample(c->osize[o], j)];
          if (!c->diffable[o * c->nwrt + k]) /* nothing to wait for */
            c->state[2 * (c->ooff[o] + j)] = c->state[2 * (c->ooff[o] + j) + 1] = ST_PASSED;
        }
      }
      /* a ladder of steps, each used only while an entry has not passed:
       * cbrt(eps) max(1, |x|) and 1/16, 1/256, ... of it, none crossing
       * zero (sqrt at 1e-6), so that a correct derivative passes where the
       * first step is too coarse (sin at 1e6) or too fine */
      double h0 = 6.0554544523933395e-06 * fmax(1.0, fabs(x0)); /* cbrt(eps) */
      for (int step = 0; !rc && step < NSTEPS && (step == 0 || open_entries(c)); step++) {
        double want = ldexp(h0, -4 * step);
        if (x0 != 0 && want > fabs(x0) / 4)
          want = fabs(x0) / 4;
        volatile double t = x0 + want; /* exact in binary: x0 + h - x0 == h */
        double h = t - x0;
        if (!(h > 0) || !isfinite(x0))
          h = 6.0554544523933395e-06;
        double xp1 = x0 + h, xm1 = x0 - h, xp2 = x0 + 2 * h, xm2 = x0 - 2 * h;
        if (values_at(c, fv, x, el, xp1, c->fp1) < 0 || values_at(c, fv, x, el, xm1, c->fm1) < 0 ||
            values_at(c, fv, x, el, xp2, c->fp2) < 0 || values_at(c, fv, x, el, xm2, c->fm2) < 0)
          rc = -1;
        x[el] = x0;
        for (int o = 0; !rc && o < c->no; o++) {
          if (!c->diffable[o * c->nwrt + k])
            continue; /* derivative 0 by convention (SPEC 1.5): not compared */
          for (long j = 0; j < c->ons[o]; j++)
            compare(c, o, j, k, jj, fwd[c->ooff[o] + j], xp1 - xm1, xp2 - xm2, h);
        }
      }
      for (long s = 0; !rc && s < c->nout; s++)
        settle(c, s);
      free(fwd);
    }
  }
  free_tangents(tan, c->nwrt);
  free(sizes);
  return rc;
}

/* ---- printing ------------------------------------------------------------------ */

/* Nested brackets on one line. */
static int put_tensor(char *buf, size_t n, const double *d, const long *dims, int rank) {
  char v[40];
  if (rank == 0) {
    fmt_num(v, sizeof v, d[0], 10);
    return snprintf(buf, n, "%s", v);
  }
  long inner = count(dims + 1, rank - 1);
  int k = snprintf(buf, n, "[");
  for (long i = 0; i < dims[0] && (size_t)k < n; i++) {
    if (i)
      k += snprintf(buf + k, n - (size_t)k, ", ");
    if ((size_t)k < n)
      k += put_tensor(buf + k, n - (size_t)k, d + i * inner, dims + 1, rank - 1);
  }
  if ((size_t)k < n)
    k += snprintf(buf + k, n - (size_t)k, "]");
  return k;
}

/* NAME = VALUE: small tensors in full, bigger ones as their first and
 * last elements (flattened) and their shape. */
static void put_value(char *buf, size_t n, const char *name, const double *d, const long *dims, int rank) {
  long total = count(dims, rank);
  int k = snprintf(buf, n, "%s = ", name);
  if (k < 0 || (size_t)k >= n)
    return;
  if (total <= POINT_ELEMS) {
    put_tensor(buf + k, n - (size_t)k, d, dims, rank);
    return;
  }
  char a[40], b[40], c[40], z[40];
  fmt_num(a, sizeof a, d[0], 10);
  fmt_num(b, sizeof b, d[1], 10);
  fmt_num(c, sizeof c, d[2], 10);
  fmt_num(z, sizeof z, d[total - 1], 10);
  k += snprintf(buf + k, n - (size_t)k, "[%s, %s, %s, ..., %s] (", a, b, c, z);
  for (int i = 0; i < rank && (size_t)k < n; i++)
    k += snprintf(buf + k, n - (size_t)k, "%s%ld", i ? "x" : "", dims[i]);
  if ((size_t)k < n)
    snprintf(buf + k, n - (size_t)k, ")");
}

/* "at w = 2, x = 3, y = 1", wrapped before 100 columns. */
static void print_point(Gradc *g) {
  int col = printf("at"), any = 0;
  for (int i = 0; i < gradc_var_count(g); i++) {
    long dims[8];
    int rank;
    const double *d = gradc_get_value(g, i, dims, &rank);
    if (!d)
      continue;
    char buf[1024];
    put_value(buf, sizeof buf, gradc_var_name(g, i), d, dims, rank);
    int len = (int)strlen(buf);
    if (any && col + 2 + len > 100) {
      printf(",\n  ");
      col = 2;
    } else {
      col += printf("%s ", any ? "," : "");
    }
    col += printf("%s", buf);
    any = 1;
  }
  printf("%s\n", any ? "" : " no variables");
}

static void print_human(Check *c) {
  Gradc *g = c->g;
  const char *status = c->mismatches ? "MISMATCH" : c->compared ? "ok" : "nothing compared";
  printf("%s: %ld derivatives (reverse and forward mode) of %d output%s against central differences",
         status, c->compared, c->no, c->no == 1 ? "" : "s");
  if (c->not_compared)
    printf(", %ld not compared", c->not_compared);
  printf("\n");
  if (c->compared) {
    char m[40];
    fmt_num(m, sizeof m, c->max_err, 3);
    printf("max relative error %s, tolerance %.3g plus the differences' estimated error, %ld over\n", m,
           c->o->tol, c->mismatches);
  }
  for (int o = 0; o < c->no; o++) {
    int any = 0;
    for (int k = 0; k < c->nwrt; k++)
      any |= c->diffable[o * c->nwrt + k];
    if (!any && c->nwrt)
      printf("(%s is not differentiable: derivative 0 by convention, not compared)\n",
             output_label(g, c->o, o, 0));
  }
  for (int o = 0; o < c->no; o++)
    if (c->ons[o] < c->osize[o])
      printf("(%s: %ld of its %ld elements sampled)\n", output_label(g, c->o, o, 0), c->ons[o], c->osize[o]);
  for (int k = 0; k < c->nwrt; k++)
    if (c->wns[k] < c->wsize[k])
      printf("(%s: %ld of its %ld elements sampled)\n", gradc_var_name(g, c->wrt[k]), c->wns[k],
             c->wsize[k]);
  if (c->nworst) {
    printf("\nworst entries:\n  %-24s %-8s %20s %20s %10s %10s\n", "derivative", "mode", "analytic",
           "finite difference", "error", "allowed");
    for (int i = 0; i < c->nworst; i++) {
      const Entry *e = &c->worst[i];
      char name[600], a[40], f[40], er[40], al[40];
      entry_name(c, e, name, sizeof name);
      fmt_num(a, sizeof a, e->ad, 12);
      fmt_num(f, sizeof f, e->fd, 12);
      fmt_num(er, sizeof er, e->err, 3);
      fmt_num(al, sizeof al, e->allowed, 3);
      printf("  %-24s %-8s %20s %20s %10s %10s%s\n", name, e->forward ? "forward" : "reverse", a, f, er,
             al, e->err <= e->allowed ? "" : "  <-");
    }
  }
  if (c->not_compared) {
    printf("\nnot compared (the function is not finite there):\n");
    for (int i = 0; i < c->nskipped; i++) {
      const Entry *e = &c->skipped[i];
      char name[600], v[40], oi[128];
      entry_name(c, e, name, sizeof name);
      fmt_num(v, sizeof v, e->fval, 10);
      fmt_index(oi, sizeof oi, c->odims[e->out], c->orank[e->out], e->oel);
      printf("  %-24s %s%s = %s %s\n", name, output_label(g, c->o, e->out, 1), oi, v, e->why);
    }
    if (c->not_compared / 2 > c->nskipped)
      printf("  ... (%ld in all)\n", c->not_compared / 2);
  }
}

static json_t *jentry(const Check *c, const Entry *e, int skipped) {
  json_t *w = json_object();
  char name[600];
  entry_name(c, e, name, sizeof name);
  json_object_set_new(w, "derivative", json_string(name));
  if (skipped) {
    json_object_set_new(w, "reason", json_string(e->why));
    json_object_set_new(w, "value", jnum(e->fval));
    return w;
  }
  json_object_set_new(w, "mode", json_string(e->forward ? "forward" : "reverse"));
  json_object_set_new(w, "analytic", jnum(e->ad));
  json_object_set_new(w, "finite_difference", jnum(e->fd));
  json_object_set_new(w, "error", jnum(e->err));
  json_object_set_new(w, "allowed", jnum(e->allowed));
  json_object_set_new(w, "ok", json_boolean(e->err <= e->allowed));
  return w;
}

static void print_json(Check *c) {
  Gradc *g = c->g;
  json_t *root = json_object(), *chk = jobj(root, "check"), *pt = json_object();
  for (int i = 0; i < gradc_var_count(g); i++) {
    long dims[8];
    int rank;
    const double *d = gradc_get_value(g, i, dims, &rank);
    if (!d)
      continue;
    if (count(dims, rank) <= JSON_POINT_ELEMS) {
      json_object_set_new(pt, gradc_var_name(g, i), jtensor(d, dims, rank));
    } else {
      json_t *el = json_object(), *shape = json_array();
      for (int k = 0; k < rank; k++)
        json_array_append_new(shape, json_integer(dims[k]));
      json_object_set_new(el, "shape", shape);
      json_object_set_new(el, "elided", json_true());
      json_object_set_new(pt, gradc_var_name(g, i), el);
    }
  }
  json_object_set_new(chk, "point", pt);
  json_object_set_new(chk, "tolerance", json_real(c->o->tol));
  json_object_set_new(chk, "derivatives", json_integer(c->compared));
  json_object_set_new(chk, "not_compared", json_integer(c->not_compared));
  json_object_set_new(chk, "mismatches", json_integer(c->mismatches));
  json_object_set_new(chk, "max_error", jnum(c->max_err));
  json_t *worst = json_array(), *skipped = json_array();
  for (int i = 0; i < c->nworst; i++)
    json_array_append_new(worst, jentry(c, &c->worst[i], 0));
  for (int i = 0; i < c->nskipped; i++)
    json_array_append_new(skipped, jentry(c, &c->skipped[i], 1));
  json_object_set_new(chk, "worst", worst);
  json_object_set_new(chk, "not_compared_entries", skipped);
  json_print(root);
}

int cmd_check(Run *r, const int *wrt, int nwrt) {
  Check c;
  memset(&c, 0, sizeof c);
  c.g = r->g;
  c.o = r->o;
  c.wrt = wrt;
  c.nwrt = nwrt;
  c.no = gradc_output_count(r->g);
  int rc = 0;
  if (prepare(&c) < 0 || sweep(&c) < 0) {
    rc = report(r->g);
  } else {
    if (r->o->json) {
      print_json(&c);
    } else {
      print_point(r->g);
      print_human(&c);
    }
    rc = c.mismatches ? EXIT_MISMATCH : 0;
  }
  check_free(&c);
  return rc;
}
