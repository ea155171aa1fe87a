/* sparsity.c: the nonzero pattern of a Jacobian or a Hessian, from the DAG
 * at the bound sizes, by index sets carried element by element.
 *
 * Jacobian: every element of a node carries the set of wrt elements
 * (columns) it depends on through differentiable operators (forward index
 * domains); row i of the Jacobian is the set of output element i.
 *
 * Hessian of a scalar output: a reverse sweep marks the elements whose
 * adjoint may be nonzero (those that reach the output through
 * differentiable operators), and at each such element of a nonlinear
 * operator the pairs of sets that its second derivatives couple are
 * recorded (u*w couples ind(u) with ind(w), exp(u) ind(u) with itself,
 * u/w ind(u) with ind(w) and ind(w) with itself); the pattern is the union
 * of those products. This is the "index domains and nonlinear
 * interactions" method of ADOL-C (Walther, "Computing sparse Hessians with
 * automatic differentiation", ACM TOMS 34(1), 2008), applied to tensor
 * elements.
 *
 * Sets are immutable and shared: an element holds a set id into one pool,
 * so a slice, a reshape or a unary function copies ids, not sets, and a
 * union that adds nothing returns the larger operand's id. A multiplication
 * by a known zero (a constant band mask, a where() with a known condition,
 * gather indices) is read from the actual values: constant subgraphs are
 * evaluated once by a JIT function. An operator that is not understood
 * would be conservative (every element of the argument), never missing a
 * nonzero. The sweeps are iterative, over node ids. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "sparsity.h"

/* entries of the set pool, of pairs and of the result, at most */
#define SP_LIMIT (1ull << 26)

typedef struct Sp {
  Gradc *g;
  Dag *d;
  uint32_t count;        /* nodes when the analysis started */
  int flags;
  long ncol;             /* wrt elements */
  long *var_col;         /* per variable: its first column, or -1 */
  long *size;            /* per node: elements at the bound sizes */
  uint8_t *live;         /* reached from the roots */
  uint8_t *dep;          /* depends on a wrt element differentiably */
  uint8_t *vdep;         /* its value depends on a variable that is not known */
  uint32_t **es;         /* per dep node: the set id of each element */
  double **val;          /* known values of constant operands, or NULL */
  /* the set pool: set s is idx[off[s] .. off[s+1]); set 0 is empty */
  uint32_t *off, *idx;
  uint32_t nset, capset;
  uint64_t nidx, capidx;
  /* union scratch */
  uint32_t *mark, *mark2;
  uint32_t stamp, stamp2, marked; /* marked: the set whose elements hold stamp */
  uint32_t *ids;
  size_t capids;
  /* dependencies of one element: argument k, element e */
  uint8_t *dk;
  long *de;
  size_t ndep, capdep;
  int err;               /* 1 out of memory, 2 too dense */
} Sp;

/* ---- the set pool ------------------------------------------------------- */

static uint32_t set_len(const Sp *s, uint32_t id) { return s->off[id + 1] - s->off[id]; }
static const uint32_t *set_at(const Sp *s, uint32_t id) { return s->idx + s->off[id]; }

static int reserve_idx(Sp *s, uint64_t extra) {
  if (s->nidx + extra > SP_LIMIT) {
    s->err = 2;
    return 0;
  }
  if (s->nidx + extra <= s->capidx)
    return 1;
  uint64_t cap = s->capidx ? s->capidx : 1024;
  while (cap < s->nidx + extra)
    cap *= 2;
  uint32_t *n = realloc(s->idx, cap * sizeof *n);
  if (!n) {
    s->err = 1;
    return 0;
  }
  s->idx = n;
  s->capidx = cap;
  return 1;
}

/* Close the set made of idx[off[nset] .. nidx): its id. */
static uint32_t close_set(Sp *s) {
  if (s->nset + 2 > s->capset) {
    uint32_t cap = s->capset ? 2 * s->capset : 1024;
    uint32_t *n = realloc(s->off, (size_t)cap * sizeof *n);
    if (!n || cap < s->capset) {
      s->err = 1;
      return 0;
    }
    s->off = n;
    s->capset = cap;
  }
  s->off[++s->nset] = (uint32_t)s->nidx;
  return s->nset - 1;
}

static uint32_t singleton(Sp *s, uint32_t col) {
  if (!reserve_idx(s, 1))
    return 0;
  s->idx[s->nidx++] = col;
  return close_set(s);
}

static void bump(uint32_t *mark, uint32_t *stamp, long n) {
  if (++*stamp == 0) {
    memset(mark, 0, (size_t)n * sizeof *mark);
    *stamp = 1;
  }
}

/* The union of sets ids[0..k). The largest one's elements stay marked
 * between calls, so adding small sets to one big set (x + sum(x)) costs
 * the small ones only. */
static uint32_t unite(Sp *s, const uint32_t *ids, size_t k) {
  uint32_t best = 0;
  for (size_t i = 0; i < k; i++)
    if (ids[i] && (best == 0 || set_len(s, ids[i]) > set_len(s, best)))
      best = ids[i];
  size_t i = 0;
  while (i < k && (ids[i] == 0 || ids[i] == best))
    i++;
  if (i == k || s->err)
    return best;
  if (s->marked != best) { /* mark best's elements */
    bump(s->mark, &s->stamp, s->ncol);
    const uint32_t *b = set_at(s, best);
    for (uint32_t q = 0, n = set_len(s, best); q < n; q++)
      s->mark[b[q]] = s->stamp;
    s->marked = best;
  }
  bump(s->mark2, &s->stamp2, s->ncol);
  uint64_t start = s->nidx;
  for (; i < k; i++) {
    if (ids[i] == 0 || ids[i] == best)
      continue;
    uint32_t n = set_len(s, ids[i]);
    if (!reserve_idx(s, n))
      return best;
    const uint32_t *a = set_at(s, ids[i]);
    for (uint32_t q = 0; q < n; q++) {
      uint32_t c = a[q];
      if (s->mark[c] != s->stamp && s->mark2[c] != s->stamp2) {
        s->mark2[c] = s->stamp2;
        s->idx[s->nidx++] = c;
      }
    }
  }
  uint64_t added = s->nidx - start;
  if (added == 0)
    return best;
  /* best's elements, then the new ones */
  uint32_t nb = set_len(s, best);
  if (!reserve_idx(s, nb)) {
    s->nidx = start;
    return best;
  }
  memmove(s->idx + start + nb, s->idx + start, added * sizeof *s->idx);
  memcpy(s->idx + start, set_at(s, best), (size_t)nb * sizeof *s->idx);
  s->nidx += nb;
  return close_set(s);
}

