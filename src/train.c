/* train.c: gradient descent on a compiled program. The trainer owns a VJP
 * function of the loss (value and gradient with respect to every param)
 * and updates the params' values on the context in place: plain gradient
 * descent, momentum or Adam, on the whole data or on seeded mini-batches
 * over the data dimension (the first symbolic dimension of the inputs).
 * Under MPI every process draws the same mini-batches of global row
 * indices and keeps the rows of each that it holds (parallel.c adds the
 * processes' sums, the mean divided by the whole batch's size). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "parallel.h"

struct GradcTrainer {
  Gradc *g;
  GradcFn *fn;             /* loss and its gradient */
  int loss;
  GradcOptimizer opt;
  double lr;
  int *params, nparams;
  double **m, **v;         /* momentum / Adam moments */
  double **prev;           /* the params before the last update */
  int has_prev;
  long step;               /* updates the params on the context have had */
  /* mini-batches */
  long batch, n;           /* rows per step, rows in all (every process's) */
  long first, nlocal;      /* this process's rows: [first, first + nlocal) of n */
  long *pick;              /* the rows of the batch it holds */
  int dim;                 /* the data dimension */
  int *data, ndata;        /* inputs with the data dimension first */
  double **full;           /* their whole data */
  long *rowsize;
  long *perm, pos;
  uint64_t rng;
  int batched;             /* values on the context are a batch now */
};

static uint64_t next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void shuffle(GradcTrainer *t) {
  for (long i = t->n - 1; i > 0; i--) {
    long j = (long)(next(&t->rng) % (uint64_t)(i + 1));
    long x = t->perm[i];
    t->perm[i] = t->perm[j];
    t->perm[j] = x;
  }
  t->pos = 0;
}

void gradc_trainer_free(GradcTrainer *t) {
  if (!t)
    return;
  if (t->batched)
    gradc_trainer_full_data(t);
  for (int i = 0; i < t->nparams; i++) {
    if (t->m) free(t->m[i]);
    if (t->v) free(t->v[i]);
    if (t->prev) free(t->prev[i]);
  }
  free(t->prev);
  for (int i = 0; i < t->ndata; i++)
    if (t->full) free(t->full[i]);
  free(t->m);
  free(t->v);
  free(t->full);
  free(t->params);
  free(t->data);
  free(t->rowsize);
  free(t->perm);
  free(t->pick);
  free(t);
}

