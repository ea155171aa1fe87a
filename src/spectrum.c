/* spectrum.c: the extreme eigenvalues of a Hessian, a Hutchinson estimate
 * of its trace and the kind of point, from Hessian-vector products only.
 *
 * Every product H v is one call of the tangent function of hvp_fixed.c
 * (gradc_hvp_at: forward over reverse, the primal values and adjoints at
 * the point computed once, before the first product). The eigenvalues come from ARPACK's implicitly
 * restarted Lanczos method (dsaupd/dseupd, Lehoucq, Sorensen and Yang,
 * "ARPACK Users' Guide", SIAM 1998), which asks for one product at a time
 * by reverse communication and keeps ncv vectors of length n: O(n ncv)
 * memory, never the n x n Hessian. Small problems, where a Lanczos basis
 * would span the whole space anyway, form H from n products and call
 * LAPACK's dsyev. The trace is Hutchinson's estimator (Hutchinson,
 * "A stochastic estimator of the trace of the influence matrix for
 * Laplacian smoothing splines", 1990) with Rademacher probes, as in
 * PyHessian (Yao et al., 2020). */
#include <arpack.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "gradc.h"

/* LAPACK (Fortran: hidden string lengths last) */
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info, size_t ljobz, size_t luplo);

/* The operator A v = H v / scale + shift v, H v by the compiled HVP. */
typedef struct Op {
  Gradc *g;
  GradcHvpAt *h;       /* H v at the point (its value and gradient too) */
  const char *name;    /* the output's name, for messages */
  const int *wrt;
  int nwrt;
  long n;
  long *off;           /* [nwrt + 1]: where each wrt variable starts in v */
  const double **v;    /* [nwrt] the direction, per wrt variable */
  double **hv;         /* [nwrt] H v, per wrt variable */
  double scale, shift;
  long hvps;
} Op;

static GradcStatus not_finite(Op *op, const char *what, long i) {
  int k = 0;
  while (k + 1 < op->nwrt && op->off[k + 1] <= i)
    k++;
  const char *name = gradc_var_name(op->g, op->wrt[k]);
  if (op->off[k + 1] - op->off[k] > 1)
    gradc_error(op->g, GRADC_ERR_INPUT, "%s of %s is not finite at this point (element %ld of %s)",
                what, op->name, i - op->off[k], name);
  else
    gradc_error(op->g, GRADC_ERR_INPUT, "%s of %s is not finite at this point (at %s)", what, op->name,
                name);
  return GRADC_ERR_INPUT;
}

/* y = A x. */
static GradcStatus apply(Op *op, const double *x, double *y) {
  for (int k = 0; k < op->nwrt; k++) {
    op->v[k] = x + op->off[k];
    op->hv[k] = y + op->off[k];
  }
  GradcStatus st = gradc_hvp_at_apply(op->h, op->v, op->hv);
  if (st != GRADC_OK)
    return st;
  op->hvps++;
  for (long i = 0; i < op->n; i++)
    if (!isfinite(y[i]))
      return not_finite(op, "the Hessian-vector product", i);
  if (op->scale != 1 || op->shift != 0)
    for (long i = 0; i < op->n; i++)
      y[i] = y[i] / op->scale + op->shift * x[i];
  return GRADC_OK;
}

static double uniform(uint64_t *s) { return ((double)(values_splitmix(s) >> 11) + 0.5) * 0x1.0p-53; }

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* ---- Lanczos (ARPACK) --------------------------------------------------------- */

typedef struct Lanczos {
  const char *which;   /* "LA", "SA", "LM", "BE" */
  int nev, ncv, maxiter;
  double tol;
  long budget;         /* stop (not converged) after this many products; <0: none */
  uint64_t seed;
  int refine;          /* Ritz vectors x, and theta = x'Hx with H itself */
  double *theta;       /* [nev] out: Ritz values of A (refined: of H), ascending */
  int converged, restarts, info;
} Lanczos;

