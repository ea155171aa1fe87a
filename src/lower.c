/* lower.c: from statements to the DAG. Resolves names (declared variables,
 * free names in a file without declarations, definitions, outputs, built-in
 * functions), checks arity, and builds every expression with the dag_
 * constructors, walking the AST with an explicit stack so that a chain of a
 * million operators needs no C recursion. Errors are reported here, while
 * the source position is at hand. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

/* Built-ins that are not one DAG operator. */
enum {
  B_SUM = OP_COUNT + 1, B_MEAN, B_LOGSUMEXP, B_SOFTMAX, B_LOG_SOFTMAX, B_DOT,
  B_TRANSPOSE, B_ONEHOT, B_ARGMAX, B_MAX, B_MIN, B_PROD, B_CUMSUM, B_CUMPROD, B_LINSCAN, B_NORM,
  B_CLIP, B_LOG_SIGMOID, B_CONCAT, B_STACK, B_RESHAPE, B_TAKE, B_ARANGE, B_EYE,
  B_GRAD, B_JVP,                              /* derivatives (lang_ad.c) */
  B_PI, B_E, B_TRUE, B_FALSE,                 /* constants (minargs -1) */
  B_RANDN, B_UNIFORM, B_ZEROS, B_ONES         /* initialisers: keep them last */
};

/* Keyword arguments a built-in takes. */
enum { KW_AXIS = 1, KW_KEEP = 2, KW_RED = KW_AXIS | KW_KEEP };

typedef struct Builtin {
  const char *name;
  int code;             /* an OpKind or a B_ code */
  int minargs, maxargs; /* positional arguments; -1: a constant, not a function */
  int kw;               /* KW_ bits: axis=K, keepdims=true|false */
} Builtin;

static const Builtin builtins[] = {
    {"exp", OP_EXP, 1, 1, 0},         {"log", OP_LOG, 1, 1, 0},
    {"sqrt", OP_SQRT, 1, 1, 0},       {"abs", OP_ABS, 1, 1, 0},
    {"sign", OP_SIGN, 1, 1, 0},       {"sin", OP_SIN, 1, 1, 0},
    {"cos", OP_COS, 1, 1, 0},         {"tan", OP_TAN, 1, 1, 0},
    {"asin", OP_ASIN, 1, 1, 0},       {"acos", OP_ACOS, 1, 1, 0},
    {"atan", OP_ATAN, 1, 1, 0},       {"sinh", OP_SINH, 1, 1, 0},
    {"cosh", OP_COSH, 1, 1, 0},       {"tanh", OP_TANH, 1, 1, 0},
    {"erf", OP_ERF, 1, 1, 0},         {"sigmoid", OP_SIGMOID, 1, 1, 0},
    {"relu", OP_RELU, 1, 1, 0},       {"softplus", OP_SOFTPLUS, 1, 1, 0},
    {"log1p", OP_LOG1P, 1, 1, 0},     {"expm1", OP_EXPM1, 1, 1, 0},
    {"pow", OP_POW, 2, 2, 0},         {"atan2", OP_ATAN2, 2, 2, 0},
    {"max", B_MAX, 1, 2, KW_RED},  {"min", B_MIN, 1, 2, KW_RED},
    {"where", OP_WHERE, 3, 3, 0},  {"sum", B_SUM, 1, 2, KW_RED},
    {"mean", B_MEAN, 1, 2, KW_RED}, {"logsumexp", B_LOGSUMEXP, 1, 2, KW_RED},
    {"softmax", B_SOFTMAX, 1, 2, KW_AXIS}, {"log_softmax", B_LOG_SOFTMAX, 1, 2, KW_AXIS},
    {"dot", B_DOT, 2, 2, 0},       {"transpose", B_TRANSPOSE, 1, 1, 0},
    {"onehot", B_ONEHOT, 2, 2, 0}, {"argmax", B_ARGMAX, 1, 2, KW_RED},
    {"maximum", OP_MAX, 2, 2, 0},  {"minimum", OP_MIN, 2, 2, 0},
    {"prod", B_PROD, 1, 2, KW_RED}, {"cumsum", B_CUMSUM, 1, 2, KW_AXIS},
    {"cumprod", B_CUMPROD, 1, 2, KW_AXIS}, {"linscan", B_LINSCAN, 2, 3, KW_AXIS},
    {"norm", B_NORM, 1, 2, KW_RED}, {"clip", B_CLIP, 3, 3, 0},
    {"floor", OP_FLOOR, 1, 1, 0},  {"ceil", OP_CEIL, 1, 1, 0},
    {"round", OP_ROUND, 1, 1, 0},  {"mod", OP_MOD, 2, 2, 0},
    {"log_sigmoid", B_LOG_SIGMOID, 1, 1, 0}, {"logaddexp", OP_LOGADDEXP, 2, 2, 0},
    {"concat", B_CONCAT, 1, 2, KW_AXIS}, {"stack", B_STACK, 1, 2, KW_AXIS},
    {"reshape", B_RESHAPE, 2, 2, 0}, {"take", B_TAKE, 2, 3, KW_AXIS},
    {"arange", B_ARANGE, 1, 2, 0}, {"eye", B_EYE, 1, 1, 0},
    {"grad", B_GRAD, 2, 2, 0},     {"jvp", B_JVP, 3, 3, 0},
    {"pi", B_PI, -1, -1, 0},       {"e", B_E, -1, -1, 0},
    {"true", B_TRUE, -1, -1, 0},   {"false", B_FALSE, -1, -1, 0},
    {"randn", B_RANDN, 0, 1, 0},      {"uniform", B_UNIFORM, 0, 2, 0},
    {"zeros", B_ZEROS, 0, 0, 0},      {"ones", B_ONES, 0, 0, 0},
};
enum { NBUILTIN = sizeof builtins / sizeof builtins[0] };

/* "function" or "constant", for messages */
static const char *builtin_kind(const Builtin *f) { return f->minargs < 0 ? "constant" : "function"; }

/* The value of a built-in constant. */
static double builtin_value(const Builtin *f) {
  switch (f->code) {
  case B_PI: return 3.14159265358979323846;
  case B_E: return 2.71828182845904523536;
  case B_TRUE: return 1;
  default: return 0;
  }
}

/* The first two characters of every built-in's name */
static uint8_t builtin_starts[128][128];
static pthread_once_t builtin_starts_once = PTHREAD_ONCE_INIT;
static void index_builtin_starts(void) {
  for (int i = 0; i < NBUILTIN; i++)
    builtin_starts[(unsigned char)builtins[i].name[0]][(unsigned char)builtins[i].name[1]] = 1;
}

/* The built-in called `name` (an interned name: the answer is kept in its
 * Sym), or NULL. */
static const Builtin *builtin(const char *name) {
  if (!name)
    return NULL;
  Sym *sym = sym_of(name);
  if (!sym->builtin) {
    sym->builtin = -1;
    pthread_once(&builtin_starts_once, index_builtin_starts);
    unsigned char c0 = (unsigned char)name[0], c1 = (unsigned char)name[1];
    if (c0 < 128 && c1 < 128 && builtin_starts[c0][c1]) /* 10^6 names t0, t1...: none */
      for (int i = 0; i < NBUILTIN; i++)
        if (builtins[i].name[0] == name[0] && !strcmp(builtins[i].name, name))
          sym->builtin = (int16_t)(i + 1);
  }
  return sym->builtin > 0 ? &builtins[sym->builtin - 1] : NULL;
}

/* ---- a string -> binding table ---------------------------------------- */

typedef enum { B_VAR, B_DEF, B_LATER, B_DIMNAME, B_FAILED, B_FUNC } BindKind;

/* A user-defined function, NAME(a, b) = EXPR (SPEC 1.8): inlined at each
 * call, its parameters bound to the argument nodes. */
typedef struct Func {
  const char *name;
  Ast *params;         /* AST_VECTOR of AST_NAME */
  Ast *body;
  Span span;
  size_t size;         /* AST nodes in the body: the cost of one inlining */
} Func;

typedef struct Binding {
  const char *name;
  BindKind kind;
  NodeId node;
  int var;
  int is_func;         /* a function's name (B_LATER, B_FUNC or B_FAILED) */
  Func *fn;            /* B_FUNC */
  Span span;
} Binding;

/* The function being inlined and its arguments; a body sees its own
 * parameters and the names bound at the top level, not its callers'. */
typedef struct Scope {
  const Func *fn;
  NodeId *args;
} Scope;

/* Inlined calls by function and argument nodes: a call with the same
 * arguments is the same nodes, so f(f(f(x))) chains and repeated calls
 * cost one inlining each (no exponential blow-up). */
typedef struct Memo {
  const Func *fn;
  NodeId *args;
  NodeId result;
  uint32_t hash;
} Memo;

/* Inlining limits: calls nested deeper than this are an error (the chain
 * f1(f2(...)) of functions that call each other), and so is a program
 * whose calls expand to more AST nodes than MAX_INLINED. */
#define MAX_CALL_DEPTH 1000
#define MAX_INLINED (10u * 1000 * 1000)

typedef struct Lower {
  Program *prog;
  Parse *p;
  Diags *diags;
  Binding *tab;        /* every bound name, in binding order; big_alloc'd */
  size_t cap, count;   /* a name's index is kept in its Sym (ast_intern) */
  int oom;
  Scope *scope;        /* the calls being inlined, innermost last */
  int nscope, capscope;
  Memo *memo;          /* open addressing; capmemo a power of two */
  size_t nmemo, capmemo;
  size_t inlined;      /* AST nodes walked in bodies so far */
  int too_big;         /* MAX_INLINED was reported */
} Lower;

/* The binding of an interned name, or NULL. The index in the Sym may be
 * left over from an earlier lowering of the same parse: the binding must
 * point back at the name. */
static Binding *lookup(Lower *l, const char *name) {
  if (!name)
    return NULL;
  uint32_t k = sym_of(name)->bind;
  return k && k <= l->count && l->tab[k - 1].name == name ? &l->tab[k - 1] : NULL;
}

/* The binding of name, made if there is none. The table may move: a
 * Binding pointer held across bind() must be looked up again (l->cap). */
static Binding *bind(Lower *l, const char *name) {
  Binding *b = lookup(l, name);
  if (b || !name)
    return b;
  if (l->count == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    Binding *tab = big_grow(l->tab, cap * sizeof *tab);
    if (!tab) {
      l->oom = 1;
      return NULL;
    }
    l->tab = tab;
    l->cap = cap;
  }
  b = &l->tab[l->count++];
  memset(b, 0, sizeof *b);
  b->name = name;
  sym_of(name)->bind = (uint32_t)l->count;
  return b;
}

#define ERR(l, span, ...) \
  diag_add((l)->diags, GRADC_ERR_INPUT, (l)->p->src, (span), NULL, __VA_ARGS__)
#define ERRH(l, span, hint, ...) \
  diag_add((l)->diags, GRADC_ERR_INPUT, (l)->p->src, (span), (hint), __VA_ARGS__)

/* "did you mean 'x'?" over every bound name and built-in */
static void suggest(Lower *l, const char *name, char *out, size_t n) {
  size_t nc = l->count + NBUILTIN;
  const char **c = malloc(nc * sizeof *c);
  out[0] = 0;
  if (!c)
    return;
  size_t k = 0;
  for (size_t i = 0; i < l->count; i++)
    if (l->tab[i].kind != B_LATER)
      c[k++] = l->tab[i].name;
  for (int i = 0; i < NBUILTIN; i++)
    c[k++] = builtins[i].name;
  const char *best = diag_closest(name, c, (int)k);
  if (best)
    snprintf(out, n, "did you mean '%s'?", best);
  free(c);
}

/* ---- variables and outputs --------------------------------------------- */

