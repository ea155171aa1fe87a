/* parallel.c: a compiled function evaluated over blocks of rows, on threads.
 *
 * When every result of a function is a sum over the rows of the data, a
 * value per row, or independent of the rows (separable.c), the rows are
 * cut into blocks of a fixed size (PAR_BLOCK_ROWS, gradc_set_block_rows),
 * each block is evaluated by the same compiled kernel with the data
 * dimension bound to its row count, its arguments offset to its rows and a
 * workspace of its thread, and the block results are assembled: rows in
 * place, sums added in block order, scaled by (rows in block / N)^-p for a
 * value proportional to N^p (a mean: p = -1). Blocks go to threads in any
 * order but the sums are always added in the same order, so the results
 * are the same bits for any number of threads and from run to run.
 * When a result has a part that does not depend on the rows (a result
 * independent of them, or a sum plus a regulariser: separable.c's CONST
 * and AFFINE), the blocks are evaluated by a second kernel of the parts
 * with rows and a third computes the parts without rows once per call,
 * with N bound to the whole data's rows; they are added to the sums last.
 * Under MPI (mpi.c) each process holds a contiguous range of whole blocks;
 * their partial sums are gathered on every process in rank order (block
 * order), so every process adds the same numbers in the same order; the
 * parts without rows are rank 0's, values per row are gathered on rank 0.
 * A mini-batch (train.c) is the rows of it each process holds, any number,
 * in blocks; a mean is divided by the whole batch's size.
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "parallel.h"
#ifdef GRADC_HAVE_BLAS
#include <cblas.h>
#endif

typedef struct ParFn {
  int state;            /* 0 not analysed, 1 blockable, -1 not */
  int dim;              /* the data dimension */
  int8_t *rkind, *rp;   /* per result: SEP_ROW/SUM/CONST/AFFINE, power of N */
  int8_t *arow;         /* per argument: has the rows */
  /* the kernels: kb evaluates the blocks (f itself, or the results' parts
   * that depend on the rows: ROW, SUM, the SUM part of an AFFINE one, when
   * some result has a part without rows), kc once per call the parts
   * without rows (CONST results, the CONST part of AFFINE ones); NULL: none */
  GradcFn *kb, *kc;
  int *bslot, *cslot;   /* per result of f: its result in kb / kc, or -1 */
  long *held;           /* per result: rows it holds after a gather (rank 0), else -1 */
  /* kept between calls */
  double **ws;          /* per thread: workspace */
  long *wscap;
  int nws;
  double *part;         /* partial sums, per block */
  long partcap;
  double *allpart;      /* MPI: every rank's */
  long allcap;
  double *cpart;        /* kc's results that are added to sums */
  long ccap;
} ParFn;

ParCtx *par_ctx(Gradc *g) {
  if (!g->par)
    g->par = calloc(1, sizeof *g->par);
  return g->par;
}

void par_ctx_free(Gradc *g) {
  if (g->par)
    free(g->par->counted_path);
  free(g->par);
  g->par = NULL;
}

void par_fn_free(GradcFn *f) {
  ParFn *p = f->par;
  if (!p)
    return;
  for (int t = 0; t < p->nws; t++)
    free(p->ws[t]);
  free(p->ws);
  free(p->wscap);
  free(p->rkind);
  free(p->rp);
  free(p->arow);
  free(p->bslot);
  free(p->cslot);
  free(p->held);
  free(p->part);
  free(p->allpart);
  free(p->cpart);
  free(p); /* kb and kc are on g's list of functions: freed with g */
  f->par = NULL;
}