static uint32_t unite2(Sp *s, uint32_t a, uint32_t b) {
  if (a == b || b == 0)
    return a;
  if (a == 0)
    return b;
  uint32_t ids[2] = {a, b};
  return unite(s, ids, 2);
}

/* ---- shapes at the bound sizes ----------------------------------------- */

static int dims_at(const Sp *s, ShapeId sh, long *d) {
  const Shape *x = shape_get(s->d, sh);
  for (int k = 0; k < x->rank; k++)
    d[k] = dim_eval(s->d, x->dim[k], s->g->dimval);
  return x->rank;
}

static long prod(const long *d, int from, int to) {
  long n = 1;
  for (int k = from; k < to; k++)
    n *= d[k];
  return n;
}

/* Row-major multi-index of flat element o. */
static void unflat(long o, const long *d, int rank, long *ix) {
  for (int k = rank; k-- > 0;) {
    ix[k] = d[k] ? o % d[k] : 0;
    o = d[k] ? o / d[k] : 0;
  }
}

/* ---- known values ------------------------------------------------------- */

/* Element e of node n: 0 known zero, 1 known nonzero (NaN included), -1
 * not known. */
static int known(const Sp *s, NodeId n, long e) {
  const Node *x = dag_node(s->d, n);
  if (x->op == OP_BCAST && dag_is_const(s->d, x->arg[0]))
    x = dag_node(s->d, x->arg[0]);
  if (x->op == OP_CONST)
    return x->v.num != 0;
  if (n < s->count && s->val && s->val[n])
    return s->val[n][e] != 0;
  return -1;
}

/* Does an operand's value matter for the pattern (a factor, a condition,
 * gather indices)? Its values are read when it is known. */
static int wants_value(const Sp *s, NodeId x) {
  const Node *nd = dag_node(s->d, x);
  if (nd->op == OP_CONST || (nd->op == OP_BCAST && dag_is_const(s->d, nd->arg[0])))
    return 0;
  return !s->vdep[x] && !s->dep[x];
}

/* Evaluate the known operands that matter, in one JIT function. */
static void eval_known(Sp *s) {
  NodeId *roots = NULL;
  int nroots = 0, cap = 0;
  for (uint32_t i = 0; i < s->count; i++) {
    if (!s->live[i] || !s->dep[i])
      continue;
    const Node *nd = dag_node(s->d, i);
    int which[3] = {0, 0, 0};
    switch ((OpKind)nd->op) {
    case OP_MUL: case OP_SMUL: case OP_MATMUL:
      which[0] = which[1] = 1;
      break;
    case OP_WHERE:
      which[0] = 1;
      break;
    case OP_TAKE: case OP_SCATTER:
      which[1] = 1;
      break;
    default:
      continue;
    }
    for (int k = 0; k < nd->nargs; k++) {
      NodeId x = nd->arg[k];
      if (!which[k] || !wants_value(s, x) || s->val[x])
        continue;
      int seen = 0;
      for (int r = 0; r < nroots && !seen; r++)
        seen = roots[r] == x;
      if (seen)
        continue;
      if (nroots == cap) {
        cap = cap ? 2 * cap : 8;
        NodeId *n = realloc(roots, (size_t)cap * sizeof *n);
        if (!n) {
          free(roots);
          return; /* not known: conservative */
        }
        roots = n;
      }
      roots[nroots++] = x;
    }
  }
  if (!nroots)
    return;
  Buf key = {0};
  buf_puts(&key, "sparsity-constants:");
  for (int r = 0; r < nroots; r++)
    buf_printf(&key, "%u,", roots[r]);
  Gradc *g = s->g;
  int before = g->diags.count;
  GradcFn *f = key.oom ? NULL : api_fn_nodes(g, key.data, roots, nroots, 0, NULL);
  if (key.oom)
    buf_free(&key);
  int nv = g->prog.nvars;
  const double **args = calloc((size_t)nv + 1, sizeof *args);
  double **res = calloc((size_t)nroots + 1, sizeof *res);
  double *zeros = NULL;
  int ok = f && args && res;
  /* the roots read no variable that is not known; an unknown one gets
   * zeros (emit: constants only, which read none) */
  long maxv = 1;
  for (int k = 0; k < nv; k++) {
    long n = values_size(g, g->prog.vars[k].shape);
    if (n > maxv)
      maxv = n;
  }
  zeros = calloc((size_t)maxv, sizeof *zeros);
  ok = ok && zeros;
  for (int k = 0; ok && k < nv; k++)
    args[k] = g->vals && g->vals[k].set && (s->flags & SP_AT_VALUES) ? g->vals[k].data : zeros;
  for (int r = 0; ok && r < nroots; r++) {
    res[r] = malloc((size_t)(s->size[roots[r]] > 0 ? s->size[roots[r]] : 1) * sizeof **res);
    ok = res[r] != NULL;
  }
  if (ok && gradc_call_dims(f, g->dimval, args, res) == GRADC_OK) {
    for (int r = 0; r < nroots; r++) {
      s->val[roots[r]] = res[r];
      res[r] = NULL;
    }
  } else {
    /* not known after all (a failed check, no memory): conservative; the
     * command's own evaluation reports any error */
    for (int i = g->diags.count; i-- > before;) {
      free(g->diags.items[i].msg);
      free(g->diags.items[i].hint);
      free(g->diags.items[i].file);
    }
    g->diags.count = before;
  }
  for (int r = 0; res && r < nroots; r++)
    free(res[r]);
  free(res);
  free(args);
  free(zeros);
  free(roots);
}

