/* emit_c.c: C99 from the DAG, in the DAG's (topological) order with short
 * derivative computations moved next to the values they read (schedule).
 *
 * Scalars: a node used more than once, the base of an integer power, and
 * any node whose inlined expression would nest deeper than INLINE_DEPTH get
 * a slot t[k] and are computed once; every other node is inlined into its
 * only user. tcc has a 256-entry value stack, so the depth bound matters.
 *
 * Tensors: each tensor node is one loop nest writing a buffer in the
 * workspace, never unrolled per element, so the size of the C does not
 * depend on the sizes of the data. An elementwise node used once by an
 * elementwise node of the same shape (or by a reduction) is inlined into
 * that loop instead: elementwise chains fuse. Broadcast operands are read
 * through index arithmetic inside the loop, never materialised. An element
 * at literal indices (x[3]) is read in place, and the adjoint of x gets
 * each piece added (or, first, written) at its element of the result.
 *
 * Storage: an entry of t[] or a buffer is reused once its value's last
 * reader has run; t[] is on the stack up to STACK_SLOTS, so are buffers of
 * literal sizes that fit beside it, else they are in the workspace (the
 * caller's, or allocated once by the JIT). A long function is written as
 * parts (split_parts) for cc -O2, whatever its statements; a kernel of
 * scalars streamed in units is planned and written in one sweep
 * (scalar_sweep), the same code. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "../runtime/gradc_rt.h"

#define INLINE_DEPTH 24
/* t[] on the stack up to 32 KB (a thread's stack is 128 KB or more);
 * longer, it is a part of the workspace (the caller's, or allocated once
 * by the JIT), never a malloc per call */
#define STACK_SLOTS 4096

#define STR_(...) #__VA_ARGS__
#define STR(...) STR_(__VA_ARGS__)

/* ---- identifiers --------------------------------------------------------- */

static const char *const reserved[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do",
    "double", "else", "enum", "extern", "float", "for", "goto", "if", "inline",
    "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned",
    "void", "volatile", "while", "asm", "typeof", "bool", "true", "false",
    "complex", "imaginary", "alignas", "alignof", "noreturn", "static_assert",
    "thread_local", "NULL", "EOF", "errno", "stdin", "stdout", "stderr",
    "assert", "offsetof", "main", "exit", "abort", "malloc", "calloc",
    "realloc", "free", "printf", "fprintf", "sprintf", "snprintf", "puts",
    "putchar", "getchar", "fopen", "fclose", "system", "time", "clock",
    "rand", "srand", "qsort", "bsearch", "div", "ldiv", "labs", "atexit",
    "getenv", "raise", "signal", "setjmp", "longjmp", "jmp_buf", "va_list",
    "va_start", "va_end", "va_arg", "fabs", "floor", "ceil", "round", "trunc",
    "fmod", "hypot", "cbrt", "ldexp", "frexp", "modf", "fma", "fmax", "fmin",
    "fdim", "rint", "lrint", "nan", "exp2", "expf", "log2", "log10", "logb",
    "gamma", "lgamma", "tgamma", "erfc", "j0", "j1", "jn", "y0", "y1", "yn",
    "acosh", "asinh", "atanh", "scalb", "scalbn", "remainder", "copysign",
    "nextafter", "signbit", "fpclassify", "NAN", "INFINITY", "HUGE_VAL",
    "exp", "log", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan",
    "sinh", "cosh", "tanh", "erf", "log1p", "expm1", "atan2", "pow", "abs",
    "sincos",
    "t", "work", "res", "args", "i", "j", "k", "n",
};

static int has_prefix(const char *s, const char *p) {
  return strncmp(s, p, strlen(p)) == 0;
}

static int is_reserved(const char *s) {
  for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
    if (!strcmp(s, reserved[i]))
      return 1;
  size_t n = strlen(s);
  if (s[0] == '_' || has_prefix(s, "u_") || has_prefix(s, "g_"))
    return 1;
  if (n >= 2 && !strcmp(s + n - 2, "_t")) /* POSIX types */
    return 1;
  if (s[0] == 'E' && n > 1 && ((s[1] >= 'A' && s[1] <= 'Z') || (s[1] >= '0' && s[1] <= '9')))
    return 1; /* errno.h */
  static const char *const lower_prefixes[] = {"is", "to", "str", "mem", "wcs"};
  for (int i = 0; i < 5; i++) {
    size_t k = strlen(lower_prefixes[i]);
    if (has_prefix(s, lower_prefixes[i]) && s[k] >= 'a' && s[k] <= 'z')
      return 1;
  }
  if (has_prefix(s, "SIG") || has_prefix(s, "LC_") || has_prefix(s, "PRI") ||
      has_prefix(s, "SCN") || has_prefix(s, "INT") || has_prefix(s, "UINT"))
    return 1;
  return 0;
}

/* User names map one-to-one onto C identifiers: a name that could collide
 * with C or its library gets the prefix u_ (and every name that begins
 * with u_ gets it too, so the map stays injective); gradc's own
 * identifiers all begin with g_. */
const char *emit_ident(Arena *a, const char *user) {
  if (!is_reserved(user))
    return user;
  size_t n = strlen(user);
  char *s = arena_alloc(a, n + 3);
  if (!s)
    return user;
  memcpy(s, "u_", 2);
  memcpy(s + 2, user, n + 1);
  return s;
}

/* ---- the plan: which node lives where, and in which order ---------------- */

enum { ST_NONE = -3, ST_INLINE = -1 };  /* else: scalar slot or buffer number */

/* One unit of the function's code, in the order it is written: the
 * statement that computes a stored node (res < 0), or the write of a
 * scalar result (res: its index). */
typedef struct Item {
  NodeId node;
  int32_t res;
} Item;

#define NEVER UINT32_MAX /* a position after every item: read at the end */

typedef struct Emit {
  const Dag *g;
  const EmitFn *fn;
  int32_t *slot;      /* node -> scalar slot / tensor buffer, ST_INLINE, ST_NONE */
  uint8_t *alias;     /* RESHAPE of a stored tensor: the same memory */
  Buf *out;
  uint8_t used_op[OP_COUNT]; /* 1 per OpKind seen in the whole file */
  int kernel;
  int internal;       /* static functions, wrapped by the array ABI */
  int blas;
  int used_blas;
  int rt_matmul, used_rt_matmul; /* EmitOpts.rt_matmul */
  int used_finite;    /* g_finite: strong-zero products by BLAS (matmul_loop) */
  int nbufs;
  int loop_nested;    /* the current loop has index variables i0.. */
  ShapeId loop_shape; /* the shape whose flat index is `o` in the current loop */
  int indent;
  int checks;         /* runtime checks emitted (onehot) */
  ShapeId *bufshape;  /* physical buffer -> a shape of its size */
  int *bufout;        /* physical buffer -> the result whose memory it is, or -1 */
  int split;          /* long functions may be split (split_parts) */
  int in_part;        /* writing a part of a split function (the JIT's names) */
  uint8_t *local;     /* in a part: the node is a local of its part, not t[] */
  uint32_t *uses;     /* node -> readers (plan) */
  Item *items;        /* the function's code in order (schedule) */
  uint32_t nitems;
  uint32_t *pos;      /* stored node -> position of its statement; NEVER: none */
  uint32_t *last;     /* stored node -> position of its last reader; NEVER: the end
                         (the memory of uses, which schedule no longer reads) */
  NodeId *croot;      /* a node added to in place -> the first node of its chain */
  int first_set;      /* e->first has flags (of this or an earlier function) */
  uint8_t *first;     /* 1: a piece of a chain written first at its element (=, not
                         +=); 2: a chain's PAD whose every element is, not zeroed */
  uint32_t *rd_at;    /* item k reads the stored nodes rd[rd_at[k] .. rd_at[k+1]) */
  NodeId *rd;
  int nslots;         /* t[] entries */
  int tslots_work;    /* t[] lives in the workspace (too large for the stack) */
  int64_t stack_ws;   /* doubles of buffers on the stack (fixed sizes, small), or 0 */
  int *part;          /* item position -> part (split functions) */
  int nparts;
  int part_stmts;     /* weight of a part (EmitOpts.part_stmts, else PART_STMTS) */
  const EmitOpts *opts; /* EmitOpts.unit: parts streamed in translation units */
  int unit_failed;    /* the unit callback failed: no more units */
  int pad_mode;       /* a PAD written as 1: its zeroing only, 2: its piece only */
  int sincos;         /* EmitOpts.sincos */
  uint32_t *partner;  /* sin(x) <-> cos(x), both stored (pair_sincos): the other
                         + 1, or 0; NULL: no pair in this function (partner_of) */
  int used_sincos;    /* a call of sincos was written: declare it */
  struct {            /* constants already formatted (%.17g is slow) */
    NodeId node;
    char text[32];
  } lit[64];
} Emit;

static int is_tensor(const Emit *e, NodeId n) { return dag_shape(e->g, n) != SHAPE_SCALAR; }

/* One element of a tensor at literal indices (x[3], X[0, 1]): read where it
 * is used, like a variable, never copied into a slot of its own. */
static int index_atom(const Dag *g, NodeId n) {
  const Node *nd = dag_node(g, n);
  if (nd->op != OP_SLICE || nd->shape != SHAPE_SCALAR)
    return 0;
  const SliceSpec *sp = &g->slices[nd->v.idx];
  if (sp->from_end || sp->drop != (1u << sp->rank) - 1)
    return 0;
  for (int k = 0; k < sp->rank; k++)
    if (sp->off[k] || sp->start[k] < 0)
      return 0;
  return 1;
}

static int point_piece(const Dag *g, NodeId n, int64_t *key);

/* May node n be inlined into a consumer c (for argument position k)? A
 * scalar goes into a tensor loop only if it is an element read in place or
 * the piece that c writes at one element (no loop). */
static int inlinable_into(const Emit *e, NodeId n, NodeId c) {
  const Dag *g = e->g;
  if (g->nshape == 1) /* scalars only: no node read (a million reads of far operands) */
    return 1;
  OpKind nop = (OpKind)g->nodes[n].op, cop = (OpKind)g->nodes[c].op;
  int64_t key;
  if (!is_tensor(e, n))
    return !is_tensor(e, c) || index_atom(g, n) ||
           ((cop == OP_PAD || cop == OP_SCATTER_ADD) && point_piece(g, c, &key) &&
            g->nodes[c].arg[cop == OP_PAD ? 0 : 1] == n);
  if (!(OP_IS_ELEMWISE(nop) || nop == OP_BCAST))
    return 0;
  if ((OP_IS_ELEMWISE(cop) || cop == OP_BCAST) && dag_shape(g, c) == dag_shape(g, n))
    return cop != OP_BCAST;
  return cop == OP_SUM || cop == OP_MAXR || cop == OP_AMAX || cop == OP_PROD;
}

/* Do two shapes have the same number of elements, whatever the dimensions? */
static int same_size(const Dag *g, ShapeId a, ShapeId b) {
  if (a == b)
    return 1;
  const Shape *x = shape_get(g, a), *y = shape_get(g, b);
  int64_t px = 1, py = 1;
  int64_t sx[MAX_RANK], sy[MAX_RANK];
  int nx = 0, ny = 0;
  for (int i = 0; i < x->rank; i++)
    if (x->dim[i] < 0)
      sx[nx++] = x->dim[i];
    else
      px *= x->dim[i];
  for (int i = 0; i < y->rank; i++)
    if (y->dim[i] < 0)
      sy[ny++] = y->dim[i];
    else
      py *= y->dim[i];
  if (px != py || nx != ny)
    return 0;
  for (int i = 0; i < nx; i++) { /* the same symbols, in any order */
    int found = 0;
    for (int j = 0; j < ny && !found; j++)
      if (sy[j] == sx[i]) {
        sy[j] = 0;
        found = 1;
      }
    if (!found)
      return 0;
  }
  return 1;
}


/* ---- sin and cos of one operand ----------------------------------------- */

/* The derivative of sin(x) is cos(x) and that of cos(x) is -sin(x): a
 * gradient computes both of every operand of sin or cos. With
 * EmitOpts.sincos, a live scalar sin(x) whose cos(x) is live too is paired
 * with it (e->partner, both ways) and both are stored, so that schedule
 * writes their statements side by side (the second one's moves up: it
 * reads only x) and emit_item as one call of sincos (or cc -O2 makes one
 * call of them: gcc's sincos pass). glibc's sincos computes sin and cos by
 * the same code as sin() and cos() (sysdeps/ieee754/dbl-64/s_sincos.c):
 * the same bits. */
static NodeId partner_of(const Emit *e, NodeId i) {
  return e->partner ? e->partner[i] - 1 : NO_NODE; /* 0 (none) - 1 is NO_NODE */
}

static int pair_sincos(Emit *e) {
  const Dag *g = e->g;
  uint32_t n = g->count;
  big_free(e->partner);
  e->partner = NULL;
  if (!e->sincos)
    return 0;
  uint32_t c0 = 0;
  while (c0 < n && !(g->nodes[c0].op == OP_COS && e->slot[c0] != ST_NONE && !is_tensor(e, c0)))
    c0++;
  if (c0 == n)
    return 0;
  /* operand -> its live sin + 1, and partner + 1 (zeroed: none) */
  uint32_t *sin_of = big_alloc((size_t)n * sizeof *sin_of);
  e->partner = big_alloc((size_t)n * sizeof *e->partner);
  if (!sin_of || !e->partner) {
    big_free(sin_of);
    return -1;
  }
  for (uint32_t i = 0; i < n; i++)
    if (g->nodes[i].op == OP_SIN && e->slot[i] != ST_NONE && !is_tensor(e, i))
      sin_of[g->nodes[i].arg[0]] = i + 1;
  int pairs = 0;
  for (uint32_t c = c0; c < n; c++) {
    if (g->nodes[c].op != OP_COS || e->slot[c] == ST_NONE || !sin_of[g->nodes[c].arg[0]] || is_tensor(e, c))
      continue;
    NodeId s = sin_of[g->nodes[c].arg[0]] - 1;
    e->partner[s] = c + 1;
    e->partner[c] = s + 1;
    if (e->slot[s] < 0)
      e->slot[s] = 0; /* stored (assign_slots gives the entry) */
    if (e->slot[c] < 0)
      e->slot[c] = 0;
    pairs++;
  }
  big_free(sin_of);
  if (!pairs) {
    big_free(e->partner);
    e->partner = NULL;
  }
  return 0;
}

/* order[] (the items in the order hoist_order chose) with each pair's
 * second statement moved up to just after its first (itemof: a node's
 * statement item). */
static int pair_order(const Emit *e, const Item *items, const uint32_t *itemof, uint32_t nitems,
                      uint32_t *order) {
  if (!e->partner)
    return 0;
  uint32_t *inv = malloc(((size_t)nitems + 1) * sizeof *inv);
  uint32_t *tmp = malloc(((size_t)nitems + 1) * sizeof *tmp);
  uint8_t *moved = calloc((size_t)nitems + 1, 1);
  if (!inv || !tmp || !moved) {
    free(inv);
    free(tmp);
    free(moved);
    return -1;
  }
  uint32_t k, at = 0;
  for (k = 0; k < nitems; k++)
    inv[order[k]] = k;
  for (k = 0; k < nitems; k++) {
    uint32_t it = order[k];
    if (moved[it])
      continue;
    tmp[at++] = it;
    NodeId o = items[it].res == -1 ? partner_of(e, items[it].node) : NO_NODE;
    if (o != NO_NODE && inv[itemof[o]] > k) {
      tmp[at++] = itemof[o];
      moved[itemof[o]] = 1;
    }
  }
  memcpy(order, tmp, (size_t)nitems * sizeof *order);
  free(inv);
  free(tmp);
  free(moved);
  return 0;
}

/* Is item p the first of a pair written as one sincos call (the other is
 * item p + 1, in the same part)? */
static int sincos_first(const Emit *e, uint32_t p) {
  if (!e->partner || e->sincos < 2 || p + 1 >= e->nitems)
    return 0;
  Item a = e->items[p], b = e->items[p + 1];
  return a.res == -1 && b.res == -1 && partner_of(e, a.node) == b.node &&
         (!e->part || e->part[p] == e->part[p + 1]);
}

/* Decide which nodes are stored (a scalar slot, a tensor buffer) and which
 * are inlined into their reader; e->uses[n] counts n's readers. */
static int plan(Emit *e, const EmitFn *fn) {
  const Dag *g = e->g;
  uint32_t n = g->count;
  uint32_t *uses = e->uses;
  uint8_t *depth = calloc(n ? n : 1, 1);
  uint8_t *noinline = calloc(n ? n : 1, 1);
  if (!depth || !noinline) {
    free(depth);
    free(noinline);
    return -1;
  }
  for (uint32_t i = 0; i < n; i++) {
    e->slot[i] = ST_NONE;
    e->alias[i] = 0;
    uses[i] = 0;
  }
  for (int r = 0; r < fn->nres; r++) {
    e->slot[fn->res[r].node] = ST_INLINE;
    uses[fn->res[r].node]++;
  }
  /* liveness and uses: one descending sweep */
  for (uint32_t i = n; i-- > 0;) {
    if (e->slot[i] == ST_NONE)
      continue;
    const Node *nd = dag_node(g, i);
    for (int k = 0; k < nd->nargs; k++) {
      NodeId a = nd->arg[k];
      e->slot[a] = ST_INLINE;
      uses[a]++;
      if (!inlinable_into(e, a, i))
        noinline[a] = 1;
    }
    int p;
    if (nd->op == OP_POW && dag_small_int_pow(g, nd->arg[1], &p))
      uses[nd->arg[0]] += 2; /* the base is read several times */
    if (nd->op == OP_SMUL) /* a factor is tested for zero, then multiplied */
      for (int k = 0; k < 2; k++)
        uses[nd->arg[k]] += dag_nonfinite(g, nd->arg[1 - k]) ? 1 : 0;
  }
  int nslots = 0;
  e->nbufs = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (e->slot[i] == ST_NONE)
      continue;
    const Node *nd = dag_node(g, i);
    if (nd->op == OP_VAR || nd->op == OP_CONST || nd->op == OP_DIM || index_atom(g, i)) {
      depth[i] = 0;
      continue;
    }
    if (nd->op == OP_RESHAPE && is_tensor(e, nd->arg[0])) {
      e->alias[i] = 1; /* the operand's memory, seen with another shape */
      continue;
    }
    int d = 0;
    for (int k = 0; k < nd->nargs; k++)
      if (depth[nd->arg[k]] > d)
        d = depth[nd->arg[k]];
    d++;
    int store = uses[i] > 1 || d > INLINE_DEPTH || noinline[i];
    if (is_tensor(e, i) && !(OP_IS_ELEMWISE(nd->op) || nd->op == OP_BCAST))
      store = 1; /* structural tensor nodes always write a buffer */
    if (!is_tensor(e, i) && nd->nargs && is_tensor(e, nd->arg[0]))
      store = 1; /* a reduction to a scalar: computed by its own loop */
    if (store) {
      e->slot[i] = is_tensor(e, i) ? e->nbufs++ : nslots++;
      d = 0;
    }
    depth[i] = (uint8_t)d;
  }
  if (pair_sincos(e) < 0) {
    free(depth);
    free(noinline);
    return -1;
  }
  /* the operand of an alias must have memory of its own */
  for (uint32_t i = n; i-- > 0;)
    if (e->alias[i]) {
      NodeId a = g->nodes[i].arg[0];
      if (e->slot[a] == ST_INLINE && g->nodes[a].op != OP_VAR && !e->alias[a])
        e->slot[a] = e->nbufs++;
    }
  free(depth);
  free(noinline);
  return nslots;
}