/* dsaupd's reverse-communication loop, then dseupd for the Ritz values.
 * Not converging (maxiter, budget, ARPACK's own failure) is no error:
 * lz->converged says, lz->info keeps ARPACK's code. */
static GradcStatus lanczos(Op *op, Lanczos *lz) {
  a_int n = (a_int)op->n, ncv = lz->ncv, nev = lz->nev, ido = 0, info = 1;
  a_int lworkl = ncv * (ncv + 8), iparam[11] = {0}, ipntr[14] = {0};
  double *resid = malloc((size_t)n * sizeof *resid);
  double *v = malloc((size_t)n * (size_t)ncv * sizeof *v);
  double *workd = malloc(3 * (size_t)n * sizeof *workd);
  double *workl = malloc((size_t)lworkl * sizeof *workl);
  a_int *select = calloc((size_t)ncv, sizeof *select);
  GradcStatus st = GRADC_OK;
  lz->converged = 0;
  if (!resid || !v || !workd || !workl || !select) {
    st = GRADC_ERR_NOMEM;
    goto done;
  }
  uint64_t rng = lz->seed;
  for (a_int i = 0; i < n; i++) /* a seeded start vector (info = 1) */
    resid[i] = 2 * uniform(&rng) - 1;
  iparam[0] = 1;            /* exact shifts */
  iparam[2] = lz->maxiter;
  iparam[6] = 1;            /* mode 1: A x = lambda x */
  long start = op->hvps;
  for (;;) {
    dsaupd_c(&ido, "I", n, lz->which, nev, lz->tol, resid, ncv, v, n, iparam, ipntr, workd, workl,
             lworkl, &info);
    if (ido != 1 && ido != -1)
      break;
    if (lz->budget >= 0 && op->hvps - start >= lz->budget) {
      info = 1; /* as if maxiter were reached */
      goto done;
    }
    st = apply(op, workd + ipntr[0] - 1, workd + ipntr[1] - 1);
    if (st != GRADC_OK)
      goto done;
  }
  lz->restarts = iparam[2];
  if (info == -9) {
    /* dsaupd starts from A x for our random x (dgetv0 forces the start
     * into the range of A): -9, a zero start, means A x = 0, so (almost
     * surely) A = 0 and every eigenvalue is 0 */
    memset(lz->theta, 0, (size_t)nev * sizeof *lz->theta);
    lz->converged = 1;
    info = 0;
    goto done;
  }
  if (info != 0)            /* 1: maxiter reached; <0: ARPACK failed */
    goto done;
  double *d = calloc((size_t)nev, sizeof *d);
  if (!d) {
    st = GRADC_ERR_NOMEM;
    goto done;
  }
  /* the Ritz vectors (refine) overwrite the first nev columns of v */
  dseupd_c(lz->refine, "A", select, d, v, n, 0.0, "I", n, lz->which, nev, lz->tol, resid, ncv, v, n,
           iparam, ipntr, workd, workl, lworkl, &info);
  if (info == 0 && iparam[4] >= nev) {
    /* Rayleigh quotients x'Hx of the unit Ritz vectors with H itself: a
     * shift loses the digits of small eigenvalues that H/s + 3 I cannot
     * carry; the quotient's error is O(residual^2 / gap) */
    double scale = op->scale, shift = op->shift;
    op->scale = 1;
    op->shift = 0;
    for (a_int i = 0; lz->refine && st == GRADC_OK && i < nev; i++) {
      const double *x = v + (size_t)i * (size_t)n;
      double xhx = 0, xx = 0;
      st = apply(op, x, workd);
      for (a_int j = 0; j < n; j++) {
        xhx += x[j] * workd[j];
        xx += x[j] * x[j];
      }
      d[i] = xhx / xx;
    }
    op->scale = scale;
    op->shift = shift;
    qsort(d, (size_t)nev, sizeof *d, cmp_double);
    memcpy(lz->theta, d, (size_t)nev * sizeof *d);
    lz->converged = st == GRADC_OK;
  }
  free(d);
done:
  lz->info = info;
  free(resid);
  free(v);
  free(workd);
  free(workl);
  free(select);
  return st;
}