/* ---- the dependencies of one element ------------------------------------ */

static void add_dep(Sp *s, int k, long e) {
  if (s->ndep == s->capdep) {
    size_t cap = s->capdep ? 2 * s->capdep : 64;
    uint8_t *a = realloc(s->dk, cap);
    long *b = a ? realloc(s->de, cap * sizeof *b) : NULL;
    if (a)
      s->dk = a;
    if (!b) {
      s->err = 1;
      return;
    }
    s->de = b;
    s->capdep = cap;
  }
  s->dk[s->ndep] = (uint8_t)k;
  s->de[s->ndep++] = e;
}

/* What one node needs to map its elements to its arguments'. */
typedef struct Map {
  int rank;
  long od[MAX_RANK];            /* the node's dimensions */
  int arank[3];
  long ad[3][MAX_RANK];         /* each argument's */
  long astr[3][MAX_RANK];       /* elementwise: the argument's stride per
                                   node dimension (0: broadcast) */
  int ident[3];                 /* same size: the same flat index */
  long first[MAX_RANK], step[MAX_RANK], len[MAX_RANK], full[MAX_RANK]; /* slices */
  /* take/scatter: A elements before the axis, D along it, B after, J indices */
  long A, D, B, J;
  long *inv_ptr, *inv_j;        /* scatter with known indices: j's per k */
  /* matmul */
  long m, kk, nn, sa_i, sa_p, sb_p, sb_j;
} Map;

static void map_free(Map *m) {
  free(m->inv_ptr);
  free(m->inv_j);
  m->inv_ptr = m->inv_j = NULL;
}

/* A gather index as an element along an axis of size D, or -1. */
static long index_value(double v, long D) {
  if (!(v > -1.0 - (double)D && v < (double)D) || (double)(long)v != v)
    return -1;
  long k = (long)v;
  return k < 0 ? k + D : k;
}

static void map_prepare(Sp *s, NodeId n, Map *m) {
  const Node *nd = dag_node(s->d, n);
  memset(m, 0, sizeof *m);
  m->rank = dims_at(s, nd->shape, m->od);
  for (int k = 0; k < nd->nargs; k++) {
    m->arank[k] = dims_at(s, dag_shape(s->d, nd->arg[k]), m->ad[k]);
    m->ident[k] = s->size[nd->arg[k]] == s->size[n];
  }
  OpKind op = (OpKind)nd->op;
  if (OP_IS_ELEMWISE(op) || op == OP_BCAST) {
    for (int k = 0; k < nd->nargs; k++) {
      int off = m->rank - m->arank[k];
      long st = 1;
      for (int j = m->rank; j-- > 0;) {
        if (j < off) {
          m->astr[k][j] = 0;
          continue;
        }
        long dj = m->ad[k][j - off];
        m->astr[k][j] = dj == 1 && m->od[j] != 1 ? 0 : st;
        st *= dj;
      }
    }
  } else if (op == OP_SLICE || op == OP_PAD || op == OP_SCATTER_ADD) {
    const SliceSpec *sp = &s->d->slices[nd->v.idx];
    for (int k = 0; k < sp->rank; k++) {
      long full = dim_eval(s->d, sp->full[k], s->g->dimval);
      m->full[k] = full;
      m->first[k] = (sp->from_end >> k & 1) ? full + sp->start[k] : sp->start[k];
      m->step[k] = slice_step(sp, k);
      m->len[k] = (sp->drop >> k & 1) ? 1 : dim_eval(s->d, sp->len[k], s->g->dimval);
    }
  } else if (op == OP_TAKE || op == OP_SCATTER) {
    int axis = (int)nd->v.idx;
    const long *full = op == OP_TAKE ? m->ad[0] : m->od;
    int fr = op == OP_TAKE ? m->arank[0] : m->rank;
    m->A = prod(full, 0, axis);
    m->D = full[axis];
    m->B = prod(full, axis + 1, fr);
    m->J = s->size[nd->arg[1]];
    NodeId idx = nd->arg[1];
    if (op == OP_SCATTER && known(s, idx, 0) >= 0) { /* j's per k */
      m->inv_ptr = calloc((size_t)m->D + 2, sizeof *m->inv_ptr);
      m->inv_j = malloc((size_t)(m->J > 0 ? m->J : 1) * sizeof *m->inv_j);
      if (!m->inv_ptr || !m->inv_j) {
        map_free(m);
        return;
      }
      long *kj = malloc((size_t)(m->J > 0 ? m->J : 1) * sizeof *kj);
      if (!kj) {
        map_free(m);
        return;
      }
      for (long j = 0; j < m->J; j++) {
        double v = s->val[idx] ? s->val[idx][j] : dag_num(s->d, dag_node(s->d, idx)->op == OP_BCAST ? dag_node(s->d, idx)->arg[0] : idx);
        kj[j] = index_value(v, m->D);
        if (kj[j] < 0) { /* a bad index: the kernel reports it */
          free(kj);
          map_free(m);
          return;
        }
        m->inv_ptr[kj[j] + 1]++;
      }
      for (long k = 0; k < m->D; k++)
        m->inv_ptr[k + 1] += m->inv_ptr[k];
      long *fill = calloc((size_t)m->D + 1, sizeof *fill);
      if (!fill) {
        free(kj);
        map_free(m);
        return;
      }
      for (long j = 0; j < m->J; j++)
        m->inv_j[m->inv_ptr[kj[j]] + fill[kj[j]]++] = j;
      free(fill);
      free(kj);
    }
  } else if (op == OP_MATMUL) {
    int f = (int)nd->v.idx, ta = f & 1, tb = (f >> 1) & 1;
    const long *x = m->ad[0], *y = m->ad[1];
    int ra = m->arank[0], rb = m->arank[1];
    m->m = ra == 2 ? (ta ? x[1] : x[0]) : 1;
    m->kk = ra == 2 ? (ta ? x[0] : x[1]) : x[0];
    m->nn = rb == 2 ? (tb ? y[0] : y[1]) : 1;
    /* element (i, p) of op(A) is a[i*sa_i + p*sa_p]; (p, j) of op(B) b[p*sb_p + j*sb_j] */
    if (ra == 1) {
      m->sa_i = 0;
      m->sa_p = 1;
    } else if (ta) {
      m->sa_i = 1;
      m->sa_p = x[1];
    } else {
      m->sa_i = x[1];
      m->sa_p = 1;
    }
    if (rb == 1) {
      m->sb_p = 1;
      m->sb_j = 0;
    } else if (tb) {
      m->sb_p = 1;
      m->sb_j = y[1];
    } else {
      m->sb_p = y[1];
      m->sb_j = 1;
    }
  }
}