static int is_result(const EmitFn *fn, NodeId n) {
  for (int r = 0; r < fn->nres; r++)
    if (fn->res[r].node == n)
      return 1;
  return 0;
}

/* A node computed by a statement of its own (not a variable, constant,
 * inlined expression or alias). */
static int stored(const Emit *e, NodeId n) { return e->slot[n] >= 0 && !e->alias[n]; }

typedef struct NodeStack {
  NodeId *at;
  size_t top, cap;
} NodeStack;

static int push(NodeStack *s, NodeId n) {
  if (s->top == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 64;
    NodeId *grown = realloc(s->at, cap * sizeof *grown);
    if (!grown)
      return -1;
    s->at = grown;
    s->cap = cap;
  }
  s->at[s->top++] = n;
  return 0;
}

/* Appends to out the stored nodes that the code of an item reads: node n
 * itself if `whole` (a result read from its slot), else n's operands,
 * through inlined expressions and aliases. */
static int item_reads(const Emit *e, NodeId n, int whole, NodeStack *st, NodeStack *out) {
  if (whole)
    return push(out, n);
  st->top = 0;
  if (push(st, n) < 0)
    return -1;
  while (st->top) {
    const Node *nd = dag_node(e->g, st->at[--st->top]);
    for (int k = 0; k < nd->nargs; k++) {
      NodeId x = nd->arg[k];
      OpKind op = (OpKind)dag_node(e->g, x)->op;
      if (op == OP_VAR || op == OP_CONST || op == OP_DIM)
        continue;
      if (stored(e, x) ? push(out, x) < 0 : push(st, x) < 0)
        return -1;
    }
  }
  return 0;
}

/* ---- the order of the code ------------------------------------------------

 * Statements are written in the DAG's order (a topological order in which
 * neighbours are mostly independent, which keeps long latencies such as
 * calls of sin overlapped), except that a short derivative computation
 * moves up to just after the values it reads when they are far back: an
 * item that the first result (an output's value) does not read, at most
 * HOIST_DEPTH derivative items from the primal values, whose readers all
 * move too, and whose latest dependency is more than HOIST_GAP items
 * before it. In the gradient of a sum of terms (Rosenbrock's) each term's
 * partials and adjoints then follow the term's primal values, as in
 * CasADi's depth-first order: the values stay in registers instead of
 * being stored and reloaded, and the adjoint arithmetic overlaps the value's
 * long chain of additions. A reverse sweep proper (each adjoint waiting for
 * the adjoints after it) keeps its order. Tensor statements keep their
 * order among themselves (their buffers' lifetimes, hence the workspace,
 * stay those of the DAG's order), except the O(1) ones below.
 *
 * The adjoint of x[i] is added in place into the adjoint of x
 * (OP_SCATTER_ADD, ad.c): a chain zeros -> +piece -> +piece ... whose
 * intermediate values nothing else reads. Each element still gets its
 * pieces in the chain's order (the same bits), but pieces at different
 * elements do not wait for each other: a piece at a literal index waits
 * only for the zeroing, the last piece at its element and the last piece
 * that is not at a literal index; such a piece waits for every piece
 * before it, and so does the chain's last one (which its readers read).
 * The first piece at an element is written, not added to zero, and when
 * every element gets one so, the zeroing goes (no zero-initialisation of
 * adjoints, as CasADi's code). */
#define HOIST_DEPTH 8
#define HOIST_GAP 64

/* Item.res of a chain's first node, a PAD, written as two items: its
 * zeroing (ready at once) and its piece (a piece of the chain) */
#define ITEM_ZEROS (-2)
#define ITEM_PIECE (-3)
static int is_stmt(Item it) { return it.res == -1 || it.res == ITEM_PIECE; }

/* Is the piece that SCATTER_ADD or PAD node n adds at one literal index? */
static int point_piece(const Dag *g, NodeId n, int64_t *key) {
  const Node *nd = dag_node(g, n);
  if (nd->op != OP_PAD && nd->op != OP_SCATTER_ADD)
    return 0;
  NodeId piece = nd->op == OP_PAD ? nd->arg[0] : nd->arg[1];
  if (dag_shape(g, piece) != SHAPE_SCALAR)
    return 0;
  const SliceSpec *sp = &g->slices[nd->v.idx];
  if (sp->from_end || sp->drop != (1u << sp->rank) - 1)
    return 0;
  uint64_t h = 0;
  for (int k = 0; k < sp->rank; k++) {
    if (sp->off[k] || sp->start[k] < 0)
      return 0;
    h = h * 0x9E3779B97F4A7C15ull + (uint64_t)sp->start[k];
  }
  *key = (int64_t)(h & INT64_MAX);
  return 1;
}

typedef struct Edge {
  uint32_t from, to;
} Edge;

typedef struct Edges {
  Edge *at;
  size_t n, cap;
} Edges;

static int edge(Edges *es, uint32_t from, uint32_t to) {
  if (from == to || from == NEVER)
    return 0;
  if (es->n == es->cap) {
    size_t cap = es->cap ? 2 * es->cap : 1024;
    Edge *grown = realloc(es->at, cap * sizeof *grown);
    if (!grown)
      return -1;
    es->at = grown;
    es->cap = cap;
  }
  es->at[es->n++] = (Edge){from, to};
  return 0;
}

/* The last piece of a chain at each literal index: open addressing on
 * (root, key), entries of older generations (before the last barrier) stale. */
typedef struct PieceSlot {
  NodeId root, member;
  uint32_t gen;
  int64_t key;
} PieceSlot;

/* The pieces of the chains: their order (edges: what must come before
 * what), and e->first. */
static int chain_rules(Emit *e, const NodeId *root, const uint8_t *has_next, const uint32_t *itemof,
                       const uint32_t *zitem, uint32_t nmembers, Edges *es) {
  const Dag *g = e->g;
  uint32_t n = g->count;
  int rc = -1;
  size_t tabn = 16;
  while (tabn < 4 * ((size_t)nmembers + 1))
    tabn *= 2;
  PieceSlot *tab = calloc(tabn, sizeof *tab);
  NodeId *prevm = big_alloc((size_t)n * sizeof *prevm);      /* the member before */
  NodeId *lastm = big_alloc((size_t)n * sizeof *lastm);      /* root -> last member yet */
  NodeId *barrier = big_alloc((size_t)n * sizeof *barrier);  /* root -> last barrier */
  uint32_t *gen = big_alloc((size_t)n * sizeof *gen);
  uint32_t *covered = big_alloc((size_t)n * sizeof *covered); /* root -> elements written first */
  if (!tab || !prevm || !lastm || !barrier || !gen || !covered)
    goto done;
  for (uint32_t i = 0; i < n; i++)
    prevm[i] = lastm[i] = barrier[i] = NO_NODE;
  for (uint32_t i = 0; i < n; i++) {
    int zr = zitem[i] != NEVER;
    if (root[i] == NO_NODE && !zr)
      continue;
    NodeId r = zr ? i : root[i];
    uint32_t ki = itemof[i];
    if (edge(es, zitem[r] != NEVER ? zitem[r] : itemof[r], ki) < 0) /* after the zeroing (the root) */
      goto done;
    int64_t key = 0;
    int point = point_piece(g, i, &key);
    if (point) {
      if (barrier[r] != NO_NODE && edge(es, itemof[barrier[r]], ki) < 0)
        goto done;
      size_t h = (size_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) ^ r) & (tabn - 1);
      while (tab[h].root && !(tab[h].root == r + 1 && tab[h].key == key))
        h = (h + 1) & (tabn - 1);
      if (tab[h].root && tab[h].gen == gen[r] && edge(es, itemof[tab[h].member], ki) < 0)
        goto done;
      if (!tab[h].root && gen[r] == 0 && zitem[r] != NEVER) {
        e->first[i] = 1; /* the first piece at its element: written, not added to zero */
        covered[r]++;
      }
      tab[h] = (PieceSlot){r + 1, i, gen[r], key};
    }
    if (!point || !has_next[i]) { /* a barrier: after every piece since the last barrier */
      for (NodeId m = lastm[r]; m != NO_NODE; m = m == barrier[r] ? NO_NODE : prevm[m])
        if (edge(es, itemof[m], ki) < 0)
          goto done;
      barrier[r] = i;
      gen[r]++;
    }
    prevm[i] = lastm[r];
    lastm[r] = i;
  }
  for (uint32_t i = 0; i < n; i++) /* every element written first: no zeroing */
    if (zitem[i] != NEVER && covered[i] && (int64_t)covered[i] == shape_size(g, dag_shape(g, i)))
      e->first[i] |= 2;
  rc = 0;
done:
  free(tab);
  big_free(prevm);
  big_free(lastm);
  big_free(barrier);
  big_free(gen);
  big_free(covered);
  return rc;
}

/* The order of the items (the comment above): order[k] is the item
 * written k-th. */
static int hoist_order(const Emit *e, const EmitFn *fn, const Item *items, uint32_t nitems,
                       const Edges *es, uint32_t *order) {
  const Dag *g = e->g;
  uint32_t n = g->count, k;
  int rc = -1;
  uint32_t *dep_at = calloc((size_t)nitems + 2, sizeof *dep_at);
  uint32_t *deps = malloc((es->n + 1) * sizeof *deps);
  uint32_t *cons_at = calloc((size_t)nitems + 2, sizeof *cons_at);
  uint32_t *cons = malloc((es->n + 1) * sizeof *cons);
  uint32_t *tmp = malloc(((size_t)nitems + 1) * sizeof *tmp);
  uint64_t *key = malloc(((size_t)nitems + 1) * sizeof *key);
  uint32_t *depth = calloc((size_t)nitems + 1, sizeof *depth);
  uint8_t *hoist = malloc((size_t)nitems + 1);
  uint8_t *primal = big_alloc(n ? n : 1);
  if (!dep_at || !deps || !cons_at || !cons || !tmp || !key || !depth || !hoist || !primal)
    goto done;
  /* the primal items: what the first result (an output's value) reads */
  int derivative = 0;
  if (fn->nres) {
    primal[fn->res[0].node] = 1;
    for (uint32_t i = n; i-- > 0;)
      if (primal[i])
        for (int a = 0; a < dag_node(g, i)->nargs; a++)
          primal[dag_node(g, i)->arg[a]] = 1;
  }
  for (k = 0; k < nitems && !derivative; k++)
    derivative = !primal[items[k].node];
  if (!derivative) { /* nothing moves: the DAG's order, zeroings first */
    uint32_t at = 0;
    for (k = 0; k < nitems; k++)
      if (items[k].res == ITEM_ZEROS)
        order[at++] = k;
    for (k = 0; k < nitems; k++)
      if (items[k].res != ITEM_ZEROS)
        order[at++] = k;
    rc = 0;
    goto done;
  }
  /* the dependencies and the readers of each item (CSR) */
  for (size_t q = 0; q < es->n; q++) {
    dep_at[es->at[q].to + 1]++;
    cons_at[es->at[q].from + 1]++;
  }
  for (k = 0; k < nitems; k++) {
    dep_at[k + 1] += dep_at[k];
    cons_at[k + 1] += cons_at[k];
  }
  for (size_t q = 0; q < es->n; q++) {
    deps[dep_at[es->at[q].to]++] = es->at[q].from;
    cons[cons_at[es->at[q].from]++] = es->at[q].to;
  }
  for (k = nitems; k-- > 0;) { /* each list ended where the next begins: shift back */
    dep_at[k + 1] = dep_at[k];
    cons_at[k + 1] = cons_at[k];
  }
  dep_at[0] = cons_at[0] = 0;
  /* how many derivative items lead to each one, and which may move: the
   * short ones whose every reader may move too */
  for (k = 0; k < nitems; k++)
    if (!primal[items[k].node]) {
      depth[k] = 1;
      for (uint32_t q = dep_at[k]; q < dep_at[k + 1]; q++)
        if (depth[deps[q]] + 1 > depth[k])
          depth[k] = depth[deps[q]] + 1;
    }
  for (k = nitems; k-- > 0;) {
    hoist[k] = !primal[items[k].node] && depth[k] <= HOIST_DEPTH;
    for (uint32_t q = cons_at[k]; q < cons_at[k + 1] && hoist[k]; q++)
      hoist[k] = hoist[cons[q]];
  }
  /* the keys: (the item's index, 0), or (the key of its latest
   * dependency, a sequence number) for an item that moves */
  uint32_t seq = 0;
  for (k = 0; k < nitems; k++) {
    uint64_t latest = 0;
    int any = 0;
    for (uint32_t q = dep_at[k]; q < dep_at[k + 1]; q++)
      if (!any || key[deps[q]] > latest) {
        latest = key[deps[q]];
        any = 1;
      }
    if (items[k].res == ITEM_ZEROS)
      key[k] = ++seq; /* before everything */
    else if (any && hoist[k] && (uint64_t)k > (latest >> 32) + HOIST_GAP)
      key[k] = (latest & ~(uint64_t)UINT32_MAX) | ++seq;
    else
      key[k] = (uint64_t)(k + 1) << 32;
  }
  /* sorted by key (a stable merge sort) */
  for (k = 0; k < nitems; k++)
    order[k] = k;
  for (uint32_t w = 1; w < nitems; w *= 2) {
    for (uint32_t lo = 0; lo < nitems; lo += 2 * w) {
      uint32_t mid = lo + w < nitems ? lo + w : nitems, hi = lo + 2 * w < nitems ? lo + 2 * w : nitems;
      uint32_t i1 = lo, i2 = mid, o = lo;
      while (i1 < mid && i2 < hi)
        tmp[o++] = key[order[i2]] < key[order[i1]] ? order[i2++] : order[i1++];
      while (i1 < mid)
        tmp[o++] = order[i1++];
      while (i2 < hi)
        tmp[o++] = order[i2++];
    }
    memcpy(order, tmp, (size_t)nitems * sizeof *order);
  }
  rc = 0;
done:
  free(dep_at);
  free(deps);
  free(cons_at);
  free(cons);
  free(tmp);
  free(key);
  free(depth);
  free(hoist);
  big_free(primal);
  return rc;
}

/* The items of the function (e->items, in order), what each reads (e->rd),
 * and where each stored node's statement is (e->pos). */
static int schedule(Emit *e, const EmitFn *fn) {
  const Dag *g = e->g;
  uint32_t n = g->count, nst = 0, k;
  int rc = -1, scatters = 0;
  for (uint32_t i = 0; i < n; i++) {
    nst += stored(e, i);
    scatters |= g->nodes[i].op == OP_SCATTER_ADD && stored(e, i);
  }
  size_t cap = (size_t)2 * nst + (size_t)fn->nres + 1;
  Item *items = malloc(cap * sizeof *items);
  uint32_t *itemof = big_alloc((size_t)(n ? n : 1) * sizeof *itemof); /* statement's item */
  NodeId *root = NULL;     /* chain member -> its root */
  uint8_t *has_next = NULL; /* a chain's node that a member adds to */
  uint32_t *zitem = NULL;   /* a chain's PAD -> its zeroing item */
  uint32_t *order = NULL;
  NodeStack st = {0}, out = {0};
  Edges es = {0};
  if (!items || !itemof)
    goto done;
  if (e->first_set) { /* flags of an earlier function */
    memset(e->first, 0, n);
    e->first_set = 0;
  }
  /* the chains of in-place additions (share_buffers adds these in place) */
  uint32_t nmembers = 0;
  if (scatters) {
    root = big_alloc((size_t)n * sizeof *root);
    has_next = big_alloc(n);
    if (!root || !has_next)
      goto done;
    for (uint32_t i = 0; i < n; i++)
      root[i] = NO_NODE;
    for (uint32_t i = 0; i < n; i++) {
      const Node *nd = dag_node(g, i);
      if (nd->op != OP_SCATTER_ADD || !stored(e, i) || !is_tensor(e, i))
        continue;
      NodeId acc = nd->arg[0];
      if (!stored(e, acc) || dag_node(g, acc)->op == OP_VAR || e->uses[acc] != 1 || is_result(fn, acc))
        continue;
      root[i] = root[acc] != NO_NODE ? root[acc] : acc;
      has_next[acc] = 1;
      nmembers++;
    }
    memcpy(e->croot, root, (size_t)n * sizeof *root);
  }
  if (nmembers) {
    zitem = big_alloc((size_t)n * sizeof *zitem);
    if (!zitem)
      goto done;
  }
  /* the items: statements in id order (a chain's PAD root also as its
   * zeroing, apart), then the scalar results */
  k = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (zitem)
      zitem[i] = NEVER;
    NodeId o = partner_of(e, i);
    if (o < i)
      continue; /* the second of a pair: placed with the first (pair_sincos) */
    itemof[i] = NEVER;
    if (!stored(e, i))
      continue;
    const Node *nd = dag_node(g, i);
    if (zitem && nd->op == OP_PAD && has_next[i] && root[i] == NO_NODE) {
      zitem[i] = k;
      items[k++] = (Item){i, ITEM_ZEROS};
    }
    itemof[i] = k;
    items[k++] = (Item){i, zitem && zitem[i] != NEVER ? ITEM_PIECE : -1};
    if (o != NO_NODE) {
      itemof[o] = k;
      items[k++] = (Item){o, -1};
    }
  }
  for (int r = 0; r < fn->nres; r++)
    if (!is_tensor(e, fn->res[r].node))
      items[k++] = (Item){fn->res[r].node, r};
  uint32_t nitems = k;
  /* what each item reads */
  e->rd_at = malloc(((size_t)nitems + 1) * sizeof *e->rd_at);
  if (!e->rd_at)
    goto done;
  for (k = 0; k < nitems; k++) {
    e->rd_at[k] = (uint32_t)out.top;
    if (items[k].res == ITEM_ZEROS)
      continue;
    if (item_reads(e, items[k].node, items[k].res >= 0 && stored(e, items[k].node), &st, &out) < 0)
      goto done;
  }
  e->rd_at[nitems] = (uint32_t)out.top;
  e->rd = out.at;
  out.at = NULL;
  if (e->opts && e->opts->unit && !nmembers) {
    /* a streamed kernel (libtcc, x86_parts.c: no value kept in a register
     * from one statement to the next) in the DAG's order, which every
     * dependency follows: no edges, no sort, the items and reads as they are */
    e->items = items;
    items = NULL;
    goto ordered;
  }
  /* the edges: what an item reads comes before it */
  uint32_t prev_tensor = NEVER;
  for (k = 0; k < nitems; k++) {
    NodeId i = items[k].node;
    int member = items[k].res == -1 && root && root[i] != NO_NODE;
    for (uint32_t q = e->rd_at[k]; q < e->rd_at[k + 1]; q++) {
      NodeId x = e->rd[q];
      if (member && x == dag_node(g, i)->arg[0])
        continue; /* the member before: ordered by the rules of the chain */
      if (edge(&es, itemof[x], k) < 0)
        goto done;
    }
    if (items[k].res == -1 && is_tensor(e, i) && !member) {
      if (edge(&es, prev_tensor, k) < 0) /* tensor statements keep their order */
        goto done;
      prev_tensor = k;
    }
  }
  if (nmembers) {
    e->first_set = 1;
    if (chain_rules(e, root, has_next, itemof, zitem, nmembers, &es) < 0)
      goto done;
  }
  order = malloc(((size_t)nitems + 1) * sizeof *order);
  if (!order || hoist_order(e, fn, items, nitems, &es, order) < 0 ||
      pair_order(e, items, itemof, nitems, order) < 0)
    goto done;
  e->items = malloc(((size_t)nitems + 1) * sizeof *e->items);
  if (!e->items)
    goto done;
  for (k = 0; k < nitems; k++)
    e->items[k] = items[order[k]];
  /* the reads in the new order */
  uint32_t *rd_at = malloc(((size_t)nitems + 1) * sizeof *rd_at);
  NodeId *rd = malloc(((size_t)e->rd_at[nitems] + 1) * sizeof *rd);
  if (!rd_at || !rd) {
    free(rd_at);
    free(rd);
    goto done;
  }
  uint32_t at = 0;
  for (k = 0; k < nitems; k++) {
    rd_at[k] = at;
    for (uint32_t q = e->rd_at[order[k]]; q < e->rd_at[order[k] + 1]; q++)
      rd[at++] = e->rd[q];
  }
  rd_at[nitems] = at;
  free(e->rd_at);
  free(e->rd);
  e->rd_at = rd_at;
  e->rd = rd;