static int add_var(Lower *l, const char *name, VarKind kind, Span span, ShapeId shape) {
  Program *g = l->prog;
  if (g->nvars == g->capvars) {
    int cap = g->capvars ? g->capvars * 2 : 16;
    Var *v = realloc(g->vars, (size_t)cap * sizeof *v);
    if (!v) {
      l->oom = 1;
      return -1;
    }
    g->vars = v;
    g->capvars = cap;
  }
  int k = g->nvars++;
  Var *v = &g->vars[k];
  memset(v, 0, sizeof *v);
  v->name = name;
  v->kind = kind;
  v->shape = shape;
  v->span = span;
  v->node = dag_var(g->dag, k, shape);
  Binding *b = bind(l, name);
  if (b) {
    b->kind = B_VAR;
    b->node = v->node;
    b->var = k;
    b->span = span;
  }
  return k;
}

static void add_output(Lower *l, const char *name, NodeId node, Span span) {
  Program *g = l->prog;
  if (g->nouts == g->capouts) {
    int cap = g->capouts ? g->capouts * 2 : 8;
    Output *o = realloc(g->outs, (size_t)cap * sizeof *o);
    if (!o) {
      l->oom = 1;
      return;
    }
    g->outs = o;
    g->capouts = cap;
  }
  g->outs[g->nouts++] = (Output){name, node, span};
}

/* ---- expressions -------------------------------------------------------- */

/* The argument bound to parameter `name` of the function being inlined,
 * or NO_NODE. */
static NodeId param_ref(const Lower *l, const char *name) {
  if (l->nscope == 0)
    return NO_NODE;
  const Scope *s = &l->scope[l->nscope - 1];
  for (int i = 0; i < s->fn->params->nkids; i++)
    if (s->fn->params->kids[i]->name == name)
      return s->args[i];
  return NO_NODE;
}

static NodeId name_ref(Lower *l, Ast *a) {
  NodeId pr = param_ref(l, a->name);
  if (pr != NO_NODE)
    return pr;
  const Builtin *bf = builtin(a->name);
  if (bf && bf->minargs < 0) /* pi, e, true, false: never bound */
    return dag_const(l->prog->dag, builtin_value(bf));
  Binding *b = lookup(l, a->name);
  if (b && b->kind == B_DIMNAME)
    return dag_dim(l->prog->dag, b->var);
  if (b && b->kind == B_FAILED) /* its definition was reported already */
    return NO_NODE;
  if (b && b->is_func) {
    ERR(l, a->span, "'%s' is a function; call it as %s(...)", a->name, a->name);
    return NO_NODE;
  }
  if (b && b->kind != B_LATER)
    return b->node;
  if (b && b->kind == B_LATER) {
    ERR(l, a->span, "'%s' is used before it is defined (line %d)", a->name,
        b->span.line);
    return NO_NODE;
  }
  if (builtin(a->name)) {
    ERR(l, a->span, "'%s' is a built-in function; call it as %s(...)", a->name,
        a->name);
    return NO_NODE;
  }
  if (!l->prog->declared) { /* a free name is a scalar param */
    int k = add_var(l, a->name, VAR_PARAM, a->span, SHAPE_SCALAR);
    return k < 0 ? NO_NODE : l->prog->vars[k].node;
  }
  char hint[300];
  suggest(l, a->name, hint, sizeof hint);
  ERRH(l, a->span, hint[0] ? hint : NULL, "undeclared name '%s'", a->name);
  return NO_NODE;
}

/* A constructor returned NO_NODE: report a shape error at the operator. */
static NodeId checked(Lower *l, Ast *a, const char *what, NodeId r) {
  Dag *g = l->prog->dag;
  if (r == NO_NODE && !g->oom && g->err[0]) {
    ERR(l, a->span, "%s: %s", what, g->err);
    g->err[0] = 0;
  }
  return r;
}

/* An integer literal argument (axis, number of classes). */
static int int_arg(Lower *l, Ast *a, NodeId x, const char *what, int64_t *v) {
  Dag *g = l->prog->dag;
  double v0 = dag_is_const(g, x) ? dag_num(g, x) : NAN;
  if (!(fabs(v0) <= 1e9) || v0 != floor(v0)) { /* range first: no cast of 1e74 */
    ERR(l, a->span, "%s must be an integer literal", what);
    return 0;
  }
  *v = (int64_t)v0;
  return 1;
}

/* Normalise a possibly negative axis for a tensor of rank r. */
static int axis_arg(Lower *l, Ast *a, NodeId x, int rank, int *axis) {
  int64_t v;
  if (!int_arg(l, a, x, "the axis", &v))
    return 0;
  if (v < -rank || v >= rank || rank == 0) {
    ERR(l, a->span, "axis %lld is out of range for a tensor of rank %d", (long long)v, rank);
    return 0;
  }
  *axis = (int)(v < 0 ? v + rank : v);
  return 1;
}

static NodeId lower_expr(Lower *l, Ast *root);
static int ast_int(const Ast *a, int64_t *v);

/* Register a runtime check of node r (onehot labels, take indices): a
 * failing kernel returns r + 1, reported at `span`. */
static void add_check(Lower *l, NodeId r, Span span) {
  Program *prog = l->prog;
  NodeId *cn = realloc(prog->check_node, ((size_t)prog->nchecks + 1) * sizeof *cn);
  if (cn)
    prog->check_node = cn;
  Span *cs = cn ? realloc(prog->check_span, ((size_t)prog->nchecks + 1) * sizeof *cs) : NULL;
  if (cs) {
    prog->check_span = cs;
    prog->check_node[prog->nchecks] = r;
    prog->check_span[prog->nchecks++] = span;
  } else {
    l->oom = 1;
  }
}

/* A reduction kept with its axis (keepdims=true): size 1 there. */
static NodeId keep(Dag *g, NodeId r, ShapeId xs, int axis, int keepdims) {
  if (!keepdims || r == NO_NODE)
    return r;
  return dag_reshape(g, r, shape_keepdims(g, xs, axis));
}

/* The elements of a list argument [a, b, ...] of concat() or stack(),
 * lowered one by one (they need not have one shape). */
static int list_elements(Lower *l, Ast *list, const char *fname, NodeId **out) {
  if (!list || list->kind != AST_VECTOR) {
    ERR(l, list ? list->span : (Span){0}, "%s() takes a list of tensors: %s([a, b], axis=0)", fname, fname);
    return -1;
  }
  NodeId *x = malloc((size_t)list->nkids * sizeof *x);
  if (!x) {
    l->oom = 1;
    return -1;
  }
  for (int i = 0; i < list->nkids; i++) {
    Ast *k = list->kids[i];
    if (k && k->kind == AST_KWARG) {
      ERR(l, k->span, "a keyword argument (name=value) belongs in a call");
      free(x);
      return -1;
    }
    if ((x[i] = lower_expr(l, k)) == NO_NODE) {
      free(x);
      return -1;
    }
  }
  *out = x;
  return list->nkids;
}

static void note_checks(Lower *l, Span span, NodeId r);

/* concat([a, b, ...], axis=K) and stack([...], axis=K): each piece padded
 * with zeros to the whole result, and the pieces added. */
static NodeId join(Lower *l, Ast *a, Ast *list, Ast *axis_ast, NodeId axis_node, int stack) {
  Dag *g = l->prog->dag;
  const char *fname = stack ? "stack" : "concat";
  NodeId *x = NULL;
  int n = list_elements(l, list, fname, &x);
  if (n < 0)
    return NO_NODE;
  ShapeId s0 = dag_shape(g, x[0]);
  Shape first = *shape_get(g, s0);
  int rank = first.rank + (stack ? 1 : 0), axis = 0;
  NodeId r = NO_NODE;
  if (!stack && first.rank == 0) {
    ERR(l, list->kids[0]->span, "concat() joins tensors along an axis, not scalars: use [a, b] or stack()");
    goto done;
  }
  if (stack && rank > MAX_RANK) {
    ERR(l, a->span, "stack() of tensors of rank %d would exceed rank %d", first.rank, MAX_RANK);
    goto done;
  }
  if (axis_ast && !axis_arg(l, axis_ast, axis_node, rank, &axis))
    goto done;
  Shape out = first;
  if (stack) {
    for (int k = rank - 1; k > axis; k--)
      out.dim[k] = out.dim[k - 1];
    out.dim[axis] = n;
    out.rank = rank;
  } else {
    out.dim[axis] = 0;
  }
  for (int i = 0; i < n; i++) {
    const Shape *si = shape_get(g, dag_shape(g, x[i]));
    int ok = si->rank == first.rank, cast = 0;
    for (int k = 0; ok && k < si->rank; k++) {
      ok = si->dim[k] == first.dim[k] || (!stack && k == axis) || dims_may_equal(g, si->dim[k], first.dim[k]);
      cast |= !(si->dim[k] == first.dim[k] || (!stack && k == axis));
    }
    if (ok && cast) { /* x[0::2] and x[1::2]: equal at call time, or an error then */
      Shape to = first;
      if (!stack)
        to.dim[axis] = si->dim[axis];
      x[i] = dag_bcast(g, x[i], shape_intern(g, &to));
      note_checks(l, list->kids[i]->span, x[i]);
      if (x[i] == NO_NODE) {
        ERR(l, list->kids[i]->span, "%s(): %s", fname, g->err);
        goto done;
      }
    }
    if (!ok) {
      char sa[96], sb[96];
      shape_format(g, s0, sa, sizeof sa);
      shape_format(g, dag_shape(g, x[i]), sb, sizeof sb);
      ERR(l, list->kids[i]->span, "%s(): %s and %s do not fit together%s", fname, sa, sb,
          stack ? " (stack needs one shape)" : " (only the axis may differ)");
      goto done;
    }
  }
  /* along the axis, the pieces' lengths add up: literal ones to a number,
   * symbolic ones (N, N-1, (N+1)//2, ...) to a derived dimension; a piece
   * starts at the lengths before it, counted from the end after the last
   * symbolic piece, else from the start plus the symbolic lengths before it
   * (SliceSpec.off) */
  int64_t *len = NULL, *ones = NULL;
  int last_sym = -1;
  if (!stack) {
    len = malloc((size_t)n * sizeof *len);
    ones = malloc((size_t)n * sizeof *ones);
    if (!len || !ones) {
      g->oom = 1;
      free(len);
      free(ones);
      goto done;
    }
    for (int i = 0; i < n; i++) {
      len[i] = shape_get(g, dag_shape(g, x[i]))->dim[axis];
      ones[i] = 1;
      if (len[i] < 0)
        last_sym = i;
    }
    out.dim[axis] = dim_affine(g, n, len, ones, 0, 1);
    if (out.dim[axis] == DIM_FAIL) {
      ERR(l, list->span, "concat(): %s", g->oom ? "out of memory" : g->err);
      free(len);
      free(ones);
      goto done;
    }
  }
  if (n == 1 && !stack) {
    r = x[0];
    free(len);
    free(ones);
    goto done;
  }
  int64_t at = 0, rest = 0, symoff = 0; /* literal lengths before, after; symbolic before */
  for (int i = last_sym + 1; !stack && i < n; i++)
    rest += len[i];
  for (int i = 0; i < n && !g->oom; i++) {
    const Shape *si = shape_get(g, dag_shape(g, x[i]));
    SliceSpec sp = {0};
    sp.rank = out.rank;
    for (int k = 0; k < out.rank; k++) {
      sp.full[k] = out.dim[k];
      sp.len[k] = out.dim[k];
    }
    if (stack) {
      sp.start[axis] = i;
      sp.len[axis] = 1;
      sp.drop = 1u << axis;
    } else if (last_sym >= 0 && i > last_sym) { /* from the end */
      sp.start[axis] = -rest;
      sp.from_end |= 1u << axis;
      sp.len[axis] = si->dim[axis];
      rest -= len[i];
    } else {
      sp.start[axis] = at;
      sp.off[axis] = symoff; /* after symbolic pieces: their lengths */
      sp.len[axis] = si->dim[axis];
      if (len[i] >= 0) {
        at += len[i];
      } else {
        int64_t two[2] = {symoff, len[i]};
        symoff = dim_affine(g, 2, two, ones, 0, 1);
        if (symoff == DIM_FAIL) {
          ERR(l, list->kids[i]->span, "concat(): %s", g->oom ? "out of memory" : g->err);
          free(len);
          free(ones);
          r = NO_NODE;
          goto done;
        }
      }
    }
    sp.negzero = 1;
    NodeId p = dag_pad(g, x[i], &sp);
    r = r == NO_NODE ? p : dag_add(g, r, p);
  }
  free(len);
  free(ones);
  r = checked(l, a, fname, r);
done:
  free(x);
  return r;
}

