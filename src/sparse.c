/* sparse.c: compressed Jacobians and Hessians. The pattern comes from
 * sparsity.c, the colouring from ColPack (colouring.h); each colour is one
 * sweep seeded with the sum of the unit vectors of its columns (JVP, HVP)
 * or rows (VJP), and every nonzero is read directly from one compressed
 * vector (Curtis, Powell and Reid 1974 for Jacobians; for Hessians the
 * direct recovery of a star colouring, Coleman and Moré 1984; see
 * Gebremedhin, Manne and Pothen, "What color is your Jacobian?", SIAM
 * Review 47(4), 2005).
 *
 * The sweeps go through sweep_directions(), which evaluates K seed
 * directions: one compiled JVP/VJP/HVP call per direction now; a
 * vector-mode function that carries several directions per sweep can
 * replace its loop without touching the rest. */
#include <stdlib.h>
#include <string.h>

#include "colouring.h"
#include "sparsity.h"


void gradc_sparse_free(GradcSparse *s) {
  if (!s)
    return;
  if (s->priv) {
    free(s->priv->wrt);
    free(s->priv->outs);
    free(s->priv->col_off);
    free(s->priv->row_off);
    free(s->priv->colour);
    free(s->priv->sweep_base);
    free(s->priv->src);
    free(s->priv);
  }
  free(s->rowptr);
  free(s->col);
  free(s->value);
  free(s);
}

static GradcSparse *sparse_new(Gradc *g, const int *wrt_in, int nwrt) {
  GradcSparse *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->priv = calloc(1, sizeof *s->priv);
  int *wrt = api_default_wrt(g, wrt_in, &nwrt);
  if (!s->priv || !wrt) {
    free(wrt);
    gradc_sparse_free(s);
    return NULL;
  }
  s->priv->g = g;
  s->priv->wrt = wrt;
  s->priv->nwrt = nwrt;
  s->priv->col_off = calloc((size_t)nwrt + 1, sizeof *s->priv->col_off);
  if (!s->priv->col_off) {
    gradc_sparse_free(s);
    return NULL;
  }
  for (int k = 0; k < nwrt; k++) {
    long n = values_size(g, g->prog.vars[wrt[k]].shape);
    s->priv->col_off[k + 1] = s->priv->col_off[k] + (n > 0 ? n : 0);
  }
  s->jvp_sweeps = s->vjp_sweeps = -1;
  return s;
}

static void take_pattern(GradcSparse *s, Pattern *p) {
  s->nrow = p->nrow;
  s->ncol = p->ncol;
  s->nnz = p->nnz;
  s->rowptr = p->rowptr;
  s->col = p->col;
  memset(p, 0, sizeof *p);
}

static GradcSparse *failed(Gradc *g, GradcSparse *s, const char *what) {
  if (what)
    gradc_error(g, GRADC_ERR_NOMEM, "%s", what);
  gradc_sparse_free(s);
  return NULL;
}

/* ---- Jacobians -------------------------------------------------------------- */

/* Forward: nonzero (i, j) is row i of the sweep of j's colour; two columns
 * of a colour never share a row. 0, or -1 if the colouring does not allow
 * that (a bug). */
static int recover_columns(GradcSparse *s, const int *colour, int ncolours) {
  struct GradcSparsePriv *p = s->priv;
  long *seen = malloc(((size_t)ncolours + 1) * sizeof *seen);
  p->src = malloc(((size_t)s->nnz + 1) * sizeof *p->src);
  if (!seen || !p->src) {
    free(seen);
    return -2;
  }
  for (int c = 0; c < ncolours; c++)
    seen[c] = -1;
  for (long i = 0; i < s->nrow; i++)
    for (long q = s->rowptr[i]; q < s->rowptr[i + 1]; q++) {
      int c = colour[s->col[q]];
      if (c < 0 || seen[c] == i) {
        free(seen);
        return -1;
      }
      seen[c] = i;
      p->src[q] = c * s->nrow + i;
    }
  free(seen);
  p->nsweeps = ncolours;
  p->len = s->nrow;
  return 0;
}

/* Reverse: nonzero (i, j) of output o is element j of the VJP of o's
 * rows of i's colour; two rows of a colour of one output never share a
 * column. */