ordered:
  e->nitems = nitems;
  for (uint32_t i = 0; i < n && e->nbufs; i++) /* (read for tensors only: share_buffers) */
    e->pos[i] = NEVER;
  for (k = 0; k < nitems && e->nbufs; k++)
    if (is_stmt(e->items[k]))
      e->pos[e->items[k].node] = k;
  rc = 0;
done:
  free(items);
  big_free(itemof);
  big_free(root);
  big_free(has_next);
  big_free(zitem);
  free(st.at);
  free(out.at);
  free(es.at);
  free(order);
  return rc;
}

/* e->last[x]: the position of the last item that reads stored node x;
 * NEVER for what the end of the function reads (tensor results). */
static void last_reads(Emit *e, const EmitFn *fn) {
  const Dag *g = e->g;
  for (uint32_t i = 0; i < g->count; i++)
    e->last[i] = 0;
  for (uint32_t k = 0; k < e->nitems; k++)
    for (uint32_t q = e->rd_at[k]; q < e->rd_at[k + 1]; q++)
      e->last[e->rd[q]] = k; /* positions increase */
  for (int r = 0; r < fn->nres; r++) { /* tensor results: computed or copied at the end */
    NodeId n = fn->res[r].node;
    if (!is_tensor(e, n))
      continue;
    while (e->alias[n])
      n = dag_node(g, n)->arg[0];
    if (stored(e, n)) {
      e->last[n] = NEVER;
      continue;
    }
    NodeStack st = {0}, out = {0};
    if (item_reads(e, n, 0, &st, &out) == 0)
      for (size_t q = 0; q < out.top; q++)
        e->last[out.at[q]] = NEVER;
    else
      e->last[n] = NEVER; /* out of memory: emit_c reports it */
    free(st.at);
    free(out.at);
  }
}

/* Tensor buffers are reused once their node's last reader has run:
 * e->slot[n] becomes a physical buffer, e->bufshape[k] its size. A stored
 * tensor result is computed in the result's memory (e->bufout[k]: the
 * result, or -1), so it is not copied at the end. */
static int share_buffers(Emit *e, const EmitFn *fn) {
  const Dag *g = e->g;
  if (e->nbufs == 0) { /* no tensor: nothing to share (and no sweep of the DAG) */
    free(e->bufshape);
    free(e->bufout);
    e->bufshape = malloc(sizeof *e->bufshape);
    e->bufout = malloc(sizeof *e->bufout);
    return e->bufshape && e->bufout ? 0 : -1;
  }
  uint32_t *phys_last = malloc(((size_t)e->nbufs + 1) * sizeof *phys_last);
  uint8_t *done = big_alloc(g->count ? g->count : 1);
  free(e->bufshape);
  free(e->bufout);
  e->bufshape = malloc(((size_t)e->nbufs + 1) * sizeof *e->bufshape);
  e->bufout = malloc(((size_t)e->nbufs + 1) * sizeof *e->bufout);
  if (!e->bufshape || !e->bufout || !phys_last || !done) {
    free(phys_last);
    big_free(done);
    return -1;
  }
  for (uint32_t i = g->count; i-- > 0;) /* an alias reads its operand's memory */
    if (e->slot[i] != ST_NONE && e->alias[i]) {
      NodeId a = dag_node(g, i)->arg[0];
      if (e->last[i] > e->last[a])
        e->last[a] = e->last[i];
    }
  int nphys = 0;
  for (uint32_t p = 0; p < e->nitems; p++) {
    NodeId i = e->items[p].node;
    if (e->items[p].res >= 0 || !is_tensor(e, i) || done[i])
      continue;
    done[i] = 1;
    const Node *nd = dag_node(g, i);
    int pick = -1;
    NodeId acc = nd->arg[0];
    uint32_t when_i = e->pos[i];
    int acc_result = 0; /* a result is read at the end: never added to in place */
    for (int r = 0; nd->op == OP_SCATTER_ADD && r < fn->nres && !acc_result; r++)
      acc_result = fn->res[r].node == acc;
    if (nd->op == OP_SCATTER_ADD && e->slot[acc] >= 0 && !e->alias[acc] && dag_node(g, acc)->op != OP_VAR &&
        when_i != UINT32_MAX && e->last[acc] == when_i && !acc_result)
      pick = e->slot[e->croot[i] != NO_NODE ? e->croot[i] : acc]; /* its last reader: add the piece in place (not when acc
                                      is a result: results count as read at the end, so
                                      "last" says nothing about the readers of acc after
                                      i); acc's memory is the chain's first node's */
    for (int k = 0; k < nphys && pick < 0; k++) /* free, and of the same size */
      if (phys_last[k] != NEVER && phys_last[k] < p && same_size(g, e->bufshape[k], dag_shape(g, i)))
        pick = k;
    if (pick < 0) {
      pick = nphys++;
      e->bufshape[pick] = dag_shape(g, i);
      e->bufout[pick] = -1;
      phys_last[pick] = 0;
    }
    if (phys_last[pick] != NEVER && e->last[i] > phys_last[pick])
      phys_last[pick] = e->last[i];
    e->slot[i] = pick;
  }
  for (int r = 0; r < fn->nres; r++) { /* results in their own memory */
    NodeId n = fn->res[r].node;
    if (is_tensor(e, n) && stored(e, n) && e->bufout[e->slot[n]] < 0)
      e->bufout[e->slot[n]] = r;
  }
  e->nbufs = nphys;
  free(phys_last);
  big_free(done);
  return 0;
}

/* Is op computed by a loop of its own (emit_item), not a plain scalar statement? */
static int loop_op(const Emit *e, NodeId n) {
  switch ((OpKind)dag_node(e->g, n)->op) {
  case OP_SUM: case OP_MAXR: case OP_ARGMAX: case OP_AMAX: case OP_PROD: case OP_MATMUL:
  case OP_TRANSPOSE: case OP_SLICE: case OP_PAD: case OP_SCATTER_ADD: case OP_ONEHOT:
  case OP_CUMSUM: case OP_LINSCAN: case OP_TAKE: case OP_SCATTER: case OP_IOTA:
    return 1;
  default:
    return is_tensor(e, n);
  }
}

/* A long function is split into parts of about PART_STMTS statements
 * (a tensor statement counts as PART_LOOP) that the function calls in
 * order: values pass between parts through t[], so the arithmetic is the
 * same, but cc -O2 (whose register allocation and scheduling grow faster
 * than linearly with a function's size) compiles a 10^4-node gradient in
 * seconds instead of minutes. */
#define PART_STMTS 128
#define PART_LOOP 8

/* A statement's share of a part: a loop counts as PART_LOOP, a statement
 * (a piece written at one element included) as 1. */
static int item_weight(const Emit *e, uint32_t p) {
  Item it = e->items[p];
  int64_t key;
  if (it.res >= 0 || !is_tensor(e, it.node) || (it.res != ITEM_ZEROS && point_piece(e->g, it.node, &key)))
    return 1;
  return PART_LOOP;
}

/* The parts (if split), the locals of parts, and the t[] entries of the
 * other stored scalars: an entry is reused once the value in it has been
 * read for the last time (CasADi's work vector does the same), so t[] is
 * as long as the most values ever live at once. */
static int assign_slots(Emit *e) {
  const Dag *g = e->g;
  uint32_t n = g->count;
  free(e->part);
  e->part = NULL;
  e->nparts = 0;
  long weight = 0;
  for (uint32_t p = 0; p < e->nitems; p++)
    weight += item_weight(e, p);
  if (e->split && weight > 2 * e->part_stmts) {
    e->part = malloc(((size_t)e->nitems + 1) * sizeof *e->part);
    if (!e->part)
      return -1;
    long w = 0;
    for (uint32_t p = 0; p < e->nitems; p++) {
      e->part[p] = e->nparts;
      w += item_weight(e, p);
      if (w >= e->part_stmts || p + 1 == e->nitems) {
        e->nparts++;
        w = 0;
      }
    }
  }
  uint8_t *freed = big_alloc(n ? n : 1);
  int32_t *free_slots = malloc(((size_t)e->nitems + 1) * sizeof *free_slots);
  if (!freed || !free_slots) {
    big_free(freed);
    free(free_slots);
    return -1;
  }
  for (uint32_t i = 0; i < n; i++)
    e->local[i] = 0;
  int nslots = 0, nlocal = 0;
  uint32_t nfree = 0;
  for (uint32_t p = 0; p < e->nitems; p++) {
    Item it = e->items[p];
    NodeId i = it.node;
    if (e->part && p > 0 && e->part[p] != e->part[p - 1])
      nlocal = 0; /* a part's locals are g_l0, g_l1, ...: every part reuses the same
                     few names (libtcc is a third faster than with a new identifier
                     per local) */
    if (it.res == -1 && !is_tensor(e, i)) {
      if (e->part && !loop_op(e, i) && e->last[i] != NEVER && e->part[e->last[i]] == e->part[p]) {
        e->local[i] = 1; /* read only inside its part */
        e->slot[i] = nlocal++;
      } else {
        e->slot[i] = nfree ? free_slots[--nfree] : nslots++;
      }
    }
    for (uint32_t q = e->rd_at[p]; q < e->rd_at[p + 1]; q++) {
      NodeId x = e->rd[q];
      if (e->last[x] == p && !freed[x] && !e->local[x] && !is_tensor(e, x)) {
        freed[x] = 1;
        free_slots[nfree++] = e->slot[x];
      }
    }
  }
  big_free(freed);
  free(free_slots);
  e->nslots = nslots;
  return 0;
}

/* ---- printing ------------------------------------------------------------- */

enum { PREC_CMP = 0, PREC_ADD = 1, PREC_MUL = 2, PREC_UNARY = 3, PREC_ATOM = 4 };

/* A double literal that reads back to the same bits (at most 26 chars). */
static void literal_text(double x, char s[32]) {
  snprintf(s, 32, "%.17g", x);
  if (!strpbrk(s, ".eEn"))
    strcat(s, ".0");
}

static void indent(Emit *e) {
  for (int i = 0; i < e->indent; i++)
    buf_puts(e->out, "  ");
}

static void dim(Emit *e, int64_t d);

/* for (long VAR = 0; VAR < D; VAR++) {  and one level deeper */
static void open_loop(Emit *e, const char *var, int64_t d) {
  indent(e);
  buf_printf(e->out, "for (long %s = 0; %s < ", var, var);
  dim(e, d);
  buf_printf(e->out, "; %s++) {\n", var);
  e->indent++;
}

/* the same over index variable g_i<k> */
static void open_index_loop(Emit *e, int k, int64_t d) {
  char var[16];
  snprintf(var, sizeof var, "g_i%d", k);
  open_loop(e, var, d);
}

static void dim(Emit *e, int64_t d) {
  if (d >= 0)
    buf_printf(e->out, "%lld", (long long)d);
  else if (dim_is_derived(d)) /* a local computed at entry (derived_dims) */
    buf_printf(e->out, "g_d%lld", (long long)(~d - DIM_DERIVED));
  else if (e->kernel || e->in_part)
    buf_printf(e->out, "d[%d]", (int)~d);
  else
    buf_puts(e->out, e->fn->dimc[~d]);
}

/* The number of elements of shape s, as a C expression. */
static void size(Emit *e, ShapeId s) {
  const Shape *x = shape_get(e->g, s);
  if (x->rank == 0) {
    buf_puts(e->out, "1");
    return;
  }
  double lit = 1;
  for (int i = 0; i < x->rank; i++)
    lit *= x->dim[i] > 0 ? (double)x->dim[i] : 1;
  if (lit > 2147483647.0) /* the literals' product would overflow an int */
    buf_puts(e->out, "(long)");
  for (int i = 0; i < x->rank; i++) {
    if (i)
      buf_puts(e->out, "*");
    dim(e, x->dim[i]);
  }
}

/* A row-major flat index from per-dimension terms, in Horner form:
 * ((t0*d1 + t1)*d2 + t2). */
typedef struct Ix {
  char term[96];
  int64_t dim;
} Ix;

static void horner(Emit *e, const Ix *ix, int n) {
  if (n == 0) {
    buf_puts(e->out, "0");
    return;
  }
  for (int i = 0; i < n - 2; i++)
    buf_puts(e->out, "(");
  buf_puts(e->out, ix[0].term);
  for (int k = 1; k < n; k++) {
    buf_puts(e->out, "*");
    dim(e, ix[k].dim);
    buf_printf(e->out, " + %s", ix[k].term);
    if (k < n - 1)
      buf_puts(e->out, ")");
  }
}

/* The index variables i<first>.. over the dimensions of s. */
static int loop_terms(const Shape *s, Ix *ix, int first, int skip) {
  int n = 0;
  for (int k = 0; k < s->rank; k++) {
    if (k == skip)
      continue;
    snprintf(ix[n].term, sizeof ix[n].term, "g_i%d", k + first);
    ix[n++].dim = s->dim[k];
  }
  return n;
}

/* The memory of a stored tensor (a variable, a result, a buffer). */
static void ptr(Emit *e, NodeId n) {
  const Node *nd = dag_node(e->g, n);
  while (e->alias[n]) {
    n = nd->arg[0];
    nd = dag_node(e->g, n);
  }
  if (nd->op == OP_VAR) {
    int k = e->fn->arg_of_var[nd->v.idx];
    if (e->kernel || e->in_part)
      buf_printf(e->out, "a[%d]", k);
    else
      buf_puts(e->out, k >= 0 ? e->fn->args[k].cname : "g_missing_argument");
  } else {
    buf_printf(e->out, "g_b%d", e->slot[n]);
  }
}

/* The flat index of a tensor of shape s inside the current loop. */
static void index_of(Emit *e, ShapeId s) {
  if (s == e->loop_shape) {
    buf_puts(e->out, "g_o");
    return;
  }
  const Shape *x = shape_get(e->g, s), *o = shape_get(e->g, e->loop_shape);
  int off = o->rank - x->rank;
  Ix ix[MAX_RANK];
  for (int k = 0; k < x->rank; k++) {
    int bc = x->dim[k] == 1 && o->dim[k + off] != 1; /* broadcast: index 0 */
    snprintf(ix[k].term, sizeof ix[k].term, bc ? "0" : "g_i%d", k + off);
    ix[k].dim = x->dim[k];
  }
  horner(e, ix, x->rank);
}

static int node_prec(const Emit *e, NodeId n) {
  const Node *nd = dag_node(e->g, n);
  if (e->slot[n] >= 0 || e->alias[n] || nd->op == OP_VAR || nd->op == OP_DIM)
    return PREC_ATOM;
  switch (nd->op) {
  case OP_CONST: return nd->v.num < 0 || (nd->v.num == 0 && 1 / nd->v.num < 0) ? PREC_UNARY : PREC_ATOM;
  case OP_ADD: case OP_SUB: return PREC_ADD;
  case OP_MUL: case OP_DIV: return PREC_MUL;
  case OP_NEG: return PREC_UNARY;
  case OP_POW: {
    int k;
    if (dag_small_int_pow(e->g, nd->arg[1], &k))
      return k == 1 ? PREC_ATOM : PREC_MUL;
    return PREC_ATOM;
  }
  default: return PREC_ATOM;
  }
}

static void expr(Emit *e, NodeId n, int minprec);

/* A reference to the value of node n at the current loop position. */
static void ref(Emit *e, NodeId n) {
  const Node *nd = dag_node(e->g, n);
  if (is_tensor(e, n) && (nd->op == OP_VAR || e->slot[n] >= 0 || e->alias[n])) {
    ptr(e, n);
    buf_puts(e->out, "[");
    index_of(e, dag_shape(e->g, n));
    buf_puts(e->out, "]");
  } else if (nd->op == OP_VAR) {
    int k = e->fn->arg_of_var[nd->v.idx];
    if (e->kernel || e->in_part) {
      buf_putn(e->out, "a[", 2);
      buf_int(e->out, k);
      buf_putn(e->out, "][0]", 4);
    } else {
      buf_puts(e->out, k >= 0 ? e->fn->args[k].cname : "g_missing_argument");
    }
  } else if (nd->op == OP_DIM) {
    buf_puts(e->out, "(double)");
    dim(e, ~nd->v.idx);
  } else if (e->slot[n] >= 0) {
    if (e->in_part && e->local[n]) {
      buf_putn(e->out, "g_l", 3);
      buf_int(e->out, e->slot[n]);
    } else {
      buf_putn(e->out, "t[", 2);
      buf_int(e->out, e->slot[n]);
      buf_putn(e->out, "]", 1);
    }
  } else {
    expr(e, n, PREC_ATOM);
  }
}

static const char *c_func(OpKind op) {
  switch (op) {
  case OP_ABS: return "fabs";
  case OP_SIGN: return "g_sign";
  case OP_SIGMOID: return "g_sigmoid";
  case OP_TANH: return "g_tanh";
  case OP_RELU: return "g_relu";
  case OP_SOFTPLUS: return "g_softplus";
  case OP_MAX: return "g_max";
  case OP_MIN: return "g_min";
  case OP_ROUND: return "rint"; /* half to even, as numpy.round */
  case OP_MOD: return "g_mod";
  case OP_LOGADDEXP: return "g_logaddexp";
  default: return op_info[op].spell;
  }
}