/* LAPACK: eigenvalues and eigenvectors of a symmetric tridiagonal matrix */
void dstev_(const char *jobz, const int *n, double *d, double *e, double *z, const int *ldz,
            double *work, int *info, size_t ljobz);

/* The k largest eigenvalues by plain Lanczos (Lanczos 1950) with full
 * reorthogonalisation, for at most mmax steps, testing after each product
 * ARPACK's criterion for the top k Ritz pairs: |beta_m z_mi| <= tol
 * max(eps^(2/3), |theta_i|) (the residual's norm, z the eigenvectors of the
 * tridiagonal T_m). On convergence theta[0..k) gets them, ascending. A
 * Krylov space that closes early (beta = 0) counts as not converged, so
 * that ARPACK, which restarts, takes over. */
static GradcStatus lanczos_steps(Op *op, int k, int mmax, double tol, uint64_t seed, double *theta,
                                 int *converged) {
  long n = op->n;
  double *q = malloc((size_t)n * (size_t)(mmax + 1) * sizeof *q), *w = malloc((size_t)n * sizeof *w);
  double *alpha = malloc((size_t)mmax * sizeof *alpha), *beta = malloc((size_t)mmax * sizeof *beta);
  double *d = malloc((size_t)mmax * sizeof *d), *e = malloc((size_t)mmax * sizeof *e);
  double *z = malloc((size_t)mmax * (size_t)mmax * sizeof *z), *work = malloc(2 * (size_t)mmax * sizeof *work);
  double eps23 = pow(0x1.0p-52, 2.0 / 3);
  GradcStatus st = q && w && alpha && beta && d && e && z && work ? GRADC_OK : GRADC_ERR_NOMEM;
  *converged = 0;
  uint64_t rng = seed;
  double nrm = 0;
  for (long i = 0; st == GRADC_OK && i < n; i++) {
    q[i] = 2 * uniform(&rng) - 1;
    nrm += q[i] * q[i];
  }
  for (long i = 0; st == GRADC_OK && i < n; i++)
    q[i] /= sqrt(nrm);
  for (int m = 0; st == GRADC_OK && m < mmax; m++) {
    double *qm = q + (size_t)m * (size_t)n;
    if ((st = apply(op, qm, w)) != GRADC_OK)
      break;
    double a = 0;
    for (long i = 0; i < n; i++)
      a += qm[i] * w[i];
    alpha[m] = a;
    for (int pass = 0; pass < 2; pass++) /* Gram-Schmidt against q_0..q_m, twice */
      for (int j = 0; j <= m; j++) {
        const double *qj = q + (size_t)j * (size_t)n;
        double c = 0;
        for (long i = 0; i < n; i++)
          c += qj[i] * w[i];
        for (long i = 0; i < n; i++)
          w[i] -= c * qj[i];
      }
    double b = 0;
    for (long i = 0; i < n; i++)
      b += w[i] * w[i];
    beta[m] = b = sqrt(b);
    int mm = m + 1, info = 0;
    if (mm < k)
      goto next;
    memcpy(d, alpha, (size_t)mm * sizeof *d);
    memcpy(e, beta, (size_t)mm * sizeof *e);
    dstev_("V", &mm, d, e, z, &mm, work, &info, 1); /* d ascending, z column-major */
    if (info != 0)
      break;
    int ok = b > 0;
    for (int i = 0; ok && i < k; i++) {
      int c = mm - 1 - i; /* the i-th largest */
      double bound = fabs(b * z[(size_t)c * (size_t)mm + (size_t)(mm - 1)]);
      ok = bound <= tol * (fabs(d[c]) > eps23 ? fabs(d[c]) : eps23);
    }
    if (ok) {
      memcpy(theta, d + mm - k, (size_t)k * sizeof *theta);
      *converged = 1;
      break;
    }
  next:
    if (b == 0) /* an invariant subspace: let ARPACK restart */
      break;
    for (long i = 0; i < n; i++)
      q[(size_t)(m + 1) * (size_t)n + (size_t)i] = w[i] / b;
  }
  free(q);
  free(w);
  free(alpha);
  free(beta);
  free(d);
  free(e);
  free(z);
  free(work);
  return st;
}