GradcTrainer *gradc_trainer_new(Gradc *g, int loss, GradcOptimizer opt, double lr, long batch,
                                unsigned long long seed) {
  Program *prog = &g->prog;
  if (loss < 0 || loss >= prog->nouts || dag_shape(prog->dag, prog->outs[loss].node) != SHAPE_SCALAR) {
    gradc_error(g, GRADC_ERR_INPUT, "the loss must be a scalar output");
    return NULL;
  }
  GradcTrainer *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  t->g = g;
  t->loss = loss;
  t->opt = opt;
  t->lr = lr;
  t->rng = seed * 0x2545f4914f6cdd1dull + 7;
  t->params = malloc(((size_t)prog->nvars + 1) * sizeof *t->params);
  t->data = malloc(((size_t)prog->nvars + 1) * sizeof *t->data);
  if (!t->params || !t->data)
    goto fail;
  for (int i = 0; i < prog->nvars; i++)
    if (prog->vars[i].kind == VAR_PARAM)
      t->params[t->nparams++] = i;
  if (t->nparams == 0) {
    gradc_error(g, GRADC_ERR_INPUT, "there is no param to train");
    goto fail;
  }
  /* many calls: the tiered JIT unless the caller chose a backend */
  GradcBackend was = g->backend;
  if (!g->backend_pinned)
    g->backend = GRADC_BACKEND_TIERED;
  t->fn = gradc_fn_vjp(g, loss, t->params, t->nparams);
  g->backend = was;
  if (!t->fn)
    goto fail;
  t->m = calloc((size_t)t->nparams, sizeof *t->m);
  t->v = calloc((size_t)t->nparams, sizeof *t->v);
  t->prev = calloc((size_t)t->nparams, sizeof *t->prev);
  if (!t->m || !t->v || !t->prev)
    goto fail;
  for (int k = 0; k < t->nparams; k++) {
    long n = values_size(g, prog->vars[t->params[k]].shape);
    t->m[k] = calloc((size_t)n + 1, sizeof(double));
    t->v[k] = calloc((size_t)n + 1, sizeof(double));
    t->prev[k] = calloc((size_t)n + 1, sizeof(double));
    if (!t->m[k] || !t->v[k] || !t->prev[k])
      goto fail;
  }
  /* the data dimension: the first symbolic dimension of an input */
  t->dim = -1;
  for (int i = 0; i < prog->nvars && t->dim < 0; i++) {
    const Shape *s = shape_get(prog->dag, prog->vars[i].shape);
    if (prog->vars[i].kind == VAR_INPUT && s->rank > 0 && s->dim[0] < 0)
      t->dim = (int)~s->dim[0];
  }
  long all = t->dim >= 0 ? g->dimval[t->dim] : 0, first = 0, local = all;
  long mpi_all = t->dim >= 0 ? par_mpi_rows(g, &first, &local) : -1;
  if (mpi_all > 0)
    all = mpi_all;
  if (batch > 0 && t->dim >= 0 && batch < all) {
    t->batch = batch;
    t->n = all;
    t->first = first;
    t->nlocal = local;
    for (int i = 0; i < prog->nvars; i++) {
      const Shape *s = shape_get(prog->dag, prog->vars[i].shape);
      if (prog->vars[i].kind == VAR_INPUT && s->rank > 0 && s->dim[0] == ~(int64_t)t->dim)
        t->data[t->ndata++] = i;
    }
    t->full = calloc((size_t)t->ndata + 1, sizeof *t->full);
    t->rowsize = calloc((size_t)t->ndata + 1, sizeof *t->rowsize);
    t->perm = malloc((size_t)t->n * sizeof *t->perm);
    t->pick = malloc((size_t)batch * sizeof *t->pick);
    if (!t->full || !t->rowsize || !t->perm || !t->pick)
      goto fail;
    for (int k = 0; k < t->ndata; k++) {
      Value *v = &g->vals[t->data[k]];
      long n = 1;
      for (int d = 1; d < v->rank; d++)
        n *= v->dims[d];
      t->rowsize[k] = n;
      t->full[k] = malloc((size_t)(n * t->nlocal) * sizeof(double));
      if (!t->full[k])
        goto fail;
      memcpy(t->full[k], v->data, (size_t)(n * t->nlocal) * sizeof(double));
    }
    for (long i = 0; i < t->n; i++)
      t->perm[i] = i;
    shuffle(t);
  }
  return t;
fail:
  gradc_trainer_free(t);
  return NULL;
}

/* Put the whole data back on the context (for metrics, or saving). */
GradcStatus gradc_trainer_full_data(GradcTrainer *t) {
  if (!t->batched)
    return GRADC_OK;
  Gradc *g = t->g;
  for (int k = 0; k < t->ndata; k++) {
    Value *v = &g->vals[t->data[k]];
    long dims[MAX_RANK];
    memcpy(dims, v->dims, sizeof dims);
    dims[0] = t->nlocal;
    GradcStatus s = gradc_set_value(g, t->data[k], t->full[k], dims, v->rank);
    if (s != GRADC_OK)
      return s;
  }
  t->batched = 0;
  par_set_batch(g, 0, 0);
  return gradc_set_defaults(g, 0, 0); /* rebinds the dimensions */
}