/* The expression that computes elementwise node n (not its storage). */
static void body(Emit *e, NodeId n) {
  const Node *nd = dag_node(e->g, n);
  Buf *b = e->out;
  OpKind op = (OpKind)nd->op;
  int k;
  if (op != OP_POW || !dag_small_int_pow(e->g, nd->arg[1], &k))
    e->used_op[op] = 1; /* which prototypes and helpers to emit */
  switch (op) {
  case OP_CONST:
    if (e->lit[n & 63].node != n) { /* a few constants recur: cache their text */
      literal_text(nd->v.num, e->lit[n & 63].text);
      e->lit[n & 63].node = n;
    }
    buf_puts(b, e->lit[n & 63].text);
    return;
  case OP_VAR: case OP_DIM:
    ref(e, n);
    return;
  case OP_BCAST:
    ref(e, nd->arg[0]);
    return;
  case OP_SLICE: { /* an element at literal indices (index_atom): read in place */
    const SliceSpec *sp = &e->g->slices[nd->v.idx];
    Ix ix[MAX_RANK];
    for (int d = 0; d < sp->rank; d++) {
      snprintf(ix[d].term, sizeof ix[d].term, "%lld", (long long)sp->start[d]);
      ix[d].dim = sp->full[d];
    }
    ptr(e, nd->arg[0]);
    buf_putn(b, "[", 1);
    horner(e, ix, sp->rank);
    buf_putn(b, "]", 1);
    return;
  }
  case OP_ADD: case OP_SUB: case OP_MUL: case OP_DIV: {
    int p = (op == OP_ADD || op == OP_SUB) ? PREC_ADD : PREC_MUL;
    expr(e, nd->arg[0], p);
    buf_puts(b, op == OP_ADD ? " + " : op == OP_SUB ? " - " : op == OP_MUL ? "*" : "/");
    expr(e, nd->arg[1], p + 1);
    return;
  }
  case OP_NEG:
    buf_puts(b, "-");
    expr(e, nd->arg[0], PREC_ATOM);
    return;
  case OP_POW:
    if (dag_small_int_pow(e->g, nd->arg[1], &k)) {
      int m = k < 0 ? -k : k;
      if (k < 0)
        buf_puts(b, "1.0/(");
      for (int i = 0; i < m; i++) {
        if (i)
          buf_puts(b, "*");
        ref(e, nd->arg[0]);
      }
      if (k < 0)
        buf_puts(b, ")");
      return;
    }
    buf_puts(b, "pow(");
    expr(e, nd->arg[0], PREC_CMP);
    buf_puts(b, ", ");
    expr(e, nd->arg[1], PREC_CMP);
    buf_puts(b, ")");
    return;
  case OP_LT: case OP_LE: case OP_GT: case OP_GE: case OP_EQ: case OP_NE:
    buf_puts(b, "(");
    expr(e, nd->arg[0], PREC_ADD);
    buf_printf(b, " %s ", op_info[op].spell);
    expr(e, nd->arg[1], PREC_ADD);
    buf_puts(b, " ? 1.0 : 0.0)");
    return;
  case OP_STOP: /* the identity; only its derivative is 0 */
    buf_puts(b, "(");
    expr(e, nd->arg[0], PREC_CMP);
    buf_puts(b, ")");
    return;
  case OP_SMUL: /* strong zero: a factor that is 0 wins over an inf or NaN */
    buf_puts(b, "(");
    for (int i = 0, first = 1; i < 2; i++)
      if (dag_nonfinite(e->g, nd->arg[1 - i])) {
        if (!first)
          buf_puts(b, " || ");
        expr(e, nd->arg[i], PREC_ADD);
        buf_puts(b, " == 0.0");
        first = 0;
      }
    buf_puts(b, " ? 0.0 : ");
    expr(e, nd->arg[0], PREC_MUL);
    buf_puts(b, "*");
    expr(e, nd->arg[1], PREC_MUL + 1);
    buf_puts(b, ")");
    return;
  case OP_WHERE:
    buf_puts(b, "(");
    expr(e, nd->arg[0], PREC_ADD);
    buf_puts(b, " != 0.0 ? ");
    expr(e, nd->arg[1], PREC_ADD);
    buf_puts(b, " : ");
    expr(e, nd->arg[2], PREC_ADD);
    buf_puts(b, ")");
    return;
  default:
    buf_puts(b, c_func(op));
    buf_putn(b, "(", 1);
    for (int i = 0; i < nd->nargs; i++) {
      if (i)
        buf_puts(b, ", ");
      expr(e, nd->arg[i], PREC_CMP);
    }
    buf_puts(b, ")");
    return;
  }
}

static void expr(Emit *e, NodeId n, int minprec) {
  const Node *nd = dag_node(e->g, n);
  if (nd->op == OP_VAR || nd->op == OP_DIM || e->slot[n] >= 0 || e->alias[n]) {
    ref(e, n);
    return;
  }
  int paren = node_prec(e, n) < minprec;
  if (paren)
    buf_puts(e->out, "(");
  body(e, n);
  if (paren)
    buf_puts(e->out, ")");
}

/* ---- loops ------------------------------------------------------------------ */

/* Does the inlined expression of n read a tensor of another shape than s
 * (so the loop needs index variables)? */
static int needs_nest(const Emit *e, NodeId n, ShapeId s, int top) {
  const Node *nd = dag_node(e->g, n);
  if (!is_tensor(e, n))
    return 0;
  if (!top && (nd->op == OP_VAR || e->slot[n] >= 0 || e->alias[n]))
    return dag_shape(e->g, n) != s;
  if (nd->op == OP_BCAST)
    return is_tensor(e, nd->arg[0]);
  for (int k = 0; k < nd->nargs; k++)
    if (needs_nest(e, nd->arg[k], s, 0))
      return 1;
  return 0;
}

/* Open loops over shape s (index variables i0.. and the flat index o),
 * with dimension `last` (or none, -1) innermost; returns loops opened. */
static int open_loops(Emit *e, ShapeId s, int nested, int last) {
  const Shape *x = shape_get(e->g, s);
  Buf *b = e->out;
  e->loop_shape = s;
  e->loop_nested = nested;
  if (!nested) {
    indent(e);
    buf_puts(b, "for (long g_o = 0; g_o < ");
    size(e, s);
    buf_puts(b, "; g_o++) {\n");
    e->indent++;
    return 1;
  }
  int opened = 0;
  for (int pass = 0; pass < 2; pass++)
    for (int k = 0; k < x->rank; k++) {
      if ((pass == 0) == (k == last))
        continue;
      open_index_loop(e, k, x->dim[k]);
      opened++;
    }
  return opened;
}

/* long o = flat index of the loop shape from i0.. */
static void flat_index(Emit *e) {
  const Shape *x = shape_get(e->g, e->loop_shape);
  indent(e);
  buf_puts(e->out, "long g_o = ");
  Ix ix[MAX_RANK];
  horner(e, ix, loop_terms(x, ix, 0, -1));
  buf_puts(e->out, ";\n");
  indent(e); /* unread where every operand is broadcast (-Wunused-variable) */
  buf_puts(e->out, "(void)g_o;\n");
}

static void close_loops(Emit *e, int n) {
  while (n-- > 0) {
    e->indent--;
    indent(e);
    buf_puts(e->out, "}\n");
  }
}

/* dest[o] = <elementwise expression of n>, over n's shape. */
static void elementwise_loop(Emit *e, NodeId n, const char *dest_fmt, int dest_arg) {
  ShapeId s = dag_shape(e->g, n);
  int nested = needs_nest(e, n, s, 1);
  int loops = open_loops(e, s, nested, -1);
  if (nested)
    flat_index(e);
  indent(e);
  buf_printf(e->out, dest_fmt, dest_arg);
  buf_puts(e->out, "[g_o] = ");
  body(e, n);
  buf_puts(e->out, ";\n");
  close_loops(e, loops);
}

/* Does the inlined expression of n read a stored tensor of shape s (by the
 * flat index g_o)? */
static int shape_reads(const Emit *e, NodeId n, ShapeId s) {
  const Node *nd = dag_node(e->g, n);
  if (!is_tensor(e, n))
    return 0;
  if (nd->op == OP_VAR || e->slot[n] >= 0 || e->alias[n])
    return dag_shape(e->g, n) == s;
  if (nd->op == OP_BCAST)
    return 0;
  for (int k = 0; k < nd->nargs; k++)
    if (shape_reads(e, nd->arg[k], s))
      return 1;
  return 0;
}

/* Reductions: loops over the operand's shape, the axis innermost. */
static void reduce_loop(Emit *e, NodeId n) {
  const Node *nd = dag_node(e->g, n);
  NodeId x = nd->arg[0];
  int axis = (int)nd->v.idx;
  ShapeId xs = dag_shape(e->g, x);
  const Shape *sx = shape_get(e->g, xs);
  Buf *b = e->out;
  OpKind op = (OpKind)nd->op;
  if (op == OP_MAXR || op == OP_AMAX || op == OP_ARGMAX)
    e->used_op[OP_MAX] = 1;
  if (op == OP_PROD) /* frexp, ldexp, fabs */
    e->used_op[OP_PROD] = 1;
  int all = axis < 0;
  if (op == OP_SUM && !all && axis < sx->rank - 1) {
    /* a sum over a leading axis walks the operand in memory order and adds
     * into the output: each output element still sums the axis in
     * increasing order, so the bits are those of the loop below */
    indent(e);
    buf_puts(b, "for (long g_o = 0; g_o < ");
    size(e, nd->shape);
    buf_printf(b, "; g_o++)\n");
    indent(e);
    buf_printf(b, "  g_b%d[g_o] = 0.0;\n", e->slot[n]);
    int loops = open_loops(e, xs, 1, -1);
    flat_index(e);
    if (!shape_reads(e, x, xs)) { /* every operand broadcast: g_o unread */
      indent(e);
      buf_puts(b, "(void)g_o;\n");
    }
    indent(e);
    buf_printf(b, "g_b%d[", e->slot[n]);
    Ix ix[MAX_RANK];
    horner(e, ix, loop_terms(sx, ix, 0, axis));
    buf_puts(b, "] += ");
    expr(e, x, PREC_CMP);
    buf_puts(b, ";\n");
    close_loops(e, loops);
    return;
  }
  /* outer loops: every dimension but the axis */
  int outer = 0;
  if (!all) {
    for (int k = 0; k < sx->rank; k++) {
      if (k == axis)
        continue;
      open_index_loop(e, k, sx->dim[k]);
      outer++;
    }
  }
  indent(e);
  /* prod: the running product as g_acc 2^g_e, so that it overflows or
   * underflows only if the result does (prod([1e200, 1e200, 1e-200,
   * 1e-200]) is 1, not inf); the same bits as the plain product otherwise */
  buf_puts(b, op == OP_ARGMAX ? "double g_acc = 0.0, g_best = 0.0;\n"
                               : op == OP_PROD ? "double g_acc = 1.0;\n" : "double g_acc = 0.0;\n");
  if (op == OP_PROD) {
    indent(e);
    buf_puts(b, "long g_e = 0;\n");
  }
  int nested = !all || needs_nest(e, x, xs, 1) || needs_nest(e, x, xs, 0);
  e->loop_shape = xs;
  e->loop_nested = nested;
  int inner;
  if (all && !nested) {
    indent(e);
    buf_puts(b, "for (long g_o = 0; g_o < ");
    size(e, xs);
    buf_puts(b, "; g_o++) {\n");
    e->indent++;
    inner = 1;
  } else if (all) {
    inner = open_loops(e, xs, 1, -1);
    flat_index(e);
  } else {
    open_index_loop(e, axis, sx->dim[axis]);
    inner = 1;
    flat_index(e);
  }
  if (nested && !shape_reads(e, x, xs)) { /* every operand broadcast: g_o unread */
    indent(e);
    buf_puts(b, "(void)g_o;\n");
  }
  indent(e);
  buf_puts(b, "double g_v = ");
  expr(e, x, PREC_CMP);
  buf_puts(b, ";\n");
  indent(e);
  if (op == OP_SUM) {
    buf_puts(b, "g_acc += g_v;\n");
  } else if (op == OP_PROD) {
    buf_puts(b, "{\n");
    indent(e);
    buf_puts(b, "  int g_k;\n");
    indent(e);
    buf_puts(b, "  g_acc *= frexp(g_v, &g_k);\n");
    indent(e);
    buf_puts(b, "  g_e += g_k;\n");
    indent(e);
    buf_puts(b, "  if (fabs(g_acc) < 1e-150) {\n");
    indent(e);
    buf_puts(b, "    g_acc = frexp(g_acc, &g_k);\n");
    indent(e);
    buf_puts(b, "    g_e += g_k;\n");
    indent(e);
    buf_puts(b, "  }\n");
    indent(e);
    buf_puts(b, "}\n");
  } else {
    /* the first element starts it; NaN wins (g_max) */
    const char *first = all ? "g_o == 0" : NULL;
    char firstbuf[32];
    if (!first) {
      snprintf(firstbuf, sizeof firstbuf, "g_i%d == 0", axis);
      first = firstbuf;
    }
    if (op == OP_MAXR || op == OP_AMAX)
      buf_printf(b, "g_acc = %s ? g_v : g_max(g_acc, g_v);\n", first);
    else {
      char idx[32];
      snprintf(idx, sizeof idx, all ? "g_o" : "g_i%d", axis);
      buf_printf(b, "if (%s || g_v > g_best || (g_v != g_v && g_best == g_best)) { g_best = g_v; g_acc = (double)%s; }\n",
                 first, idx);
    }
  }
  close_loops(e, inner);
  if (op == OP_PROD) {
    indent(e);
    buf_puts(b, "g_acc = ldexp(g_acc, (int)(g_e < -100000 ? -100000 : g_e > 100000 ? 100000 : g_e));\n");
  }
  indent(e);
  if (!is_tensor(e, n)) {
    buf_printf(b, "t[%d] = g_acc;\n", e->slot[n]);
  } else {
    /* the output index: the operand's indices without the axis */
    buf_printf(b, "g_b%d[", e->slot[n]);
    Ix ix[MAX_RANK];
    horner(e, ix, loop_terms(sx, ix, 0, axis));
    buf_puts(b, "] = g_acc;\n");
  }
  close_loops(e, outer);
}

/* Element (i, p) of op(A), or (p, j) of op(B), as C text. */
static void mm_elem(Emit *e, NodeId m, const Shape *s, int t, const char *row, const char *col) {
  ptr(e, m);
  if (s->rank == 1) { /* a vector is indexed by the summed index */
    buf_puts(e->out, "[g_p]");
  } else if (t) { /* stored transposed: element (row, col) is m[col][row] */
    buf_printf(e->out, "[%s*", col);
    dim(e, s->dim[1]);
    buf_printf(e->out, " + %s]", row);
  } else {
    buf_printf(e->out, "[%s*", row);
    dim(e, s->dim[1]);
    buf_printf(e->out, " + %s]", col);
  }
}

/* "x*y", or with strong zeros (MM_STRONG) "(x == 0.0 || y == 0.0 ? 0.0 :
 * x*y)"; x is the text xs (a local) or, if xs is NULL, element (i, p) of A. */
static void mm_product(Emit *e, int strong, const char *xs, NodeId a, const Shape *x, int ta,
                       const char *i, const char *p, NodeId bb, const Shape *y, int tb,
                       const char *j) {
  Buf *b = e->out;
  if (strong) {
    buf_puts(b, "(");
    if (xs)
      buf_puts(b, xs);
    else
      mm_elem(e, a, x, ta, i, p);
    buf_puts(b, " == 0.0 || ");
    mm_elem(e, bb, y, tb, p, j);
    buf_puts(b, " == 0.0 ? 0.0 : ");
  }
  if (xs)
    buf_puts(b, xs);
  else
    mm_elem(e, a, x, ta, i, p);
  buf_puts(b, "*");
  mm_elem(e, bb, y, tb, p, j);
  if (strong)
    buf_puts(b, ")");
}

/* C = op(A) @ op(B). Each C[i][j] sums p in increasing order whatever the
 * loop order, so both forms give the same bits: rows of B streamed into a
 * row of C (i, p, j) when B is read along its rows, dot products (i, j, p)
 * when it is read along columns or is a vector. */
static void matmul_loops(Emit *e, NodeId n);

static void matmul_loop(Emit *e, NodeId n) {
  const Node *nd = dag_node(e->g, n);
  NodeId a = nd->arg[0], bb = nd->arg[1];
  const Shape *x = shape_get(e->g, dag_shape(e->g, a)), *y = shape_get(e->g, dag_shape(e->g, bb));
  int ta = nd->v.idx & 1, tb = (nd->v.idx >> 1) & 1, strong = (nd->v.idx & MM_STRONG) != 0;
  Buf *b = e->out;
  int64_t m = x->rank == 2 ? (ta ? x->dim[1] : x->dim[0]) : 1;
  int64_t kk = x->rank == 2 ? (ta ? x->dim[0] : x->dim[1]) : x->dim[0];
  int64_t nn = y->rank == 2 ? (tb ? y->dim[0] : y->dim[1]) : 1;
  /* small products stay loops: m*n*k known below BLAS_MIN_MNK, or a test
   * at run time when a dimension is symbolic */
  int sized = m >= 0 && kk >= 0 && nn >= 0;
  if (!(e->blas && x->rank == 2 && y->rank == 2) ||
      (sized && (double)m * (double)nn * (double)kk < BLAS_MIN_MNK)) {
    matmul_loops(e, n);
    return;
  }
  /* C = op(A) op(B) by OpenBLAS. Strong zeros (a factor that may be
   * non-finite, derivative code) differ from plain products only when an
   * element of A or B is infinite or NaN: then the loops run instead. */
  e->used_blas = 1;
  if (strong || !sized) {
    indent(e);
    buf_puts(b, "if (");
    if (!sized) {
      buf_puts(b, "(double)(");
      dim(e, m);
      buf_puts(b, ")*(double)(");
      dim(e, nn);
      buf_puts(b, ")*(double)(");
      dim(e, kk);
      buf_printf(b, ") >= %d.0%s", BLAS_MIN_MNK, strong ? " && " : "");
    }
  }
  if (strong) {
    e->used_finite = 1;
    buf_puts(b, "g_finite(");
    ptr(e, a);
    buf_puts(b, ", ");
    size(e, dag_shape(e->g, a));
    buf_puts(b, ") && g_finite(");
    ptr(e, bb);
    buf_puts(b, ", ");
    size(e, dag_shape(e->g, bb));
    buf_puts(b, ")");
  }
  if (strong || !sized) {
    buf_puts(b, ")\n");
    e->indent++;
  }
  indent(e);
  buf_printf(b, "cblas_dgemm(101, %d, %d, (int)(", ta ? 112 : 111, tb ? 112 : 111);
  dim(e, m);
  buf_puts(b, "), (int)(");
  dim(e, nn);
  buf_puts(b, "), (int)(");
  dim(e, kk);
  buf_puts(b, "), 1.0, ");
  ptr(e, a);
  buf_puts(b, ", (int)(");
  dim(e, x->dim[1]);
  buf_puts(b, "), ");
  ptr(e, bb);
  buf_puts(b, ", (int)(");
  dim(e, y->dim[1]);
  buf_printf(b, "), 0.0, g_b%d, (int)(", e->slot[n]);
  dim(e, nn);
  buf_puts(b, "));\n");
  if (strong || !sized) {
    e->indent--;
    indent(e);
    buf_puts(b, "else {\n");
    e->indent++;
    matmul_loops(e, n);
    e->indent--;
    indent(e);
    buf_puts(b, "}\n");
  }
}