/* ---- small n: the Hessian from n products ----------------------------------- */

/* Every eigenvalue (ascending) of H = [H e_1 ... H e_n], symmetrised; its
 * exact trace. */
static GradcStatus dense(Op *op, double *w, double *trace) {
  long n = op->n;
  double *H = malloc((size_t)n * (size_t)n * sizeof *H), *e = calloc((size_t)n, sizeof *e);
  GradcStatus st = H && e ? GRADC_OK : GRADC_ERR_NOMEM;
  op->scale = 1;
  op->shift = 0;
  for (long j = 0; st == GRADC_OK && j < n; j++) {
    e[j] = 1;
    st = apply(op, e, H + j * n); /* column j */
    e[j] = 0;
  }
  *trace = 0;
  for (long i = 0; st == GRADC_OK && i < n; i++) {
    *trace += H[i * n + i];
    for (long j = 0; j < i; j++)
      H[i * n + j] = H[j * n + i] = 0.5 * (H[i * n + j] + H[j * n + i]);
  }
  if (st == GRADC_OK) {
    int nn = (int)n, info = 0, lwork = -1;
    double q;
    dsyev_("N", "U", &nn, H, &nn, w, &q, &lwork, &info, 1, 1); /* workspace query */
    lwork = info == 0 && q >= 1 ? (int)q : 3 * nn;
    double *work = malloc((size_t)lwork * sizeof *work);
    if (!work)
      st = GRADC_ERR_NOMEM;
    else
      dsyev_("N", "U", &nn, H, &nn, w, work, &lwork, &info, 1, 1);
    free(work);
    if (st == GRADC_OK && info != 0) {
      gradc_error(op->g, GRADC_ERR_INTERNAL, "LAPACK dsyev failed (info %d)", info);
      st = GRADC_ERR_INTERNAL;
    }
  }
  free(H);
  free(e);
  return st;
}

/* ---- Hutchinson's trace estimator --------------------------------------------- */

static GradcStatus hutchinson(Op *op, long m, uint64_t seed, double *mean, double *stderr_) {
  double *z = malloc((size_t)op->n * sizeof *z), *hz = malloc((size_t)op->n * sizeof *hz);
  GradcStatus st = z && hz ? GRADC_OK : GRADC_ERR_NOMEM;
  uint64_t rng = seed ^ 0x68757463680aull; /* a stream apart from Lanczos's start */
  double mu = 0, m2 = 0;                   /* Welford's running mean and squares */
  op->scale = 1;
  op->shift = 0;
  for (long p = 0; st == GRADC_OK && p < m; p++) {
    for (long i = 0; i < op->n; i++)
      z[i] = (values_splitmix(&rng) >> 63) ? 1.0 : -1.0;
    st = apply(op, z, hz);
    double q = 0;
    for (long i = 0; i < op->n; i++)
      q += z[i] * hz[i];
    double d = q - mu;
    mu += d / (double)(p + 1);
    m2 += d * (q - mu);
  }
  *mean = mu;
  *stderr_ = m > 1 ? sqrt(m2 / (double)(m - 1) / (double)m) : 0;
  free(z);
  free(hz);
  return st;
}

/* ---- the whole computation ------------------------------------------------------ */