/* Argument k's element under elementwise broadcasting. */
static long bcast_elem(const Map *m, int k, long o) {
  if (m->ident[k])
    return o;
  long e = 0;
  for (int j = m->rank; j-- > 0;) {
    long ij = m->od[j] ? o % m->od[j] : 0;
    o = m->od[j] ? o / m->od[j] : 0;
    e += ij * m->astr[k][j];
  }
  return e;
}

/* The full (input) index of slice element o, kept dimensions in order. */
static long slice_full(const Sp *s, const Node *nd, const Map *m, const long *piece_ix) {
  const SliceSpec *sp = &s->d->slices[nd->v.idx];
  long f = 0;
  for (int k = 0, j = 0; k < sp->rank; k++) {
    long i = (sp->drop >> k & 1) ? m->first[k] : m->first[k] + m->step[k] * piece_ix[j++];
    f = f * m->full[k] + i;
  }
  return f;
}

/* Is full element o inside the slice of a PAD / SCATTER_ADD, and which
 * piece element? -1 if not. */
static long pad_piece(const Sp *s, const Node *nd, const Map *m, long o) {
  const SliceSpec *sp = &s->d->slices[nd->v.idx];
  long ix[MAX_RANK], pe = 0;
  unflat(o, m->od, m->rank, ix);
  for (int k = 0; k < sp->rank; k++) {
    long dlt = ix[k] - m->first[k];
    if (sp->drop >> k & 1) {
      if (dlt != 0)
        return -1;
      continue;
    }
    if (dlt % m->step[k] != 0)
      return -1;
    long j = dlt / m->step[k];
    if (j < 0 || j >= m->len[k])
      return -1;
    pe = pe * m->len[k] + j;
  }
  return pe;
}

/* The elements of the arguments that element o of node n depends on
 * differentiably (s->dk, s->de), known zeros left out. CUMSUM is done by
 * its callers. */
static void deps(Sp *s, NodeId n, const Map *m, long o) {
  const Node *nd = dag_node(s->d, n);
  OpKind op = (OpKind)nd->op;
  s->ndep = 0;
  if (OP_IS_ELEMWISE(op) || op == OP_BCAST) {
    long e[3];
    for (int k = 0; k < nd->nargs; k++)
      e[k] = bcast_elem(m, k, o);
    if (op == OP_WHERE) {
      int c = known(s, nd->arg[0], e[0]);
      if (c != 0 && s->dep[nd->arg[1]])
        add_dep(s, 1, e[1]);
      if (c != 1 && s->dep[nd->arg[2]])
        add_dep(s, 2, e[2]);
      return;
    }
    for (int k = 0; k < nd->nargs; k++) {
      if (!s->dep[nd->arg[k]])
        continue;
      if ((op == OP_MUL || op == OP_SMUL) && known(s, nd->arg[1 - k], e[1 - k]) == 0)
        continue; /* times a known zero: derivative 0 (strong zero) */
      add_dep(s, k, e[k]);
    }
    return;
  }
  switch (op) {
  case OP_RESHAPE:
    add_dep(s, 0, o);
    return;
  case OP_TRANSPOSE: {
    long ix[MAX_RANK], e = 0;
    unflat(o, m->od, m->rank, ix);
    for (int k = 0; k < m->arank[0]; k++) /* input dimension k is output rank-1-k */
      e = e * m->ad[0][k] + ix[m->rank - 1 - k];
    add_dep(s, 0, e);
    return;
  }
  case OP_SUM: case OP_AMAX: case OP_MAXR: case OP_PROD: {
    int axis = (int)nd->v.idx;
    long total = s->size[nd->arg[0]];
    if (axis < 0) {
      for (long e = 0; e < total; e++)
        add_dep(s, 0, e);
      return;
    }
    const long *x = m->ad[0];
    long after = prod(x, axis + 1, m->arank[0]), D = x[axis];
    long a = after ? o / after : 0, c = after ? o % after : 0;
    for (long t = 0; t < D; t++)
      add_dep(s, 0, (a * D + t) * after + c);
    return;
  }
  case OP_SLICE: {
    long ix[MAX_RANK];
    unflat(o, m->od, m->rank, ix);
    add_dep(s, 0, slice_full(s, nd, m, ix));
    return;
  }
  case OP_PAD: {
    long pe = pad_piece(s, nd, m, o);
    if (pe >= 0)
      add_dep(s, 0, pe);
    return;
  }
  case OP_SCATTER_ADD: {
    if (s->dep[nd->arg[0]])
      add_dep(s, 0, o);
    long pe = s->dep[nd->arg[1]] ? pad_piece(s, nd, m, o) : -1;
    if (pe >= 0)
      add_dep(s, 1, pe);
    return;
  }
  case OP_TAKE: { /* out (a, j, c) <- x (a, k(j), c) */
    long c = m->B ? o % m->B : 0, aj = m->B ? o / m->B : 0;
    long j = m->J ? aj % m->J : 0, a = m->J ? aj / m->J : 0;
    NodeId idx = nd->arg[1];
    int kn = known(s, idx, j);
    if (kn >= 0) {
      double v = s->val && s->val[idx] ? s->val[idx][j]
                                       : dag_num(s->d, dag_node(s->d, idx)->op == OP_BCAST ? dag_node(s->d, idx)->arg[0] : idx);
      long k = index_value(v, m->D);
      if (k >= 0) {
        add_dep(s, 0, (a * m->D + k) * m->B + c);
        return;
      }
    }
    for (long k = 0; k < m->D; k++)
      add_dep(s, 0, (a * m->D + k) * m->B + c);
    return;
  }
  case OP_SCATTER: { /* out (a, k, c) <- t (a, j, c) for idx[j] == k */
    long c = m->B ? o % m->B : 0, ak = m->B ? o / m->B : 0;
    long k = m->D ? ak % m->D : 0, a = m->D ? ak / m->D : 0;
    if (m->inv_ptr) {
      for (long q = m->inv_ptr[k]; q < m->inv_ptr[k + 1]; q++)
        add_dep(s, 0, (a * m->J + m->inv_j[q]) * m->B + c);
      return;
    }
    for (long j = 0; j < m->J; j++)
      add_dep(s, 0, (a * m->J + j) * m->B + c);
    return;
  }
  case OP_MATMUL: {
    long i = o / m->nn, j = o % m->nn;
    NodeId a = nd->arg[0], b = nd->arg[1];
    for (long p = 0; p < m->kk; p++) {
      long ea = i * m->sa_i + p * m->sa_p, eb = p * m->sb_p + j * m->sb_j;
      if (known(s, a, ea) == 0 || known(s, b, eb) == 0)
        continue;
      if (s->dep[a])
        add_dep(s, 0, ea);
      if (s->dep[b])
        add_dep(s, 1, eb);
    }
    return;
  }
  default: /* not understood: every element of every argument */
    for (int k = 0; k < nd->nargs; k++)
      if (s->dep[nd->arg[k]])
        for (long e = 0; e < s->size[nd->arg[k]]; e++)
          add_dep(s, k, e);
    return;
  }
}