static GradcStatus next_batch(GradcTrainer *t) {
  Gradc *g = t->g;
  if (t->pos + t->batch > t->n)
    shuffle(t);
  /* the rows of the batch this process holds (all of them without MPI), in
   * the batch's order; with none, one placeholder row that is not evaluated */
  long m = 0;
  for (long r = 0; r < t->batch; r++) {
    long i = t->perm[t->pos + r] - t->first;
    if (i >= 0 && i < t->nlocal)
      t->pick[m++] = i;
  }
  long rows = m > 0 ? m : 1;
  if (m == 0)
    t->pick[0] = 0;
  for (int k = 0; k < t->ndata; k++) {
    Value *v = &g->vals[t->data[k]];
    long rs = t->rowsize[k];
    double *b = malloc((size_t)(rs * rows) * sizeof *b);
    if (!b)
      return GRADC_ERR_NOMEM;
    for (long r = 0; r < rows; r++)
      memcpy(b + r * rs, t->full[k] + t->pick[r] * rs, (size_t)rs * sizeof *b);
    long dims[MAX_RANK];
    memcpy(dims, v->dims, sizeof dims);
    dims[0] = rows;
    GradcStatus s = gradc_set_value(g, t->data[k], b, dims, v->rank);
    free(b);
    if (s != GRADC_OK)
      return s;
  }
  t->pos += t->batch;
  t->batched = 1;
  par_set_batch(g, m, t->batch);
  return gradc_set_defaults(g, 0, 0);
}

GradcFn *gradc_trainer_fn(GradcTrainer *t) { return t->fn; }

long gradc_trainer_batch(const GradcTrainer *t, long *rows) {
  if (rows) {
    long first, local, all = par_mpi_rows(t->g, &first, &local);
    *rows = t->batch    ? t->n
            : all > 0   ? all
            : t->dim >= 0 && t->g->dimval ? t->g->dimval[t->dim]
                                          : -1;
  }
  return t->batch;
}

long gradc_trainer_steps(const GradcTrainer *t) {
  return t->step;
}

GradcStatus gradc_trainer_revert(GradcTrainer *t) {
  Gradc *g = t->g;
  if (!t->has_prev) {
    gradc_error(g, GRADC_ERR_USAGE, "there is no update to go back from");
    return GRADC_ERR_USAGE;
  }
  for (int k = 0; k < t->nparams; k++) {
    long n = values_size(g, g->prog.vars[t->params[k]].shape);
    memcpy(g->vals[t->params[k]].data, t->prev[k], (size_t)n * sizeof(double));
  }
  t->has_prev = 0;
  t->step--;
  return GRADC_OK;
}

static const char *number_name(double x) {
  return isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity";
}

/* "w" or "W[1,2]": element i of param k */
static void param_elem(GradcTrainer *t, int k, long i, char *out, size_t n) {
  Gradc *g = t->g;
  const Value *v = &g->vals[t->params[k]];
  int w = snprintf(out, n, "%s", g->prog.vars[t->params[k]].name);
  long idx[MAX_RANK], rest = i;
  for (int d = v->rank - 1; d >= 0; d--) {
    idx[d] = v->dims[d] > 0 ? rest % v->dims[d] : 0;
    rest = v->dims[d] > 0 ? rest / v->dims[d] : 0;
  }
  for (int d = 0; d < v->rank && w > 0 && (size_t)w < n; d++)
    w += snprintf(out + w, n - (size_t)w, "%s%ld%s", d ? "," : "[", idx[d], d + 1 == v->rank ? "]" : "");
}

/* The new value of element i of param k and of its moments (no writes). */
static void update(const GradcTrainer *t, double p, double m, double v, double grad, double c1, double c2,
                   double *pn, double *mn, double *vn) {
  const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  *mn = m;
  *vn = v;
  switch (t->opt) {
  case GRADC_GD:
    *pn = p - t->lr * grad;
    break;
  case GRADC_MOMENTUM:
    *mn = 0.9 * m + grad;
    *pn = p - t->lr * *mn;
    break;
  case GRADC_ADAM:
  default:
    *mn = b1 * m + (1 - b1) * grad;
    *vn = b2 * v + (1 - b2) * grad * grad;
    *pn = p - t->lr * (*mn / c1) / (sqrt(*vn / c2) + eps);
    break;
  }
}