const char *gradc_point_kind_name(GradcPointKind kind) {
  static const char *names[] = {"minimum", "maximum", "saddle", "degenerate", "unknown"};
  return (unsigned)kind <= GRADC_POINT_UNKNOWN ? names[kind] : "unknown";
}

void gradc_spectrum_free(GradcSpectrum *s) {
  if (!s)
    return;
  free(s->largest);
  free(s->smallest);
  s->largest = s->smallest = NULL;
}

static void classify(GradcSpectrum *s, double tol) {
  double hi = s->largest[0], lo = s->smallest ? s->smallest[0] : NAN;
  double big = fabs(hi);
  if (s->smallest && fabs(lo) > big)
    big = fabs(lo);
  s->tolerance = (tol > 1e-9 ? 10 * tol : 1e-8) * big;
  if (!s->smallest)
    s->kind = hi < -s->tolerance ? GRADC_POINT_MAXIMUM : GRADC_POINT_UNKNOWN;
  else if (lo < -s->tolerance && hi > s->tolerance)
    s->kind = GRADC_POINT_SADDLE;
  else if (lo > s->tolerance)
    s->kind = GRADC_POINT_MINIMUM;
  else if (hi < -s->tolerance)
    s->kind = GRADC_POINT_MAXIMUM;
  else
    s->kind = GRADC_POINT_DEGENERATE;
}

/* The eigenvalues by Lanczos into s; *dense_needed when Lanczos cannot
 * do it (or not within n products, for n <= dense_max). */
static GradcStatus by_lanczos(Op *op, const GradcSpectrumOpts *o, GradcSpectrum *s, int nev,
                              int ncv, long dense_max, int *dense_needed) {
  long n = op->n;
  int both = !o->largest_only;
  Lanczos lz = {.ncv = ncv, .tol = o->tol > 0 ? o->tol : 1e-10, .seed = o->seed,
                .budget = dense_max >= n ? n : -1, .maxiter = o->maxiter > 0 ? o->maxiter : 1000};
  GradcStatus st;
  op->scale = 1;
  op->shift = 0;
  if (both) { /* the scale s = max |lambda|, to 1e-2 */
    double theta[1];
    Lanczos lm = lz;
    lm.which = "LM";
    lm.nev = 1;
    lm.ncv = n < 10 ? (int)n : 10;
    lm.tol = 1e-2;
    lm.theta = theta;
    lm.seed = o->seed + 1;
    if ((st = lanczos(op, &lm)) != GRADC_OK)
      return st;
    s->restarts += lm.restarts;
    if (lm.converged && theta[0] == 0) { /* H z = 0 for random z: H = 0 */
      for (int i = 0; i < s->k; i++)
        s->largest[i] = s->smallest[i] = 0;
      return GRADC_OK;
    }
    if (!lm.converged) {
      lz.info = lm.info;
      goto failed;
    }
    op->scale = fabs(theta[0]);
    op->shift = 3;
  }
  lz.which = both ? "BE" : "LA";
  lz.nev = nev;
  lz.refine = both;
  lz.theta = calloc((size_t)nev, sizeof *lz.theta);
  if (!lz.theta)
    return GRADC_ERR_NOMEM;
  st = GRADC_OK;
  if (!both && !o->ncv && nev == 1) {
    /* ARPACK tests convergence once per restart cycle (ncv products); a
     * well separated top eigenvalue is often there sooner: first up to ncv
     * steps of Lanczos tested after every product, at most ncv lost (the
     * top one only: a single Krylov sequence without restarts could take
     * the next distinct eigenvalue for the second copy of a double one) */
    st = lanczos_steps(op, nev, (int)ncv, lz.tol, lz.seed, lz.theta, &lz.converged);
  }
  if (st == GRADC_OK && !lz.converged)
    st = lanczos(op, &lz);
  s->restarts += lz.restarts;
  if (st == GRADC_OK && lz.converged)
    for (int i = 0; i < s->k; i++) { /* refined: eigenvalues of H */
      s->largest[i] = lz.theta[nev - 1 - i];
      if (both)
        s->smallest[i] = lz.theta[i];
    }
  free(lz.theta);
  if (st != GRADC_OK || lz.converged)
    return st;
failed:
  if (dense_max >= n) {
    *dense_needed = 1;
    return GRADC_OK;
  }
  if (lz.info == 1)
    gradc_error(op->g, GRADC_ERR_INPUT,
                "Lanczos did not converge in %d restarts (%ld Hessian-vector products)", lz.maxiter,
                op->hvps);
  else
    gradc_error(op->g, GRADC_ERR_INPUT, "Lanczos failed (ARPACK dsaupd/dseupd info %d)", lz.info);
  return GRADC_ERR_INPUT;
}