/* ---- the forward sweep: index domains ----------------------------------- */

/* May this operator pass on a derivative along argument k? (ad.c: the
 * condition of where(), gather indices, comparisons and rounding get
 * none.) MAXR has a tangent in forward mode (ad_forward), so it counts. */
static int passes(OpKind op, int k) {
  if ((op == OP_WHERE && k == 0) || ((op == OP_TAKE || op == OP_SCATTER) && k == 1))
    return 0;
  OpClass c = op_info[op].cls;
  if (c == OC_CMP || c == OC_NONDIFF || c == OC_LEAF || op == OP_ARGMAX || op == OP_ONEHOT ||
      op == OP_IOTA)
    return 0;
  return 1;
}

static int cumsum_lines(const Sp *s, NodeId n, long *A, long *D, long *B, int *rev) {
  const Node *nd = dag_node(s->d, n);
  long d[MAX_RANK];
  int rank = dims_at(s, nd->shape, d);
  int axis = (int)(nd->v.idx >> 1);
  *rev = (int)(nd->v.idx & 1);
  if (nd->v.idx < 0 || axis >= rank) { /* flattened */
    *A = 1;
    *D = s->size[n];
    *B = 1;
    return 1;
  }
  *A = prod(d, 0, axis);
  *D = d[axis];
  *B = prod(d, axis + 1, rank);
  return 1;
}

static int forward(Sp *s) {
  for (uint32_t n = 0; n < s->count && !s->err; n++) {
    if (!s->live[n] || !s->dep[n])
      continue;
    const Node *nd = dag_node(s->d, n);
    long size = s->size[n];
    uint32_t *es = malloc((size_t)(size > 0 ? size : 1) * sizeof *es);
    if (!es)
      return s->err = 1;
    s->es[n] = es;
    if (nd->op == OP_VAR) {
      long c0 = s->var_col[nd->v.idx];
      for (long e = 0; e < size && !s->err; e++)
        es[e] = singleton(s, (uint32_t)(c0 + e));
      continue;
    }
    if (nd->op == OP_CUMSUM) { /* a running union along each line */
      long A, D, B;
      int rev;
      cumsum_lines(s, n, &A, &D, &B, &rev);
      const uint32_t *x = s->es[nd->arg[0]];
      for (long a = 0; a < A; a++)
        for (long c = 0; c < B; c++) {
          uint32_t cur = 0;
          for (long q = 0; q < D; q++) {
            long e = (a * D + (rev ? D - 1 - q : q)) * B + c;
            cur = unite2(s, cur, x[e]);
            es[e] = cur;
          }
        }
      continue;
    }
    Map m;
    map_prepare(s, n, &m);
    for (long o = 0; o < size && !s->err; o++) {
      deps(s, n, &m, o);
      if (s->ndep > s->capids) {
        uint32_t *ids = realloc(s->ids, s->ndep * sizeof *ids);
        if (!ids) {
          s->err = 1;
          break;
        }
        s->ids = ids;
        s->capids = s->ndep;
      }
      for (size_t q = 0; q < s->ndep; q++)
        s->ids[q] = s->es[nd->arg[s->dk[q]]][s->de[q]];
      es[o] = s->ndep == 1 ? s->ids[0] : unite(s, s->ids, s->ndep);
    }
    map_free(&m);
  }
  return s->err;
}

/* ---- setting up ----------------------------------------------------------- */

static void sp_free(Sp *s) {
  for (uint32_t n = 0; s->es && n < s->count; n++)
    free(s->es[n]);
  for (uint32_t n = 0; s->val && n < s->count; n++)
    free(s->val[n]);
  free(s->es);
  free(s->val);
  free(s->var_col);
  free(s->size);
  free(s->live);
  free(s->dep);
  free(s->vdep);
  free(s->off);
  free(s->idx);
  free(s->mark);
  free(s->mark2);
  free(s->ids);
  free(s->dk);
  free(s->de);
}

static GradcStatus sp_error(Sp *s, GradcStatus st, const char *what) {
  Gradc *g = s->g;
  if (s->err == 2)
    gradc_error(g, GRADC_ERR_INPUT,
                "the %s is too dense for a sparsity pattern (more than %llu index entries): "
                "use the dense command", what, (unsigned long long)SP_LIMIT);
  else if (st == GRADC_ERR_NOMEM || s->err == 1)
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory while computing the sparsity pattern of the %s", what);
  sp_free(s);
  return st != GRADC_OK ? st : s->err == 2 ? GRADC_ERR_INPUT : GRADC_ERR_NOMEM;
}