/* The loops of matmul_loop, without BLAS. */
static void matmul_loops(Emit *e, NodeId n) {
  const Node *nd = dag_node(e->g, n);
  NodeId a = nd->arg[0], bb = nd->arg[1];
  const Shape *x = shape_get(e->g, dag_shape(e->g, a)), *y = shape_get(e->g, dag_shape(e->g, bb));
  int ta = nd->v.idx & 1, tb = (nd->v.idx >> 1) & 1, strong = (nd->v.idx & MM_STRONG) != 0;
  Buf *b = e->out;
  int64_t m = x->rank == 2 ? (ta ? x->dim[1] : x->dim[0]) : 1;
  int64_t kk = x->rank == 2 ? (ta ? x->dim[0] : x->dim[1]) : x->dim[0];
  int64_t nn = y->rank == 2 ? (tb ? y->dim[0] : y->dim[1]) : 1;
  int stream = is_tensor(e, n) && y->rank == 2 && !tb;
  if (e->rt_matmul && !strong && is_tensor(e, n) && x->rank == 2 && y->rank == 2) {
    /* the same sums by gradc's own compiled code (matmul_rt.c) */
    e->used_rt_matmul = 1;
    indent(e);
    buf_puts(b, "gradc_rt_matmul(");
    dim(e, m);
    buf_puts(b, ", ");
    dim(e, nn);
    buf_puts(b, ", ");
    dim(e, kk);
    buf_puts(b, ", ");
    ptr(e, a);
    buf_puts(b, ", ");
    dim(e, x->dim[1]);
    buf_printf(b, ", %d, ", ta);
    ptr(e, bb);
    buf_puts(b, ", ");
    dim(e, y->dim[1]);
    buf_printf(b, ", %d, g_b%d);\n", tb, e->slot[n]);
    return;
  }
  if (stream && ta && x->rank == 2) {
    /* A' @ B with both read along their rows (a weight gradient such as
     * dS' @ Z): one pass over A and B, adding row p's outer product into C;
     * every C[i][j] still sums p in increasing order */
    indent(e);
    buf_puts(b, "for (long g_o = 0; g_o < ");
    size(e, nd->shape);
    buf_printf(b, "; g_o++)\n");
    indent(e);
    buf_printf(b, "  g_b%d[g_o] = 0.0;\n", e->slot[n]);
    open_loop(e, "g_p", kk);
    open_loop(e, "g_i", m);
    indent(e);
    buf_puts(b, "double g_a = ");
    mm_elem(e, a, x, ta, "g_i", "g_p");
    buf_puts(b, ";\n");
    indent(e);
    buf_printf(b, "double *g_row = g_b%d + g_i*", e->slot[n]);
    dim(e, nn);
    buf_puts(b, ";\n");
    indent(e);
    buf_puts(b, "for (long g_j = 0; g_j < ");
    dim(e, nn);
    buf_puts(b, "; g_j++)\n");
    indent(e);
    buf_puts(b, "  g_row[g_j] += ");
    mm_product(e, strong, "g_a", a, x, ta, "g_i", "g_p", bb, y, tb, "g_j");
    buf_puts(b, ";\n");
    close_loops(e, 2);
    return;
  }
  open_loop(e, "g_i", m);
  if (stream) {
    indent(e);
    buf_printf(b, "double *g_row = g_b%d + g_i*", e->slot[n]);
    dim(e, nn);
    buf_puts(b, ";\n");
    indent(e);
    buf_puts(b, "for (long g_j = 0; g_j < ");
    dim(e, nn);
    buf_puts(b, "; g_j++)\n");
    indent(e);
    buf_puts(b, "  g_row[g_j] = 0.0;\n");
    open_loop(e, "g_p", kk);
    indent(e);
    buf_puts(b, "double g_a = ");
    mm_elem(e, a, x, ta, "g_i", "g_p");
    buf_puts(b, ";\n");
    indent(e);
    buf_puts(b, "for (long g_j = 0; g_j < ");
    dim(e, nn);
    buf_puts(b, "; g_j++)\n");
    indent(e);
    buf_puts(b, "  g_row[g_j] += ");
    mm_product(e, strong, "g_a", a, x, ta, "g_i", "g_p", bb, y, tb, "g_j");
    buf_puts(b, ";\n");
    close_loops(e, 2);
    return;
  }
  open_loop(e, "g_j", nn);
  indent(e);
  buf_puts(b, "double g_acc = 0.0;\n");
  indent(e);
  buf_puts(b, "for (long g_p = 0; g_p < ");
  dim(e, kk);
  buf_puts(b, "; g_p++)\n");
  indent(e);
  buf_puts(b, "  g_acc += ");
  mm_product(e, strong, NULL, a, x, ta, "g_i", "g_p", bb, y, tb, "g_j");
  buf_puts(b, ";\n");
  indent(e);
  if (is_tensor(e, n)) {
    buf_printf(b, "g_b%d[g_i*", e->slot[n]);
    dim(e, nn);
    buf_puts(b, " + g_j] = g_acc;\n");
  } else {
    buf_printf(b, "t[%d] = g_acc;\n", e->slot[n]);
  }
  close_loops(e, 2);
}

/* Structural copies: transpose, slice, pad, onehot. */
static void struct_loop(Emit *e, NodeId n) {
  const Node *nd = dag_node(e->g, n);
  NodeId x = nd->arg[0];
  ShapeId s = dag_shape(e->g, n);
  const Shape *so = shape_get(e->g, s), *sx = shape_get(e->g, dag_shape(e->g, x));
  Buf *b = e->out;
  int loops;
  switch (nd->op) {
  case OP_TRANSPOSE:
    loops = open_loops(e, s, 1, -1);
    indent(e);
    buf_printf(b, "g_b%d[", e->slot[n]);
    Ix ix[MAX_RANK];
    horner(e, ix, loop_terms(so, ix, 0, -1));
    buf_puts(b, "] = ");
    ptr(e, x);
    buf_puts(b, "[");
    for (int k = 0; k < sx->rank; k++) { /* the input's dimension k is the output's rank-1-k */
      snprintf(ix[k].term, sizeof ix[k].term, "g_i%d", so->rank - 1 - k);
      ix[k].dim = sx->dim[k];
    }
    horner(e, ix, sx->rank);
    buf_puts(b, "];\n");
    close_loops(e, loops);
    return;
  case OP_SLICE:
  case OP_PAD:
  case OP_SCATTER_ADD: {
    const SliceSpec *sp = &e->g->slices[nd->v.idx];
    int pad = nd->op != OP_SLICE, scatter = nd->op == OP_SCATTER_ADD;
    if (scatter && e->slot[x] != e->slot[n]) { /* not in place: a copy of acc first */
      int nested = needs_nest(e, x, s, 0);
      loops = open_loops(e, s, nested, -1);
      if (nested)
        flat_index(e);
      indent(e);
      buf_printf(b, "g_b%d[g_o] = ", e->slot[n]);
      ref(e, x);
      buf_puts(b, ";\n");
      close_loops(e, loops);
    } else if (pad && !scatter && e->pad_mode != 2 && !(e->pad_mode == 1 && (e->first[n] & 2))) {
      /* zeros, then the piece (not when every element gets a piece first) */
      indent(e);
      buf_puts(b, "for (long g_o = 0; g_o < ");
      size(e, s);
      buf_printf(b, "; g_o++)\n");
      indent(e);
      buf_printf(b, "  g_b%d[g_o] = %s;\n", e->slot[n], sp->negzero ? "-0.0" : "0.0");
    }
    if (e->pad_mode == 1)
      return;
    if (scatter)
      x = nd->arg[1]; /* the piece */
    ShapeId ps = pad ? dag_shape(e->g, x) : s;
    /* full index: for each input dim, first + (kept ? step*i_j : 0); a
     * first index counted from the end is a local g_s<k> */
    for (int k = 0; k < sp->rank; k++)
      if (sp->from_end >> k & 1 || sp->off[k]) {
        indent(e);
        buf_printf(b, "long g_s%d = ", k);
        if (sp->from_end >> k & 1) {
          dim(e, sp->full[k]);
          buf_puts(b, sp->off[k] ? " + " : "");
        }
        if (sp->off[k])
          dim(e, sp->off[k]);
        buf_printf(b, " %c %lld;\n", sp->start[k] < 0 ? '-' : '+',
                   (long long)(sp->start[k] < 0 ? -sp->start[k] : sp->start[k]));
      }
    Buf full = {0};
    Buf *save = e->out;
    e->out = &full;
    Ix fx[MAX_RANK];
    for (int k = 0, j = 0; k < sp->rank; k++) {
      char first[32], mul[32] = "";
      if (sp->from_end >> k & 1 || sp->off[k])
        snprintf(first, sizeof first, "g_s%d", k);
      else
        snprintf(first, sizeof first, "%lld", (long long)sp->start[k]);
      if (slice_step(sp, k) != 1)
        snprintf(mul, sizeof mul, "%lld*", (long long)slice_step(sp, k));
      if (sp->drop >> k & 1)
        snprintf(fx[k].term, sizeof fx[k].term, "%s", first);
      else
        snprintf(fx[k].term, sizeof fx[k].term, "(%s + %sg_i%d)", first, mul, j++);
      fx[k].dim = sp->full[k];
    }
    horner(e, fx, sp->rank);
    e->out = save;
    /* loop over the piece: the slice's output shape (kept dims) */
    loops = open_loops(e, ps, 1, -1);
    indent(e);
    if (pad) {
      buf_printf(b, "g_b%d[%s] %s ", e->slot[n], full.data, scatter && !(e->first[n] & 1) ? "+=" : "=");
      if (is_tensor(e, x)) {
        ptr(e, x);
        buf_puts(b, "[");
        Ix ix[MAX_RANK];
        horner(e, ix, loop_terms(shape_get(e->g, ps), ix, 0, -1));
        buf_puts(b, "]");
      } else {
        e->loop_shape = SHAPE_SCALAR;
        expr(e, x, PREC_CMP);
      }
      buf_puts(b, ";\n");
    } else if (so->rank == 0) { /* one element: a scalar */
      buf_printf(b, "t[%d] = ", e->slot[n]);
      ptr(e, x);
      buf_printf(b, "[%s];\n", full.data);
    } else {
      buf_printf(b, "g_b%d[", e->slot[n]);
      Ix ix[MAX_RANK];
      horner(e, ix, loop_terms(so, ix, 0, -1));
      buf_puts(b, "] = ");
      ptr(e, x);
      buf_printf(b, "[%s];\n", full.data);
    }
    buf_free(&full);
    close_loops(e, loops);
    return;
  }
  case OP_ONEHOT: {
    int check = (int)n + 1; /* the kernel returns the failing node + 1 */
    e->checks++;
    int64_t k = nd->v.idx;
    indent(e);
    buf_puts(b, "for (long g_o = 0; g_o < ");
    size(e, dag_shape(e->g, x));
    buf_puts(b, "; g_o++) {\n");
    e->indent++;
    e->loop_shape = dag_shape(e->g, x);
    e->loop_nested = 0;
    indent(e);
    buf_puts(b, "double g_v = ");
    ref(e, x);
    buf_puts(b, ";\n");
    indent(e);
    buf_printf(b, "if (!(g_v > -0.5 && g_v < %lld.5)) { g_status = %d; goto g_done; }\n",
               (long long)(k - 1), check);
    indent(e);
    buf_printf(b, "for (long g_c = 0; g_c < %lld; g_c++)\n", (long long)k);
    indent(e);
    buf_printf(b, "  g_b%d[g_o*%lld + g_c] = g_c == (long)(g_v + 0.5) ? 1.0 : 0.0;\n", e->slot[n],
               (long long)k);
    close_loops(e, 1);
    return;
  }
  default:
    return;
  }
}

/* The product of dimensions [from, to) of shape s, as a C expression. */
static void dims_product(Emit *e, const Shape *s, int from, int to) {
  if (from >= to) {
    buf_puts(e->out, "1");
    return;
  }
  for (int k = from; k < to; k++) {
    if (k > from)
      buf_puts(e->out, "*");
    dim(e, s->dim[k]);
  }
}

/* Element k of an operand: a stored tensor's memory, or a scalar. */
static void operand_at(Emit *e, NodeId x, const char *k) {
  if (is_tensor(e, x)) {
    ptr(e, x);
    buf_printf(e->out, "[%s]", k);
  } else {
    e->loop_shape = SHAPE_SCALAR;
    ref(e, x);
  }
}

/* Running sums, gathers (take) and their adjoints (scatter), arange.
 * Along an axis of size D, with A elements before it and B after, x[a, k,
 * b] is x[(a*D + k)*B + b]; the indices of take are checked here (integer
 * values in -D..D-1, negative from the end, as numpy.take): the kernel
 * returns the node + 1 if one is not. */
static void gather_loop(Emit *e, NodeId n) {
  const Node *nd = dag_node(e->g, n);
  Buf *b = e->out;
  if (nd->op == OP_IOTA) {
    indent(e);
    buf_puts(b, "for (long g_o = 0; g_o < ");
    size(e, nd->shape);
    buf_printf(b, "; g_o++)\n");
    indent(e);
    buf_printf(b, "  g_b%d[g_o] = (double)g_o;\n", e->slot[n]);
    return;
  }
  NodeId x = nd->arg[0];
  if (nd->op == OP_CUMSUM || nd->op == OP_LINSCAN) { /* a running sum, h = a h + b */
    const Shape *s = shape_get(e->g, nd->shape);
    int axis = (int)(nd->v.idx >> 1), rev = (int)(nd->v.idx & 1);
    indent(e);
    buf_puts(b, "for (long g_a = 0; g_a < ");
    dims_product(e, s, 0, axis);
    buf_puts(b, "; g_a++) {\n");
    e->indent++;
    indent(e);
    buf_puts(b, "for (long g_c = 0; g_c < ");
    dims_product(e, s, axis + 1, s->rank);
    buf_puts(b, "; g_c++) {\n");
    e->indent++;
    indent(e);
    buf_puts(b, "double g_acc = 0.0;\n");
    if (nd->op == OP_LINSCAN) { /* h = g_acc 2^g_e: see below */
      indent(e);
      buf_puts(b, "long g_e = 0;\n");
      e->used_op[OP_PROD] = 1; /* frexp, ldexp */
    }
    open_loop(e, "g_q", s->dim[axis]);
    indent(e);
    buf_puts(b, "long g_f = (g_a*");
    dim(e, s->dim[axis]);
    if (rev) {
      buf_puts(b, " + ");
      dim(e, s->dim[axis]);
      buf_puts(b, " - 1 - g_q)*");
    } else {
      buf_puts(b, " + g_q)*");
    }
    dims_product(e, s, axis + 1, s->rank);
    buf_puts(b, " + g_c;\n");
    indent(e);
    if (nd->op == OP_LINSCAN) {
      /* h kept as g_acc 2^g_e, so that it overflows or underflows only
       * where h itself does (cumprod([1e200, 1e200, 1e-200]) ends in 1e200,
       * not inf); a h and b are added at their common exponent, which
       * gives the bits of the plain a*h + b whenever that stays normal */
      static const char *const step[] = {
          "{\n",
          "  int g_k, g_bk;\n",
          "  double g_t = g_la*g_acc;\n",
          "  if (g_lb != 0.0 && g_lb - g_lb == 0.0 && g_t != 0.0 && g_t - g_t == 0.0) {\n",
          "    double g_tm = frexp(g_t, &g_k), g_bm = frexp(g_lb, &g_bk);\n",
          "    long g_te = g_e + g_k, g_m = g_te > g_bk ? g_te : g_bk;\n",
          "    g_acc = ldexp(g_tm, (int)(g_te - g_m < -2000 ? -2000 : g_te - g_m)) +\n",
          "            ldexp(g_bm, (int)(g_bk - g_m < -2000 ? -2000 : g_bk - g_m));\n",
          "    g_e = g_m;\n",
          "  } else if (g_t == 0.0) { /* 0 + b: b, or the sign rules of zeros */\n",
          "    g_acc = g_t + g_lb;\n",
          "    g_e = 0;\n",
          "  } else {\n",
          "    g_acc = g_t + ldexp(g_lb, (int)(g_e > 2000 ? -2000 : g_e < -2000 ? 2000 : -g_e));\n",
          "  }\n",
          "  if (g_acc != 0.0 && g_acc - g_acc == 0.0) {\n",
          "    g_acc = frexp(g_acc, &g_k);\n",
          "    g_e += g_k;\n",
          "  }\n",
          "}\n"};
      buf_puts(b, "double g_la = ");
      operand_at(e, x, "g_f");
      buf_puts(b, ", g_lb = ");
      operand_at(e, nd->arg[1], "g_f");
      buf_puts(b, ";\n");
      for (size_t k = 0; k < sizeof step / sizeof *step; k++) {
        indent(e);
        buf_puts(b, step[k]);
      }
      indent(e);
      buf_printf(b, "g_b%d[g_f] = ldexp(g_acc, (int)(g_e < -100000 ? -100000 : g_e > 100000 ? 100000 : g_e));\n",
                 e->slot[n]);
      close_loops(e, 3);
      return;
    } else {
      buf_puts(b, "g_acc += ");
      ptr(e, x);
      buf_printf(b, "[g_f];\n");
    }
    indent(e);
    buf_printf(b, "g_b%d[g_f] = g_acc;\n", e->slot[n]);
    close_loops(e, 3);
    return;
  }
  int axis = (int)nd->v.idx;
  int take = nd->op == OP_TAKE;
  NodeId idx = nd->arg[1];
  const Shape *full = shape_get(e->g, take ? dag_shape(e->g, x) : nd->shape);
  int check = (int)n + 1;
  e->checks++;
  if (!take) { /* zeros, then add */
    indent(e);
    buf_puts(b, "for (long g_o = 0; g_o < ");
    size(e, nd->shape);
    buf_printf(b, "; g_o++)\n");
    indent(e);
    buf_printf(b, "  g_b%d[g_o] = 0.0;\n", e->slot[n]);
  }
  indent(e);
  buf_puts(b, "for (long g_a = 0; g_a < ");
  dims_product(e, full, 0, axis);
  buf_puts(b, "; g_a++) {\n");
  e->indent++;
  indent(e);
  buf_puts(b, "for (long g_j = 0; g_j < ");
  size(e, dag_shape(e->g, idx));
  buf_puts(b, "; g_j++) {\n");
  e->indent++;
  indent(e);
  buf_puts(b, "double g_v = ");
  operand_at(e, idx, "g_j");
  buf_puts(b, ";\n");
  indent(e);
  buf_puts(b, "if (!(g_v > -1.0 - ");
  dim(e, full->dim[axis]);
  buf_puts(b, " && g_v < ");
  dim(e, full->dim[axis]);
  buf_printf(b, ") || (double)(long)g_v != g_v) { g_status = %d; goto g_done; }\n", check);
  indent(e);
  buf_puts(b, "long g_k = (long)g_v < 0 ? (long)g_v + ");
  dim(e, full->dim[axis]);
  buf_puts(b, " : (long)g_v;\n");
  indent(e);
  buf_puts(b, "for (long g_c = 0; g_c < ");
  dims_product(e, full, axis + 1, full->rank);
  buf_puts(b, "; g_c++) {\n");
  e->indent++;
  /* the gathered side: ((a*J + j)*B + c); the full side: ((a*D + k)*B + c) */
  Buf gi = {0}, fi = {0};
  Buf *save = e->out;
  e->out = &gi;
  buf_puts(&gi, "(g_a*");
  size(e, dag_shape(e->g, idx));
  buf_puts(&gi, " + g_j)*");
  dims_product(e, full, axis + 1, full->rank);
  buf_puts(&gi, " + g_c");
  e->out = &fi;
  buf_puts(&fi, "(g_a*");
  dim(e, full->dim[axis]);
  buf_puts(&fi, " + g_k)*");
  dims_product(e, full, axis + 1, full->rank);
  buf_puts(&fi, " + g_c");
  e->out = save;
  indent(e);
  if (take) {
    if (is_tensor(e, n))
      buf_printf(b, "g_b%d[%s] = ", e->slot[n], gi.data);
    else
      buf_printf(b, "t[%d] = ", e->slot[n]);
    ptr(e, x);
    buf_printf(b, "[%s];\n", fi.data);
  } else {
    buf_printf(b, "g_b%d[%s] += ", e->slot[n], fi.data);
    operand_at(e, x, gi.data);
    buf_puts(b, ";\n");
  }
  buf_free(&gi);
  buf_free(&fi);
  close_loops(e, 3);
}