static GradcStatus run(Op *op, const GradcSpectrumOpts *o, GradcSpectrum *s) {
  long n = op->n;
  int both = !o->largest_only, k = s->k, nev = both ? 2 * k : k;
  long dense_max = o->dense_max < 0 ? -1 : o->dense_max ? o->dense_max : 1000;
  /* ARPACK's advice is ncv >= 2 nev; 20 (scipy's eigsh) for the largest
   * only, 40 for both ends, where the small end of a Hessian is usually
   * clustered (digits network, k = 3: 176 products instead of 268) */
  long ncv_min = both ? 40 : 20;
  long ncv = o->ncv > 0 ? o->ncv : (2 * nev + 1 > ncv_min ? 2 * nev + 1 : ncv_min);
  if (ncv < nev + 1)
    ncv = nev + 1;
  /* a basis of the whole space costs n products either way: form H */
  int use_dense = ncv >= n;
  GradcStatus st;
  if (!use_dense) {
    if ((double)ncv * (double)n > 1e9) {
      gradc_error(op->g, GRADC_ERR_USAGE,
                  "k = %d: %ld Lanczos vectors of length %ld do not fit in memory", k, ncv, n);
      return GRADC_ERR_USAGE;
    }
    if ((st = by_lanczos(op, o, s, nev, (int)ncv, dense_max, &use_dense)) != GRADC_OK)
      return st;
  }
  if (!use_dense) {
    long m = o->probes < 0 ? 100 : o->probes;
    if (m > 0) {
      st = hutchinson(op, m, o->seed, &s->trace, &s->trace_stderr);
      s->probes = m;
      s->has_trace = st == GRADC_OK;
    }
    return st;
  }
  if ((dense_max >= 0 && n > dense_max && n > ncv) || n > 46340) { /* n * n: LAPACK's int */
    gradc_error(op->g, GRADC_ERR_USAGE,
                "k = %d needs a dense eigen-solve of the %ld x %ld Hessian: too big", k, n, n);
    return GRADC_ERR_USAGE;
  }
  double *w = malloc((size_t)n * sizeof *w);
  if (!w)
    return GRADC_ERR_NOMEM;
  s->dense = 1;
  st = dense(op, w, &s->trace);
  if (st == GRADC_OK) {
    for (int i = 0; i < k; i++) {
      s->largest[i] = w[n - 1 - i];
      if (both)
        s->smallest[i] = w[i];
    }
    s->has_trace = 1;
    s->trace_stderr = 0;
    s->probes = 0;
  }
  free(w);
  return st;
}