/* The wrt columns, node sizes and flags, live from the roots; known
 * operands evaluated. */
static GradcStatus sp_init(Sp *s, Gradc *g, const NodeId *roots, int nroots, const int *wrt,
                           int nwrt, int flags) {
  memset(s, 0, sizeof *s);
  s->g = g;
  s->d = g->prog.dag;
  s->flags = flags;
  s->count = s->d->count;
  uint32_t n = s->count ? s->count : 1;
  int nv = g->prog.nvars;
  s->var_col = malloc(((size_t)nv + 1) * sizeof *s->var_col);
  s->size = calloc(n, sizeof *s->size);
  s->live = calloc(n, 1);
  s->dep = calloc(n, 1);
  s->vdep = calloc(n, 1);
  s->es = calloc(n, sizeof *s->es);
  s->val = calloc(n, sizeof *s->val);
  s->off = malloc(1024 * sizeof *s->off);
  if (!s->var_col || !s->size || !s->live || !s->dep || !s->vdep || !s->es || !s->val || !s->off)
    return GRADC_ERR_NOMEM;
  s->capset = 1024;
  s->off[0] = s->off[1] = 0; /* set 0: empty */
  s->nset = 1;
  for (int k = 0; k < nv; k++)
    s->var_col[k] = -1;
  for (int k = 0; k < nwrt; k++) {
    if (wrt[k] < 0 || wrt[k] >= nv) {
      gradc_error(g, GRADC_ERR_USAGE, "sparsity: no variable %d", wrt[k]);
      return GRADC_ERR_USAGE;
    }
    long sz = values_size(g, g->prog.vars[wrt[k]].shape);
    if (sz < 0) {
      gradc_error(g, GRADC_ERR_INPUT, "sparsity: '%s' has a symbolic dimension that no value binds",
                  g->prog.vars[wrt[k]].name);
      return GRADC_ERR_INPUT;
    }
    s->var_col[wrt[k]] = s->ncol;
    s->ncol += sz;
  }
  if ((uint64_t)s->ncol >= UINT32_MAX) {
    gradc_error(g, GRADC_ERR_INPUT, "sparsity: more than 2^32 wrt elements");
    return GRADC_ERR_INPUT;
  }
  s->mark = calloc((size_t)s->ncol + 1, sizeof *s->mark);
  s->mark2 = calloc((size_t)s->ncol + 1, sizeof *s->mark2);
  if (!s->mark || !s->mark2)
    return GRADC_ERR_NOMEM;
  for (int r = 0; r < nroots; r++)
    s->live[roots[r]] = 1;
  for (uint32_t i = s->count; i-- > 0;)
    if (s->live[i])
      for (int k = 0; k < s->d->nodes[i].nargs; k++)
        s->live[s->d->nodes[i].arg[k]] = 1;
  for (uint32_t i = 0; i < s->count; i++) {
    const Node *nd = dag_node(s->d, i);
    if (!s->live[i])
      continue;
    s->size[i] = values_size(g, nd->shape);
    if (s->size[i] < 0) {
      gradc_error(g, GRADC_ERR_INPUT, "sparsity: a symbolic dimension has no size: give values (or NAME=SIZE)");
      return GRADC_ERR_INPUT;
    }
    if (!api_check_dims(g, i, g->dimval)) /* sizes that the program cannot take */
      return GRADC_ERR_INPUT;
    if (nd->op == OP_VAR) {
      int v = (int)nd->v.idx;
      s->dep[i] = v < nv && s->var_col[v] >= 0;
      /* known: a variable outside wrt with a value (at a point), else not */
      s->vdep[i] = v >= nv || s->var_col[v] >= 0 || !(flags & SP_AT_VALUES) || !g->vals || !g->vals[v].set;
      continue;
    }
    for (int k = 0; k < nd->nargs; k++) {
      s->vdep[i] |= s->vdep[nd->arg[k]];
      if (passes((OpKind)nd->op, k))
        s->dep[i] |= s->dep[nd->arg[k]];
    }
  }
  eval_known(s);
  return GRADC_OK;
}

/* Sort a row (small ones by insertion). */
static int cmp_long(const void *a, const void *b) {
  long x = *(const long *)a, y = *(const long *)b;
  return (x > y) - (x < y);
}

static void sort_row(long *r, long n) {
  if (n > 16) {
    qsort(r, (size_t)n, sizeof *r, cmp_long);
    return;
  }
  for (long i = 1; i < n; i++) {
    long v = r[i], j = i;
    for (; j > 0 && r[j - 1] > v; j--)
      r[j] = r[j - 1];
    r[j] = v;
  }
}

void pattern_free(Pattern *p) {
  free(p->rowptr);
  free(p->col);
  memset(p, 0, sizeof *p);
}

/* ---- Jacobian ------------------------------------------------------------- */

GradcStatus sparsity_jacobian(Gradc *g, const int *outs, int nouts, const int *wrt, int nwrt, int flags,
                              Pattern *p) {
  memset(p, 0, sizeof *p);
  Sp s;
  NodeId *roots = malloc(((size_t)nouts + 1) * sizeof *roots);
  if (!roots)
    return GRADC_ERR_NOMEM;
  for (int o = 0; o < nouts; o++)
    roots[o] = g->prog.outs[outs[o]].node;
  GradcStatus st = sp_init(&s, g, roots, nouts, wrt, nwrt, flags);
  if (st != GRADC_OK || forward(&s)) {
    free(roots);
    return sp_error(&s, st, "Jacobian");
  }
  long nrow = 0;
  uint64_t nnz = 0;
  for (int o = 0; o < nouts; o++) {
    nrow += s.size[roots[o]];
    if (s.dep[roots[o]])
      for (long e = 0; e < s.size[roots[o]]; e++)
        nnz += set_len(&s, s.es[roots[o]][e]);
  }
  if (nnz > SP_LIMIT) {
    s.err = 2;
    free(roots);
    return sp_error(&s, GRADC_OK, "Jacobian");
  }
  p->nrow = nrow;
  p->ncol = s.ncol;
  p->nnz = (long)nnz;
  p->rowptr = malloc(((size_t)nrow + 1) * sizeof *p->rowptr);
  p->col = malloc(((size_t)nnz + 1) * sizeof *p->col);
  if (!p->rowptr || !p->col) {
    pattern_free(p);
    free(roots);
    return sp_error(&s, GRADC_ERR_NOMEM, "Jacobian");
  }
  long r = 0, q = 0;
  p->rowptr[0] = 0;
  for (int o = 0; o < nouts; o++)
    for (long e = 0; e < s.size[roots[o]]; e++, r++) {
      if (s.dep[roots[o]]) {
        uint32_t id = s.es[roots[o]][e];
        const uint32_t *a = set_at(&s, id);
        for (uint32_t k = 0, n = set_len(&s, id); k < n; k++)
          p->col[q + k] = a[k];
        sort_row(p->col + q, set_len(&s, id));
        q += set_len(&s, id);
      }
      p->rowptr[r + 1] = q;
    }
  free(roots);
  sp_free(&s);
  return GRADC_OK;
}