/* Is dimension d c times dimension e, for an integer c >= 1 (2*N and N)?
 * The ratio at a sample binding, confirmed by the canonical forms. */
static int64_t dim_ratio(Lower *l, int64_t d, int64_t e) {
  Dag *g = l->prog->dag;
  long *base = malloc(((size_t)l->prog->ndims + 1) * sizeof *base);
  if (!base)
    return 0;
  for (int k = 0; k < l->prog->ndims; k++)
    base[k] = 1000003 + 2 * k;
  long vd = dim_eval(g, d, base), ve = dim_eval(g, e, base);
  free(base);
  if (vd <= 0 || ve <= 0 || vd % ve)
    return 0;
  int64_t c = vd / ve;
  return dim_affine(g, 1, &e, &c, 0, 1) == d ? c : 0;
}

/* reshape(x, [d1, d2, ...]): integer literals (one may be -1, inferred)
 * and dimension names, the same number of elements as x. Symbolic
 * dimensions of x cancel against names in the new shape (N against N, 2*N
 * against N times 2); one symbolic dimension d may be left over, giving
 * the -1 (or the one name left over) the size lit_in*d/lit_out, whose
 * remainder and equality to the name are checked at call time where they
 * are not known (reshape(x[N], [-1, 2]) needs an even N). */
static NodeId reshape_call(Lower *l, Ast *a, NodeId x, Ast *list) {
  Dag *g = l->prog->dag;
  if (!list || list->kind != AST_VECTOR) {
    ERR(l, list ? list->span : a->span, "reshape() takes the new shape as a list: reshape(x, [2, -1])");
    return NO_NODE;
  }
  if (list->nkids > MAX_RANK) {
    ERR(l, list->span, "tensors have at most %d dimensions", MAX_RANK);
    return NO_NODE;
  }
  const Shape *xs = shape_get(g, dag_shape(g, x));
  Shape to = {.rank = list->nkids};
  int infer = -1, named = -1; /* the -1; a name left over */
  double lit_out = 1, lit_in = 1;
  int64_t sym_in[MAX_RANK];
  int nsym_in = 0;
  for (int k = 0; k < xs->rank; k++) {
    if (xs->dim[k] < 0)
      sym_in[nsym_in++] = xs->dim[k];
    else
      lit_in *= (double)xs->dim[k];
  }
  char sx[96];
  shape_format(g, dag_shape(g, x), sx, sizeof sx);
  for (int k = 0; k < list->nkids; k++) {
    Ast *d = list->kids[k];
    int64_t v;
    Binding *b = d && d->kind == AST_NAME ? lookup(l, d->name) : NULL;
    if (b && b->kind == B_DIMNAME) {
      to.dim[k] = ~(int64_t)b->var;
      int found = 0;
      for (int j = 0; j < nsym_in && !found; j++)
        if (sym_in[j] == to.dim[k]) {
          sym_in[j] = 0;
          found = 1;
        }
      for (int j = 0; j < nsym_in && !found; j++) {
        int64_t c = sym_in[j] ? dim_ratio(l, sym_in[j], to.dim[k]) : 0;
        if (c > 0) {
          sym_in[j] = 0;
          lit_in *= (double)c;
          found = 1;
        }
      }
      if (!found) {
        if (named >= 0) {
          ERR(l, d->span, "reshape(): dimensions %s and %s are not dimensions of the tensor %s, so the sizes cannot be shown to agree",
              list->kids[named]->name, d->name, sx);
          return NO_NODE;
        }
        named = k;
      }
      continue;
    }
    if (!ast_int(d, &v) || (v < 1 && v != -1)) {
      ERR(l, d ? d->span : list->span, "reshape(): a dimension must be a positive integer, -1 or a dimension name");
      return NO_NODE;
    }
    if (v == -1) {
      if (infer >= 0) {
        ERR(l, d->span, "reshape(): only one dimension can be -1");
        return NO_NODE;
      }
      infer = k;
      continue;
    }
    to.dim[k] = v;
    lit_out *= (double)v;
  }
  int leftover = 0;
  int64_t left = 0;
  for (int j = 0; j < nsym_in; j++)
    if (sym_in[j] != 0) {
      leftover++;
      left = sym_in[j];
    }
  if (leftover > 1) {
    ERR(l, list->span, "reshape(): the tensor %s has %d dimensions known only at call time that the new shape "
        "does not keep: their product is not a size gradc can hold (name them in the new shape)", sx, leftover);
    return NO_NODE;
  }
  if (leftover == 1 && (infer >= 0) != (named >= 0)) {
    /* the -1 (or the name) is lit_in*d/lit_out: floor and ceil, equal
     * when the division is exact (checked at call time, on a broadcast
     * between the two, as elementwise operators check their symbolic
     * sizes), then equal to the name */
    int at = infer >= 0 ? infer : named;
    int64_t name = to.dim[at], m = (int64_t)lit_in, dv = (int64_t)lit_out;
    Shape up = to;
    to.dim[at] = dim_affine(g, 1, &left, &m, 0, dv);
    up.dim[at] = dim_affine(g, 1, &left, &m, dv - 1, dv);
    if (to.dim[at] == DIM_FAIL || up.dim[at] == DIM_FAIL) {
      ERR(l, list->span, "reshape(): %s", g->oom ? "out of memory" : g->err);
      return NO_NODE;
    }
    if (named >= 0 && to.dim[at] != name && !dims_may_equal(g, to.dim[at], name)) {
      char sd[96], st[96];
      dim_format(g, to.dim[at], sd, sizeof sd);
      shape_format(g, shape_intern(g, &to), st, sizeof st);
      ERR(l, list->kids[at]->span, "reshape(): cannot reshape %s to a shape with %s where the sizes make it %s: "
          "the sizes differ", sx, list->kids[at]->name, sd);
      return NO_NODE;
    }
    NodeId y = dag_reshape(g, x, shape_intern(g, &up));
    if (up.dim[at] != to.dim[at] && y != NO_NODE) {
      y = dag_bcast(g, y, shape_intern(g, &to));
      note_checks(l, list->span, y);
    }
    if (named >= 0 && to.dim[at] != name && y != NO_NODE) {
      to.dim[at] = name;
      y = dag_bcast(g, y, shape_intern(g, &to));
      note_checks(l, list->kids[at]->span, y);
    }
    return checked(l, a, "reshape", y);
  }
  if (leftover) {
    if (infer >= 0)
      ERR(l, list->span, "reshape(): cannot infer -1: the size of %s cannot be shown to be a multiple of the "
          "new shape's other dimensions", sx);
    else
      ERR(l, list->span, "reshape(): the tensor %s has a dimension known only at call time that the new shape does not keep",
          sx);
    return NO_NODE;
  }
  if (named >= 0) {
    ERR(l, list->kids[named]->span, "reshape(): dimension %s is not a dimension of the tensor %s, so the sizes "
        "cannot be shown to agree", list->kids[named]->name, sx);
    return NO_NODE;
  }
  if (infer >= 0) {
    double q = lit_in / lit_out;
    if (q != floor(q) || q < 1) {
      ERR(l, list->span, "reshape(): cannot infer -1: %s has %.0f elements (besides named dimensions), not a multiple of %.0f",
          sx, lit_in, lit_out);
      return NO_NODE;
    }
    to.dim[infer] = (int64_t)q;
  } else if (lit_in != lit_out) {
    char st[96];
    shape_format(g, shape_intern(g, &to), st, sizeof st);
    ERR(l, list->span, "reshape(): cannot reshape %s to %s: the sizes differ", sx, st);
    return NO_NODE;
  }
  return checked(l, a, "reshape", dag_reshape(g, x, shape_intern(g, &to)));
}

/* The length of arange(): a dimension (~symbol) or a positive count. */
static int arange_len(Lower *l, Ast *at, NodeId start, NodeId stop, int64_t *len) {
  Dag *g = l->prog->dag;
  if (g->nodes[stop].op == OP_DIM && dag_is_const(g, start) && dag_num(g, start) == 0) {
    *len = ~g->nodes[stop].v.idx;
    return 1;
  }
  if (!dag_is_const(g, start) || !dag_is_const(g, stop)) {
    ERR(l, at->span, "arange() takes numbers or a dimension name: arange(N), arange(2, 5)");
    return 0;
  }
  double n = ceil(dag_num(g, stop) - dag_num(g, start));
  if (!(n >= 1) || n > 1e9) {
    ERR(l, at->span, "arange() from %g to %g would have %g elements: it needs at least 1 (and at most 10^9)",
        dag_num(g, start), dag_num(g, stop), n < 0 ? 0 : n);
    return 0;
  }
  *len = (int64_t)n;
  return 1;
}

/* grad(E, x) and jvp(E, x, v) (SPEC 1.8): x must be a variable (a param or
 * an input; a function's parameter bound to one), E a scalar for grad, v
 * broadcast to x's shape (numpy's broadcast_to: a scalar v moves every
 * element by v). The derivative is built here, into the DAG (lang_ad.c). */
/* Why a statement may have hit the node limit: derivatives nested inside
 * derivatives (each reverse sweep of a reverse sweep about doubles the
 * graph, so k levels cost 2^k). Looks at the statement's own tree only
 * (an iterative walk); "" if it has no grad()/jvp() call. */
static const char *too_large_hint(const Ast *root) {
  const Ast *stack[256];
  int sp = 0, calls = 0;
  stack[sp++] = root;
  while (sp) {
    const Ast *a = stack[--sp];
    if (!a)
      continue;
    if (a->kind == AST_CALL && a->name && (!strcmp(a->name, "grad") || !strcmp(a->name, "jvp")))
      calls++;
    for (int i = 0; i < a->nkids && sp < 256; i++)
      stack[sp++] = a->kids[i];
  }
  return calls ? ": derivatives of derivatives grow the graph about twofold per level; "
                 "for a higher-order directional derivative nest jvp() along a direction instead of grad()"
               : "";
}

static NodeId derivative(Lower *l, const Builtin *f, NodeId *pos, Ast **pos_ast) {
  Dag *g = l->prog->dag;
  Program *prog = l->prog;
  NodeId e = pos[0], x = pos[1];
  const Node *xn = &g->nodes[x];
  if (xn->op != OP_VAR || xn->v.idx < 0 || xn->v.idx >= prog->nvars) {
    Ast *xa = pos_ast[1];
    if (xa->kind == AST_NAME && param_ref(l, xa->name) != NO_NODE)
      ERR(l, xa->span, "%s(): '%s' is bound to an expression here, not to a param or an input: "
          "%s() differentiates with respect to a variable", f->name, xa->name, f->name);
    else if (xa->kind == AST_NAME)
      ERR(l, xa->span, "%s(): '%s' is not a param or an input: %s() differentiates with respect to a variable",
          f->name, xa->name, f->name);
    else
      ERR(l, xa->span, "%s(): the second argument must name a param or an input, not an expression", f->name);
    return NO_NODE;
  }
  const Var *var = &prog->vars[xn->v.idx];
  char se[96], sx[96];
  shape_format(g, dag_shape(g, e), se, sizeof se);
  shape_format(g, var->shape, sx, sizeof sx);
  if (f->code == B_GRAD) {
    if (dag_shape(g, e) != SHAPE_SCALAR) {
      ERR(l, pos_ast[0]->span, "grad needs a scalar expression; sum it or use jvp (this one has shape %s)", se);
      return NO_NODE;
    }
    return lang_grad(g, e, x);
  }
  NodeId v = dag_bcast(g, pos[2], var->shape);
  if (v == NO_NODE) {
    char sv[96];
    g->err[0] = 0;
    shape_format(g, dag_shape(g, pos[2]), sv, sizeof sv);
    ERR(l, pos_ast[2]->span, "jvp(): the direction has shape %s but '%s' has shape %s: give it %s's shape (or a scalar)",
        sv, var->name, sx, var->name);
    return NO_NODE;
  }
  note_checks(l, pos_ast[2]->span, v);
  return lang_jvp(g, e, x, v);
}