GradcStatus gradc_trainer_step(GradcTrainer *t, double *loss) {
  Gradc *g = t->g;
  GradcStatus s;
  if (t->batch > 0 && (s = next_batch(t)) != GRADC_OK)
    return s;
  const double one = 1.0;
  const double *ct[1] = {&one};
  if ((s = gradc_run(t->fn, ct)) != GRADC_OK)
    return s;
  double l = gradc_fn_res_data(t->fn, 0)[0];
  if (loss)
    *loss = l;
  /* a loss or gradient that is not finite: back to the last params where
   * both were (the evaluation was at the params of step t->step) */
  const char *lname = g->prog.outs[t->loss].name;
  if (!isfinite(l)) {
    gradc_error(g, GRADC_ERR_NONFINITE, "the loss %s%s is not finite at step %ld (%s)", lname,
                t->batch > 0 ? " on the mini-batch" : "", t->step, number_name(l));
    if (t->has_prev)
      gradc_trainer_revert(t);
    return GRADC_ERR_NONFINITE;
  }
  for (int k = 0; k < t->nparams; k++) {
    const double *grad = gradc_fn_res_data(t->fn, 1 + k);
    long n = values_size(g, g->prog.vars[t->params[k]].shape);
    for (long i = 0; i < n; i++)
      if (!isfinite(grad[i])) {
        char name[256];
        param_elem(t, k, i, name, sizeof name);
        gradc_error(g, GRADC_ERR_NONFINITE, "the gradient of %s with respect to %s%s is not finite at step %ld (%s)",
                    lname, name, t->batch > 0 ? " on the mini-batch" : "", t->step, number_name(grad[i]));
        if (t->has_prev)
          gradc_trainer_revert(t);
        return GRADC_ERR_NONFINITE;
      }
  }
  double c1 = 1 - pow(0.9, (double)(t->step + 1)), c2 = 1 - pow(0.999, (double)(t->step + 1));
  /* the update must keep every param and moment finite, or none is made */
  for (int k = 0; k < t->nparams; k++) {
    const double *grad = gradc_fn_res_data(t->fn, 1 + k);
    long n = values_size(g, g->prog.vars[t->params[k]].shape);
    const double *p = g->vals[t->params[k]].data, *m = t->m[k], *v = t->v[k];
    for (long i = 0; i < n; i++) {
      double pn, mn, vn;
      update(t, p[i], m[i], v[i], grad[i], c1, c2, &pn, &mn, &vn);
      if (!isfinite(pn) || !isfinite(mn) || !isfinite(vn)) {
        char name[256];
        param_elem(t, k, i, name, sizeof name);
        gradc_error(g, GRADC_ERR_NONFINITE, "the update of step %ld makes %s%s not finite (%s)",
                    t->step + 1, isfinite(pn) ? "the optimizer's moments of " : "", name,
                    number_name(!isfinite(pn) ? pn : !isfinite(mn) ? mn : vn));
        return GRADC_ERR_NONFINITE;
      }
    }
  }
  for (int k = 0; k < t->nparams; k++) {
    const double *grad = gradc_fn_res_data(t->fn, 1 + k);
    long n = values_size(g, g->prog.vars[t->params[k]].shape);
    double *p = g->vals[t->params[k]].data, *m = t->m[k], *v = t->v[k];
    memcpy(t->prev[k], p, (size_t)n * sizeof *p);
    for (long i = 0; i < n; i++)
      update(t, p[i], m[i], v[i], grad[i], c1, c2, &p[i], &m[i], &v[i]);
  }
  t->has_prev = 1;
  t->step++;
  return GRADC_OK;
}