static int recover_rows(GradcSparse *s, const int *colour) {
  struct GradcSparsePriv *p = s->priv;
  long *stamp = malloc(((size_t)s->ncol + 1) * sizeof *stamp);
  p->src = malloc(((size_t)s->nnz + 1) * sizeof *p->src);
  if (!stamp || !p->src) {
    free(stamp);
    return -2;
  }
  for (long j = 0; j < s->ncol; j++)
    stamp[j] = -1;
  /* within each sweep (output, colour), a column belongs to one row: a
   * column's last claim is remembered as sweep * nrow + row */
  for (int o = 0; o < p->nouts; o++)
    for (long i = p->row_off[o]; i < p->row_off[o + 1]; i++)
      for (long q = s->rowptr[i]; q < s->rowptr[i + 1]; q++) {
        long j = s->col[q], t = p->sweep_base[o] + colour[i];
        if (colour[i] < 0 || (stamp[j] >= 0 && stamp[j] / (s->nrow + 1) == t)) {
          free(stamp);
          return -1;
        }
        stamp[j] = t * (s->nrow + 1) + i;
        p->src[q] = t * s->ncol + j;
      }
  free(stamp);
  p->len = s->ncol;
  return 0;
}

/* The sub-pattern of rows [r0, r1) (shares col[]). */
static long *sub_rowptr(const GradcSparse *s, long r0, long r1) {
  long *rp = malloc(((size_t)(r1 - r0) + 1) * sizeof *rp);
  for (long i = r0; rp && i <= r1; i++)
    rp[i - r0] = s->rowptr[i] - s->rowptr[r0];
  return rp;
}

GradcSparse *gradc_sparse_jacobian(Gradc *g, const int *outs_in, int nouts, const int *wrt, int nwrt,
                                   int flags) {
  if (!g->prog.dag) {
    gradc_error(g, GRADC_ERR_USAGE, "no program has been compiled");
    return NULL;
  }
  GradcSparse *s = sparse_new(g, wrt, nwrt);
  if (!s)
    return failed(g, s, "out of memory");
  struct GradcSparsePriv *p = s->priv;
  if (!outs_in)
    nouts = g->prog.nouts;
  p->outs = malloc(((size_t)nouts + 1) * sizeof *p->outs);
  p->row_off = calloc((size_t)nouts + 1, sizeof *p->row_off);
  p->sweep_base = calloc((size_t)nouts + 1, sizeof *p->sweep_base);
  if (!p->outs || !p->row_off || !p->sweep_base)
    return failed(g, s, "out of memory");
  p->nouts = nouts;
  for (int o = 0; o < nouts; o++) {
    p->outs[o] = outs_in ? outs_in[o] : o;
    if (p->outs[o] < 0 || p->outs[o] >= g->prog.nouts) {
      gradc_error(g, GRADC_ERR_USAGE, "sparsity: no output %d", p->outs[o]);
      return failed(g, s, NULL);
    }
    long n = values_size(g, dag_shape(g->prog.dag, g->prog.outs[p->outs[o]].node));
    p->row_off[o + 1] = p->row_off[o] + (n > 0 ? n : 0);
  }
  Pattern pat;
  if (sparsity_jacobian(g, p->outs, nouts, p->wrt, p->nwrt, flags & GRADC_SPARSE_AT_VALUES ? SP_AT_VALUES : 0,
                        &pat) != GRADC_OK)
    return failed(g, s, NULL);
  take_pattern(s, &pat);
  int want_fwd = !(flags & GRADC_SPARSE_REVERSE), want_rev = !(flags & GRADC_SPARSE_FORWARD);
  if (flags & GRADC_SPARSE_IF_FEW) { /* colours >= the densest row (JVPs), column (VJPs) */
    long maxrow = 0, maxcol = 0, *cols = calloc((size_t)s->ncol + 1, sizeof *cols);
    if (!cols)
      return failed(g, s, "out of memory");
    for (long i = 0; i < s->nrow; i++) {
      long d = s->rowptr[i + 1] - s->rowptr[i];
      maxrow = d > maxrow ? d : maxrow;
    }
    for (long q = 0; q < s->nnz; q++)
      maxcol = ++cols[s->col[q]] > maxcol ? cols[s->col[q]] : maxcol;
    free(cols);
    long side = s->nrow < s->ncol ? s->nrow : s->ncol;
    long bound = want_fwd && want_rev ? (maxrow < maxcol ? maxrow : maxcol) : want_fwd ? maxrow : maxcol;
    if (2 * bound > side) {
      s->ncolours = (int)bound;
      s->jvp_sweeps = s->vjp_sweeps = -1;
      p->nsweeps = -1;
      return s;
    }
  }
  int *ccol = want_fwd ? malloc(((size_t)s->ncol + 1) * sizeof *ccol) : NULL;
  int *crow = want_rev ? malloc(((size_t)s->nrow + 1) * sizeof *crow) : NULL;
  if ((want_fwd && !ccol) || (want_rev && !crow)) {
    free(ccol);
    free(crow);
    return failed(g, s, "out of memory");
  }
  if (want_fwd)
    s->jvp_sweeps = colour_columns(s->nrow, s->ncol, s->rowptr, s->col, ccol);
  if (want_rev) { /* one VJP function per output: colour each output's rows */
    s->vjp_sweeps = 0;
    for (int o = 0; o < nouts && s->vjp_sweeps >= 0; o++) {
      long r0 = p->row_off[o], r1 = p->row_off[o + 1];
      long *rp = sub_rowptr(s, r0, r1);
      int k = rp ? colour_rows(r1 - r0, s->ncol, rp, s->col + s->rowptr[r0], crow + r0) : -1;
      free(rp);
      p->sweep_base[o] = s->vjp_sweeps;
      s->vjp_sweeps = k < 0 ? -2 : s->vjp_sweeps + k;
    }
  }
  if ((want_fwd && s->jvp_sweeps < 0) || (want_rev && s->vjp_sweeps < 0)) {
    free(ccol);
    free(crow);
    return failed(g, s, "colouring failed (ColPack): out of memory?");
  }
  s->reverse = !want_fwd || (want_rev && s->vjp_sweeps < s->jvp_sweeps);
  int rc;
  if (s->reverse) {
    s->ncolours = p->nsweeps = s->vjp_sweeps;
    rc = recover_rows(s, crow);
    p->colour = crow;
    free(ccol);
  } else {
    s->ncolours = s->jvp_sweeps;
    rc = recover_columns(s, ccol, s->jvp_sweeps);
    p->colour = ccol;
    free(crow);
  }
  if (rc == -1) {
    gradc_error(g, GRADC_ERR_INTERNAL, "internal: the colouring does not separate the Jacobian's %s",
                s->reverse ? "rows" : "columns");
    return failed(g, s, NULL);
  }
  if (rc < 0)
    return failed(g, s, "out of memory");
  return s;
}