static NodeId call(Lower *l, Ast *a, const NodeId *x) {
  Dag *g = l->prog->dag;
  const Builtin *f = builtin(a->name);
  if (!f) {
    Binding *b = lookup(l, a->name);
    if (b) {
      ERR(l, a->span, "'%s' is %s, not a function", a->name,
          b->kind == B_VAR ? "a variable" : b->kind == B_DIMNAME ? "a dimension" : "a definition");
      return NO_NODE;
    }
    size_t nn = 0;
    const char **names = malloc((NBUILTIN + l->count) * sizeof *names);
    if (!names) {
      l->oom = 1;
      return NO_NODE;
    }
    for (int i = 0; i < NBUILTIN; i++)
      if (builtins[i].minargs >= 0)
        names[nn++] = builtins[i].name;
    for (size_t i = 0; i < l->count; i++) /* the functions defined so far */
      if (l->tab[i].kind == B_FUNC)
        names[nn++] = l->tab[i].name;
    const char *best = diag_closest(a->name, names, (int)nn);
    free(names);
    char hint[300];
    if (best)
      snprintf(hint, sizeof hint, "did you mean '%s'?", best);
    ERRH(l, a->span, best ? hint : NULL, "unknown function '%s'", a->name);
    return NO_NODE;
  }
  if (f->minargs < 0) {
    ERR(l, a->span, "'%s' is a built-in constant, not a function", a->name);
    return NO_NODE;
  }
  /* positional arguments, then keyword arguments (axis=, keepdims=) */
  NodeId pos[3] = {NO_NODE, NO_NODE, NO_NODE}, axis_node = NO_NODE, keep_node = NO_NODE;
  Ast *pos_ast[3] = {NULL, NULL, NULL}, *axis_ast = NULL, *keep_ast = NULL;
  int n = 0;
  for (int i = 0; i < a->nkids; i++) {
    Ast *k = a->kids[i];
    if (k && k->kind == AST_KWARG) {
      int is_axis = !strcmp(k->name, "axis"), is_keep = !strcmp(k->name, "keepdims");
      if ((!is_axis && !is_keep) || (is_axis && !(f->kw & KW_AXIS)) || (is_keep && !(f->kw & KW_KEEP))) {
        ERR(l, k->span, "%s() takes no keyword argument '%s'", f->name, k->name);
        return NO_NODE;
      }
      if (is_axis ? axis_ast != NULL : keep_ast != NULL) {
        ERR(l, k->span, "%s() is given '%s' twice", f->name, k->name);
        return NO_NODE;
      }
      if (is_axis) {
        axis_ast = k;
        axis_node = x[i];
      } else {
        keep_ast = k;
        keep_node = x[i];
      }
      continue;
    }
    if (axis_ast || keep_ast) {
      ERR(l, k ? k->span : a->span, "a positional argument after a keyword argument");
      return NO_NODE;
    }
    if (n < 3) {
      pos[n] = x[i];
      pos_ast[n] = k;
    }
    n++;
  }
  if (n < f->minargs || n > f->maxargs) {
    if (f->minargs == f->maxargs)
      ERR(l, a->span, "%s() takes %d argument%s, not %d", f->name, f->minargs,
          f->minargs == 1 ? "" : "s", n);
    else
      ERR(l, a->span, "%s() takes %d to %d arguments, not %d", f->name,
          f->minargs, f->maxargs, n);
    return NO_NODE;
  }
  for (int i = 0; i < a->nkids; i++)
    if (x[i] == NO_NODE)
      return NO_NODE;
  if (f->code < OP_COUNT)
    return checked(l, a, f->name, dag_op(g, (OpKind)f->code, pos[0], pos[1], pos[2]));
  if (f->code >= B_RANDN) {
    ERR(l, a->span, "%s() is only allowed as the default of a declaration",
        f->name);
    return NO_NODE;
  }
  if ((f->code == B_MAX || f->code == B_MIN) && n == 2) { /* elementwise */
    if (axis_ast || keep_ast) {
      ERR(l, (axis_ast ? axis_ast : keep_ast)->span,
          "%s(a, b) is elementwise and takes no '%s': reduce one tensor with %s(x, axis=K)", f->name,
          (axis_ast ? axis_ast : keep_ast)->name, f->name);
      return NO_NODE;
    }
    return checked(l, a, f->name, dag_op(g, f->code == B_MAX ? OP_MAX : OP_MIN, pos[0], pos[1], NO_NODE));
  }
  /* a positional axis: the last optional argument of a function with axis= */
  if ((f->kw & KW_AXIS) && n == f->maxargs) {
    if (axis_ast) {
      ERR(l, axis_ast->span, "%s() is given the axis twice", f->name);
      return NO_NODE;
    }
    axis_ast = pos_ast[n - 1];
    axis_node = pos[n - 1];
    n--;
  }
  int keepdims = 0;
  if (keep_ast) {
    if (!dag_is_const(g, keep_node) || (dag_num(g, keep_node) != 0 && dag_num(g, keep_node) != 1)) {
      ERR(l, keep_ast->span, "keepdims must be true or false");
      return NO_NODE;
    }
    keepdims = dag_num(g, keep_node) != 0;
  }
  if (f->code == B_GRAD || f->code == B_JVP)
    return derivative(l, f, pos, pos_ast);
  if (f->code == B_CONCAT || f->code == B_STACK)
    return join(l, a, pos_ast[0], axis_ast, axis_node, f->code == B_STACK);
  if (f->code == B_LINSCAN) { /* a and b broadcast to one shape first */
    ShapeId ab;
    if (shape_broadcast(g, dag_shape(g, pos[0]), dag_shape(g, pos[1]), &ab) < 0) {
      ERR(l, a->span, "linscan(): cannot broadcast a and b to one shape");
      return NO_NODE;
    }
    pos[0] = dag_bcast(g, pos[0], ab);
    pos[1] = dag_bcast(g, pos[1], ab);
  }
  ShapeId xs = dag_shape(g, pos[0]);
  int rank = shape_rank(g, xs);
  int axis = -1;
  if (axis_ast && !axis_arg(l, axis_ast, axis_node, rank, &axis))
    return NO_NODE;
  NodeId r;
  switch (f->code) {
  case B_SUM:
    return keep(g, checked(l, a, f->name, dag_sum(g, pos[0], axis)), xs, axis, keepdims);
  case B_MEAN:
    return keep(g, dag_div(g, dag_sum(g, pos[0], axis), dag_dim_size(g, xs, axis)), xs, axis, keepdims);
  case B_LOGSUMEXP:
    return keep(g, dag_logsumexp(g, pos[0], axis), xs, axis, keepdims);
  case B_SOFTMAX:
    return dag_softmax(g, pos[0], axis);
  case B_LOG_SOFTMAX:
    return dag_log_softmax(g, pos[0], axis);
  case B_ARGMAX:
    return keep(g, checked(l, a, f->name, dag_argmax(g, pos[0], axis)), xs, axis, keepdims);
  case B_MAX:
    return keep(g, checked(l, a, f->name, dag_amax(g, pos[0], axis)), xs, axis, keepdims);
  case B_MIN: /* min(x) = -max(-x): exact */
    return keep(g, checked(l, a, f->name, dag_neg(g, dag_amax(g, dag_neg(g, pos[0]), axis))), xs, axis,
                keepdims);
  case B_PROD:
    return keep(g, checked(l, a, f->name, dag_prod(g, pos[0], axis)), xs, axis, keepdims);
  case B_NORM: /* the 2-norm; its gradient at 0 is 0 (strong zeros, SPEC 1.6) */
    return keep(g, dag_un(g, OP_SQRT, dag_sum(g, dag_pow(g, pos[0], dag_const(g, 2)), axis)), xs, axis,
                keepdims);
  case B_CUMSUM:
  case B_CUMPROD:
  case B_LINSCAN: /* h_i = a_i h_(i-1) + b_i from h_(-1) = 0 */
    if (rank == 0)
      return f->code == B_LINSCAN ? pos[1] : pos[0];
    if (axis < 0 && rank > 1) { /* numpy: over the flattened tensor */
      int64_t size = shape_size(g, xs);
      if (size < 0) {
        ERR(l, a->span, "%s() of a tensor with a dimension known only at call time needs an axis", f->name);
        return NO_NODE;
      }
      Shape flat = {.rank = 1, .dim = {size}};
      pos[0] = dag_reshape(g, pos[0], shape_intern(g, &flat));
      if (f->code == B_LINSCAN)
        pos[1] = dag_reshape(g, pos[1], shape_intern(g, &flat));
    }
    axis = axis < 0 ? 0 : axis;
    if (f->code == B_LINSCAN)
      return checked(l, a, f->name, dag_linscan(g, pos[0], pos[1], axis, 0));
    return checked(l, a, f->name,
                   f->code == B_CUMSUM ? dag_cumsum(g, pos[0], axis, 0) : dag_cumprod(g, pos[0], axis, 0));
  case B_CLIP: { /* numpy's minimum(maximum(x, lo), hi), derivative 1 on [lo, hi] */
    NodeId lo = dag_op(g, OP_WHERE, dag_bin(g, OP_LT, pos[0], pos[1]), pos[1], pos[0]);
    return checked(l, a, f->name, dag_op(g, OP_WHERE, dag_bin(g, OP_GT, lo, pos[2]), pos[2], lo));
  }
  case B_LOG_SIGMOID: /* -softplus(-x): no overflow */
    return dag_neg(g, dag_un(g, OP_SOFTPLUS, dag_neg(g, pos[0])));
  case B_RESHAPE:
    return reshape_call(l, a, pos[0], pos_ast[1]);
  case B_TAKE: {
    if (rank == 0) {
      ERR(l, pos_ast[0]->span, "take() needs a tensor, not a scalar");
      return NO_NODE;
    }
    NodeId src = pos[0];
    if (axis < 0 && rank > 1) { /* numpy: from the flattened tensor */
      int64_t size = shape_size(g, xs);
      if (size < 0) {
        ERR(l, a->span, "take() from a tensor with a dimension known only at call time needs an axis");
        return NO_NODE;
      }
      Shape flat = {.rank = 1, .dim = {size}};
      src = dag_reshape(g, src, shape_intern(g, &flat));
    }
    r = checked(l, a, f->name, dag_take(g, src, pos[1], axis < 0 ? 0 : axis));
    if (r != NO_NODE && g->nodes[r].op == OP_TAKE)
      add_check(l, r, a->span);
    return r;
  }
  case B_ARANGE: {
    int64_t len;
    NodeId start = n == 2 ? pos[0] : dag_const(g, 0), stop = n == 2 ? pos[1] : pos[0];
    if (!arange_len(l, a, start, stop, &len))
      return NO_NODE;
    return dag_add(g, start, dag_iota(g, len));
  }
  case B_EYE: {
    int64_t len, v;
    if (g->nodes[pos[0]].op == OP_DIM) {
      len = ~g->nodes[pos[0]].v.idx;
    } else if (dag_is_const(g, pos[0]) && dag_num(g, pos[0]) >= 1 && dag_num(g, pos[0]) <= 100000 &&
               (v = (int64_t)dag_num(g, pos[0])) == dag_num(g, pos[0])) { /* range before the cast */
      len = v;
    } else {
      ERR(l, pos_ast[0]->span, "eye() takes a positive integer or a dimension name");
      return NO_NODE;
    }
    NodeId i = dag_iota(g, len);
    Shape sq = {.rank = 2, .dim = {len, len}}, col = {.rank = 2, .dim = {len, 1}},
          row = {.rank = 2, .dim = {1, len}};
    ShapeId s = shape_intern(g, &sq);
    return dag_bin(g, OP_EQ, dag_bcast(g, dag_reshape(g, i, shape_intern(g, &col)), s),
                   dag_bcast(g, dag_reshape(g, i, shape_intern(g, &row)), s));
  }
  case B_TRANSPOSE:
    return dag_transpose(g, pos[0]);
  case B_DOT:
    if (rank == 0 || shape_rank(g, dag_shape(g, pos[1])) == 0)
      return checked(l, a, f->name, dag_mul(g, pos[0], pos[1]));
    return checked(l, a, "dot", dag_matmul(g, pos[0], pos[1], 0));
  case B_ONEHOT: {
    int64_t k;
    if (!int_arg(l, pos_ast[1], pos[1], "the number of classes", &k))
      return NO_NODE;
    if (k < 1 || k > 1000000) {
      ERR(l, pos_ast[1]->span, "the number of classes must be between 1 and 1000000");
      return NO_NODE;
    }
    r = dag_onehot(g, pos[0], (int)k);
    if (r != NO_NODE && g->nodes[r].op == OP_ONEHOT) /* where a bad label is reported */
      add_check(l, r, a->span);
    return checked(l, a, f->name, r);
  }
  default:
    ERR(l, a->span, "%s() is not supported here", f->name);
    return NO_NODE;
  }
}