GradcStatus gradc_spectrum(Gradc *g, int out, const int *wrt_in, int nwrt,
                           const GradcSpectrumOpts *opts, GradcSpectrum *s) {
  GradcSpectrumOpts def = {.probes = -1};
  const GradcSpectrumOpts *o = opts ? opts : &def;
  memset(s, 0, sizeof *s);
  if (!g->vals) {
    gradc_error(g, GRADC_ERR_USAGE, "no values: call gradc_set_defaults first");
    return GRADC_ERR_USAGE;
  }
  long dims[8];
  if (out < 0 || out >= gradc_output_count(g) || gradc_output_shape(g, out, dims) != 0) {
    gradc_error(g, GRADC_ERR_USAGE, "the Hessian's spectrum needs a scalar output");
    return GRADC_ERR_USAGE;
  }
  int *wrt = api_default_wrt(g, wrt_in, &nwrt);
  if (!wrt)
    return GRADC_ERR_NOMEM;
  Op op = {.g = g, .name = gradc_output_name(g, out), .wrt = wrt, .nwrt = nwrt, .scale = 1};
  GradcStatus st = GRADC_OK;
  op.off = malloc(((size_t)nwrt + 1) * sizeof *op.off);
  if (!op.off) {
    st = GRADC_ERR_NOMEM;
    goto done;
  }
  op.off[0] = 0;
  for (int i = 0; i < g->prog.nvars; i++)
    if (!g->vals[i].set) {
      gradc_error(g, GRADC_ERR_USAGE, "no value for '%s'", g->prog.vars[i].name);
      st = GRADC_ERR_USAGE;
      goto done;
    }
  for (int k = 0; k < nwrt; k++)
    op.off[k + 1] = op.off[k] + values_size(g, g->prog.vars[wrt[k]].shape);
  op.n = s->n = op.off[nwrt];
  if (op.n == 0) {
    gradc_error(g, GRADC_ERR_USAGE, "the Hessian's spectrum needs at least one variable to "
                                    "differentiate with respect to");
    st = GRADC_ERR_USAGE;
    goto done;
  }
  s->k = o->k > 0 ? o->k : (op.n < 3 ? (int)op.n : 3);
  if (s->k > op.n) {
    gradc_error(g, GRADC_ERR_USAGE, "k = %d is more than the %ld eigenvalues of the Hessian", s->k,
                op.n);
    st = GRADC_ERR_USAGE;
    goto done;
  }
  op.h = gradc_hvp_at(g, out, wrt, nwrt);
  if (!op.h) {
    st = g->diags.count ? (GradcStatus)g->diags.items[g->diags.count - 1].kind : GRADC_ERR_INTERNAL;
    goto done;
  }
  op.v = malloc(((size_t)nwrt + 1) * sizeof *op.v);
  op.hv = malloc(((size_t)nwrt + 1) * sizeof *op.hv);
  s->largest = malloc((size_t)s->k * sizeof *s->largest);
  s->smallest = o->largest_only ? NULL : malloc((size_t)s->k * sizeof *s->smallest);
  if (!op.v || !op.hv || !s->largest || (!o->largest_only && !s->smallest)) {
    st = GRADC_ERR_NOMEM;
    goto done;
  }
  double gn = 0;
  s->value = gradc_hvp_at_value(op.h);
  if (!isfinite(s->value)) {
    gradc_error(g, GRADC_ERR_INPUT, "%s is not finite at this point", op.name);
    st = GRADC_ERR_INPUT;
    goto done;
  }
  for (int k = 0; k < nwrt; k++) {
    const double *gk = gradc_hvp_at_gradient(op.h, k);
    for (long i = 0; i < op.off[k + 1] - op.off[k]; i++) {
      if (!isfinite(gk[i])) {
        st = not_finite(&op, "the gradient", op.off[k] + i);
        goto done;
      }
      gn += gk[i] * gk[i];
    }
  }
  st = run(&op, o, s);
  if (st == GRADC_OK) {
    s->gradient_norm = sqrt(gn);
    s->hvps = op.hvps;
    classify(s, o->tol > 0 ? o->tol : 1e-10);
  }
done:
  if (st == GRADC_ERR_NOMEM)
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory while computing the Hessian's spectrum");
  if (st != GRADC_OK)
    gradc_spectrum_free(s);
  gradc_hvp_at_free(op.h);
  free(op.off);
  free(op.v);
  free(op.hv);
  free(wrt);
  return st;
}