/* ---- functions ------------------------------------------------------------ */

/* A declaration on lines of at most WRAP_COLS columns: broken after the
 * commas of its parameter list, continuation lines under the first
 * parameter (or 4 spaces in when that is far right); `reserve` columns
 * stay free after it (" {" or ";"). A short one stays one line. */
#define WRAP_COLS 80

void emit_wrapped(Buf *b, const char *decl, size_t len, int reserve) {
  const char *open = memchr(decl, '(', len);
  if (len + (size_t)reserve <= WRAP_COLS || !open) {
    buf_putn(b, decl, len);
    return;
  }
  size_t head = (size_t)(open - decl) + 1, col = head, indent = head;
  buf_putn(b, decl, head);
  if (head > 40) {
    indent = 4;
    buf_puts(b, "\n    ");
    col = indent;
  }
  int first = 1;
  for (const char *p = open + 1, *end = decl + len; p < end;) {
    const char *comma = p;
    while (comma < end && !(comma[0] == ',' && comma + 1 < end && comma[1] == ' '))
      comma++;
    size_t n = (size_t)(comma - p) + (comma < end); /* the parameter and its comma */
    size_t need = n + (comma < end ? 0 : (size_t)reserve);
    if (!first && col + 1 + need > WRAP_COLS) {
      buf_putn(b, "\n", 1);
      for (size_t i = 0; i < indent; i++)
        buf_putn(b, " ", 1);
      col = indent;
    } else if (!first) {
      buf_putn(b, " ", 1);
      col++;
    }
    buf_putn(b, p, n);
    col += n;
    first = 0;
    p = comma < end ? comma + 2 : end;
  }
}

/* A C comment of text on lines of at most WRAP_COLS columns, broken
 * between words, continued with " * "; closed if `close`. */
void emit_comment(Buf *b, const char *text, int close) {
  size_t col = 3;
  buf_puts(b, "/* ");
  for (const char *p = text; *p;) {
    const char *w = p;
    while (*p && *p != ' ')
      p++;
    size_t n = (size_t)(p - w);
    if (col > 3 && col + 1 + n + (close && !*p ? 3 : 0) > WRAP_COLS) {
      buf_puts(b, "\n * ");
      col = 3;
    } else if (col > 3) {
      buf_putn(b, " ", 1);
      col++;
    }
    buf_putn(b, w, n);
    col += n;
    while (*p == ' ')
      p++;
  }
  buf_puts(b, close ? " */\n" : "\n");
}

static void signature(Buf *b, const EmitFn *fn, int kernel, int work, int internal, int reserve) {
  Buf d = {0};
  if (internal)
    buf_puts(&d, "static ");
  if (kernel) {
    buf_printf(&d, "int %s(const long *d, const double *const *a, double *const *r, double *w)",
               fn->name);
  } else {
    buf_printf(&d, "int %s(", fn->name);
    int any = 0;
    for (int k = 0; k < fn->ndims; k++, any = 1)
      buf_printf(&d, "%slong %s", any ? ", " : "", fn->dimc[k]);
    for (int k = 0; k < fn->nargs; k++, any = 1)
      buf_printf(&d, "%s%s%s", any ? ", " : "",
                 fn->args[k].shape == SHAPE_SCALAR ? "double " : "const double *", fn->args[k].cname);
    for (int k = 0; k < fn->nres; k++, any = 1)
      buf_printf(&d, "%sdouble *%s", any ? ", " : "", fn->res[k].cname);
    if (work) {
      buf_printf(&d, "%sdouble *work", any ? ", " : "");
      any = 1;
    }
    if (!any)
      buf_puts(&d, "void");
    buf_puts(&d, ")");
  }
  if (d.oom)
    b->oom = 1;
  emit_wrapped(b, d.data ? d.data : "", d.len, reserve);
  buf_free(&d);
}

/* The derived dimensions (x[1:] is N-1 long, concat([x, x]) 2*N) as
 * locals, from the symbolic ones and the derived ones before them:
 * max(0, floor((sum of mul*atom + add)/div)). */
static void derived_dims(Emit *e, Buf *b) {
  Buf *save = e->out;
  e->out = b;
  for (uint32_t j = 0; j < e->g->ndim; j++) {
    const DimExpr *x = &e->g->dims[j];
    buf_printf(b, "  long g_d%u = ", j);
    for (int k = 0; k < x->n; k++) {
      int64_t m = x->mul[k] < 0 ? -x->mul[k] : x->mul[k];
      if (k || x->mul[k] < 0)
        buf_puts(b, x->mul[k] < 0 ? (k ? " - " : "-") : " + ");
      if (m != 1)
        buf_printf(b, "%lld*", (long long)m);
      dim(e, x->atom[k]);
    }
    if (x->add)
      buf_printf(b, " %c %lld", x->add < 0 ? '-' : '+', (long long)(x->add < 0 ? -x->add : x->add));
    buf_printf(b, ";\n  g_d%u = g_d%u > 0 ? g_d%u", j, j, j);
    if (x->div != 1)
      buf_printf(b, " / %lld", (long long)x->div);
    buf_printf(b, " : 0;\n  (void)g_d%u;\n", j);
  }
  e->out = save;
}

/* The same outside a function body (emit_array.c's shape queries): the
 * derived dimensions as locals g_d<j>, from locals named fn->dimc[k]. */
void emit_derived_dims(const Dag *g, const EmitFn *fn, Buf *b) {
  Emit e = {.g = g, .fn = fn, .out = b};
  derived_dims(&e, b);
}

/* Dimension d of a shape as a C expression, in the same terms. */
void emit_dim(const Dag *g, const EmitFn *fn, Buf *b, int64_t d) {
  Emit e = {.g = g, .fn = fn, .out = b};
  dim(&e, d);
}

/* The call-time checks of the nodes this function computes (an index of a
 * symbolic dimension, two symbolic dimensions that must agree): a failure
 * returns the node + 1 before anything is computed. */
static int entry_checks(Emit *e, Buf *b, uint32_t count) {
  if (e->g->nshape == 1)
    return 0; /* scalars only: no slice, no product, no symbolic dimension to agree */
  Buf *save = e->out;
  e->out = b;
  DimCheck seen[64];
  int nseen = 0;
  for (uint32_t i = 0; i < count; i++) {
    if (e->slot[i] == ST_NONE)
      continue;
    DimCheck c[MAX_DIM_CHECKS];
    int n = dag_node_checks(e->g, i, c);
    for (int k = 0; k < n; k++) {
      int dup = 0;
      for (int j = 0; j < nseen && !dup; j++)
        dup = seen[j].ge == c[k].ge && seen[j].a == c[k].a && seen[j].b == c[k].b;
      if (dup)
        continue;
      if (nseen < 64)
        seen[nseen++] = c[k];
      buf_puts(b, "  if (");
      dim(e, c[k].a);
      if (c[k].ge) {
        buf_printf(b, " < %lld", (long long)c[k].b);
      } else {
        buf_puts(b, " != ");
        dim(e, c[k].b);
      }
      buf_printf(b, ")\n    return %u;\n", i + 1);
    }
  }
  e->out = save;
  return nseen;
}

/* The workspace of a function: its buffers (not the results' memory) and
 * t[] when it is too long for the stack. */
static void work_size(Emit *e) {
  int any = 0;
  for (int k = 0; k < e->nbufs && !e->stack_ws; k++) {
    if (e->bufout[k] >= 0)
      continue;
    buf_puts(e->out, any ? " + " : "");
    size(e, e->bufshape[k]);
    any = 1;
  }
  if (e->tslots_work) {
    buf_printf(e->out, "%s%d", any ? " + " : "", e->nslots);
    any = 1;
  }
  if (!any)
    buf_puts(e->out, "0");
}

static void scalar_statement(Emit *e, Buf *b, NodeId i) {
  e->loop_shape = SHAPE_SCALAR;
  if (e->in_part && e->local[i]) {
    buf_putn(b, "  double g_l", 12);
    buf_int(b, e->slot[i]);
    buf_putn(b, " = ", 3);
  } else {
    buf_putn(b, "  t[", 4);
    buf_int(b, e->slot[i]);
    buf_putn(b, "] = ", 4);
  }
  body(e, i);
  buf_puts(b, ";\n");
}

/* Items p and p + 1, sin(x) and cos(x) (sincos_first): one call. */
static void sincos_statement(Emit *e, Buf *b, uint32_t p) {
  NodeId x = e->items[p].node, y = e->items[p + 1].node;
  NodeId s = dag_node(e->g, x)->op == OP_SIN ? x : y, c = s == x ? y : x;
  e->loop_shape = SHAPE_SCALAR;
  e->used_sincos = 1;
  for (int k = 0; k < 2; k++) {
    NodeId n = k ? c : s;
    if (e->in_part && e->local[n]) {
      buf_putn(b, "  double g_l", 12);
      buf_int(b, e->slot[n]);
      buf_putn(b, ";\n", 2);
    }
  }
  buf_puts(b, "  sincos(");
  expr(e, dag_node(e->g, s)->arg[0], PREC_CMP);
  buf_puts(b, ", &");
  ref(e, s);
  buf_puts(b, ", &");
  ref(e, c);
  buf_puts(b, ");\n");
}

/* The code of item p, at the function's first level of indentation. */
static void emit_item(Emit *e, Buf *b, uint32_t p) {
  Item it = e->items[p];
  NodeId i = it.node;
  e->out = b;
  e->indent = 1;
  if (p > 0 && sincos_first(e, p - 1))
    return; /* written with the item before it */
  if (sincos_first(e, p)) {
    sincos_statement(e, b, p);
    return;
  }
  if (it.res >= 0) { /* a scalar result, written as soon as it is known */
    e->loop_shape = SHAPE_SCALAR;
    if (e->kernel || e->in_part)
      buf_printf(b, "  r[%d][0] = ", (int)it.res);
    else
      buf_printf(b, "  *%s = ", e->fn->res[it.res].cname);
    expr(e, i, PREC_CMP);
    buf_puts(b, ";\n");
    return;
  }
  OpKind op = (OpKind)dag_node(e->g, i)->op;
  if (it.res == ITEM_ZEROS && (e->first[i] & 2))
    return; /* every element gets its first piece by assignment */
  e->pad_mode = it.res == ITEM_ZEROS ? 1 : it.res == ITEM_PIECE ? 2 : 0;
  int64_t key;
  if (op == OP_SUM || op == OP_MAXR || op == OP_ARGMAX || op == OP_AMAX || op == OP_PROD) {
    buf_puts(b, "  {\n");
    e->indent = 2;
    reduce_loop(e, i);
    buf_puts(b, "  }\n");
  } else if (op == OP_MATMUL) {
    buf_puts(b, "  {\n");
    e->indent = 2;
    matmul_loop(e, i);
    buf_puts(b, "  }\n");
  } else if ((op == OP_SCATTER_ADD || (op == OP_PAD && e->pad_mode == 2)) && point_piece(e->g, i, &key) &&
             (op == OP_PAD || e->slot[dag_node(e->g, i)->arg[0]] == e->slot[i])) {
    struct_loop(e, i); /* one element, in place: a statement */
  } else if (op == OP_TRANSPOSE || op == OP_SLICE || op == OP_PAD || op == OP_SCATTER_ADD ||
             op == OP_ONEHOT) {
    buf_puts(b, "  {\n");
    e->indent = 2;
    struct_loop(e, i);
    buf_puts(b, "  }\n");
  } else if (op == OP_CUMSUM || op == OP_LINSCAN || op == OP_TAKE || op == OP_SCATTER || op == OP_IOTA) {
    buf_puts(b, "  {\n");
    e->indent = 2;
    gather_loop(e, i);
    buf_puts(b, "  }\n");
  } else if (is_tensor(e, i)) {
    buf_puts(b, "  {\n");
    e->indent = 2;
    elementwise_loop(e, i, "g_b%d", e->slot[i]);
    buf_puts(b, "  }\n");
  } else {
    scalar_statement(e, b, i);
  }
  e->pad_mode = 0;
  e->indent = 1;
}

static void part_name(Buf *b, const EmitFn *fn, int k) {
  if (strncmp(fn->name, "g_", 2)) /* our own identifiers are g_* */
    buf_puts(b, "g_");
  buf_puts(b, fn->name);
  buf_putn(b, "_p", 2);
  buf_int(b, k);
}

/* Which buffers g_b<k> (used[k]) and whether any derived dimension g_d<j>
 * the code in text names: a part declares those. */
static int names_used(const char *text, size_t len, uint8_t *used, int nbufs) {
  int dims = 0;
  for (const char *s = text, *end = text + len; s + 3 < end; s++) {
    s = memchr(s, 'g', (size_t)(end - s));
    if (!s || s + 3 >= end)
      break;
    if (s[1] != '_' || (s[2] != 'b' && s[2] != 'd') || s[3] < '0' || s[3] > '9')
      continue;
    if (s > text && (s[-1] == '_' || (s[-1] >= '0' && s[-1] <= '9') || (s[-1] >= 'a' && s[-1] <= 'z') ||
                     (s[-1] >= 'A' && s[-1] <= 'Z')))
      continue; /* inside a longer identifier */
    if (s[2] == 'd') {
      dims = 1;
      continue;
    }
    long v = strtol(s + 3, NULL, 10);
    if (v >= 0 && v < nbufs)
      used[v] = 1;
  }
  return dims;
}

#define PART_PARAMS "(const long *d, const double *const *a, double *const *r, double *t, double *const *g_bv)"

/* Every function, helper and declaration that a part may use: the start of
 * each translation unit of a streamed function (EmitOpts.unit), which
 * compiles alone. */
static void unit_prelude(const Emit *e, Buf *b) {
  static const char *const unary[] = {"exp", "log", "sqrt", "sin", "cos", "tan", "asin", "acos",
                                      "atan", "sinh", "cosh", "tanh", "erf", "log1p", "expm1",
                                      "fabs", "floor", "ceil", "rint"};
  for (size_t i = 0; i < sizeof unary / sizeof *unary; i++)
    buf_printf(b, "double %s(double);\n", unary[i]);
  buf_puts(b, "double pow(double, double);\ndouble fmod(double, double);\n"
              "double atan2(double, double);\ndouble frexp(double, int *);\n"
              "double ldexp(double, int);\n");
  if (e->blas)
    buf_puts(b, "void cblas_dgemm(int, int, int, int, int, int, double, const double *, int,\n"
                "                 const double *, int, double, double *, int);\n"
                "static int g_finite(const double *x, long n) {\n"
                "  for (long i = 0; i < n; i++)\n"
                "    if (x[i] - x[i] != 0.0)\n"
                "      return 0;\n"
                "  return 1;\n"
                "}\n");
  if (e->sincos == 2)
    buf_puts(b, "void sincos(double, double *, double *);\n");
  if (e->rt_matmul)
    buf_puts(b, "void gradc_rt_matmul(long, long, long, const double *, long, int, const double *, long,\n"
                "                     int, double *);\n");
  buf_puts(b, STR(GRADC_RT_RELU) "\n" STR(GRADC_RT_SIGN) "\n" STR(GRADC_RT_SOFTPLUS) "\n"
              STR(GRADC_RT_MAX) "\n" STR(GRADC_RT_MIN) "\n" STR(GRADC_RT_MOD) "\n"
              STR(GRADC_RT_LOGADDEXP) "\n");
  if (e->rt_matmul) /* as the whole source's: gcc's compile of tanh and sigmoid (matmul_rt.c) */
    buf_puts(b, "double gradc_rt_sigmoid(double);\n#define g_sigmoid gradc_rt_sigmoid\n"
                "double gradc_rt_tanh(double);\n#define g_tanh gradc_rt_tanh\n\n");
  else
    buf_puts(b, STR(GRADC_RT_SIGMOID) "\n" STR(GRADC_RT_TANH) "\n\n");
}

/* A unit of parts is complete: hand it over (EmitOpts.unit). */
static void unit_flush(Emit *e, Buf *ub) {
  if (ub->len && !e->unit_failed && !ub->oom &&
      e->opts->unit(e->opts->unit_ctx, ub->data, ub->len) != 0)
    e->unit_failed = 1;
  ub->len = 0;
}

/* Where the parts go: b, or units of their own (EmitOpts.unit). */
typedef struct PartOut {
  Buf body;           /* the current part's statements */
  Buf ub, *pb;        /* the unit being filled (streamed), or b */
  uint8_t *used;      /* names_used: buffer q is named by the part */
  size_t unit_bytes;
  int streamed;
  const uint32_t *rd_at; /* if not NULL: what the items read, rd[rd_at[p] ..
                            rd_at[p+1]), fetched into the cache ahead */
  const NodeId *rd;
} PartOut;

/* Items ahead whose reads are fetched: a stored node read far back is a
 * cache miss on its node, t[] entry and flags otherwise. */
#define PREFETCH_ITEMS 4

static int parts_open(Emit *e, Buf *b, PartOut *o) {
  *o = (PartOut){.ub = {.big = 1}};
  o->used = malloc((size_t)e->nbufs + 1);
  if (!o->used)
    return -1;
  o->streamed = e->opts && e->opts->unit;
  o->pb = o->streamed ? &o->ub : b;
  o->unit_bytes = o->streamed && e->opts->unit_bytes ? e->opts->unit_bytes : (size_t)1 << 20;
  e->in_part = 1;
  return 0;
}