/* An integer literal in the source: 3 or -3. */
static int ast_int(const Ast *a, int64_t *v) {
  int neg = 0;
  if (a && a->kind == AST_UNARY && a->op == OP_NEG) {
    neg = 1;
    a = a->kids[0];
  }
  if (!a || a->kind != AST_NUM || a->num != floor(a->num) || fabs(a->num) > 1e15)
    return 0;
  *v = (int64_t)(neg ? -a->num : a->num);
  return 1;
}

/* Record that node r, built for the expression at `span`, has call-time
 * checks (an index of a symbolic dimension, two symbolic dimensions that
 * must be equal), so that a failure is reported there. */
static void note_checks(Lower *l, Span span, NodeId r) {
  Program *prog = l->prog;
  DimCheck c[MAX_DIM_CHECKS];
  if (r == NO_NODE || dag_node_checks(prog->dag, r, c) == 0)
    return;
  for (int i = 0; i < prog->nchecks; i++)
    if (prog->check_node[i] == r)
      return; /* the first place that built it */
  NodeId *cn = realloc(prog->check_node, ((size_t)prog->nchecks + 1) * sizeof *cn);
  if (cn)
    prog->check_node = cn;
  Span *cs = cn ? realloc(prog->check_span, ((size_t)prog->nchecks + 1) * sizeof *cs) : NULL;
  if (cs) {
    prog->check_span = cs;
    prog->check_node[prog->nchecks] = r;
    prog->check_span[prog->nchecks++] = span;
  }
}

static int is_none(const Ast *a) { return a && a->kind == AST_NAME && !strcmp(a->name, "None"); }

static const char *dim_name(Lower *l, int64_t d, char *buf, size_t n) {
  dim_format(l->prog->dag, d, buf, n);
  return buf;
}

/* One slice lo:hi:step of a dimension of size d (a literal or symbolic):
 * sets the spec's start, len, step, from_end and checks for dimension i.
 * Python's rules for a literal size; for a symbolic one the length is a
 * literal (both ends counted from the same side: checked at call time) or
 * a derived dimension (x[1:] is N-1 long, x[::2] (N+1)//2). */
static int slice_dim(Lower *l, Ast *ix, int64_t d, SliceSpec *sp, int i) {
  int64_t lo = 0, hi = 0, st = 1;
  int has_lo = ix->kids[0] != NULL, has_hi = ix->kids[1] != NULL;
  if ((has_lo && !ast_int(ix->kids[0], &lo)) || (has_hi && !ast_int(ix->kids[1], &hi)) ||
      (ix->kids[2] && !ast_int(ix->kids[2], &st))) {
    ERR(l, ix->span, "slice bounds and steps must be integer literals");
    return 0;
  }
  if (st == 0) {
    ERR(l, ix->span, "a slice step cannot be zero");
    return 0;
  }
  sp->step[i] = st;
  if (d >= 0) { /* Python's slice.indices */
    int64_t a, b;
    if (st > 0) {
      a = !has_lo ? 0 : lo < 0 ? (lo + d < 0 ? 0 : lo + d) : (lo > d ? d : lo);
      b = !has_hi ? d : hi < 0 ? (hi + d < 0 ? 0 : hi + d) : (hi > d ? d : hi);
    } else {
      a = !has_lo ? d - 1 : lo < 0 ? (lo + d < 0 ? -1 : lo + d) : (lo > d - 1 ? d - 1 : lo);
      b = !has_hi ? -1 : hi < 0 ? (hi + d < 0 ? -1 : hi + d) : (hi > d - 1 ? d - 1 : hi);
    }
    int64_t gap = st > 0 ? b - a : a - b, m = st > 0 ? st : -st;
    int64_t count = gap > 0 ? (gap + m - 1) / m : 0;
    if (count == 0) {
      ERR(l, ix->span, "the slice is empty for a dimension of size %lld", (long long)d);
      return 0;
    }
    sp->start[i] = a;
    sp->len[i] = count;
    return 1;
  }
  /* a symbolic size: each end counted from the start (fs) or the end */
  int64_t m = st > 0 ? st : -st;
  int lo_fs, hi_fs;
  if (st > 0) {
    if (!has_lo) lo = 0;
    lo_fs = lo >= 0;
    if (!has_hi) hi = 0, hi_fs = 0; /* the end */
    else hi_fs = hi >= 0;
  } else {
    if (!has_lo) lo = -1;
    lo_fs = lo >= 0;
    if (!has_hi) hi = -1, hi_fs = 1; /* before the first element */
    else hi_fs = hi >= 0;
  }
  sp->start[i] = lo;
  if (!lo_fs)
    sp->from_end |= 1u << i;
  if (lo_fs == hi_fs) { /* a literal length; its ends checked at call time */
    int64_t gap = st > 0 ? hi - lo : lo - hi;
    if (gap <= 0) {
      ERR(l, ix->span, "the slice is empty");
      return 0;
    }
    int64_t count = (gap + m - 1) / m, last = lo + (count - 1) * st;
    sp->len[i] = count;
    if (lo_fs) { /* the largest index read must exist */
      int64_t top = lo > last ? lo : last;
      sp->need[i] = top + 1;
      sp->shown[i] = top;
    } else {
      int64_t low = lo < last ? lo : last;
      sp->need[i] = -low;
      sp->shown[i] = low;
    }
    return 1;
  }
  if ((st > 0 && lo_fs) || (st < 0 && !lo_fs)) {
    /* x[a:] and x[a:-b]: max(0, ceil((N - b - a)/m)); x[-a::-s] likewise */
    int64_t diff = st > 0 ? hi - lo : lo - hi;
    sp->len[i] = dim_derive(l->prog->dag, d, diff + m - 1, m);
    if (sp->len[i] == DIM_FAIL) {
      ERR(l, ix->span, "%s", l->prog->dag->oom ? "out of memory" : l->prog->dag->err);
      return 0;
    }
    return 1;
  }
  char dn[128];
  ERR(l, ix->span, "this slice of dimension %s has a length that does not grow with %s; count both "
      "ends from the same side, or the start from the start and the stop from the end",
      dim_name(l, d, dn, sizeof dn), dn);
  return 0;
}

/* x[i, a:b:s, :, None] as a slice with the integer-indexed dimensions
 * dropped, then new axes of size 1 where None is (a reshape). */
static NodeId index_expr(Lower *l, Ast *a, NodeId x) {
  Dag *g = l->prog->dag;
  Shape s = *shape_get(g, dag_shape(g, x));
  int nidx = a->nkids - 1, nnone = 0;
  for (int k = 0; k < nidx; k++)
    nnone += is_none(a->kids[k + 1]);
  if (nidx - nnone > s.rank) {
    ERR(l, a->span, "%d indices for a tensor of rank %d", nidx - nnone, s.rank);
    return NO_NODE;
  }
  SliceSpec sp;
  memset(&sp, 0, sizeof sp);
  sp.rank = s.rank;
  for (int i = 0; i < s.rank; i++) {
    sp.full[i] = s.dim[i];
    sp.len[i] = s.dim[i];
  }
  Shape out = {0}; /* the result's shape, new axes included */
  int i = 0;        /* the input dimension the next index applies to */
  for (int k = 0; k < nidx; k++) {
    Ast *ix = a->kids[k + 1];
    if (is_none(ix)) {
      if (out.rank >= MAX_RANK) {
        ERR(l, ix->span, "a new axis would make a tensor of rank more than %d", MAX_RANK);
        return NO_NODE;
      }
      out.dim[out.rank++] = 1;
      continue;
    }
    int64_t d = s.dim[i];
    if (ix->kind == AST_SLICE) {
      if (!slice_dim(l, ix, d, &sp, i))
        return NO_NODE;
      if (out.rank >= MAX_RANK) {
        ERR(l, ix->span, "a new axis would make a tensor of rank more than %d", MAX_RANK);
        return NO_NODE;
      }
      out.dim[out.rank++] = sp.len[i];
      i++;
      continue;
    }
    int64_t v;
    if (!ast_int(ix, &v)) {
      ERR(l, ix->span, "an index must be an integer literal, a slice or None");
      return NO_NODE;
    }
    if (d >= 0 && (v >= d || v < -d)) {
      ERR(l, ix->span, "index %lld is out of range for a dimension of size %lld", (long long)v,
          (long long)d);
      return NO_NODE;
    }
    if (d >= 0) {
      sp.start[i] = v < 0 ? v + d : v;
    } else { /* checked at call time */
      sp.start[i] = v;
      if (v < 0)
        sp.from_end |= 1u << i;
      sp.need[i] = v < 0 ? -v : v + 1;
      sp.shown[i] = v;
    }
    sp.len[i] = 1;
    sp.drop |= 1u << i;
    i++;
  }
  for (; i < s.rank; i++) {
    if (out.rank >= MAX_RANK) {
      ERR(l, a->span, "a new axis would make a tensor of rank more than %d", MAX_RANK);
      return NO_NODE;
    }
    out.dim[out.rank++] = s.dim[i];
  }
  if (g->oom)
    return NO_NODE;
  NodeId r = checked(l, a, "indexing", dag_slice(g, x, &sp));
  note_checks(l, a->span, r);
  if (r != NO_NODE && nnone)
    r = checked(l, a, "indexing", dag_reshape(g, r, shape_intern(g, &out)));
  return r;
}

/* [a, b, c]: every element has the same shape; the result stacks them
 * along a new first dimension (sum of zero-padded pieces). */
static NodeId vector_expr(Lower *l, Ast *a, const NodeId *x) {
  Dag *g = l->prog->dag;
  int n = a->nkids;
  ShapeId es = dag_shape(g, x[0]);
  const Shape *e = shape_get(g, es);
  for (int i = 1; i < n; i++)
    if (dag_shape(g, x[i]) != es) {
      char s0[96], si[96];
      shape_format(g, es, s0, sizeof s0);
      shape_format(g, dag_shape(g, x[i]), si, sizeof si);
      ERR(l, a->kids[i]->span, "the elements of a literal must have one shape: %s and %s", s0, si);
      return NO_NODE;
    }
  if (e->rank >= MAX_RANK) {
    ERR(l, a->span, "a literal of rank more than %d", MAX_RANK);
    return NO_NODE;
  }
  SliceSpec sp = {0};
  sp.rank = e->rank + 1;
  sp.full[0] = n;
  sp.len[0] = 1;
  sp.drop = 1;
  for (int i = 0; i < e->rank; i++) {
    sp.full[i + 1] = e->dim[i];
    sp.len[i + 1] = e->dim[i];
  }
  NodeId r = NO_NODE;
  for (int i = 0; i < n; i++) {
    sp.start[0] = i;
    sp.negzero = 1;
    NodeId p = dag_pad(g, x[i], &sp);
    r = r == NO_NODE ? p : dag_add(g, r, p);
  }
  return checked(l, a, "literal", r);
}

/* Is argument i of call a a list that call() reads itself (the tensors of
 * concat and stack, lowered one by one; the shape of reshape)? */