static int cores(void) {
#ifdef CPU_COUNT
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
    return CPU_COUNT(&set);
#endif
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

void gradc_set_threads(Gradc *g, int threads) {
  ParCtx *c = par_ctx(g);
  if (c)
    c->threads = threads > 0 ? threads : 0;
}

int gradc_threads(Gradc *g) {
  ParCtx *c = par_ctx(g);
  return c && c->threads > 0 ? c->threads : cores();
}

void gradc_set_block_rows(Gradc *g, long rows) {
  ParCtx *c = par_ctx(g);
  if (c)
    c->block_rows = rows > 0 ? rows : 0;
}

long par_block_rows(Gradc *g) {
  return g->par && g->par->block_rows > 0 ? g->par->block_rows : PAR_BLOCK_ROWS;
}

int par_csv_window(Gradc *g, long total, long *lo, long *hi) {
  ParCtx *c = g->par;
  *lo = 0;
  *hi = total;
  if (!c || c->size <= 1)
    return 0;
  if (c->total_rows > 0 && c->total_rows != total) {
    gradc_error(g, GRADC_ERR_INPUT, "under MPI, every data file must have the same rows (%ld, not %ld)",
                c->total_rows, total);
    return -1;
  }
  if (total < c->size) {
    gradc_error(g, GRADC_ERR_INPUT, "under MPI, %d processes need at least %d rows of data, not %ld", c->size,
                c->size, total);
    return -1;
  }
  long B = par_block_rows(g);
  if ((total + B - 1) / B < c->size) { /* fewer blocks than processes: smaller blocks */
    B = (total + c->size - 1) / c->size;
    c->block_rows = B;
  }
  long nb = (total + B - 1) / B;
  long b0 = nb * c->rank / c->size, b1 = nb * (c->rank + 1) / c->size;
  *lo = b0 * B;
  *hi = b1 * B < total ? b1 * B : total;
  c->first_row = *lo;
  c->total_rows = total;
  c->local_rows = *hi - *lo;
  return 0;
}

long par_mpi_rows(Gradc *g, long *first, long *local) {
  ParCtx *c = g->par;
  if (!c || c->size <= 1 || c->total_rows <= 0)
    return -1;
  *first = c->first_row;
  *local = c->local_rows;
  return c->total_rows;
}

void par_set_batch(Gradc *g, long local, long total) {
  ParCtx *c = g->par;
  if (c && c->size > 1) {
    c->batch_local = local;
    c->batch_total = total;
  }
}

void par_res_dims(const GradcFn *f, int i, long *dims) {
  const ParFn *p = f->par;
  if (p && p->held && p->held[i] > 0)
    dims[0] = p->held[i];
}

/* Kernels for the parts of f's results (sep_split): kb of the row parts,
 * kc of the parts without rows. 0, or -1 (f then runs as one call). */
static int split_kernels(GradcFn *f, ParFn *p, const SepClass *c) {
  Gradc *g = f->g;
  int nr = f->nres, nb = 0, nc = 0, rc = -1;
  NodeId *rowpart = malloc(((size_t)nr + 1) * sizeof *rowpart), *cpart = malloc(((size_t)nr + 1) * sizeof *cpart);
  NodeId *broots = malloc(((size_t)nr + 1) * sizeof *broots), *croots = malloc(((size_t)nr + 1) * sizeof *croots);
  SepClass *c2 = NULL;
  if (!rowpart || !cpart || !broots || !croots || sep_split(g, c, f->roots, nr, rowpart, cpart) < 0)
    goto out;
  /* the parts must be what they claim: a sum of the same power, and no rows */
  if (!(c2 = sep_classify(g, NULL)))
    goto out;
  for (int r = 0; r < nr; r++) {
    int k = p->rkind[r];
    if (k == SEP_AFFINE) {
      if (rowpart[r] != NO_NODE && (c2[rowpart[r]].kind != SEP_SUM || c2[rowpart[r]].p != p->rp[r]))
        goto out;
      if (cpart[r] != NO_NODE && c2[cpart[r]].kind != SEP_CONST)
        goto out;
      if (rowpart[r] == NO_NODE) /* all of it without rows */
        k = p->rkind[r] = SEP_CONST;
      else if (cpart[r] == NO_NODE)
        k = p->rkind[r] = SEP_SUM;
    }
    p->bslot[r] = p->cslot[r] = -1;
    if (k != SEP_CONST) {
      p->bslot[r] = nb;
      broots[nb++] = k == SEP_AFFINE ? rowpart[r] : f->roots[r];
    }
    if (k == SEP_CONST || k == SEP_AFFINE) {
      p->cslot[r] = nc;
      croots[nc++] = k == SEP_AFFINE ? cpart[r] : f->roots[r];
    }
  }
  /* compiled as f was (the tiered JIT moves them to cc code too) */
  GradcBackend was = g->backend;
  g->backend = f->tier ? GRADC_BACKEND_TIERED : (GradcBackend)f->backend;
  p->kb = nb ? api_fn_like(g, f, broots, nb) : NULL;
  p->kc = nc ? api_fn_like(g, f, croots, nc) : NULL;
  g->backend = was;
  rc = (nb && !p->kb) || (nc && !p->kc) ? -1 : 0;
out:
  free(c2);
  free(rowpart);
  free(cpart);
  free(broots);
  free(croots);
  return rc;
}

/* Can f's results be assembled from blocks? */
static ParFn *analyse(GradcFn *f) {
  if (f->par)
    return f->par;
  Gradc *g = f->g;
  const Dag *d = g->prog.dag;
  ParFn *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  f->par = p;
  p->state = -1;
  p->rkind = calloc((size_t)f->nres + 1, 1);
  p->rp = calloc((size_t)f->nres + 1, 1);
  p->arow = calloc((size_t)f->nargs + 1, 1);
  p->bslot = calloc((size_t)f->nres + 1, sizeof *p->bslot);
  p->cslot = calloc((size_t)f->nres + 1, sizeof *p->cslot);
  p->held = calloc((size_t)f->nres + 1, sizeof *p->held);
  for (int r = 0; p->held && r < f->nres; r++)
    p->held[r] = -1;
  SepClass *c = p->rkind && p->rp && p->arow && p->bslot && p->cslot && p->held ? sep_classify(g, &p->dim) : NULL;
  if (!c)
    return p;
  int ok = 1, split = 0;
  for (int r = 0; r < f->nres; r++) {
    SepClass k = c[f->roots[r]];
    const Shape *s = shape_get(d, f->resshape[r]);
    int lead = s->rank > 0 && s->dim[0] == ~(int64_t)p->dim;
    ok &= k.kind != SEP_BAD && (k.kind == SEP_ROW) == lead; /* CONST: computed once, N the whole's */
    p->rkind[r] = k.kind;
    p->rp[r] = k.p;
    p->bslot[r] = r;
    p->cslot[r] = -1;
    p->held[r] = -1;
    split |= k.kind == SEP_CONST || k.kind == SEP_AFFINE;
  }
  for (int a = 0; a < f->nargs; a++) {
    const Shape *s = shape_get(d, f->argshape[a]);
    p->arow[a] = s->rank > 0 && s->dim[0] == ~(int64_t)p->dim;
  }
  p->kb = f;
  if (ok && split)
    ok = split_kernels(f, p, c) == 0;
  free(c);
  p->state = ok ? 1 : -1;
  return p;
}

/* Elements per row of a shape with the rows leading (all of it otherwise). */
static long row_size(const Gradc *g, ShapeId sid, int lead) {
  const Shape *s = shape_get(g->prog.dag, sid);
  long n = 1;
  for (int k = lead ? 1 : 0; k < s->rank; k++)
    n *= dim_eval(g->prog.dag, s->dim[k], g->dimval);
  return n;
}

typedef struct Job {
  GradcFn *f, *k;          /* f, and the kernel of its blocks */
  ParFn *p;
  const double *const *args;
  long n, B, nb;           /* local rows, block size, local blocks */
  long *asize, *rsize;     /* per row (ROW) or whole (else) */
  long sumsize;            /* doubles of the SUM / AFFINE results */
  long *roff;              /* per result: offset in the partial (SUM, AFFINE) or kc's buffer (AFFINE) */
  long need;               /* workspace doubles of a full block */
  long next;               /* the next block to take */
  pthread_mutex_t lock;
  int rc;                  /* the first failure */
} Job;

typedef struct Worker {
  Job *j;
  int t;
  double cpu;
} Worker;

static double thread_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void *work(void *arg) {
  Worker *w = arg;
  double t0 = thread_now();
  Job *j = w->j;
  GradcFn *f = j->f, *k = j->k;
  if (!k) /* every result without rows: no block to evaluate */
    return NULL;
  ParFn *p = j->p;
  Gradc *g = f->g;
  int nd = g->prog.ndims;
  double *ws = p->ws[w->t];
  long dims[64];
  const double **args = malloc(((size_t)f->nargs + 1) * sizeof *args);
  double **res = malloc(((size_t)k->nres + 1) * sizeof *res);
  if (!args || !res) {
    pthread_mutex_lock(&j->lock);
    j->rc = -1;
    pthread_mutex_unlock(&j->lock);
  }
  for (;;) {
    long b;
    pthread_mutex_lock(&j->lock);
    b = j->rc || !args || !res ? j->nb : j->next++;
    pthread_mutex_unlock(&j->lock);
    if (b >= j->nb)
      break;
    long r0 = b * j->B, nb = j->n - r0 < j->B ? j->n - r0 : j->B;
    memcpy(dims, g->dimval, (size_t)nd * sizeof *dims);
    dims[p->dim] = nb;
    for (int a = 0; a < f->nargs; a++)
      args[a] = p->arow[a] ? j->args[a] + r0 * j->asize[a] : j->args[a];
    for (int r = 0; r < f->nres; r++)
      if (p->bslot[r] >= 0)
        res[p->bslot[r]] = p->rkind[r] == SEP_ROW ? f->resdata[r] + r0 * j->rsize[r]
                                                  : p->part + b * j->sumsize + j->roff[r];
    int rc = k->call(dims, args, res, j->need > 0 ? ws : NULL);
    if (rc) {
      pthread_mutex_lock(&j->lock);
      if (!j->rc)
        j->rc = rc;
      pthread_mutex_unlock(&j->lock);
    }
  }
  free(args);
  free(res);
  w->cpu = thread_now() - t0;
  return NULL;
}

/* A buffer kept between calls (*buf of *cap doubles) of at least n + 1; 0, or -1. */
static int reserve(double **buf, long *cap, long n) {
  if (*cap >= n + 1)
    return 0;
  free(*buf);
  *buf = malloc(((size_t)n + 1) * sizeof **buf);
  *cap = *buf ? n + 1 : 0;
  return *buf ? 0 : -1;
}

static const char *bad_result(const GradcFn *f, const ParFn *p) {
  for (int r = 0; p && p->rkind && r < f->nres; r++)
    if (p->rkind[r] == SEP_BAD)
      return f->resnames[r];
  return f->nres ? f->resnames[0] : "?";
}

/* (rows in the block / total)^-p: the block's value of N^p times a sum,
 * as a share of the whole's */
static double block_scale(int pw, long len, long total) {
  return pw == 0 ? 1.0 : pw == -1 ? (double)len / (double)total : pow((double)total / (double)len, pw);
}

/* Under MPI: every value per row on rank 0, in rank order (the rows' order);
 * the others keep theirs. 0, or -1 on every rank when rank 0 is out of memory. */
static int gather_rows(GradcFn *f, ParFn *p, Job *j, int size, long total) {
  Gradc *g = f->g;
  long *counts = calloc((size_t)size, sizeof *counts);
  int rc = counts ? 0 : -1;
  for (int r = 0; r < f->nres && !rc; r++) {
    if (p->rkind[r] != SEP_ROW)
      continue;
    long mine = j->n * j->rsize[r];
    double *all = NULL;
    if (g->par->rank == 0 && !(all = malloc(((size_t)total * (size_t)j->rsize[r] + 1) * sizeof *all)))
      mine = -1; /* said to the others: none of them gathers */
    if (par_mpi_counts(mine, counts, size) || counts[0] < 0 ||
        par_mpi_gather(f->resdata[r], mine, all, counts, size)) {
      free(all);
      rc = -1;
      break;
    }
    if (all) {
      free(f->resdata[r]);
      f->resdata[r] = all;
      p->held[r] = total;
    }
  }
  free(counts);
  return rc;
}

int par_run(GradcFn *f, const double *const *args, GradcStatus *st) {
  Gradc *g = f->g;
  ParCtx *c = g->par;
  int mpi = c && c->size > 1;
  long B = par_block_rows(g);
  int dim = sep_data_dim(g);
  if (c)
    c->last_blocks = 0;
  if (f->par && f->par->held)
    for (int r = 0; r < f->nres; r++)
      f->par->held[r] = -1;
  if (dim < 0 || !g->dimval || g->prog.ndims > 64) {
    if (!mpi)
      return 0;
    gradc_error(g, GRADC_ERR_USAGE, "under MPI, the program needs inputs with rows (a symbolic leading dimension)");
    *st = GRADC_ERR_USAGE;
    return 1;
  }
  long n = g->dimval[dim], total = n;
  int batched = mpi && c->batch_total > 0;
  if (mpi) {
    /* a mini-batch (train --batch): this process's rows of it, of batch_total;
     * without any, one placeholder row that no block evaluates */
    long want = batched ? (c->batch_local > 0 ? c->batch_local : 1) : c->local_rows;
    if (c->total_rows <= 0 || n != want) {
      gradc_error(g, GRADC_ERR_USAGE, "under MPI, the rows must come from CSV files (@FILE.csv), which each "
                  "process reads its share of");
      *st = GRADC_ERR_USAGE;
      return 1;
    }
    n = batched ? c->batch_local : c->local_rows;
    total = batched ? c->batch_total : c->total_rows;
  }
  if (n < (mpi ? 0 : 1) || (!mpi && n <= B))
    return 0;
  ParFn *p = analyse(f);
  if (mpi && (!p || p->state != 1)) {
    gradc_error(g, GRADC_ERR_USAGE, "under MPI, every result must be a sum over the rows (gradc_separable),"
                " possibly plus a term without them, a value per row or independent of the rows: '%s' is not",
                bad_result(f, p));
    *st = GRADC_ERR_USAGE;
    return 1;
  }
  if (!p || p->state != 1)
    return 0;
  for (int r = 0; batched && r < f->nres; r++)
    if (p->rkind[r] == SEP_ROW) {
      gradc_error(g, GRADC_ERR_USAGE, "under MPI, '%s' has a value per row, which a mini-batch spread over the "
                  "processes has in no order: evaluate it on the whole data", f->resnames[r]);
      *st = GRADC_ERR_USAGE;
      return 1;
    }
  for (int k = 0; k < f->nchecks; k++)
    if (!api_check_dims(g, f->checks[k], g->dimval)) {
      *st = GRADC_ERR_INPUT;
      return 1;
    }
  GradcFn *kb = p->kb;
  if (kb && kb != f)
    tiered_poll(kb);
  Job j = {.f = f, .k = kb, .p = p, .args = args, .n = n, .B = B, .nb = kb ? (n + B - 1) / B : 0};
  long csize = 0;
  j.asize = calloc((size_t)f->nargs + 1, sizeof *j.asize);
  j.rsize = calloc((size_t)f->nres + 1, sizeof *j.rsize);
  j.roff = calloc((size_t)f->nres + 1, sizeof *j.roff);
  long *coff = calloc((size_t)f->nres + 1, sizeof *coff);
  Worker *wk = NULL;
  pthread_t *tid = NULL;
  long *counts = NULL;
  *st = GRADC_ERR_NOMEM;
  if (!j.asize || !j.rsize || !j.roff || !coff)
    goto out;
  for (int a = 0; a < f->nargs; a++)
    j.asize[a] = row_size(g, f->argshape[a], p->arow[a]);
  for (int r = 0; r < f->nres; r++) {
    j.rsize[r] = row_size(g, f->resshape[r], p->rkind[r] == SEP_ROW);
    if (p->rkind[r] == SEP_SUM || p->rkind[r] == SEP_AFFINE) {
      j.roff[r] = j.sumsize;
      j.sumsize += j.rsize[r];
    }
    if (p->cslot[r] >= 0) { /* CONST, or the part without rows of an AFFINE */
      coff[r] = csize;
      csize += j.rsize[r];
    }
  }
  if (kb) {
    long dims[64];
    memcpy(dims, g->dimval, (size_t)g->prog.ndims * sizeof *dims);
    dims[dim] = n < B ? n : B;
    j.need = kb->work_size ? kb->work_size(dims) : 0;
  }
  int T = c && c->threads > 0 ? c->threads : cores();
  if (T > j.nb)
    T = (int)j.nb;
  if (T < 1)
    T = 1;
  /* per-thread workspaces and the partial sums, kept between calls */
  if (p->nws < T) {
    double **ws = realloc(p->ws, (size_t)T * sizeof *ws);
    if (!ws)
      goto out;
    p->ws = ws;
    long *cap = realloc(p->wscap, (size_t)T * sizeof *cap);
    if (!cap)
      goto out;
    p->wscap = cap;
    for (int t = p->nws; t < T; t++) {
      p->ws[t] = NULL;
      p->wscap[t] = 0;
    }
    p->nws = T;
  }
  for (int t = 0; t < T; t++) {
    long want = j.need + 1;
    if (p->wscap[t] < want) {
      free(p->ws[t]);
      p->ws[t] = malloc((size_t)want * sizeof(double));
      p->wscap[t] = p->ws[t] ? want : 0;
      if (!p->ws[t])
        goto out;
    }
  }
  if (reserve(&p->part, &p->partcap, j.nb * j.sumsize) || reserve(&p->cpart, &p->ccap, csize))
    goto out;
  wk = calloc((size_t)T, sizeof *wk);
  tid = calloc((size_t)T, sizeof *tid);
  if (!wk || !tid)
    goto out;
  pthread_mutex_init(&j.lock, NULL);
  int started = 1;
  for (int t = 0; t < T; t++)
    wk[t] = (Worker){.j = &j, .t = t};
#ifdef GRADC_HAVE_BLAS
  /* the blocks are the parallelism: OpenBLAS's own threads inside each
   * block's products would oversubscribe the cores (digits, 2 threads:
   * 0.7x instead of a speedup), and they split a product differently with
   * the load, so one BLAS thread for any T keeps the same bits */
  int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
#endif
  for (int t = 1; t < T; t++) {
    if (pthread_create(&tid[t], NULL, work, &wk[t]) != 0)
      break;
    started++;
  }
  work(&wk[0]);
  for (int t = 1; t < started; t++)
    pthread_join(tid[t], NULL);
#ifdef GRADC_HAVE_BLAS
  openblas_set_num_threads(blas_threads);
#endif
  pthread_mutex_destroy(&j.lock);
  if (c) {
    c->nthread_cpu = started < 64 ? started : 64;
    for (int t = 0; t < c->nthread_cpu; t++)
      c->thread_cpu[t] = wk[t].cpu;
  }
  int failed = j.rc != 0;
  /* each block's share of the whole: its sums times (rows / N)^-p, the
   * values per row likewise */
  for (long b = 0; b < j.nb && !failed; b++) {
    long len = n - b * B < B ? n - b * B : B;
    for (int r = 0; r < f->nres; r++) {
      int pw = p->rp[r];
      if (pw == 0 || p->rkind[r] == SEP_CONST)
        continue;
      double s = block_scale(pw, len, total);
      double *x = p->rkind[r] == SEP_ROW ? f->resdata[r] + b * B * j.rsize[r] : p->part + b * j.sumsize + j.roff[r];
      for (long e = 0, m = p->rkind[r] == SEP_ROW ? len * j.rsize[r] : j.rsize[r]; e < m; e++)
        x[e] *= s;
    }
  }
  const double *part = p->part;
  long nball = j.nb;
  if (mpi) {
    /* every rank's partial sums, in rank order: the global block order */
    counts = calloc((size_t)c->size, sizeof *counts);
    long mine = failed ? -1 : j.nb * j.sumsize, all = 0;
    if (!counts || par_mpi_counts(mine, counts, c->size))
      goto out;
    for (int r = 0; r < c->size; r++) {
      if (counts[r] < 0)
        failed = 1;
      all += counts[r] > 0 ? counts[r] : 0;
    }
    if (!failed) {
      if (reserve(&p->allpart, &p->allcap, all) || par_mpi_allgather(p->part, mine, p->allpart, counts, c->size))
        goto out;
      part = p->allpart;
      nball = j.sumsize ? all / j.sumsize : 0;
    }
  }
  if (failed) {
    /* again as one call, for its diagnostic (a label out of range...) */
    *st = gradc_call_dims(f, g->dimval, args, f->resdata);
    if (*st == GRADC_OK) {
      gradc_error(g, GRADC_ERR_INTERNAL, "a block of rows failed where the whole data did not");
      *st = GRADC_ERR_INTERNAL;
    }
    goto out;
  }
  for (int r = 0; r < f->nres; r++) {
    if (p->rkind[r] != SEP_SUM && p->rkind[r] != SEP_AFFINE)
      continue;
    double *o = f->resdata[r];
    for (long e = 0; e < j.rsize[r]; e++)
      o[e] = 0;
    for (long b = 0; b < nball; b++) {
      const double *x = part + b * j.sumsize + j.roff[r];
      if (b == 0)
        for (long e = 0; e < j.rsize[r]; e++)
          o[e] = x[e];
      else
        for (long e = 0; e < j.rsize[r]; e++)
          o[e] += x[e];
    }
  }
  if (p->kc) {
    /* the parts without rows, once, with N the whole data's (or batch's)
     * rows; under MPI rank 0's, so that every process has the same bits
     * even while the tiered JIT has moved some to cc code and not others */
    double **res = calloc((size_t)p->kc->nres + 1, sizeof *res);
    long dims[64];
    if (!res)
      goto out;
    memcpy(dims, g->dimval, (size_t)g->prog.ndims * sizeof *dims);
    dims[dim] = total;
    for (int r = 0; r < f->nres; r++)
      if (p->cslot[r] >= 0)
        res[p->cslot[r]] = p->cpart + coff[r];
    *st = gradc_call_dims(p->kc, dims, args, res);
    free(res);
    if (*st != GRADC_OK)
      goto out;
    *st = GRADC_ERR_NOMEM;
    if (mpi && par_mpi_bcast(p->cpart, csize))
      goto out;
    for (int r = 0; r < f->nres; r++) {
      if (p->cslot[r] < 0)
        continue;
      double *o = f->resdata[r];
      const double *x = p->cpart + coff[r];
      if (p->rkind[r] == SEP_AFFINE)
        for (long e = 0; e < j.rsize[r]; e++)
          o[e] += x[e];
      else
        memcpy(o, x, (size_t)j.rsize[r] * sizeof *o);
    }
  }
  *st = GRADC_ERR_NOMEM;
  if (mpi && !batched && gather_rows(f, p, &j, c->size, total) < 0)
    goto out;
  *st = GRADC_OK;
  if (c)
    c->last_blocks = j.nb;
out:
  if (*st == GRADC_ERR_NOMEM)
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory for the blocks of rows");
  free(counts);
  free(coff);
  free(wk);
  free(tid);
  free(j.asize);
  free(j.rsize);
  free(j.roff);
  return 1;
}

#ifndef GRADC_MPI
int gradc_mpi_init(int *argc, char ***argv) {
  (void)argc, (void)argv;
  return 1;
}
int gradc_mpi_rank(void) { return 0; }
void gradc_mpi_finalize(int rc) { (void)rc; }
void gradc_mpi_finalize_agreed(int rc) { (void)rc; }
void gradc_set_mpi(Gradc *g) { (void)g; }
int par_mpi_allgather(const double *mine, long nmine, double *all, const long *counts, int size) {
  (void)mine, (void)nmine, (void)all, (void)counts, (void)size;
  return -1;
}
int par_mpi_counts(long mine, long *counts, int size) {
  (void)mine, (void)counts, (void)size;
  return -1;
}
int par_mpi_gather(const double *mine, long nmine, double *all, const long *counts, int size) {
  (void)mine, (void)nmine, (void)all, (void)counts, (void)size;
  return -1;
}
int par_mpi_bcast(double *x, long n) {
  (void)x, (void)n;
  return -1;
}
#endif