/* Part k, items [from, to) of e->items; *check: it has runtime checks. */
static void part_write(Emit *e, PartOut *o, int k, uint32_t from, uint32_t to, uint8_t *check) {
  Buf *pb = o->pb;
  o->body.len = 0;
  int checks = e->checks;
  for (uint32_t p = from; p < to; p++) {
    if (o->rd_at && p + PREFETCH_ITEMS < to)
      for (uint32_t q = o->rd_at[p + PREFETCH_ITEMS]; q < o->rd_at[p + PREFETCH_ITEMS + 1]; q++) {
        NodeId x = o->rd[q];
        __builtin_prefetch(&e->g->nodes[x]);
        __builtin_prefetch(&e->slot[x]);
        __builtin_prefetch(&e->local[x]);
      }
    emit_item(e, &o->body, p);
  }
  *check = e->checks > checks;
  if (o->streamed && o->ub.len == 0)
    unit_prelude(e, &o->ub);
  Buf decl = {0};
  buf_puts(&decl, o->streamed ? "int " : "static int ");
  part_name(&decl, e->fn, k);
  buf_puts(&decl, PART_PARAMS);
  emit_wrapped(pb, decl.data ? decl.data : "", decl.len, 2);
  if (decl.oom)
    pb->oom = 1;
  buf_free(&decl);
  buf_puts(pb, " {\n  (void)d;\n  (void)a;\n  (void)r;\n  (void)t;\n  (void)g_bv;\n");
  const char *txt = o->body.data ? o->body.data : "";
  memset(o->used, 0, (size_t)e->nbufs + 1);
  if ((e->nbufs || e->g->ndim) && names_used(txt, o->body.len, o->used, e->nbufs))
    derived_dims(e, pb); /* (no buffer, no derived dimension: no name to look for) */
  for (int q = 0; q < e->nbufs; q++)
    if (o->used[q])
      buf_printf(pb, "  double *g_b%d = g_bv[%d];\n", q, q);
  if (*check)
    buf_puts(pb, "  int g_status = 0;\n");
  buf_putn(pb, txt, o->body.len);
  buf_puts(pb, *check ? "g_done:\n  return g_status;\n}\n\n" : "  return 0;\n}\n\n");
  if (o->streamed && o->ub.len >= o->unit_bytes)
    unit_flush(e, &o->ub);
}

/* The last unit handed over; -1 if out of memory or a unit failed. */
static int parts_close(Emit *e, Buf *b, PartOut *o) {
  if (o->body.oom)
    b->oom = 1;
  buf_free(&o->body);
  free(o->used);
  e->in_part = 0;
  if (o->streamed) {
    unit_flush(e, &o->ub);
    if (o->ub.oom)
      b->oom = 1;
    buf_free(&o->ub);
  }
  return e->unit_failed ? -1 : 0;
}

/* The prototypes of streamed parts, in b (before the function that calls them). */
static void part_prototypes(Emit *e, Buf *b) {
  for (int k = 0; k < e->nparts; k++) {
    buf_puts(b, "int ");
    part_name(b, e->fn, k);
    buf_puts(b, PART_PARAMS ";\n");
  }
  buf_puts(b, "\n");
}

/* Writes the parts (before the function that calls them). A part is
 * static int NAME_pK(const long *d, const double *const *a, double *const *r,
 *                    double *t, double *const *g_bv)
 * with the JIT's names for dimensions, arguments and results whatever the
 * function's own convention, t[] shared and the buffers in g_bv; it
 * returns 0, or the failed check's number. parts_check[k]: part k has
 * runtime checks. With EmitOpts.unit the parts go out in translation
 * units of their own as they are written (extern, so that the unit of the
 * calling function links to them), and only their prototypes stay in b;
 * -1 if out of memory or the unit callback failed. */
static int split_parts(Emit *e, Buf *b, uint8_t *parts_check) {
  PartOut o;
  if (parts_open(e, b, &o) < 0)
    return -1;
  uint32_t p = 0;
  for (int k = 0; k < e->nparts && !e->unit_failed; k++) {
    uint32_t from = p;
    while (p < e->nitems && e->part[p] == k)
      p++;
    part_write(e, &o, k, from, p, &parts_check[k]);
  }
  int rc = parts_close(e, b, &o);
  if (o.streamed)
    part_prototypes(e, b);
  return rc;
}

/* ---- a streamed kernel of scalars in one sweep ----------------------------

 * A huge program of scalar definitions (10^6 of them) is streamed in units
 * (EmitOpts.unit) to jit_units.c, whose worker compiles them on another
 * core. Planned by plan, schedule, last_reads and assign_slots, each a
 * pass over the whole DAG or all items, its first part was written only
 * after all of them, while the worker waited. When the DAG has scalars only
 * (one shape) and the function is surely split, the same decisions are
 * taken in one forward sweep that writes each part as soon as its items are
 * known: the worker starts at once, and a part's nodes are still in the
 * cache when its text is written. The code is the same, byte for byte:
 *
 * - plan's store rule needs only what comes before a node (its operands'
 *   depth, its own count of readers, from plan's descending sweep);
 * - streamed without chains, schedule keeps the items in id order (the
 *   scalar results last), so an item's position is known when it is made;
 * - every item has weight 1, so the parts are runs of part_stmts items;
 * - what assign_slots needs of e->last (the position of a node's last
 *   reader) is known for a part's nodes when no reader is still to come:
 *   each read of a stored node is one operand edge of a node that a single
 *   item writes (stored, or inlined: read once), or a result read whole, so
 *   the edges counted by the descending sweep go down to 0 exactly at the
 *   last read. */

/* Is this function a kernel of scalars streamed in parts (the sweep above)? */
static int scalar_stream(const Emit *e) {
  return e->opts && e->opts->unit && e->split && e->g->nshape == 1;
}

/* Per node, for the sweep: one cache line for what an operand edge updates. */
typedef struct Count {
  uint32_t use;       /* plan's uses; once the node is planned, the position
                         of its last read so far (NEVER: its entry freed) */
  uint32_t rem;       /* reads still to come */
} Count;

/* What the sweep knows of a planned node, in a byte: its inlined depth, or
 * stored, or a leaf (no node read to tell). */
#define SW_DEPTH 63
#define SW_LEAF 64
#define SW_STORED 128

/* plan's descending sweep for a DAG of scalars (inlinable_into is always
 * true there; a node is live when it has a reader), with the count of its
 * reads. Returns how many items there surely are (the nodes read more than
 * once, and the results). */
static uint64_t scalar_uses(Emit *e, const EmitFn *fn, Count *c) {
  const Dag *g = e->g;
  memset(e->alias, 0, g->count);
  uint64_t sure = 0;
  for (int r = 0; r < fn->nres; r++) {
    NodeId x = fn->res[r].node;
    c[x].use++;
    c[x].rem++; /* read whole, if it is stored */
    sure++;
  }
  for (uint32_t i = g->count; i-- > 0;) {
    if (!c[i].use) {
      e->slot[i] = ST_NONE;
      continue;
    }
    e->slot[i] = ST_INLINE;
    const Node *nd = dag_node(g, i);
    sure += c[i].use > 1 && nd->op != OP_VAR && nd->op != OP_CONST && nd->op != OP_DIM;
    for (int k = 0; k < nd->nargs; k++) {
      c[nd->arg[k]].use++;
      c[nd->arg[k]].rem++;
    }
    int p;
    if (nd->op == OP_POW && dag_small_int_pow(g, nd->arg[1], &p))
      c[nd->arg[0]].use += 2; /* the base is read several times */
    if (nd->op == OP_SMUL) /* a factor is tested for zero, then multiplied */
      for (int k = 0; k < 2; k++)
        c[nd->arg[k]].use += dag_nonfinite(g, nd->arg[1 - k]) ? 1 : 0;
  }
  return sure;
}

/* item_reads in the sweep: what an operand is, from its byte. */
static int sweep_reads(const Dag *g, const uint8_t *kind, NodeId n, int whole, NodeStack *st,
                       NodeStack *out) {
  if (whole)
    return push(out, n);
  st->top = 0;
  if (push(st, n) < 0)
    return -1;
  while (st->top) {
    const Node *nd = dag_node(g, st->at[--st->top]);
    for (int k = 0; k < nd->nargs; k++) {
      NodeId x = nd->arg[k];
      if (kind[x] & SW_LEAF)
        continue;
      if (kind[x] & SW_STORED ? push(out, x) < 0 : push(st, x) < 0)
        return -1;
    }
  }
  return 0;
}

/* The state of the sweep: the items of the part being made and what they
 * read, and assign_slots' free t[] entries. */
typedef struct Sweep {
  Count *c;
  uint8_t *kind;      /* SW_ */
  Item *items;        /* the current part's, e->part_stmts at most */
  uint32_t *rd_at;    /* item j reads rd.at[rd_at[j] .. rd_at[j+1]) */
  NodeStack rd, st;
  uint32_t nitems, base; /* in the part; the position of its first */
  int32_t *free_slots;
  uint32_t nfree, capfree;
  int nslots, nparts;
  uint8_t *check;     /* part -> runtime checks */
  size_t capcheck;
  PartOut out;
} Sweep;

/* assign_slots and the text of the part made (e->items is its items). */
static int sweep_part(Emit *e, Sweep *w) {
  uint32_t np = w->nitems, base = w->base;
  Count *c = w->c;
  w->rd_at[np] = (uint32_t)w->rd.top;
  int nlocal = 0;
  for (uint32_t j = 0; j < np; j++) {
    NodeId i = w->items[j].node;
    uint32_t p = base + j;
    if (j + PREFETCH_ITEMS < np)
      for (uint32_t q = w->rd_at[j + PREFETCH_ITEMS]; q < w->rd_at[j + PREFETCH_ITEMS + 1]; q++) {
        NodeId x = w->rd.at[q];
        __builtin_prefetch(&c[x]);
        __builtin_prefetch(&e->slot[x]);
        __builtin_prefetch(&e->local[x]);
      }
    if (w->items[j].res == -1) {
      /* read only inside its part: no read to come, the last in this part */
      e->local[i] = !loop_op(e, i) && c[i].rem == 0 && c[i].use != NEVER && c[i].use >= base;
      if (e->local[i])
        e->slot[i] = nlocal++;
      else
        e->slot[i] = w->nfree ? w->free_slots[--w->nfree] : w->nslots++;
    }
    for (uint32_t q = w->rd_at[j]; q < w->rd_at[j + 1]; q++) {
      NodeId x = w->rd.at[q];
      if (c[x].use == p && c[x].rem == 0 && !e->local[x]) {
        c[x].use = NEVER; /* freed (a node read twice by the item: once) */
        if (w->nfree == w->capfree) {
          uint32_t cap = w->capfree ? 2 * w->capfree : 1024;
          int32_t *grown = realloc(w->free_slots, cap * sizeof *grown);
          if (!grown)
            return -1;
          w->free_slots = grown;
          w->capfree = cap;
        }
        w->free_slots[w->nfree++] = e->slot[x];
      }
    }
  }
  if ((size_t)w->nparts == w->capcheck) {
    size_t cap = w->capcheck ? 2 * w->capcheck : 1024;
    uint8_t *grown = realloc(w->check, cap);
    if (!grown)
      return -1;
    w->check = grown;
    w->capcheck = cap;
  }
  e->items = w->items;
  e->nitems = np; /* (sincos_first: a pair within the part) */
  w->out.rd_at = w->rd_at;
  w->out.rd = w->rd.at;
  part_write(e, &w->out, w->nparts, 0, np, &w->check[w->nparts]);
  e->items = NULL;
  w->nparts++;
  w->base += np;
  w->nitems = 0;
  w->rd.top = 0;
  return e->unit_failed ? -1 : 0;
}

/* One item of the sweep: its reads counted down, its part written when full. */
static int sweep_item(Emit *e, Sweep *w, NodeId i, int32_t res) {
  uint32_t j = w->nitems, p = w->base + j;
  w->items[j] = (Item){i, res};
  w->rd_at[j] = (uint32_t)w->rd.top;
  if (sweep_reads(e->g, w->kind, i, res >= 0 && (w->kind[i] & SW_STORED), &w->st, &w->rd) < 0)
    return -1;
  for (size_t q = w->rd_at[j]; q < w->rd.top; q++) {
    Count *x = &w->c[w->rd.at[q]];
    x->rem--;
    x->use = p;
  }
  w->nitems++;
  return w->nitems == (uint32_t)e->part_stmts ? sweep_part(e, w) : 0;
}

/* The sweep (the comment above): the parts written and streamed, e->nslots,
 * e->nparts, *parts_check. 0: not such a function (nothing done), 1: done,
 * -1: out of memory or a unit failed. */
static int scalar_sweep(Emit *e, const EmitFn *fn, Buf *b, uint8_t **parts_check) {
  const Dag *g = e->g;
  uint32_t n = g->count;
  Sweep w = {.c = big_alloc((size_t)(n ? n : 1) * sizeof *w.c)};
  if (!w.c)
    return -1;
  if (scalar_uses(e, fn, w.c) <= 2 * (uint64_t)e->part_stmts) {
    big_free(w.c);
    return 0; /* perhaps not split: the passes one by one */
  }
  int rc = -1;
  if (pair_sincos(e) < 0) /* (on the live nodes: stored, whatever their depth) */
    goto done;
  e->nbufs = 0;
  w.kind = big_alloc(n ? n : 1);
  w.items = malloc((size_t)e->part_stmts * sizeof *w.items);
  w.rd_at = malloc(((size_t)e->part_stmts + 1) * sizeof *w.rd_at);
  if (!w.kind || !w.items || !w.rd_at || parts_open(e, b, &w.out) < 0)
    goto done;
  if (e->first_set) {
    memset(e->first, 0, n);
    e->first_set = 0;
  }
  for (uint32_t i = 0; i < n; i++) { /* plan's ascending sweep */
    if (!w.c[i].use)
      continue;
    const Node *nd = dag_node(g, i);
    if (nd->op == OP_VAR || nd->op == OP_CONST || nd->op == OP_DIM) {
      w.kind[i] = SW_LEAF; /* depth 0 */
      continue;
    }
    int d = 0;
    for (int k = 0; k < nd->nargs; k++)
      if ((w.kind[nd->arg[k]] & SW_DEPTH) > d)
        d = w.kind[nd->arg[k]] & SW_DEPTH;
    d++;
    NodeId o = partner_of(e, i);
    int store = w.c[i].use > 1 || d > INLINE_DEPTH;
    if (store || o != NO_NODE) {
      /* stored; a pair's node stored only as such keeps its depth for its
       * readers' (plan pairs after its depths: pair_sincos) */
      w.kind[i] = (uint8_t)(SW_STORED | (store ? 0 : d));
      w.c[i].use = 0; /* (its uses are dead: now its last read) */
      if (o != NO_NODE && o < i)
        continue; /* the second of a pair: made with the first (its t[] entry given) */
      e->slot[i] = 0; /* its t[] entry comes with its part */
      if (sweep_item(e, &w, i, -1) < 0 || (o != NO_NODE && sweep_item(e, &w, o, -1) < 0))
        goto done; /* a pair's second right after its first, as schedule does */
    } else {
      w.kind[i] = (uint8_t)d;
    }
  }
  for (int r = 0; r < fn->nres; r++)
    if (sweep_item(e, &w, fn->res[r].node, r) < 0)
      goto done;
  if (w.nitems && sweep_part(e, &w) < 0)
    goto done;
  e->nitems = w.base;
  e->nparts = w.nparts;
  e->nslots = w.nslots;
  int closed = parts_close(e, b, &w.out);
  w.out.used = NULL;
  if (closed < 0 || share_buffers(e, fn) < 0) /* (no tensor: its empty tables) */
    goto done;
  *parts_check = w.check;
  w.check = NULL;
  rc = 1;
done:
  if (w.out.used)
    parts_close(e, b, &w.out);
  big_free(w.c);
  big_free(w.kind);
  free(w.items);
  free(w.rd_at);
  free(w.rd.at);
  free(w.st.at);
  free(w.free_slots);
  free(w.check);
  return rc;
}

/* In the split function: the JIT's arrays of dimensions, arguments,
 * results and buffers (standalone C), then the parts in order. */
static void split_calls(Emit *e, const EmitFn *fn, Buf *b, const uint8_t *parts_check) {
  const char *dv = "d", *av = "a", *rv = "r";
  if (!e->kernel) {
    dv = av = rv = "0";
    if (fn->ndims) {
      buf_printf(b, "  long g_dv[%d];\n", fn->ndims);
      for (int k = 0; k < fn->ndims; k++)
        buf_printf(b, "  g_dv[%d] = %s;\n", k, fn->dimc[k]);
      dv = "g_dv";
    }
    if (fn->nargs) {
      buf_printf(b, "  const double *g_av[%d];\n", fn->nargs);
      for (int k = 0; k < fn->nargs; k++)
        buf_printf(b, "  g_av[%d] = %s%s;\n", k, fn->args[k].shape == SHAPE_SCALAR ? "&" : "",
                   fn->args[k].cname);
      av = "g_av";
    }
    if (fn->nres) {
      buf_printf(b, "  double *g_rv[%d];\n", fn->nres);
      for (int k = 0; k < fn->nres; k++)
        buf_printf(b, "  g_rv[%d] = %s;\n", k, fn->res[k].cname);
      rv = "g_rv";
    }
  }
  const char *bv = "0";
  if (e->nbufs) {
    buf_printf(b, "  double *g_bv[%d];\n", e->nbufs);
    for (int k = 0; k < e->nbufs; k++)
      buf_printf(b, "  g_bv[%d] = g_b%d;\n", k, k);
    bv = "g_bv";
  }
  for (int k = 0; k < e->nparts; k++) {
    buf_puts(b, parts_check[k] ? "  if ((g_status = " : "  ");
    part_name(b, fn, k);
    buf_printf(b, "(%s, %s, %s, %s, %s)", dv, av, rv, e->nslots ? "t" : "0", bv);
    buf_puts(b, parts_check[k] ? ") != 0)\n    goto g_done;\n" : ";\n");
  }
}

/* A negative symbolic dimension (or no dims array in the array ABI) is a
 * bad argument: -2, the code of the sparse functions for sizes they do not
 * take, not -1 (out of memory, which malloc of a negative size would give)
 * nor 0 (loops that never run). Not in the JIT's kernels: gradc checks. */
static void negative_dims(Emit *e, const EmitFn *fn, Buf *b) {
  if (fn->ndims == 0 || (e->kernel && !e->internal))
    return;
  Buf *save = e->out;
  e->out = b;
  buf_puts(b, e->kernel ? "  if (!d || " : "  if (");
  for (int k = 0; k < fn->ndims; k++) {
    buf_puts(b, k ? " || " : "");
    dim(e, ~(int64_t)k);
    buf_puts(b, " < 0");
  }
  buf_puts(b, ")\n    return -2;\n");
  e->out = save;
}