static int list_arg(Ast *a, int i) {
  const Builtin *f = builtin(a->name);
  if (!f || !a->kids[i] || a->kids[i]->kind != AST_VECTOR)
    return 0;
  return ((f->code == B_CONCAT || f->code == B_STACK) && i == 0) || (f->code == B_RESHAPE && i == 1);
}

typedef struct Frame {
  Ast *a;
  int next;
  int inl;      /* the end of an inlined call a: its body's value is on top */
  int diag0;    /* inl: the diagnostics before the body was lowered */
} Frame;

/* ---- user-defined functions -------------------------------------------- */

static uint32_t memo_hash(const Func *fn, const NodeId *args, int n) {
  uint64_t h = (uint64_t)(uintptr_t)fn * 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < n; i++)
    h = (h ^ args[i]) * 0x100000001b3ull;
  return (uint32_t)(h ^ (h >> 32));
}

static Memo *memo_find(Lower *l, const Func *fn, const NodeId *args, uint32_t h) {
  if (!l->capmemo)
    return NULL;
  int n = fn->params->nkids;
  for (size_t i = h & (l->capmemo - 1);; i = (i + 1) & (l->capmemo - 1)) {
    Memo *m = &l->memo[i];
    if (!m->fn)
      return NULL;
    if (m->fn == fn && m->hash == h && (n == 0 || !memcmp(m->args, args, (size_t)n * sizeof *args)))
      return m;
  }
}

/* Remember fn(args) = result; args is taken over (freed with the table). */
static void memo_add(Lower *l, const Func *fn, NodeId *args, NodeId result) {
  uint32_t h = memo_hash(fn, args, fn->params->nkids);
  if ((l->nmemo + 1) * 2 > l->capmemo) {
    size_t cap = l->capmemo ? 2 * l->capmemo : 64;
    Memo *tab = calloc(cap, sizeof *tab);
    if (!tab) {
      free(args);
      return; /* only slower */
    }
    for (size_t i = 0; i < l->capmemo; i++)
      if (l->memo[i].fn) {
        size_t j = l->memo[i].hash & (cap - 1);
        while (tab[j].fn)
          j = (j + 1) & (cap - 1);
        tab[j] = l->memo[i];
      }
    free(l->memo);
    l->memo = tab;
    l->capmemo = cap;
  }
  size_t j = h & (l->capmemo - 1);
  while (l->memo[j].fn)
    j = (j + 1) & (l->capmemo - 1);
  l->memo[j] = (Memo){fn, args, result, h};
  l->nmemo++;
}

static void memo_free(Lower *l) {
  for (size_t i = 0; i < l->capmemo; i++)
    free(l->memo[i].args);
  free(l->memo);
  for (int i = 0; i < l->nscope; i++)
    free(l->scope[i].args);
  free(l->scope);
}

/* A call of a user function with its arguments x lowered: the cached
 * result (*r), or 1 with a scope pushed for its body to be lowered, or 0
 * after an error (*r = NO_NODE). */
static int call_user(Lower *l, Ast *a, const Func *fn, const NodeId *x, NodeId *r) {
  *r = NO_NODE;
  int n = a->nkids, want = fn->params->nkids;
  for (int i = 0; i < n; i++)
    if (a->kids[i] && a->kids[i]->kind == AST_KWARG) {
      ERR(l, a->kids[i]->span, "%s() takes no keyword arguments (it is defined on line %d)", fn->name,
          fn->span.line);
      return 0;
    }
  if (n != want) {
    ERR(l, a->span, "%s() takes %d argument%s, not %d (it is defined on line %d)", fn->name, want,
        want == 1 ? "" : "s", n, fn->span.line);
    return 0;
  }
  for (int i = 0; i < n; i++)
    if (x[i] == NO_NODE)
      return 0;
  Memo *m = memo_find(l, fn, x, memo_hash(fn, x, n));
  if (m) {
    *r = m->result;
    return 0;
  }
  if (l->nscope >= MAX_CALL_DEPTH) {
    ERR(l, a->span, "function calls nested too deeply (more than %d levels) in the call of %s()",
        MAX_CALL_DEPTH, fn->name);
    return 0;
  }
  l->inlined += fn->size;
  if (l->inlined > MAX_INLINED) {
    if (!l->too_big)
      ERR(l, a->span, "the function calls expand to too large a program (more than %u operations)",
          MAX_INLINED);
    l->too_big = 1;
    return 0;
  }
  if (l->nscope == l->capscope) {
    int cap = l->capscope ? 2 * l->capscope : 16;
    Scope *sc = realloc(l->scope, (size_t)cap * sizeof *sc);
    if (!sc) {
      l->oom = 1;
      return 0;
    }
    l->scope = sc;
    l->capscope = cap;
  }
  NodeId *args = malloc((size_t)(n ? n : 1) * sizeof *args);
  if (!args) {
    l->oom = 1;
    return 0;
  }
  if (n)
    memcpy(args, x, (size_t)n * sizeof *args);
  l->scope[l->nscope++] = (Scope){fn, args};
  return 1;
}

/* The body of the innermost call is lowered to r: leave its scope. Errors
 * in the body name the call they come from. */
static void call_done(Lower *l, Ast *call_ast, int diag0, NodeId r) {
  Scope *s = &l->scope[--l->nscope];
  for (int i = diag0; i < l->diags->count; i++) {
    Diag *d = &l->diags->items[i];
    if (d->hint)
      continue;
    char hint[320];
    snprintf(hint, sizeof hint, "in the call of %s() on line %d, column %d", s->fn->name,
             call_ast->span.line, call_ast->span.col);
    d->hint = strdup(hint);
  }
  memo_add(l, s->fn, s->args, r);
}

static NodeId lower_expr(Lower *l, Ast *root) {
  /* the stacks start on the C stack (a definition is a few nodes: no
   * malloc per statement) and move to the heap when they grow */
  Frame st0[16];
  NodeId res0[32];
  Frame *st = st0, *st_heap = NULL; /* st_heap: st once it is malloc'd (gcc cannot see st != st0) */
  NodeId *res = res0; /* never NULL: a call with no arguments takes res + nres - 0 */
  size_t nst = 0, capst = 16, nres = 0, capres = 32;
  NodeId out = NO_NODE;
  int scope0 = l->nscope;
#define PUSH_RES(v)                                                         \
  do {                                                                      \
    if (nres == capres) {                                                   \
      NodeId *r_ = malloc(capres * 2 * sizeof *r_);                         \
      if (!r_) goto oom;                                                    \
      memcpy(r_, res, capres * sizeof *r_);                                 \
      if (res != res0) free(res);                                           \
      res = r_;                                                             \
      capres *= 2;                                                          \
    }                                                                       \
    res[nres++] = (v);                                                      \
  } while (0)
#define PUSH_FRAME(x)                                                       \
  do {                                                                      \
    if (nst == capst) {                                                     \
      Frame *s_ = malloc(capst * 2 * sizeof *s_);                           \
      if (!s_) goto oom;                                                    \
      memcpy(s_, st, capst * sizeof *s_);                                   \
      free(st_heap);                                                        \
      st = st_heap = s_;                                                    \
      capst *= 2;                                                           \
    }                                                                       \
    st[nst++] = (Frame){(x), 0, 0, 0};                                      \
  } while (0)

  Dag *g = l->prog->dag;
  PUSH_FRAME(root);
  while (nst > 0) {
    Frame *f = &st[nst - 1];
    Ast *a = f->a;
    if (f->inl) { /* an inlined body is done: its value is the call's */
      nst--;
      call_done(l, a, f->diag0, res[nres - 1]);
      continue;
    }
    if (!a) { /* a parse that ran out of memory */
      nst--;
      PUSH_RES(NO_NODE);
      continue;
    }
    switch (a->kind) {
    case AST_NUM:
      nst--;
      PUSH_RES(dag_const(g, a->num));
      continue;
    case AST_NAME:
      nst--;
      PUSH_RES(name_ref(l, a));
      continue;
    case AST_PATH:
      nst--;
      ERR(l, a->span, "a data file can only be the default of a declaration");
      PUSH_RES(NO_NODE);
      continue;
    case AST_SLICE:
      nst--;
      ERR(l, a->span, "a slice can only appear inside [ ]");
      PUSH_RES(NO_NODE);
      continue;
    default:
      break;
    }
    /* an index expression lowers only the indexed tensor */
    int n = a->kind == AST_INDEX ? 1 : a->nkids;
    if (f->next < n) {
      int at = f->next;
      Ast *kid = a->kids[f->next++];
      if (a->kind == AST_CALL && list_arg(a, at)) { /* read by call() itself */
        PUSH_RES(dag_const(g, 0));
        continue;
      }
      PUSH_FRAME(kid);
      continue;
    }
    nst--;
    NodeId *x = res + nres - n, r = NO_NODE;
    int ok = 1;
    for (int i = 0; i < n; i++)
      ok &= x[i] != NO_NODE;
    switch (a->kind) {
    case AST_UNARY:
      if (ok)
        r = dag_op(g, (OpKind)a->op, x[0], NO_NODE, NO_NODE);
      break;
    case AST_TRANSPOSE:
      if (ok)
        r = dag_transpose(g, x[0]);
      break;
    case AST_INDEX:
      if (ok)
        r = index_expr(l, a, x[0]);
      break;
    case AST_VECTOR:
      for (int i = 0; i < n && ok; i++)
        if (a->kids[i] && a->kids[i]->kind == AST_KWARG) {
          ERR(l, a->kids[i]->span, "a keyword argument (name=value) belongs in a call");
          ok = 0;
        }
      if (ok)
        r = vector_expr(l, a, x);
      break;
    case AST_KWARG:
      r = x[0];
      break;
    case AST_BINARY:
      if (a->op == '@') {
        if (ok)
          r = checked(l, a, "'@'", dag_matmul(g, x[0], x[1], 0));
      } else if (ok) {
        r = dag_op(g, (OpKind)a->op, x[0], x[1], NO_NODE);
        if (r == NO_NODE) { /* the operator's name only for the message */
          char what[8];
          snprintf(what, sizeof what, "'%s'", op_info[a->op].spell);
          r = checked(l, a, what, r);
        }
      }
      note_checks(l, a->span, r);
      break;
    case AST_CALL: {
      Binding *fb = builtin(a->name) ? NULL : lookup(l, a->name);
      if (fb && fb->is_func) {
        if (fb->kind == B_LATER) {
          ERR(l, a->span, "%s() is called before it is defined (line %d)", a->name, fb->span.line);
          break;
        }
        if (fb->kind != B_FUNC) /* its definition failed, and was reported */
          break;
        int diag0 = l->diags->count;
        if (!call_user(l, a, fb->fn, x, &r))
          break;
        /* lower the body in its scope, then an end marker takes its value */
        nres -= (size_t)n;
        Ast *body = fb->fn->body;
        PUSH_FRAME(a);
        st[nst - 1].inl = 1;
        st[nst - 1].diag0 = diag0;
        PUSH_FRAME(body);
        continue;
      }
      r = call(l, a, x);
      note_checks(l, a->span, r);
      break;
    }
    default:
      break;
    }
    nres -= (size_t)n;
    PUSH_RES(r);
  }
  out = res[0];
  free(st_heap);
  if (res != res0)
    free(res);
  return out;
oom:
  free(st_heap);
  if (res != res0)
    free(res);
  l->oom = 1;
  while (l->nscope > scope0) /* calls left half inlined */
    free(l->scope[--l->nscope].args);
  return NO_NODE;
#undef PUSH_RES
#undef PUSH_FRAME
}

/* ---- declarations ------------------------------------------------------- */

#define NO_SHAPE ((ShapeId)UINT32_MAX)

static int dim_symbol(Lower *l, Ast *d) {
  Program *prog = l->prog;
  Binding *b = lookup(l, d->name);
  if (b && b->kind == B_DIMNAME)
    return b->var;
  if (b || builtin(d->name)) {
    ERR(l, d->span, "'%s' is already a name; a dimension needs a name of its own", d->name);
    return -1;
  }
  const char **names = realloc(prog->dimnames, ((size_t)prog->ndims + 1) * sizeof *names);
  if (!names) {
    l->oom = 1;
    return -1;
  }
  prog->dimnames = names;
  prog->dag->dimnames = names;
  names[prog->ndims] = d->name;
  b = bind(l, d->name);
  if (!b)
    return -1;
  b->kind = B_DIMNAME;
  b->var = prog->ndims;
  b->span = d->span;
  return prog->ndims++;
}