/* ---- Hessians ---------------------------------------------------------------- */

/* Position of column j in row i, or -1. */
static long find(const GradcSparse *s, long i, long j) {
  long lo = s->rowptr[i], hi = s->rowptr[i + 1];
  while (lo < hi) {
    long mid = lo + (hi - lo) / 2;
    if (s->col[mid] < j)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo < s->rowptr[i + 1] && s->col[lo] == j ? lo : -1;
}

/* Star colouring, direct recovery: H v_c at row i sums H[i][j] over the
 * columns j of colour c in row i, so H[i][j] is (H v_{c(j)})[i] when j is
 * the only column of its colour in row i, else (H v_{c(i)})[j] (a star
 * colouring guarantees one of the two). */
static int recover_star(GradcSparse *s, const int *colour, int ncolours) {
  struct GradcSparsePriv *p = s->priv;
  long n = s->nrow;
  uint8_t *uniq = malloc((size_t)s->nnz + 1);
  long *cnt = calloc((size_t)ncolours + 1, sizeof *cnt), *who = malloc(((size_t)ncolours + 1) * sizeof *who);
  p->src = malloc(((size_t)s->nnz + 1) * sizeof *p->src);
  if (!uniq || !cnt || !who || !p->src) {
    free(uniq);
    free(cnt);
    free(who);
    return -2;
  }
  for (int c = 0; c < ncolours; c++)
    who[c] = -1;
  for (long i = 0; i < n; i++) { /* how many columns of each colour row i has */
    for (long q = s->rowptr[i]; q < s->rowptr[i + 1]; q++) {
      int c = colour[s->col[q]];
      if (c < 0)
        continue;
      if (who[c] != i) {
        who[c] = i;
        cnt[c] = 0;
      }
      cnt[c]++;
    }
    for (long q = s->rowptr[i]; q < s->rowptr[i + 1]; q++)
      uniq[q] = colour[s->col[q]] >= 0 && cnt[colour[s->col[q]]] == 1;
  }
  int rc = 0;
  for (long i = 0; i < n && !rc; i++)
    for (long q = s->rowptr[i]; q < s->rowptr[i + 1]; q++) {
      long j = s->col[q];
      if (uniq[q]) {
        p->src[q] = colour[j] * n + i;
        continue;
      }
      long t = find(s, j, i);
      if (t < 0 || !uniq[t] || colour[i] < 0) {
        rc = -1;
        break;
      }
      p->src[q] = colour[i] * n + j;
    }
  free(uniq);
  free(cnt);
  free(who);
  p->nsweeps = ncolours;
  p->len = n;
  return rc;
}

GradcSparse *gradc_sparse_hessian(Gradc *g, int out, const int *wrt, int nwrt, int flags) {
  if (!g->prog.dag) {
    gradc_error(g, GRADC_ERR_USAGE, "no program has been compiled");
    return NULL;
  }
  if (out < 0 || out >= g->prog.nouts || dag_shape(g->prog.dag, g->prog.outs[out].node) != SHAPE_SCALAR) {
    gradc_error(g, GRADC_ERR_USAGE, "a Hessian needs a scalar output");
    return NULL;
  }
  GradcSparse *s = sparse_new(g, wrt, nwrt);
  if (!s)
    return failed(g, s, "out of memory");
  struct GradcSparsePriv *p = s->priv;
  s->hessian = 1;
  p->outs = malloc(sizeof *p->outs);
  if (!p->outs)
    return failed(g, s, "out of memory");
  p->outs[0] = out;
  p->nouts = 1;
  Pattern pat;
  if (sparsity_hessian(g, out, p->wrt, p->nwrt, flags & GRADC_SPARSE_AT_VALUES ? SP_AT_VALUES : 0, &pat) !=
      GRADC_OK)
    return failed(g, s, NULL);
  take_pattern(s, &pat);
  p->colour = malloc(((size_t)s->ncol + 1) * sizeof *p->colour);
  if (!p->colour)
    return failed(g, s, "out of memory");
  s->ncolours = colour_star(s->nrow, s->rowptr, s->col, p->colour);
  if (s->ncolours < 0)
    return failed(g, s, "colouring failed (ColPack): out of memory?");
  int rc = recover_star(s, p->colour, s->ncolours);
  if (rc == -1) {
    gradc_error(g, GRADC_ERR_INTERNAL, "internal: the colouring is not a star colouring of the Hessian");
    return failed(g, s, NULL);
  }
  if (rc < 0)
    return failed(g, s, "out of memory");
  return s;
}

/* ---- the sweeps -------------------------------------------------------------- */

/* K directions through one compiled derivative function. */
typedef struct Sweeper {
  Gradc *g;
  GradcFn *f;
  int kind;            /* 0 JVP, 1 VJP of one output, 2 HVP */
  int nwrt;
  const long *col_off; /* the wrt variables' slices of a direction (JVP, HVP) */
  int first_res;       /* the results that make up one compressed vector */
  int nres;
  const int *res;      /* NULL: first_res .. first_res + nres - 1 */
  long nin, nout;      /* lengths of a seed and of a result vector */
} Sweeper;

/* Evaluate the derivative along seeds[k*nin .. (k+1)*nin) for k < K into
 * out[k*nout ..]: JVPs and HVPs take the stacked wrt tangents, VJPs the
 * cotangent of their output; results are stacked the same way. This is
 * the one place that runs sweeps: a vector-mode function (several
 * directions per call) replaces the loop. */
static GradcStatus sweep_directions(Sweeper *w, int K, const double *seeds, double *out) {
  const double **tan = malloc(((size_t)w->nwrt + 1) * sizeof *tan);
  if (!tan)
    return GRADC_ERR_NOMEM;
  GradcStatus st = GRADC_OK;
  for (int k = 0; k < K && st == GRADC_OK; k++) {
    const double *seed = seeds + (size_t)k * (size_t)w->nin;
    if (w->kind == 1)
      tan[0] = seed;
    else
      for (int v = 0; v < w->nwrt; v++)
        tan[v] = seed + w->col_off[v];
    st = gradc_run(w->f, tan);
    long at = 0;
    for (int r = 0; st == GRADC_OK && r < w->nres; r++) {
      int ri = w->res ? w->res[r] : w->first_res + r;
      long dims[4];
      int rank = gradc_fn_res_shape(w->f, ri, dims);
      long n = 1;
      for (int d = 0; d < rank; d++)
        n *= dims[d];
      memcpy(out + (size_t)k * (size_t)w->nout + at, gradc_fn_res_data(w->f, ri), (size_t)n * sizeof *out);
      at += n;
    }
  }
  free(tan);
  return st;
}

GradcStatus gradc_sparse_eval(GradcSparse *s) {
  struct GradcSparsePriv *p = s->priv;
  Gradc *g = p->g;
  if (p->nsweeps < 0) {
    gradc_error(g, GRADC_ERR_USAGE, "gradc_sparse_eval: the pattern was not coloured (GRADC_SPARSE_IF_FEW)");
    return GRADC_ERR_USAGE;
  }
  free(s->value);
  s->value = malloc(((size_t)s->nnz + 1) * sizeof *s->value);
  double *B = malloc(((size_t)p->nsweeps * (size_t)p->len + 1) * sizeof *B);
  double *seeds = NULL;
  int *res = NULL;
  GradcStatus st = GRADC_OK;
  if (!s->value || !B) {
    st = GRADC_ERR_NOMEM;
    goto done;
  }
  if (s->nnz == 0)
    goto done;
  long ncol = s->ncol;
  if (s->hessian || !s->reverse) {
    /* one seed per colour: the sum of the unit vectors of its columns */
    seeds = calloc((size_t)p->nsweeps * (size_t)ncol + 1, sizeof *seeds);
    if (!seeds) {
      st = GRADC_ERR_NOMEM;
      goto done;
    }
    for (long j = 0; j < ncol; j++)
      if (p->colour[j] >= 0)
        seeds[(size_t)p->colour[j] * (size_t)ncol + (size_t)j] = 1;
    Sweeper w = {.g = g, .nwrt = p->nwrt, .col_off = p->col_off, .nin = ncol, .nout = p->len};
    if (s->hessian) {
      w.kind = 2;
      w.f = gradc_fn_hvp(g, p->outs[0], p->wrt, p->nwrt);
      w.first_res = 1 + p->nwrt;
      w.nres = p->nwrt;
    } else {
      w.kind = 0;
      w.f = gradc_fn_jvp(g, p->wrt, p->nwrt);
      /* the tangents of the chosen outputs, after every output's value */
      res = malloc(((size_t)p->nouts + 1) * sizeof *res);
      if (!res) {
        st = GRADC_ERR_NOMEM;
        goto done;
      }
      for (int o = 0; o < p->nouts; o++)
        res[o] = g->prog.nouts + p->outs[o];
      w.res = res;
      w.nres = p->nouts;
    }
    if (!w.f) {
      st = GRADC_ERR_INPUT;
      goto done;
    }
    st = sweep_directions(&w, p->nsweeps, seeds, B);
  } else {
    /* per output, one cotangent per colour of its rows */
    for (int o = 0; o < p->nouts && st == GRADC_OK; o++) {
      long r0 = p->row_off[o], m = p->row_off[o + 1] - r0;
      int K = (o + 1 < p->nouts ? p->sweep_base[o + 1] : p->nsweeps) - p->sweep_base[o];
      if (K <= 0)
        continue;
      free(seeds);
      seeds = calloc((size_t)K * (size_t)m + 1, sizeof *seeds);
      if (!seeds) {
        st = GRADC_ERR_NOMEM;
        break;
      }
      for (long i = 0; i < m; i++)
        if (p->colour[r0 + i] >= 0)
          seeds[(size_t)p->colour[r0 + i] * (size_t)m + (size_t)i] = 1;
      Sweeper w = {.g = g, .kind = 1, .f = gradc_fn_vjp(g, p->outs[o], p->wrt, p->nwrt), .nwrt = 1,
                   .first_res = 1, .nres = p->nwrt, .nin = m, .nout = ncol};
      if (!w.f) {
        st = GRADC_ERR_INPUT;
        break;
      }
      st = sweep_directions(&w, K, seeds, B + (size_t)p->sweep_base[o] * (size_t)ncol);
    }
  }
  if (st == GRADC_OK)
    for (long q = 0; q < s->nnz; q++)
      s->value[q] = B[p->src[q]];
done:
  if (st == GRADC_ERR_NOMEM)
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory for the compressed derivatives");
  free(B);
  free(seeds);
  free(res);
  return st;
}