static int function(Emit *e, const EmitFn *fn, Buf *b, int *heap, int *work_fn) {
  e->fn = fn;
  e->checks = 0;
  uint8_t *parts_check = NULL; /* written with the parts by the sweep */
  int swept = scalar_stream(e) ? scalar_sweep(e, fn, b, &parts_check) : 0;
  if (swept < 0)
    return -1;
  if (!swept) {
    if (plan(e, fn) < 0 || schedule(e, fn) < 0)
      return -1;
    last_reads(e, fn);
    if (share_buffers(e, fn) < 0 || assign_slots(e) < 0)
      return -1;
  }
  uint32_t count = e->g->count;
  int nbuf_ws = 0; /* buffers in the workspace (not results' memory) */
  for (int k = 0; k < e->nbufs; k++)
    nbuf_ws += e->bufout[k] < 0;
  e->tslots_work = e->nslots > STACK_SLOTS;
  /* buffers of literal sizes that fit on the stack beside t[] live there:
   * no workspace, no allocation */
  int64_t fixed = 0;
  for (int k = 0; k < e->nbufs && fixed >= 0; k++) {
    int64_t sz = e->bufout[k] < 0 ? shape_size(e->g, e->bufshape[k]) : 0;
    fixed = sz < 0 ? -1 : fixed + sz;
  }
  e->stack_ws = nbuf_ws > 0 && !e->tslots_work && fixed >= 0 && fixed + e->nslots <= STACK_SLOTS ? fixed : 0;
  int work = (nbuf_ws > 0 && !e->stack_ws) || e->tslots_work;
  *work_fn = work;
  Buf *save = e->out;
  e->out = b;
  if (e->kernel) { /* the JIT keeps a workspace of this size between calls */
    const char *st = e->internal ? "static " : "";
    buf_printf(b, "%slong %s_work(const long *d);\n%slong %s_work(const long *d) {\n  (void)d;\n",
               st, fn->name, st, fn->name);
    e->fn = fn;
    negative_dims(e, fn, b);
    derived_dims(e, b);
    buf_puts(b, "  return ");
    work_size(e);
    buf_puts(b, ";\n}\n\n");
  } else if (work) { /* the size of the workspace for given dimensions */
    buf_printf(b, "/* doubles of workspace that %s needs */\nlong %s_work(", fn->name, fn->name);
    for (int k = 0; k < fn->ndims; k++)
      buf_printf(b, "%slong %s", k ? ", " : "", fn->dimc[k]);
    buf_printf(b, "%s) {\n", fn->ndims ? "" : "void");
    for (int k = 0; k < fn->ndims; k++) /* a size need not use every dimension */
      buf_printf(b, "  (void)%s;\n", fn->dimc[k]);
    e->fn = fn;
    negative_dims(e, fn, b);
    derived_dims(e, b);
    buf_puts(b, "  return ");
    work_size(e);
    buf_puts(b, ";\n}\n\n");
  }
  if (swept) {
    part_prototypes(e, b);
  } else {
    parts_check = calloc((size_t)e->nparts + 1, 1);
    if (!parts_check)
      return -1;
    if (e->nparts && split_parts(e, b, parts_check) < 0) {
      free(parts_check);
      return -1;
    }
  }
  e->out = b;
  if (fn->comment)
    emit_comment(b, fn->comment, 1);
  signature(b, fn, e->kernel, work, e->internal, 2);
  buf_puts(b, " {\n");
  e->indent = 1;
  negative_dims(e, fn, b);
  derived_dims(e, b);
  entry_checks(e, b, count);
  if (e->nslots > 0 && !e->tslots_work)
    buf_printf(b, "  double t[%d];\n", e->nslots);
  /* one pass: does it check labels (onehot), which arguments does it read */
  int status = 0;
  uint8_t *read = calloc((size_t)fn->nargs + 1, 1);
  if (!read) {
    free(parts_check);
    return -1;
  }
  for (uint32_t i = 0; i < count; i++) {
    const Node *nd = dag_node(e->g, i);
    if (e->slot[i] == ST_NONE)
      continue;
    status |= nd->op == OP_ONEHOT || nd->op == OP_TAKE || nd->op == OP_SCATTER;
    if (nd->op == OP_VAR && fn->arg_of_var[nd->v.idx] >= 0)
      read[fn->arg_of_var[nd->v.idx]] = 1;
  }
  for (int k = 0; k < e->nparts; k++)
    status |= parts_check[k];
  if (e->kernel && e->internal) /* standalone C under -Wextra (emit_array.c) */
    buf_puts(b, "  (void)d;\n  (void)a;\n  (void)r;\n  (void)w;\n");
  if (!e->kernel) { /* parameters that this function does not read */
    for (int k = 0; k < fn->ndims; k++)
      buf_printf(b, "  (void)%s;\n", fn->dimc[k]);
    for (int k = 0; k < fn->nargs; k++)
      if (!read[k])
        buf_printf(b, "  (void)%s;\n", fn->args[k].cname);
  }
  free(read);
  if (work || status)
    buf_puts(b, "  int g_status = 0;\n");
  if (work) {
    *heap = 1;
    const char *wname = e->kernel ? "w" : "work";
    buf_printf(b, "  double *g_own = 0, *g_w = %s;\n  if (!g_w) {\n    g_w = g_own = (double *)malloc(sizeof(double) * (size_t)(", wname);
    work_size(e);
    buf_puts(b, " + 1));\n    if (!g_w)\n      return -1;\n  }\n");
    if (e->tslots_work)
      buf_printf(b, "  double *t = g_w;\n  g_w += %d;\n", e->nslots);
  } else if (e->stack_ws) {
    buf_printf(b, "  double g_ws[%lld];\n  double *g_w = g_ws;\n", (long long)e->stack_ws);
  }
  for (int k = 0; k < e->nbufs; k++) {
    if (e->bufout[k] >= 0) { /* a result's own memory */
      if (e->kernel)
        buf_printf(b, "  double *g_b%d = r[%d];\n", k, e->bufout[k]);
      else
        buf_printf(b, "  double *g_b%d = %s;\n", k, fn->res[e->bufout[k]].cname);
      continue;
    }
    buf_printf(b, "  double *g_b%d = g_w;\n  g_w += ", k);
    size(e, e->bufshape[k]);
    buf_puts(b, ";\n");
  }
  if (e->nparts)
    split_calls(e, fn, b, parts_check);
  else
    for (uint32_t p = 0; p < e->nitems; p++)
      emit_item(e, b, p);
  e->out = b;
  for (int r = 0; r < fn->nres; r++) { /* tensor results not computed in their memory */
    NodeId n = fn->res[r].node;
    if (!is_tensor(e, n) || (stored(e, n) && e->bufout[e->slot[n]] == r))
      continue;
    buf_puts(b, "  {\n");
    e->indent = 2;
    char dest[64];
    if (e->kernel)
      snprintf(dest, sizeof dest, "r[%d]", r);
    else
      snprintf(dest, sizeof dest, "%s", fn->res[r].cname);
    /* a stored or aliased root is copied; an inlined one computed here */
    ShapeId s = dag_shape(e->g, n);
    if (e->slot[n] >= 0 || e->alias[n] || dag_node(e->g, n)->op == OP_VAR) {
      e->loop_shape = s;
      indent(e);
      buf_puts(b, "for (long g_o = 0; g_o < ");
      size(e, s);
      buf_printf(b, "; g_o++)\n    %s[g_o] = ", dest);
      ptr(e, n);
      buf_puts(b, "[g_o];\n");
    } else {
      elementwise_loop(e, n, dest, 0);
    }
    buf_puts(b, "  }\n");
    e->indent = 1;
  }
  if (status)
    buf_puts(b, "g_done:\n");
  if (work)
    buf_puts(b, "  free(g_own);\n");
  buf_puts(b, work || status ? "  return g_status;\n}\n\n" : "  return 0;\n}\n\n");
  free(parts_check);
  e->out = save;
  return 0;
}

void emit_c(const Dag *g, const EmitFn *fns, int nfns, const EmitOpts *o,
            Buf *out, Buf *header) {
  Emit e = {.g = g, .kernel = o && o->kernel, .blas = o && o->blas, .split = o && o->split,
            .internal = o && o->internal, .rt_matmul = o && o->kernel && o->rt_matmul,
            .part_stmts = o && o->part_stmts > 0 ? o->part_stmts : PART_STMTS, .opts = o,
            .sincos = o ? o->sincos : 0};
  for (int i = 0; i < 64; i++)
    e.lit[i].node = NO_NODE;
  Buf code = {.big = 1};
  e.out = &code;
  size_t cnt = g->count ? g->count : 1;
  e.slot = big_alloc(cnt * sizeof *e.slot);
  e.alias = malloc(cnt);
  e.uses = big_alloc(cnt * sizeof *e.uses);
  e.pos = big_alloc(cnt * sizeof *e.pos);
  e.last = e.uses; /* uses is read up to schedule, last from last_reads on */
  e.croot = big_alloc(cnt * sizeof *e.croot);
  e.local = big_alloc(cnt);
  e.first = big_alloc(cnt);
  int *work = calloc((size_t)nfns + 1, sizeof *work);
  int heap = 0;
  if (!e.slot || !e.alias || !e.uses || !e.pos || !e.last || !e.croot || !e.local || !e.first || !work)
    out->oom = 1;
  for (int f = 0; f < nfns && !out->oom; f++) {
    if (function(&e, &fns[f], &code, &heap, &work[f]) < 0)
      out->oom = 1;
    free(e.items);
    free(e.rd_at);
    free(e.rd);
    free(e.part);
    big_free(e.partner);
    e.partner = NULL;
    e.items = NULL;
    e.rd_at = NULL;
    e.rd = NULL;
    e.part = NULL;
  }
  big_free(e.slot);
  free(e.alias);
  big_free(e.uses);
  big_free(e.pos);
  big_free(e.croot);
  big_free(e.local);
  big_free(e.first);
  free(e.bufshape);
  free(e.bufout);
  if (out->oom) {
    buf_free(&code);
    free(work);
    return;
  }

  /* preamble: only what the code uses */
  buf_printf(out, "/* Generated by gradc %s. C99; link with -lm. */\n", GRADC_VERSION);
  if (heap)
    buf_puts(out, "#include <stdlib.h>\n");
  const uint8_t *u = e.used_op;
  static const OpKind libm[] = {OP_EXP, OP_LOG, OP_SQRT, OP_SIN, OP_COS, OP_TAN,
                                OP_ASIN, OP_ACOS, OP_ATAN, OP_SINH, OP_COSH,
                                OP_ERF, OP_LOG1P, OP_EXPM1};
  int need_exp = u[OP_EXP] | u[OP_SIGMOID] | u[OP_SOFTPLUS] | u[OP_LOGADDEXP];
  int need_log1p = u[OP_LOG1P] | u[OP_SOFTPLUS] | u[OP_LOGADDEXP];
  int need_fabs = u[OP_ABS] | u[OP_SOFTPLUS] | u[OP_LOGADDEXP] | u[OP_PROD];
  for (size_t i = 0; i < sizeof libm / sizeof *libm; i++) {
    OpKind op = libm[i];
    int used = u[op];
    if (op == OP_EXP) used = need_exp;
    if (op == OP_LOG1P) used = need_log1p;
    if (used)
      buf_printf(out, "double %s(double);\n", op_info[op].spell);
  }
  if (e.used_sincos)
    buf_puts(out, "void sincos(double, double *, double *);\n");
  if (need_fabs)
    buf_puts(out, "double fabs(double);\n");
  if (u[OP_POW])
    buf_puts(out, "double pow(double, double);\n");
  if (u[OP_PROD]) /* the product's binary exponent kept apart (reduce_loop) */
    buf_puts(out, "double frexp(double, int *);\ndouble ldexp(double, int);\n");
  if (u[OP_FLOOR])
    buf_puts(out, "double floor(double);\n");
  if (u[OP_CEIL])
    buf_puts(out, "double ceil(double);\n");
  if (u[OP_ROUND])
    buf_puts(out, "double rint(double);\n");
  if (u[OP_MOD])
    buf_puts(out, "double fmod(double, double);\n");
  if (u[OP_ATAN2])
    buf_puts(out, "double atan2(double, double);\n");
  if (e.used_blas) /* OpenBLAS's cblas_dgemm; link with -lopenblas */
    buf_puts(out, "void cblas_dgemm(int, int, int, int, int, int, double, const double *, int,\n"
                  "                 const double *, int, double, double *, int);\n");
  if (e.used_rt_matmul) /* gradc's own, matmul_rt.c (JIT code only) */
    buf_puts(out, "void gradc_rt_matmul(long, long, long, const double *, long, int, const double *, long,\n"
                  "                     int, double *);\n");
  if (e.used_finite) /* every element finite (x - x is NaN for inf and NaN) */
    buf_puts(out, "static int g_finite(const double *x, long n) {\n"
                  "  for (long i = 0; i < n; i++)\n"
                  "    if (x[i] - x[i] != 0.0)\n"
                  "      return 0;\n"
                  "  return 1;\n"
                  "}\n");
  if (u[OP_RELU]) buf_puts(out, STR(GRADC_RT_RELU) "\n");
  if (u[OP_SIGN]) buf_puts(out, STR(GRADC_RT_SIGN) "\n");
  if (u[OP_SIGMOID] && e.rt_matmul) /* likewise */
    buf_puts(out, "double gradc_rt_sigmoid(double);\n#define g_sigmoid gradc_rt_sigmoid\n");
  else if (u[OP_SIGMOID])
    buf_puts(out, STR(GRADC_RT_SIGMOID) "\n");
  if (u[OP_TANH] && e.rt_matmul) /* libtcc's code: gcc's compile of it (matmul_rt.c), the same bits */
    buf_puts(out, "double gradc_rt_tanh(double);\n#define g_tanh gradc_rt_tanh\n");
  else if (u[OP_TANH])
    buf_puts(out, STR(GRADC_RT_TANH) "\n");
  if (u[OP_SOFTPLUS]) buf_puts(out, STR(GRADC_RT_SOFTPLUS) "\n");
  if (u[OP_MAX]) buf_puts(out, STR(GRADC_RT_MAX) "\n");
  if (u[OP_MIN]) buf_puts(out, STR(GRADC_RT_MIN) "\n");
  if (u[OP_MOD]) buf_puts(out, STR(GRADC_RT_MOD) "\n");
  if (u[OP_LOGADDEXP]) buf_puts(out, STR(GRADC_RT_LOGADDEXP) "\n");
  buf_puts(out, "\n");
  for (int f = 0; f < nfns; f++) { /* prototypes keep -Wmissing-prototypes quiet */
    if (work[f] && !e.kernel) {
      buf_printf(out, "long %s_work(", fns[f].name);
      for (int k = 0; k < fns[f].ndims; k++)
        buf_printf(out, "%slong %s", k ? ", " : "", fns[f].dimc[k]);
      buf_puts(out, fns[f].ndims ? ");\n" : "void);\n");
    }
    signature(out, &fns[f], e.kernel, work[f], e.internal, 1);
    buf_puts(out, ";\n");
  }
  buf_puts(out, "\n");
  buf_putn(out, code.data ? code.data : "", code.len);
  if (code.oom)
    out->oom = 1;
  buf_free(&code);
  if (header) {
    buf_printf(header, "/* Generated by gradc %s. */\n", GRADC_VERSION);
    for (int f = 0; f < nfns; f++) {
      const EmitFn *fn = &fns[f];
      buf_puts(header, "\n");
      emit_comment(header, fn->comment ? fn->comment : fn->name, 0);
      char sh[128];
      for (int k = 0; k < fn->ndims; k++)
        buf_printf(header, " *   %-12s dimension, bound by the data\n", fn->dimc[k]);
      for (int k = 0; k < fn->nargs; k++) {
        shape_format(g, fn->args[k].shape, sh, sizeof sh);
        buf_printf(header, " *   %-12s %s, in\n", fn->args[k].cname, sh);
      }
      for (int k = 0; k < fn->nres; k++) {
        shape_format(g, dag_shape(g, fn->res[k].node), sh, sizeof sh);
        buf_printf(header, " *   %-12s %s, out: %s\n", fn->res[k].cname, sh,
                   fn->res[k].comment ? fn->res[k].comment : "");
      }
      if (work[f])
        buf_printf(header, " *   work         %s_work(...) doubles, or NULL to allocate\n", fn->name);
      if (!fn->ndims)
        buf_puts(header, " * Returns 0, -1 if out of memory, or k > 0 if runtime check k failed. */\n");
      else
        buf_printf(header, " * Returns 0, -1 if out of memory, -2 if a dimension is negative%s, or k > 0\n"
                   " * if runtime check k failed. */\n", work[f] ? " (as _work does\n * then)" : "");
      if (work[f]) {
        buf_printf(header, "long %s_work(", fn->name);
        for (int k = 0; k < fn->ndims; k++)
          buf_printf(header, "%slong %s", k ? ", " : "", fn->dimc[k]);
        buf_puts(header, fn->ndims ? ");\n" : "void);\n");
      }
      signature(header, fn, 0, work[f], 0, 1);
      buf_puts(header, ";\n");
    }
  }
  if (o && o->has_work)
    memcpy(o->has_work, work, (size_t)nfns * sizeof *work);
  free(work);
}

long emit_count_ops(const Dag *g, const NodeId *roots, int nroots) {
  uint8_t *live = calloc(g->count ? g->count : 1, 1);
  if (!live)
    return -1;
  for (int r = 0; r < nroots; r++)
    live[roots[r]] = 1;
  long ops = 0;
  for (uint32_t i = g->count; i-- > 0;) {
    if (!live[i])
      continue;
    const Node *nd = dag_node(g, i);
    if (nd->op != OP_VAR && nd->op != OP_CONST && nd->op != OP_DIM) {
      int k;
      int64_t sz = shape_size(g, nd->shape);
      if (sz < 0)
        sz = 1; /* per element of a symbolic dimension */
      if (nd->op == OP_POW && dag_small_int_pow(g, nd->arg[1], &k))
        ops += ((k < 0 ? -k : k) - (k > 0)) * sz;
      else if (nd->op == OP_SUM) {
        int64_t in = shape_size(g, dag_shape(g, nd->arg[0]));
        ops += in < 0 ? 1 : in;
      } else if (nd->op == OP_MATMUL) {
        /* (M,K)@(K,N): 2MKN, and MKN = sqrt(|a| |b| |out|) whatever the
         * transposes, and for vectors too */
        int64_t a = shape_size(g, dag_shape(g, nd->arg[0])), b = shape_size(g, dag_shape(g, nd->arg[1]));
        double mkn = sqrt((double)(a < 0 ? 1 : a) * (double)(b < 0 ? 1 : b) * (double)(sz < 0 ? 1 : sz));
        ops += 2 * (long)(mkn + 0.5);
      } else if (nd->op == OP_SCATTER_ADD) { /* in place: the piece's elements */
        int64_t in = shape_size(g, dag_shape(g, nd->arg[1]));
        ops += in < 0 ? 1 : in;
      } else if (nd->op != OP_RESHAPE && nd->op != OP_BCAST)
        ops += sz;
    }
    for (int k = 0; k < nd->nargs; k++)
      live[nd->arg[k]] = 1;
  }
  free(live);
  return ops;
}