static ShapeId decl_shape(Lower *l, Ast *dims) {
  Shape sh = {0};
  if (dims->nkids > MAX_RANK) {
    ERR(l, dims->span, "tensors have at most %d dimensions", MAX_RANK);
    return NO_SHAPE;
  }
  double total = 1;
  for (int i = 0; i < dims->nkids; i++) {
    Ast *d = dims->kids[i];
    if (d->kind == AST_NAME) {
      int k = dim_symbol(l, d);
      if (k < 0)
        return NO_SHAPE;
      sh.dim[sh.rank++] = ~(int64_t)k;
      continue;
    }
    if (d->num != floor(d->num) || d->num < 1) {
      ERR(l, d->span, "a dimension must be a positive integer or a name");
      return NO_SHAPE;
    }
    total *= d->num;
    if (total > (double)(1ll << 40)) {
      ERR(l, d->span, "the tensor is too large (more than 2^40 elements)");
      return NO_SHAPE;
    }
    sh.dim[sh.rank++] = (int64_t)d->num;
  }
  return shape_intern(l->prog->dag, &sh);
}

/* The elements of a nested list of constants, row-major, and its shape
 * (leafdepth: the depth of the numbers, -1 before the first). */
typedef struct Literal {
  Shape shape;
  int leafdepth;
  double *vals;
  size_t n, cap;
} Literal;

static int literal_walk(Lower *l, Ast *a, int depth, Literal *lit) {
  Dag *g = l->prog->dag;
  if (a && a->kind == AST_VECTOR) {
    if (depth >= MAX_RANK) {
      ERR(l, a->span, "a literal of rank more than %d", MAX_RANK);
      return -1;
    }
    if (lit->shape.rank <= depth) {
      lit->shape.rank = depth + 1;
      lit->shape.dim[depth] = a->nkids;
    } else if (lit->shape.dim[depth] != a->nkids) {
      ERR(l, a->span, "the rows of a literal must have one length: %lld and %d",
          (long long)lit->shape.dim[depth], a->nkids);
      return -1;
    }
    for (int i = 0; i < a->nkids; i++)
      if (literal_walk(l, a->kids[i], depth + 1, lit) < 0)
        return -1;
    return 0;
  }
  if (lit->leafdepth < 0)
    lit->leafdepth = depth;
  if (depth != lit->leafdepth || lit->shape.rank != depth) {
    ERR(l, a ? a->span : (Span){0}, "the rows of a literal must have one length");
    return -1;
  }
  NodeId x = lower_expr(l, a);
  if (x == NO_NODE)
    return -1;
  if (!dag_is_const(g, x)) {
    ERR(l, a->span, "the elements of a default must be constants");
    return -1;
  }
  if (lit->n == lit->cap) {
    size_t cap = lit->cap ? 2 * lit->cap : 16;
    double *v = realloc(lit->vals, cap * sizeof *v);
    if (!v) {
      l->oom = 1;
      return -1;
    }
    lit->vals = v;
    lit->cap = cap;
  }
  lit->vals[lit->n++] = dag_num(g, x);
  return 0;
}

/* param x[2] = [-1.2, 1]: the literal must have the declared shape. */
static void literal_default(Lower *l, Stmt *s, Var *v, Ast *a) {
  Program *prog = l->prog;
  Literal lit = {.leafdepth = -1};
  if (literal_walk(l, a, 0, &lit) < 0) {
    free(lit.vals);
    return;
  }
  ShapeId ls = shape_intern(prog->dag, &lit.shape);
  if (ls != v->shape) {
    char sl[96], sd[96];
    shape_format(prog->dag, ls, sl, sizeof sl);
    shape_format(prog->dag, v->shape, sd, sizeof sd);
    ERR(l, a->span, "the default of '%s' has shape %s, but '%s' is declared with shape %s%s", s->name, sl,
        s->name, sd,
        shape_has_symbols(prog->dag, v->shape) ? " (a literal default needs literal dimensions)" : "");
    free(lit.vals);
    return;
  }
  double *vals = arena_alloc(&prog->arena, (lit.n ? lit.n : 1) * sizeof *vals);
  if (!vals) {
    l->oom = 1;
    free(lit.vals);
    return;
  }
  memcpy(vals, lit.vals, lit.n * sizeof *vals);
  free(lit.vals);
  v->init = INIT_ARRAY;
  v->init_vals = vals;
}

static void declare(Lower *l, Stmt *s) {
  Program *prog = l->prog;
  if (builtin(s->name)) {
    ERR(l, s->span, "'%s' is a built-in %s and cannot be used as a name", s->name,
        builtin_kind(builtin(s->name)));
    return;
  }
  Binding *b = lookup(l, s->name);
  if (b) {
    ERR(l, s->span, "'%s' is already declared (line %d)", s->name, b->span.line);
    return;
  }
  ShapeId shape = SHAPE_SCALAR;
  if (s->dims && (shape = decl_shape(l, s->dims)) == NO_SHAPE) {
    Binding *fb = bind(l, s->name); /* its uses are not errors of their own */
    if (fb) {
      fb->kind = B_FAILED;
      fb->span = s->span;
    }
    return;
  }
  int k = add_var(l, s->name, s->kind == ST_PARAM ? VAR_PARAM : VAR_INPUT, s->span, shape);
  if (k < 0)
    return;
  Var *v = &prog->vars[k];
  if (!s->value)
    return;
  Ast *a = s->value;
  if (a->kind == AST_PATH) {
    if (shape == SHAPE_SCALAR) {
      ERR(l, a->span, "data from a file needs a tensor declaration, e.g. %s[N, 2]", s->name);
      return;
    }
    /* relative to the directory of the .expr file */
    const char *file = l->p->src->name, *slash = strrchr(file, '/');
    size_t dn = slash && a->name[0] != '/' ? (size_t)(slash - file) + 1 : 0;
    size_t n = dn + strlen(a->name);
    char *path = arena_alloc(&prog->arena, n + 1);
    if (!path) {
      l->oom = 1;
      return;
    }
    memcpy(path, file, dn);
    strcpy(path + dn, a->name);
    v->init = INIT_FILE;
    v->init_path = path;
    v->init_span = a->span;
    return;
  }
  const Builtin *f = (a->kind == AST_CALL || a->kind == AST_NAME) ? builtin(a->name) : NULL;
  if (f && f->code >= B_RANDN) {
    int n = a->kind == AST_CALL ? a->nkids : 0;
    if (n < f->minargs || n > f->maxargs) {
      ERR(l, a->span, "%s() takes %d to %d arguments, not %d", f->name,
          f->minargs, f->maxargs, n);
      return;
    }
    double arg[2] = {0, 0};
    for (int i = 0; i < n; i++) {
      NodeId x = lower_expr(l, a->kids[i]);
      if (x == NO_NODE)
        return;
      if (!dag_is_const(prog->dag, x)) {
        ERR(l, a->kids[i]->span, "the arguments of %s() must be constants", f->name);
        return;
      }
      arg[i] = dag_num(prog->dag, x);
    }
    switch (f->code) {
    case B_RANDN:
      v->init = INIT_RANDN;
      v->init_a = n ? arg[0] : 1.0;
      break;
    case B_UNIFORM:
      v->init = INIT_UNIFORM;
      v->init_a = n ? arg[0] : 0.0;
      v->init_b = n > 1 ? arg[1] : 1.0;
      break;
    case B_ZEROS:
      v->init = INIT_ZEROS;
      break;
    default:
      v->init = INIT_ONES;
      break;
    }
    return;
  }
  if (a->kind == AST_VECTOR) { /* a tensor literal: [1, 2], [[1, 0], [0, 1]] */
    literal_default(l, s, v, a);
    return;
  }
  NodeId x = lower_expr(l, a);
  if (x == NO_NODE)
    return;
  if (!dag_is_const(prog->dag, x)) {
    ERR(l, a->span, "the default of '%s' must be a constant", s->name);
    return;
  }
  v->init = INIT_VALUE;
  v->init_a = dag_num(prog->dag, x);
}

/* ---- function definitions ---------------------------------------------- */

static int is_param(const Func *fn, const char *name) {
  for (int i = 0; i < fn->params->nkids; i++)
    if (fn->params->kids[i]->name == name)
      return 1;
  return 0;
}

/* "did you mean" over the parameters of fn and the names bound so far */
static void suggest_in(Lower *l, const Func *fn, const char *name, char *out, size_t n) {
  size_t nc = l->count + (size_t)fn->params->nkids + NBUILTIN;
  const char **c = malloc(nc * sizeof *c);
  out[0] = 0;
  if (!c)
    return;
  size_t k = 0;
  for (int i = 0; i < fn->params->nkids; i++)
    c[k++] = fn->params->kids[i]->name;
  for (size_t i = 0; i < l->count; i++)
    if (l->tab[i].kind != B_LATER && l->tab[i].kind != B_FUNC && !l->tab[i].is_func)
      c[k++] = l->tab[i].name;
  for (int i = 0; i < NBUILTIN; i++)
    if (builtins[i].minargs < 0)
      c[k++] = builtins[i].name;
  const char *best = diag_closest(name, c, (int)k);
  if (best)
    snprintf(out, n, "did you mean '%s'?", best);
  free(c);
}

/* The names and calls of a body, checked where it is defined: each name a
 * parameter or bound above, each call a built-in or a function defined
 * above (so there is no recursion, direct or mutual). Sets fn->size.
 * Returns the number of errors. */
static int check_body(Lower *l, Func *fn) {
  size_t n = 0, cap = 64;
  int errors = 0;
  Ast **stack = malloc(cap * sizeof *stack);
  if (!stack) {
    l->oom = 1;
    return 1;
  }
  stack[n++] = fn->body;
  fn->size = 0;
  while (n > 0) {
    Ast *a = stack[--n];
    if (!a)
      continue;
    fn->size++;
    char hint[300];
    if (a->kind == AST_NAME && !is_param(fn, a->name) && strcmp(a->name, "None")) {
      const Builtin *bf = builtin(a->name);
      Binding *b = lookup(l, a->name);
      if (bf && bf->minargs < 0) {
        /* pi, e, true, false */
      } else if (bf) {
        ERR(l, a->span, "'%s' is a built-in function; call it as %s(...)", a->name, a->name);
        errors++;
      } else if (b && b->is_func) {
        ERR(l, a->span, "'%s' is a function; call it as %s(...)", a->name, a->name);
        errors++;
      } else if (!b || b->kind == B_LATER) {
        suggest_in(l, fn, a->name, hint, sizeof hint);
        if (b && b->kind == B_LATER)
          ERRH(l, a->span, hint[0] ? hint : NULL,
               "'%s' is not a parameter of %s() and is defined only below it (line %d)", a->name, fn->name,
               b->span.line);
        else
          ERRH(l, a->span, hint[0] ? hint : NULL, "'%s' is not a parameter of %s() and is not defined above it",
               a->name, fn->name);
        errors++;
      }
    } else if (a->kind == AST_CALL && !builtin(a->name)) {
      Binding *b = lookup(l, a->name);
      if (a->name == fn->name) {
        ERR(l, a->span, "%s() calls itself: recursion is not supported (calls are inlined)", fn->name);
        errors++;
      } else if (is_param(fn, a->name)) {
        ERR(l, a->span, "'%s' is a parameter of %s(), not a function", a->name, fn->name);
        errors++;
      } else if (b && b->is_func && b->kind == B_LATER) {
        ERR(l, a->span, "%s() calls %s(), which is defined below it (line %d): a function can only call functions defined above it",
            fn->name, a->name, b->span.line);
        errors++;
      } else if (b && !b->is_func) {
        ERR(l, a->span, "'%s' is %s, not a function", a->name,
            b->kind == B_VAR ? "a variable" : b->kind == B_DIMNAME ? "a dimension" : "a definition");
        errors++;
      } else if (!b) {
        size_t nn = 0;
        const char **names = malloc((NBUILTIN + l->count) * sizeof *names);
        if (names) {
          for (int i = 0; i < NBUILTIN; i++)
            if (builtins[i].minargs >= 0)
              names[nn++] = builtins[i].name;
          for (size_t i = 0; i < l->count; i++)
            if (l->tab[i].kind == B_FUNC)
              names[nn++] = l->tab[i].name;
        }
        const char *best = names ? diag_closest(a->name, names, (int)nn) : NULL;
        if (best)
          snprintf(hint, sizeof hint, "did you mean '%s'?", best);
        free(names);
        ERRH(l, a->span, best ? hint : NULL, "unknown function '%s'", a->name);
        errors++;
      }
    }
    if (n + (size_t)a->nkids > cap) {
      cap = 2 * (n + (size_t)a->nkids);
      Ast **ns = realloc(stack, cap * sizeof *ns);
      if (!ns) {
        free(stack);
        l->oom = 1;
        return errors + 1;
      }
      stack = ns;
    }
    for (int i = a->nkids - 1; i >= 0; i--) /* in source order */
      stack[n++] = a->kids[i];
  }
  free(stack);
  return errors;
}