/* ---- Hessian -------------------------------------------------------------- */

/* Pairs of set ids, (smaller << 32 | larger): appended, then sorted (radix)
 * and made unique, so that the pattern is built in set order, row after
 * row, rather than in the scattered order of a hash table. */
typedef struct Pairs {
  uint64_t *v, *tmp;
  uint64_t n, cap;
} Pairs;

/* Sort v[0..n) by LSD radix, 16 bits a pass, and drop repeats. */
static int pairs_unique(Pairs *P) {
  uint64_t *cnt = malloc(65536 * sizeof *cnt);
  if (!cnt)
    return 0;
  for (int shift = 0; shift < 64; shift += 16) {
    memset(cnt, 0, 65536 * sizeof *cnt);
    for (uint64_t i = 0; i < P->n; i++)
      cnt[(P->v[i] >> shift) & 0xffff]++;
    if (cnt[(P->v[0] >> shift) & 0xffff] == P->n) /* one digit: nothing to do */
      continue;
    for (uint64_t d = 0, sum = 0; d < 65536; d++) {
      uint64_t c = cnt[d];
      cnt[d] = sum;
      sum += c;
    }
    for (uint64_t i = 0; i < P->n; i++)
      P->tmp[cnt[(P->v[i] >> shift) & 0xffff]++] = P->v[i];
    uint64_t *t = P->v;
    P->v = P->tmp;
    P->tmp = t;
  }
  free(cnt);
  uint64_t w = 0;
  for (uint64_t i = 0; i < P->n; i++)
    if (w == 0 || P->v[i] != P->v[w - 1])
      P->v[w++] = P->v[i];
  P->n = w;
  return 1;
}

static int pair_add(Sp *s, Pairs *P, uint32_t a, uint32_t b) {
  if (!a || !b || s->err)
    return !s->err;
  uint64_t key = a < b ? (uint64_t)a << 32 | b : (uint64_t)b << 32 | a;
  if (P->n && P->v[P->n - 1] == key)
    return 1;
  if (P->n == P->cap) {
    if (P->n && pairs_unique(P) && P->n < P->cap / 2) /* room after dropping repeats */
      goto add;
    uint64_t cap = P->cap ? 2 * P->cap : 4096;
    if (cap > 2 * SP_LIMIT) {
      s->err = 2;
      return 0;
    }
    uint64_t *v = realloc(P->v, cap * sizeof *v), *t = v ? realloc(P->tmp, cap * sizeof *t) : NULL;
    if (v)
      P->v = v;
    if (!t) {
      s->err = 1;
      return 0;
    }
    P->tmp = t;
    P->cap = cap;
  }
add:
  P->v[P->n++] = key;
  return 1;
}

/* The second-order couplings of element o of node n (a live element: its
 * adjoint may be nonzero), from its dependencies (deps() was called). */
static void interactions(Sp *s, Pairs *P, NodeId n, const Map *m, long o) {
  const Node *nd = dag_node(s->d, n);
  OpKind op = (OpKind)nd->op;
  uint32_t sa = 0, sb = 0, self = s->es[n][o];
  for (size_t q = 0; q < s->ndep && op != OP_MATMUL; q++) {
    uint32_t id = s->es[nd->arg[s->dk[q]]][s->de[q]];
    if (s->dk[q] == 0)
      sa = id;
    else if (s->dk[q] == 1)
      sb = id;
  }
  switch (op) {
  /* linear, or piecewise linear (their partials are comparisons: ad.c) */
  case OP_ADD: case OP_SUB: case OP_NEG: case OP_ABS: case OP_RELU: case OP_MAX: case OP_MIN:
  case OP_MOD: case OP_WHERE: case OP_BCAST: case OP_RESHAPE: case OP_TRANSPOSE: case OP_SUM:
  case OP_AMAX: case OP_MAXR: case OP_SLICE: case OP_PAD: case OP_SCATTER_ADD: case OP_TAKE:
  case OP_SCATTER: case OP_CUMSUM: case OP_VAR:
    return;
  case OP_MUL: case OP_SMUL:
    pair_add(s, P, sa, sb);
    return;
  case OP_DIV: /* d2/da db = -1/b^2, d2/db2 = 2a/b^3 */
    pair_add(s, P, sa, sb);
    pair_add(s, P, sb, sb);
    return;
  case OP_POW:
    if (sa && sb)
      pair_add(s, P, self, self);
    else
      pair_add(s, P, sa ? sa : sb, sa ? sa : sb);
    return;
  case OP_MATMUL: {
    NodeId a = nd->arg[0], b = nd->arg[1];
    if (!s->dep[a] || !s->dep[b])
      return; /* linear in the one that depends on the variables */
    long i = o / m->nn, j = o % m->nn;
    for (long p = 0; p < m->kk && !s->err; p++) {
      long ea = i * m->sa_i + p * m->sa_p, eb = p * m->sb_p + j * m->sb_j;
      pair_add(s, P, s->es[a][ea], s->es[b][eb]);
    }
    return;
  }
  default: /* nonlinear in everything: exp, sin, atan2, prod, ... */
    pair_add(s, P, self, self);
    return;
  }
}