/* NAME(a, b) = EXPR: check the parameters and the body, then bind it. */
static void define_function(Lower *l, Stmt *s, Binding *b) {
  Ast *ps = s->dims;
  int bad = 0;
  for (int i = 0; ps && i < ps->nkids; i++) {
    Ast *q = ps->kids[i];
    if (!q || q->kind != AST_NAME) {
      ERR(l, q ? q->span : s->span, "a parameter of %s() must be a name", s->name);
      bad = 1;
      continue;
    }
    const Builtin *bf = builtin(q->name);
    if (bf) {
      ERR(l, q->span, "parameter '%s' of %s() shadows the built-in %s %s", q->name, s->name,
          builtin_kind(bf), q->name);
      bad = 1;
      continue;
    }
    if (!strcmp(q->name, "None")) {
      ERR(l, q->span, "'None' is reserved (a new axis in an index) and cannot be a parameter");
      bad = 1;
      continue;
    }
    for (int j = 0; j < i; j++)
      if (ps->kids[j] && ps->kids[j]->name == q->name) {
        ERR(l, q->span, "parameter '%s' of %s() is repeated", q->name, s->name);
        bad = 1;
        break;
      }
  }
  Func *fn = NULL;
  if (!bad && ps && s->value) {
    fn = arena_alloc(l->p->arena, sizeof *fn);
    if (!fn) {
      l->oom = 1;
      return;
    }
    *fn = (Func){s->name, ps, s->value, s->span, 0};
    bad = check_body(l, fn) > 0;
  }
  if (!b)
    return;
  b->is_func = 1;
  b->span = s->span;
  if (bad || !fn) {
    b->kind = B_FAILED;
    return;
  }
  b->kind = B_FUNC;
  b->fn = fn;
}

/* ---- the whole program -------------------------------------------------- */

/* Pass 2 for one definition, output or bare expression: its checks, its
 * lowering, its binding. Returns 1 when lowering must stop (the node
 * limit). */
static int lower_def(Lower *l, Stmt *s, int *nexpr) {
  Program *prog = l->prog;
  if (s->kind == ST_EXPR && (*nexpr)++ > 0) {
    ERR(l, s->span, "a second bare expression: name it ('name = ...' or 'output name = ...')");
    return 0;
  }
  if (builtin(s->name)) {
    ERR(l, s->span, "'%s' is a built-in %s and cannot be used as a name", s->name,
        builtin_kind(builtin(s->name)));
    return 0;
  }
  Binding *b = lookup(l, s->name);
  if (b && b->kind != B_LATER) {
    ERR(l, s->span, "'%s' is already %s (line %d)", s->name,
        b->kind == B_VAR ? "a variable" : b->is_func ? "defined as a function" : "defined", b->span.line);
    return 0;
  }
  if (b && b->is_func != (s->kind == ST_FUNC)) { /* f(x) = ... and f = ... both later */
    ERR(l, s->span, "'%s' is already defined %s(line %d)", s->name, b->is_func ? "as a function " : "",
        b->span.line);
    return 0;
  }
  if (s->kind == ST_FUNC) {
    define_function(l, s, b);
    return 0;
  }
  size_t cap = l->cap;
  int diags_stmt = l->diags->count;
  NodeId x = lower_expr(l, s->value);
  if (prog->dag->oom == 2) { /* the node limit: say where, and stop */
    if (l->diags->count == diags_stmt)
      ERR(l, s->span, "the expression is too large (more than %u nodes)%s",
          prog->dag->max_nodes ? prog->dag->max_nodes : 64u * 1024 * 1024,
          too_large_hint(s->value));
    return 1;
  }
  if (l->cap != cap) /* lowering grew the table (free names): look again */
    b = lookup(l, s->name);
  if (!b)
    b = bind(l, s->name);
  if (x == NO_NODE) {
    if (b)
      b->kind = B_FAILED;
    return 0;
  }
  if (!b)
    return 1;
  b->kind = B_DEF;
  b->node = x;
  b->span = s->span;
  if (prog->ndefs == prog->capdefs) {
    int cap = prog->capdefs ? 2 * prog->capdefs : 16;
    Output *d = realloc(prog->defs, (size_t)cap * sizeof *d);
    if (d) {
      prog->defs = d;
      prog->capdefs = cap;
    }
  }
  if (prog->ndefs < prog->capdefs)
    prog->defs[prog->ndefs++] = (Output){s->name, x, s->span};
  if (s->kind == ST_OUTPUT || s->kind == ST_EXPR)
    add_output(l, s->name, x, s->span);
  return 0;
}

/* The DAG of a long source sized once: at most about a node per 8 bytes
 * of source, so the hash-cons table is not doubled (every node put again)
 * twenty times; a table too big costs only address space (dag.c: nodes
 * sit near their homes). */
static int lower_begin(Program *prog, const Parse *p) {
  if (!prog->dag)
    prog->dag = dag_new();
  if (!prog->dag)
    return GRADC_ERR_NOMEM;
  if (p->src && p->src->len > ((size_t)1 << 20))
    dag_reserve(prog->dag, (uint32_t)(p->src->len / 8 < (1u << 28) ? p->src->len / 8 : (1u << 28)));
  return GRADC_OK;
}

/* After the last statement: the output (the last definition when none is
 * marked), the node limit, and the status. */
static int lower_finish(Lower *l, Stmt *last, int nfuncs, int before) {
  Program *prog = l->prog;
  Parse *p = l->p;
  if (prog->dag->oom == 2 && l->diags->count == before)
    ERR(l, (Span){0}, "the expression is too large (more than %u nodes)",
        prog->dag->max_nodes ? prog->dag->max_nodes : 64u * 1024 * 1024);
  if (l->diags->count == before && prog->nouts == 0) {
    if (last && last->kind == ST_DEF) {
      Binding *b = lookup(l, last->name);
      if (b && b->kind == B_DEF)
        add_output(l, last->name, b->node, last->span);
    } else {
      Span at = last ? last->span : p->last ? p->last->span : (Span){1, 1, 1, 1};
      ERR(l, at, "%s", last || nfuncs ? "the file has no output: end it with an expression or 'output NAME = ...'"
                              : "the file is empty: nothing to compute");
    }
  }
  big_free(l->tab);
  memo_free(l);
  if (l->oom || prog->dag->oom == 1)
    return GRADC_ERR_NOMEM;
  return l->diags->count > before ? GRADC_ERR_INPUT : GRADC_OK;
}

int lower_program(Program *prog, Parse *p) {
  Lower l = {.prog = prog, .p = p, .diags = p->diags};
  int before = p->diags->count;
  if (lower_begin(prog, p) != GRADC_OK)
    return GRADC_ERR_NOMEM;
  Stmt *last = NULL;
  int nfuncs = 0;
  for (Stmt *s = p->first; s; s = s->next) {
    if (s->kind == ST_PARAM || s->kind == ST_INPUT)
      prog->declared = 1;
    if (s->kind != ST_FUNC) /* a function is not a value: not the output */
      last = s;
    else
      nfuncs++;
  }
  /* Pass 1: declarations, and the names that definitions will bind. */
  for (Stmt *s = p->first; s; s = s->next)
    if (s->kind == ST_PARAM || s->kind == ST_INPUT)
      declare(&l, s);
  for (Stmt *s = p->first; s; s = s->next) {
    if (s->kind != ST_DEF && s->kind != ST_OUTPUT && s->kind != ST_FUNC)
      continue;
    Binding *b = lookup(&l, s->name);
    if (!b && !builtin(s->name) && (b = bind(&l, s->name))) {
      b->kind = B_LATER;
      b->span = s->span;
      b->is_func = s->kind == ST_FUNC;
    }
  }
  /* Pass 2: definitions and outputs, in order. */
  int nexpr = 0;
  for (Stmt *s = p->first; s; s = s->next)
    if (s->kind != ST_PARAM && s->kind != ST_INPUT && lower_def(&l, s, &nexpr))
      break;
  return lower_finish(&l, last, nfuncs, before);
}

/* ---- lowering while the parser goes on (pipeline.c) -----------------------
 *
 * The common long program declares its variables first and then defines
 * each name before it is used, without functions: then pass 1 has nothing
 * to add, and pass 2 can lower each statement as soon as it is parsed,
 * with the same DAG, node by node. Anything else (a declaration after a
 * definition, a function, any diagnostic, which the two passes may word
 * differently) stops the stream: the caller throws its work away and
 * lowers the whole parse with lower_program, so the results never depend
 * on which way was taken. Diagnostics go to the stream's own list. */
struct LowerStream {
  Lower l;
  Diags diags;
  int nexpr, defs;
};

LowerStream *lower_stream_new(Program *prog, Parse *p) {
  LowerStream *ls = calloc(1, sizeof *ls);
  if (!ls)
    return NULL;
  ls->l = (Lower){.prog = prog, .p = p, .diags = &ls->diags};
  if (lower_begin(prog, p) != GRADC_OK) {
    free(ls);
    return NULL;
  }
  return ls;
}

int lower_stream_stmt(LowerStream *ls, Stmt *s) {
  Lower *l = &ls->l;
  if (s->kind == ST_FUNC)
    return 1;
  if (s->kind == ST_PARAM || s->kind == ST_INPUT) {
    if (ls->defs)
      return 1;
    l->prog->declared = 1;
    declare(l, s);
  } else {
    if (!l->prog->declared) /* free names: pass 1 must know every declaration */
      return 1;
    ls->defs = 1;
    if (lower_def(l, s, &ls->nexpr))
      return 1;
  }
  return ls->diags.count || l->oom || l->prog->dag->oom ? 1 : 0;
}

int lower_stream_end(LowerStream *ls, Stmt *last) {
  /* the stream's own list is empty (a diagnostic stops it): what the end
   * finds (no output) goes to the parse's, as lower_program's would */
  ls->l.diags = ls->l.p->diags;
  int rc = lower_finish(&ls->l, last, 0, ls->l.diags->count);
  diags_free(&ls->diags);
  free(ls);
  return rc;
}

void lower_stream_free(LowerStream *ls) {
  if (!ls)
    return;
  big_free(ls->l.tab);
  memo_free(&ls->l);
  diags_free(&ls->diags);
  free(ls);
}

void program_free(Program *prog) {
  dag_free(prog->dag);
  free(prog->dimnames);
  free(prog->check_node);
  free(prog->check_span);
  free(prog->defs);
  free(prog->vars);
  free(prog->outs);
  arena_free(&prog->arena);
  memset(prog, 0, sizeof *prog);
}

int program_var_index(const Program *prog, const char *name) {
  for (int i = 0; i < prog->nvars; i++)
    if (!strcmp(prog->vars[i].name, name))
      return i;
  return -1;
}

int program_output_index(const Program *prog, const char *name) {
  for (int i = 0; i < prog->nouts; i++)
    if (!strcmp(prog->outs[i].name, name))
      return i;
  return -1;
}