static uint8_t *live_elems(Sp *s, uint8_t **lv, NodeId n) {
  if (!lv[n]) {
    lv[n] = calloc((size_t)(s->size[n] > 0 ? s->size[n] : 1), 1);
    if (!lv[n])
      s->err = 1;
  }
  return lv[n];
}

GradcStatus sparsity_hessian(Gradc *g, int out, const int *wrt, int nwrt, int flags, Pattern *p) {
  memset(p, 0, sizeof *p);
  Sp s;
  NodeId root = g->prog.outs[out].node;
  GradcStatus st = sp_init(&s, g, &root, 1, wrt, nwrt, flags);
  if (st != GRADC_OK || forward(&s))
    return sp_error(&s, st, "Hessian");
  Pairs P = {0};
  uint8_t **lv = calloc(s.count ? s.count : 1, sizeof *lv);
  if (!lv)
    s.err = 1;
  if (!s.err && s.dep[root] && live_elems(&s, lv, root))
    memset(lv[root], 1, (size_t)s.size[root]);
  /* the reverse sweep: elements whose adjoint may be nonzero */
  for (uint32_t n = s.count; !s.err && n-- > 0;) {
    if (!lv[n] || !s.dep[n])
      continue;
    const Node *nd = dag_node(s.d, n);
    if (nd->op == OP_VAR)
      continue;
    if (nd->op == OP_CUMSUM) { /* x[t] is live if some sum over it is */
      long A, D, B;
      int rev;
      cumsum_lines(&s, n, &A, &D, &B, &rev);
      uint8_t *x = live_elems(&s, lv, nd->arg[0]);
      for (long a = 0; x && a < A; a++)
        for (long c = 0; c < B; c++) {
          int any = 0;
          for (long q = D; q-- > 0;) {
            long e = (a * D + (rev ? D - 1 - q : q)) * B + c;
            any |= lv[n][e];
            x[e] |= (uint8_t)any;
          }
        }
      continue;
    }
    Map m;
    map_prepare(&s, n, &m);
    for (long o = 0; o < s.size[n] && !s.err; o++) {
      if (!lv[n][o])
        continue;
      deps(&s, n, &m, o);
      interactions(&s, &P, n, &m, o);
      for (size_t q = 0; q < s.ndep && !s.err; q++) {
        uint8_t *a = live_elems(&s, lv, nd->arg[s.dk[q]]);
        if (a)
          a[s.de[q]] = 1;
      }
    }
    map_free(&m);
  }
  for (uint32_t n = 0; lv && n < s.count; n++)
    free(lv[n]);
  free(lv);
  /* the pattern: A x B and B x A for every pair, rows deduplicated */
  long N = s.ncol;
  long *cnt = s.err ? NULL : calloc((size_t)N + 1, sizeof *cnt);
  if (!s.err && !cnt)
    s.err = 1;
  uint64_t total = 0;
  if (!s.err && P.n && !pairs_unique(&P))
    s.err = 1;
  for (uint64_t i = 0; cnt && !s.err && i < P.n; i++) {
    uint64_t v = P.v[i];
    uint32_t a = (uint32_t)(v >> 32), b = (uint32_t)v;
    const uint32_t *A = set_at(&s, a), *B = set_at(&s, b);
    for (uint32_t q = 0; q < set_len(&s, a); q++)
      cnt[A[q]] += set_len(&s, b);
    if (a != b)
      for (uint32_t q = 0; q < set_len(&s, b); q++)
        cnt[B[q]] += set_len(&s, a);
    total += 2ull * set_len(&s, a) * set_len(&s, b);
    if (total > 2 * SP_LIMIT) {
      s.err = 2;
      break;
    }
  }
  long *ptr = NULL, *col = NULL;
  if (!s.err) {
    ptr = malloc(((size_t)N + 1) * sizeof *ptr);
    if (ptr) {
      ptr[0] = 0;
      for (long i = 0; i < N; i++)
        ptr[i + 1] = ptr[i] + cnt[i];
      col = malloc(((size_t)ptr[N] + 1) * sizeof *col);
    }
    if (!ptr || !col)
      s.err = 1;
  }
  if (!s.err) {
    memset(cnt, 0, (size_t)N * sizeof *cnt);
    for (uint64_t i = 0; i < P.n; i++) {
      uint64_t v = P.v[i];
      uint32_t a = (uint32_t)(v >> 32), b = (uint32_t)v;
      const uint32_t *A = set_at(&s, a), *B = set_at(&s, b);
      for (uint32_t q = 0; q < set_len(&s, a); q++)
        for (uint32_t r = 0; r < set_len(&s, b); r++)
          col[ptr[A[q]] + cnt[A[q]]++] = B[r];
      if (a != b)
        for (uint32_t q = 0; q < set_len(&s, b); q++)
          for (uint32_t r = 0; r < set_len(&s, a); r++)
            col[ptr[B[q]] + cnt[B[q]]++] = A[r];
    }
    /* deduplicate each row in place, then compact */
    long w = 0;
    for (long i = 0; i < N; i++) {
      bump(s.mark2, &s.stamp2, s.ncol);
      long start = w;
      for (long q = ptr[i]; q < ptr[i] + cnt[i]; q++)
        if (s.mark2[col[q]] != s.stamp2) {
          s.mark2[col[q]] = s.stamp2;
          col[w++] = col[q];
        }
      sort_row(col + start, w - start);
      ptr[i] = start;
    }
    ptr[N] = w;
    p->nrow = p->ncol = N;
    p->nnz = w;
    p->rowptr = ptr;
    p->col = col; /* not shrunk: gcc -Wuse-after-free flags the fallback of a failed realloc */
    ptr = col = NULL;
  }
  free(ptr);
  free(col);
  free(cnt);
  free(P.v);
  free(P.tmp);
  if (s.err)
    return sp_error(&s, GRADC_OK, "Hessian");
  sp_free(&s);
  return GRADC_OK;
}
