/* ir.h: the types every stage of gradc shares, and each file's exports
 * under a banner, so this header is a map of the compiler.
 *
 *   source --lexer.l/parser.y--> Ast --lower.c--> Dag --ad.c--> Dag
 *          --emit_c.c--> C text --jit.c--> callable code
 *
 * The Dag is the one structure the passes transform. Nodes are hash-consed
 * (same operator, children and payload: same node), only ever appended, and
 * children always exist before their parents, so id order is a topological
 * order: passes walk `for (i = 0; i < n; i++)`, never recursively.
 */
#ifndef GRADC_IR_H
#define GRADC_IR_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "gradc.h"

/* ---------------------------------------------------------------- arena.c */

/* A bump allocator: everything allocated from it is freed at once. */
typedef struct ArenaBlock ArenaBlock;
typedef struct BlockPool BlockPool;
typedef struct Arena {
  ArenaBlock *head;
  size_t total;                                  /* bytes in its blocks */
  BlockPool *pool;  /* blocks made ready by another thread (pipeline.c); NULL: none */
} Arena;

/* Arena blocks of POOL_BLOCK bytes that one thread maps and faults in
 * (pool_fill) while another allocates from them (arena_alloc, when its
 * arena's pool is set): the kernel's zeroing of fresh pages is then not on
 * the allocating thread's time. pool_drain frees those not taken. */
#define POOL_SLOTS 3
#define POOL_BLOCK ((size_t)8 << 20)
struct BlockPool {
  _Atomic(ArenaBlock *) slot[POOL_SLOTS];
};
void pool_fill(BlockPool *bp);
void pool_drain(BlockPool *bp);

void *arena_alloc(Arena *a, size_t size);        /* zeroed; NULL on OOM */
char *arena_strndup(Arena *a, const char *s, size_t n);
void arena_splice(Arena *into, Arena *from);   /* from's blocks move to into */
void arena_free(Arena *a);

/* Big arrays (per-node tables): their own zeroed mapping, grown without a
 * copy, on transparent huge pages where offered; freed with big_free. */
void *big_alloc(size_t n);
void *big_grow(void *p, size_t n);               /* keeps the contents */
void big_free(void *p);
void mem_hint_huge(void *p, size_t n);

/* A growable byte buffer (emitted C, rendered diagnostics). */
typedef struct Buf {
  char *data;
  size_t len, cap;
  int oom;                                       /* an append failed */
  int big;      /* data is big_alloc'd (emitted C that never leaves gradc) */
} Buf;

void buf_putn_grow(Buf *b, const char *s, size_t n);
/* inline: the emitter appends a hundred million short strings */
static inline void buf_putn(Buf *b, const char *s, size_t n) {
  if (b->len + n < b->cap && !b->oom) {
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
  } else {
    buf_putn_grow(b, s, n);
  }
}
static inline void buf_puts(Buf *b, const char *s) { buf_putn(b, s, strlen(s)); }
void buf_int(Buf *b, long long v);
void buf_printf(Buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_free(Buf *b);

/* ----------------------------------------------------------------- diag.c */

/* A place in a source file: 1-based line and column (in bytes). */
typedef struct Span {
  int line, col;
  int end_line, end_col;
} Span;

/* One source file (or REPL line) kept for rendering diagnostics. */
typedef struct Source {
  const char *name;   /* as given on the command line */
  const char *text;   /* NUL-terminated copy of the contents */
  size_t len;
} Source;

typedef struct Diag {
  GradcStatus kind;   /* GRADC_ERR_INPUT, GRADC_ERR_INTERNAL, ... */
  const Source *src;  /* NULL: not tied to a file */
  Span span;
  char *msg;
  char *hint;         /* "did you mean 'w'?" or NULL */
  char *file;         /* a place in another file (data): FILE:LINE:COL */
  int no_excerpt;     /* do not echo the source line (binary files) */
} Diag;

typedef struct Diags {
  Diag *items;
  int count, cap;
  int syntax_errors;  /* stop after 20 */
} Diags;

void diag_add(Diags *d, GradcStatus kind, const Source *src, Span span,
              const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* An error at a line and column of a data file. */
void diag_file(Diags *d, const char *file, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void diag_render(const Diag *d, Buf *out);
void diags_free(Diags *d);
void diags_truncate(Diags *d, int count); /* drops all after the first count */
const char *diag_closest(const char *name, const char *const *cands, int n);

/* ------------------------------------------------------------------ dag.c */

typedef uint32_t NodeId;
#define NO_NODE ((NodeId)UINT32_MAX)

typedef enum OpKind {
#define OP(e, s, n, c) OP_##e,
#include "ops.def"
#undef OP
  OP_COUNT
} OpKind;

typedef enum OpClass { OC_LEAF, OC_INFIX, OC_CMP, OC_FUNC, OC_NONDIFF, OC_STRUCT } OpClass;

/* elementwise: one output element from the same element of each argument */
#define OP_IS_ELEMWISE(op) (op_info[op].cls >= OC_INFIX && op_info[op].cls <= OC_NONDIFF)

typedef struct OpInfo {
  const char *name;   /* enum name without OP_, for dumps */
  const char *spell;  /* .expr spelling */
  int nargs;
  OpClass cls;
} OpInfo;

extern const OpInfo op_info[OP_COUNT];

/* Shapes are interned in the Dag; shape 0 is the scalar. A dimension is a
 * positive literal size (0 only where a derived size is known to be 0), ~k
 * for symbolic dimension k (a name in the declarations, at least 1), or
 * ~(DIM_DERIVED + j) for derived dimension j: Dag.dims[j], a size computed
 * from the others, such as N - 1 (x[1:]), (N+1)//2 (x[::2]), 2*N
 * (concat([x, x]), reshape(X[N, 4], [-1, 2])) or N + (N+1)//2. */
#define MAX_RANK 4
#define DIM_DERIVED (1 << 24)
typedef struct Shape {
  int rank;
  int64_t dim[MAX_RANK];
} Shape;
/* A derived dimension: max(0, floor((sum_k mul[k]*atom[k] + add) / div)),
 * div >= 1, each atom a symbolic or a derived dimension (one that cannot
 * be written out: a floor division, or a difference that may go below 0).
 * Kept canonical (dim_affine: atoms written out where that is exact,
 * merged, sorted, common factors divided out) and interned, so equal forms
 * are equal dimensions: x[1:] and x[:-1] have one shape, and so do
 * concat([x, x]) and reshape(X[N, 2], [-1]). Built zeroed, compared with
 * memcmp. */
#define DIM_TERMS 8
#define DIM_MAX_DEPTH 32   /* derived of derived ... (bounds the recursion) */
#define DIM_FAIL INT64_MIN /* dim_affine could not build it (g->err says why) */
typedef struct DimExpr {
  int64_t atom[DIM_TERMS], mul[DIM_TERMS];
  int64_t add, div;
  int32_t n, depth;        /* terms; derived atoms nested below */
  int64_t lo, numlo;       /* lower bounds of the value and of the numerator
                              (INT64_MIN: none), from the atoms' at intern:
                              no walk of the (shared) atoms afterwards */
} DimExpr;
static inline int dim_is_derived(int64_t d) { return d < 0 && d != DIM_FAIL && ~d >= DIM_DERIVED; }
typedef uint32_t ShapeId;
#define SHAPE_SCALAR ((ShapeId)0)

/* 32 bytes. A VAR's payload is its variable index; a CONST's its value. */
typedef struct Node {
  uint8_t op;
  uint8_t nargs;
  uint16_t flags;     /* NF_ bits, derived from op and arguments at intern */
  ShapeId shape;
  NodeId arg[3];
  uint32_t spare;     /* keeps the node 32 bytes */
  union {
    double num;
    int64_t idx;
  } v;
} Node;

/* SLICE/PAD: out[j...] = in[first + step*j...] over `len`, and dimensions
 * in `drop` (a bit per input dimension, taken at one index) removed. The
 * first index is start, or full + start for dimensions in `from_end` (a
 * negative index of a symbolic dimension), plus the dimension off (0: none;
 * where concat() puts a piece after pieces of symbolic length, N in
 * concat([x, x, x]) for the second x). `need` is a call-time check on a
 * symbolic dimension: full >= need (0: none); `shown` the index an error
 * then names. Built zeroed (memset), compared with memcmp. */
typedef struct SliceSpec {
  int rank;                 /* of the input */
  unsigned drop, from_end;
  int64_t full[MAX_RANK];   /* the input's dimensions */
  int64_t start[MAX_RANK], len[MAX_RANK];
  int64_t off[MAX_RANK];    /* a dimension; 0: none */
  int64_t step[MAX_RANK];   /* nonzero, may be negative; 0 means 1 */
  int64_t need[MAX_RANK], shown[MAX_RANK];
  int negzero;              /* PAD: fill with -0.0, the identity of +, so a
                               literal [x, 800] built as a sum of pads keeps
                               x = -0 (tensor literals, concat, stack) */
} SliceSpec;
static inline int64_t slice_step(const SliceSpec *s, int k) { return s->step[k] ? s->step[k] : 1; }

/* A condition on the dimensions that a node needs at call time: a == b
 * (two symbolic dimensions broadcast together), or a >= b (an index of a
 * symbolic dimension a; b a literal, `shown` the index, `dropped` whether
 * it was a single index rather than a slice). */
typedef struct DimCheck {
  int ge;
  int64_t a, b, shown;
  int dropped;
} DimCheck;

typedef struct Dag {
  Node *nodes;
  uint32_t count, cap;
  uint64_t *bucket;   /* hash-cons table: hash << 32 | (1 + id), 0 if empty */
  uint32_t nbucket;   /* power of two, at least twice count */
  Shape *shapes;
  uint32_t nshape, capshape;
  SliceSpec *slices;
  uint32_t nslice, capslice;
  DimExpr *dims;      /* derived dimensions */
  uint32_t ndim, capdim;
  int oom;            /* an allocation failed: results are NO_NODE */
  uint32_t max_nodes; /* limit; 0 = default */
  char err[256];      /* why the last constructor returned NO_NODE (shapes) */
  const char *const *dimnames; /* symbolic dimension names, for messages */
  int plain_prod;     /* ad.c: prod's partials as plain running products, not rescaled
                         (gradc_diff_text shows them so) */
} Dag;

/* Node.flags: the value may be infinite or NaN although every variable is
 * finite (it goes through exp, log, sqrt, a division...). Derivative code
 * multiplies by such a value strongly (dag_smul), by anything else plainly. */
#define NF_NONFINITE 1u

Dag *dag_new(void);
void dag_free(Dag *g);
int dag_reserve(Dag *g, uint32_t n);  /* room for n nodes in all; 0: out of memory */
static inline const Node *dag_node(const Dag *g, NodeId n) { return &g->nodes[n]; }
static inline int dag_is_const(const Dag *g, NodeId n) { return g->nodes[n].op == OP_CONST; }
static inline double dag_num(const Dag *g, NodeId n) { return g->nodes[n].v.num; }

NodeId dag_const(Dag *g, double x);
NodeId dag_var(Dag *g, int index, ShapeId shape);
/* Variable `index` standing for the value of node n, computed elsewhere and
 * passed in (hvp_fixed.c): n's shape and NF_ flags; arg[0] = n (nargs 0),
 * so it is not the plain variable `index`. */
NodeId dag_stand_in(Dag *g, int index, NodeId n);
/* Node n with its arguments replaced by args (each shaped like the one it
 * replaces; NO_NODE otherwise): the same operator and payload, interned as
 * it is, without dag_op's folding (for a copy of a graph that was already
 * folded, with some nodes replaced by stand-ins). */
NodeId dag_with_args(Dag *g, NodeId n, const NodeId *args);
/* The general constructor: folds constants and safe identities, then
 * hash-conses. Every convenience constructor below goes through it. */
NodeId dag_op(Dag *g, OpKind op, NodeId a, NodeId b, NodeId c);
NodeId dag_add(Dag *g, NodeId a, NodeId b);
NodeId dag_sub(Dag *g, NodeId a, NodeId b);
NodeId dag_mul(Dag *g, NodeId a, NodeId b);
NodeId dag_div(Dag *g, NodeId a, NodeId b);
NodeId dag_neg(Dag *g, NodeId a);
NodeId dag_pow(Dag *g, NodeId a, NodeId b);
/* The product of derivative code, with strong zeros (SPEC 1.6, Enzyme's
 * strong-zero mode): exactly 0 when either factor is 0, whatever the other
 * is. An OP_SMUL node only where a factor may be non-finite (NF_NONFINITE);
 * otherwise a plain product, so smooth code pays nothing. */
NodeId dag_smul(Dag *g, NodeId a, NodeId b);
static inline int dag_nonfinite(const Dag *g, NodeId n) { return g->nodes[n].flags & NF_NONFINITE; }
/* Is n a finite nonzero constant, a dimension, or a product of them? */
int dag_nonzero(const Dag *g, NodeId n);
NodeId dag_un(Dag *g, OpKind op, NodeId a);
NodeId dag_bin(Dag *g, OpKind op, NodeId a, NodeId b);
/* Evaluate one operator on numbers, exactly as the emitted C does. */
double dag_eval_op(OpKind op, const double *x);
/* Integer exponent of x^n emitted as multiplications, or 0 if n is not one. */
int dag_small_int_pow(const Dag *g, NodeId exponent, int *n);
int dag_check(const Dag *g);    /* invariants; 0 if they hold */
static inline ShapeId dag_shape(const Dag *g, NodeId n) { return g->nodes[n].shape; }
/* Tensor constructors; NO_NODE with g->err set on a shape error. */
NodeId dag_bcast(Dag *g, NodeId x, ShapeId to);        /* numpy broadcast_to */
NodeId dag_reshape(Dag *g, NodeId x, ShapeId to);      /* same size */
NodeId dag_sum(Dag *g, NodeId x, int axis);            /* axis -1: everything */
NodeId dag_maxr(Dag *g, NodeId x, int axis);
NodeId dag_argmax(Dag *g, NodeId x, int axis);
NodeId dag_amax(Dag *g, NodeId x, int axis);          /* max, differentiable */
NodeId dag_prod(Dag *g, NodeId x, int axis);
NodeId dag_cumsum(Dag *g, NodeId x, int axis, int reversed); /* axis >= 0 */
NodeId dag_take(Dag *g, NodeId x, NodeId idx, int axis);     /* numpy.take */
NodeId dag_scatter(Dag *g, NodeId t, NodeId idx, int axis, ShapeId to); /* its adjoint */
/* h_i = a_i h_(i-1) + b_i along axis (>= 0), h_(-1) = 0; reversed: from the
 * end. a and b are broadcast to one shape (OP_LINSCAN in ops.def). */
NodeId dag_linscan(Dag *g, NodeId a, NodeId b, int axis, int reversed);
NodeId dag_cumprod(Dag *g, NodeId x, int axis, int reversed); /* numpy.cumprod, a LINSCAN */
NodeId dag_iota(Dag *g, int64_t n);                   /* 0..n-1; n may be ~symbol */
NodeId dag_matmul(Dag *g, NodeId a, NodeId b, int flags);
/* dag_matmul flags: 1 A', 2 B', MM_STRONG products with strong zeros
 * (derivative code with an operand that may be non-finite; no BLAS) */
#define MM_STRONG 4
NodeId dag_transpose(Dag *g, NodeId x);
NodeId dag_slice(Dag *g, NodeId x, const SliceSpec *s);
NodeId dag_pad(Dag *g, NodeId x, const SliceSpec *s); /* inverse of slice, zeros around */
/* acc + dag_pad(piece, s), computed in place where it can be (OP_SCATTER_ADD) */
NodeId dag_scatter_add(Dag *g, NodeId acc, NodeId piece, const SliceSpec *s);
NodeId dag_onehot(Dag *g, NodeId labels, int k);
NodeId dag_dim(Dag *g, int symbol);
/* A scalar node for the number of elements along `axis` of shape s. */
NodeId dag_dim_size(Dag *g, ShapeId s, int axis);

/* --------------------------------------------------------------- stable.c */

/* Guarded, accurate forms (SPEC 1.6): shift by the maximum (0 where it is
 * not finite), normalise after. axis -1: the whole tensor. */
NodeId dag_logsumexp(Dag *g, NodeId x, int axis);
NodeId dag_softmax(Dag *g, NodeId x, int axis);
NodeId dag_log_softmax(Dag *g, NodeId x, int axis);
/* The stable form of op(a, b) if it is an unstable one (log(softmax(x)),
 * log(1 + exp(x)), exp(x) - 1, ...), or NO_NODE. Called by dag_op. */
NodeId stable_rewrite(Dag *g, OpKind op, NodeId a, NodeId b);
/* Is node k (exp, log or a division) a part of the guarded forms above,
 * finite wherever its arguments are? (Node.flags, NF_NONFINITE) */
int stable_finite(const Dag *g, const Node *k);

/* ---------------------------------------------------------------- shape.c */

ShapeId shape_intern(Dag *g, const Shape *s);      /* SHAPE_SCALAR on OOM */
static inline const Shape *shape_get(const Dag *g, ShapeId s) { return &g->shapes[s]; }
static inline int shape_rank(const Dag *g, ShapeId s) { return g->shapes[s].rank; }
int shape_broadcast(Dag *g, ShapeId a, ShapeId b, ShapeId *out);  /* -1: they do not */
ShapeId shape_keepdims(Dag *g, ShapeId s, int axis); /* the axis made 1 (all if -1) */
ShapeId shape_drop(Dag *g, ShapeId s, int axis);     /* the axis removed (all if -1) */
void shape_format(const Dag *g, ShapeId s, char *out, size_t n);  /* "(N, 2)" */
/* Sum an adjoint of a broadcast result back to the shape of the operand. */
NodeId shape_unbroadcast(Dag *g, NodeId adj, ShapeId to);
int shape_has_symbols(const Dag *g, ShapeId s);
/* The dimension max(0, floor((sum_k mul[k]*atom[k] + add)/div)) for atoms
 * that are literal, symbolic or derived dimensions: a literal where it is
 * one, else a symbolic or (interned) derived dimension. DIM_FAIL with
 * g->err set when it would need more than DIM_TERMS atoms, nest deeper than
 * DIM_MAX_DEPTH or hold numbers beyond 2^40 (g->oom: out of memory). */
int64_t dim_affine(Dag *g, int n, const int64_t *atom, const int64_t *mul, int64_t add, int64_t div);
/* max(0, floor((base + add)/div)): dim_affine with one term. */
int64_t dim_derive(Dag *g, int64_t base, int64_t add, int64_t div);
/* The size of dimension d given the symbolic ones (base[k]); -1 if unbound. */
long dim_eval(const Dag *g, int64_t d, const long *base);
/* A lower bound of dimension d over every binding (symbolic ones are >= 1). */
int64_t dim_min(const Dag *g, int64_t d);
void dim_format(const Dag *g, int64_t d, char *out, size_t n);  /* "N", "N-1", "(N+1)//2", "2*N" */
/* Is len max(0, floor((full + off)/div)) for an integer off? (Sets *off.) */
int dim_offset(const Dag *g, int64_t len, int64_t full, int64_t div, int64_t *off);
/* Two different symbolic sizes that may still be equal, so that combining
 * them is checked at call time (x[0::2] with x[1::2], N with
 * N//2 + (N+1)//2). Two declared names (N and M) are different dimensions,
 * and so are two whose difference is provably nonzero (N and N-1, 2*N and
 * N): combining those is an error when the program is compiled. */
int dims_may_equal(const Dag *g, int64_t a, int64_t b);
/* The call-time checks of node n (at most MAX_DIM_CHECKS); returns how many. */
#define MAX_DIM_CHECKS (3 * MAX_RANK)
int dag_node_checks(const Dag *g, NodeId n, DimCheck *out);
/* The number of elements, if every dimension is a literal; -1 otherwise. */
int64_t shape_size(const Dag *g, ShapeId s);

/* ------------------------------------------------------------------ ast.c */

typedef enum AstKind {
  AST_NUM, AST_NAME, AST_UNARY, AST_BINARY, AST_CALL, AST_INDEX,
  AST_SLICE, AST_VECTOR, AST_TRANSPOSE, AST_PATH,
  AST_KWARG,         /* name=value inside a call: kids[0] the value */
} AstKind;

typedef struct Ast Ast;
struct Ast {
  uint8_t kind;
  uint8_t op;        /* AST_UNARY/AST_BINARY: an OpKind (OP_NEG, OP_ADD...), or '@', '+' */
  int nkids;
  Span span;         /* the operator's place (chibicc's representative token) */
  double num;
  const char *name;  /* AST_NAME, AST_CALL (callee), AST_PATH (text) */
  Ast **kids;
};

/* ST_FUNC: NAME(a, b) = EXPR, its parameters (AST_VECTOR) in dims */
typedef enum StmtKind { ST_PARAM, ST_INPUT, ST_DEF, ST_OUTPUT, ST_EXPR, ST_FUNC } StmtKind;

typedef struct Stmt Stmt;
struct Stmt {
  StmtKind kind;
  Span span;         /* the name (or the expression) */
  const char *name;
  Ast *dims;         /* declarations: AST_VECTOR of dimensions, or NULL;
                        functions: AST_VECTOR of parameters */
  Ast *value;        /* initialiser / definition */
  Stmt *next;
};

#define MAX_SYNTAX_ERRORS 20
#define GRADC_MAX_SHOWN_ERRORS 20 /* gradc_diag_render shows the first 20 */
#define MAX_NESTING 1000
#define MAX_NAME_LEN 256
#define MAX_NUMBER_LEN 400

/* Every name in a parse is interned: one Sym per distinct spelling, and
 * the name's text (Ast.name, Stmt.name) lives inside it, so equal names
 * are equal pointers and lower.c finds a name's binding without hashing
 * (Lua's TString does the same). */
typedef struct Sym {
  uint32_t len;
  uint32_t bind;     /* lower.c: 1 + index of the name's binding, 0: none */
  int16_t builtin;   /* lower.c: 0 unknown, -1 not a built-in, else 1 + index */
  char name[];
} Sym;

static inline Sym *sym_of(const char *name) {
  return (Sym *)(void *)(name - offsetof(Sym, name));
}

typedef struct SymSlot {
  Sym *sym;
  uint32_t hash;
} SymSlot;

typedef struct Parse {
  Arena *arena;      /* the AST: the caller may free it once lowered */
  Arena *names;      /* the interned names (Sym), which outlive the AST;
                        NULL: in arena too */
  Diags *diags;
  const Source *src;
  Stmt *first, *last;
  SymSlot *syms;     /* open addressing; big_alloc'd, freed by parse_done */
  uint32_t nsym, capsym;
  SymSlot recent[256]; /* names seen lately, by hash: most uses are near */
  Arena stmts;       /* the Stmts, apart from the AST: lower.c walks them
                        several times (freed by parse_done) */
  /* lexer state */
  int line, col;     /* where the next token starts */
  int depth;         /* bracket nesting */
  int last_tok;      /* the previous token, for newline continuation */
  int eof_nl;        /* the synthetic newline at end of file was sent */
  int declkind;      /* ST_PARAM or ST_INPUT: the current declaration */
  int fatal;         /* stop: later errors would be noise */
  int errors;        /* syntax errors reported (at most 20) */
  Span open[MAX_NESTING + 1]; /* where each open bracket is */
  void *fatal_jmp;   /* lexer.l: a jmp_buf while the scanner runs */
  struct Pipeline *pipe; /* pipeline.c: statements handed to the lowering
                            thread as they are parsed; NULL: none */
} Parse;


const char *ast_intern(Parse *p, const char *text, size_t len); /* NULL: OOM */
void parse_done(Parse *p);   /* frees the symbol table and the statements */
Ast *ast_new(Parse *p, AstKind kind, Span span, int nkids);
Ast *ast_num(Parse *p, Span span, const char *text, size_t len);
Ast *ast_name(Parse *p, Span span, const char *text, size_t len);
Ast *ast_unary(Parse *p, Span span, int op, Ast *a);
Ast *ast_binary(Parse *p, Span span, int op, Ast *a, Ast *b);
Ast *ast_list_add(Parse *p, Ast *list, Ast *item);
Stmt *ast_stmt(Parse *p, StmtKind kind, Span span, const char *name,
               Ast *dims, Ast *value);

/* ------------------------------------------------------- lexer.l/parser.y */

/* Parse a whole source; statements go to p->first, errors to p->diags.
 * Returns 0 on success. */
int parse_source(Parse *p);

/* ---------------------------------------------------------------- lower.c */

typedef enum VarKind { VAR_PARAM, VAR_INPUT } VarKind;

typedef enum InitKind { INIT_NONE, INIT_VALUE, INIT_RANDN, INIT_UNIFORM,
                        INIT_ZEROS, INIT_ONES, INIT_FILE,
                        INIT_ARRAY } InitKind;  /* a tensor literal: init_vals */

typedef struct Var {
  const char *name;
  VarKind kind;
  ShapeId shape;
  NodeId node;
  Span span;
  InitKind init;
  double init_a, init_b;  /* value; randn std; uniform lo, hi */
  const char *init_path;   /* INIT_FILE: path[:COLS], relative to the cwd */
  const double *init_vals; /* INIT_ARRAY: every element, row-major */
  Span init_span;
} Var;

typedef struct Output {
  const char *name;
  NodeId node;
  Span span;
} Output;

/* A compiled program: the variables, the outputs and the DAG they live in. */
typedef struct Program {
  Arena arena;
  Dag *dag;
  Var *vars;
  int nvars, capvars;
  Output *outs;
  int nouts, capouts;
  const char **dimnames;   /* symbolic dimensions */
  int ndims;
  int declared;            /* the file declares its variables */
  Output *defs;            /* every definition (name = expr), for printing */
  int ndefs, capdefs;
  NodeId *check_node;      /* runtime checks (onehot labels) and where they are */
  Span *check_span;
  int nchecks;
} Program;

int lower_program(Program *prog, Parse *p);
/* Lowering statement by statement while the parser goes on (pipeline.c):
 * lower_stream_stmt returns 0 when it lowered s as lower_program would,
 * 1 when it cannot (a declaration after a definition, a function, any
 * diagnostic): the caller then frees the stream and the program and lowers
 * the whole parse with lower_program. lower_stream_end, after the last
 * statement of a parse without errors, finishes as lower_program does and
 * returns its status; lower_stream_free abandons a stream. */
typedef struct LowerStream LowerStream;
LowerStream *lower_stream_new(Program *prog, Parse *p);   /* NULL: OOM */
int lower_stream_stmt(LowerStream *ls, Stmt *s);
int lower_stream_end(LowerStream *ls, Stmt *last);
void lower_stream_free(LowerStream *ls);

/* ----------------------------------------------------------- pipeline.c */

/* Parses p's source (parse_source) on a thread of its own while the calling
 * thread lowers each statement as it is parsed into prog, which must be
 * empty. Returns lower_program's status, or -1 when the caller must lower
 * the whole parse with lower_program (a syntax error, or a program that
 * the stream does not take: prog is then empty again). *parse_rc is
 * parse_source's result; *parse_cpu the parsing thread's CPU seconds.
 * Sources shorter than pipeline_min_bytes are parsed here, the stream not
 * started (-1). */
extern size_t pipeline_min_bytes;
extern _Atomic unsigned long pipeline_streamed; /* programs lowered by the stream (tests) */
int pipeline_parse_lower(Parse *p, Program *prog, int *parse_rc, double *parse_cpu);
void pipeline_publish(struct Pipeline *q, Stmt *s);  /* ast.c: a statement parsed */
void program_free(Program *prog);
int program_var_index(const Program *prog, const char *name);
int program_output_index(const Program *prog, const char *name);

/* ---------------------------------------------------------------- ad.c */

/* Forward mode: the tangent of every node live from the roots, given the
 * tangents of the variables (var_tangent[k] for variable k; NO_NODE or
 * k >= nvars: zero). Returns a malloc'd array indexed by node id, of the
 * node count before the pass (*n_out); NO_NODE means a zero tangent. */
NodeId *ad_forward(Dag *g, const NodeId *var_tangent, int nvars,
                   const NodeId *roots, int nroots, uint32_t *n_out);
/* Reverse mode: the adjoint of every node that `root` depends on, seeded
 * with `seed` (NO_NODE: the constant 1). Same array convention. */
NodeId *ad_reverse(Dag *g, NodeId root, NodeId seed, uint32_t *n_out);
/* The chain-rule term for argument i of node n: d n / d arg_i times `seed`
 * (micrograd's _backward for one input); NO_NODE if it is zero. */
NodeId ad_contrib(Dag *g, NodeId n, int i, NodeId seed);
/* The pieces vector.c reuses: is op differentiated at all; the chain-rule
 * term of argument i in either mode (ad_contrib, or a tensor operator's
 * rule; t the tangent of arg i, or the adjoint of n); acc + t with strong
 * zeros and in-place scatters; the live nodes; the partials of an AMAX or
 * PROD node n (the shape of its operand). */
int ad_differentiable(OpKind op);
NodeId ad_term(Dag *g, NodeId n, int i, NodeId t, int reverse);
NodeId ad_accumulate(Dag *g, NodeId acc, NodeId t);
/* lang_ad.c's walks over a cone: the tangent of node n (not a variable)
 * from its arguments' tangents targ[0..nargs) (NO_NODE: zero; ad_forward's
 * rules) */
NodeId ad_forward_node(Dag *g, uint32_t n, const NodeId *targ);
/* calloc'd flags of the n first nodes: 1 where some root depends on it */
uint8_t *ad_live(const Dag *g, uint32_t n, const NodeId *roots, int nroots);
NodeId ad_reduce_partial(Dag *g, NodeId n);

/* ------------------------------------------------------------- matmul_rt.c */

/* C (m x n, row-major) = op(A) op(B), op(A) m x k, op(B) k x n; A has rows
 * of lda elements (ta: A is k x m, op(A) = A'), B rows of ldb (tb: B is n x
 * k). The bits of emit_c.c's loops: each C[i][j] is 0.0 plus its products
 * added one at a time in increasing order. For libtcc's code. */
void gradc_rt_matmul(long m, long n, long k, const double *A, long lda, int ta, const double *B,
                     long ldb, int tb, double *C);
/* runtime/gradc_rt.h's g_tanh and g_sigmoid compiled by gcc, for libtcc's
 * code and x86_parts.c's (matmul_rt.c) */
double gradc_rt_tanh(double x);
double gradc_rt_sigmoid(double x);

/* ------------------------------------------------------------ json_array.c */

/* A JSON text that is a regular nested array of numbers (or one number):
 * its elements row-major (*data, malloc'd), dims and rank; 0 on success,
 * 1 if the text is anything else (jansson then says what), -1 out of
 * memory. json_array_file reads a file (1 also if it cannot be read). */
int json_numeric_array(const char *text, size_t len, double **data, long *dims, int *rank);
int json_array_file(const char *path, double **data, long *dims, int *rank);

/* ---------------------------------------------------------------- vector.c */

/* Vector mode: K directions at once, as a leading axis of every tangent
 * (adjoint): the tangent of a node of shape S has shape [K]+S. Primal
 * values are shared by the K directions. The array is indexed by node id as
 * ad_forward's/ad_reverse's (NO_NODE: zero), but only the roots' tangents
 * (the variables' adjoints) are sure to be there; var_tangent[k] and seed
 * have the leading axis. A variable of rank MAX_RANK gets no adjoint
 * (NO_NODE: check the ranks first). NULL when out of memory or when a
 * root of rank MAX_RANK has a tangent (g->err says so). Nodes of rank
 * MAX_RANK inside are differentiated one direction at a time. */
NodeId *ad_forward_vector(Dag *g, int K, const NodeId *var_tangent, int nvars,
                          const NodeId *roots, int nroots, uint32_t *n_out);
NodeId *ad_reverse_vector(Dag *g, int K, NodeId root, NodeId seed, uint32_t *n_out);

/* ------------------------------------------------------------- lang_ad.c */

/* grad(E, x) in the language: the gradient of scalar node e with respect
 * to variable node x, shaped like x (zeros if e does not depend on it),
 * built into the DAG by a reverse sweep. NO_NODE when out of memory. */
NodeId lang_grad(Dag *g, NodeId e, NodeId x);
/* jvp(E, x, v): the tangent of e when variable node x moves along v (v
 * shaped like x), shaped like e, by a forward sweep. NO_NODE: out of memory. */
NodeId lang_jvp(Dag *g, NodeId e, NodeId x, NodeId v);

/* ---------------------------------------------------------------- emit_c.c */

/* One function to emit: a name, the variables it takes and the nodes it
 * returns; argument lists follow SPEC section 3. */
typedef struct EmitArg {
  const char *cname;       /* C identifier of the parameter */
  int var;                 /* variable index (for inputs/params and tangents) */
  ShapeId shape;
} EmitArg;

typedef struct EmitRes {
  const char *cname;       /* C identifier of the result pointer */
  NodeId node;
  const char *comment;
} EmitRes;

typedef struct EmitFn {
  const char *name;
  const char *comment;
  EmitArg *args;           /* in order; args[k].var indexes the variables */
  int nargs;
  int *arg_of_var;         /* variable index -> position in args, or -1 */
  EmitRes *res;
  int nres;
  const char *const *dimc; /* C names of the symbolic dimensions */
  int ndims;
} EmitFn;

/* The smallest product C[m,n] = A[m,k] B[k,n] (m*n*k multiply-adds) that
 * EmitOpts.blas hands to cblas_dgemm; smaller ones stay loops. Measured by
 * tests/bench/bench_blas: below about 200 multiply-adds the call costs more
 * than the loops of the cc backend, and up to about 4096 gradc_rt_matmul
 * (libtcc's products) is faster than OpenBLAS's dgemm. */
enum { BLAS_MIN_MNK = 4096 };

typedef struct EmitOpts {
  /* The JIT's calling convention:
   *   int NAME(const long *d, const double *const *a, double *const *r, double *w)
   * dimension k is d[k], variable k is a[k], result k is r[k], w the
   * workspace (NULL: allocated inside). The body is the same code as the
   * typed function's. A kernel returns 0, -1 when out of memory, or k > 0
   * when runtime check k failed (a onehot label out of range). */
  int kernel;
  int internal;            /* the functions (and their _work) are static, named
                              as given: emit_array.c wraps them (with kernel) */
  int blas;                /* matrix-matrix products of at least
                              BLAS_MIN_MNK multiply-adds as cblas_dgemm */
  int split;               /* long functions in parts (for cc -O2, and for
                              units; tcc is linear in size and a little slower) */
  int *has_work;           /* if not NULL, one per function: 1 if it takes
                              a workspace (and has a _work function) */
  int rt_matmul;           /* kernel only: products of two matrices by
                              gradc_rt_matmul (libtcc: gradc's compiled code) */
  int part_stmts;          /* statements per part of a split function, a loop
                              counting as 8 (0: 128) */
  int sincos;              /* sin(x) and cos(x) both computed (a value and its
                              derivative): 1, their statements adjacent (cc -O2
                              makes one call of sincos of them); 2, written as
                              one call sincos(x, &s, &c) (libtcc; glibc's sincos
                              gives the bits of sin and cos; x86_parts.c
                              translates the call too) */
  /* Streaming a split function: its parts are handed to unit() in
   * translation units of about unit_bytes (0: 1 MiB) that compile alone,
   * as they are written, and `out` keeps only their prototypes (jit_units.c
   * compiles a huge kernel this way: no whole C text, no whole libtcc
   * state). unit() returns 0, or nonzero to stop: emit_c then fails. */
  int (*unit)(void *ctx, const char *src, size_t len);
  void *unit_ctx;
  size_t unit_bytes;
} EmitOpts;

void emit_c(const Dag *g, const EmitFn *fns, int nfns, const EmitOpts *o,
            Buf *out, Buf *header);
const char *emit_ident(Arena *a, const char *user);   /* user name -> C */
/* decl ("int f(a, b, ...)", len bytes) on lines of at most 80 columns,
 * broken after commas; `reserve` columns kept free at its end. */
void emit_wrapped(Buf *b, const char *decl, size_t len, int reserve);
/* A C comment of text wrapped at 80 columns (" * " lines), closed if close. */
void emit_comment(Buf *b, const char *text, int close);
/* Sizes outside a function body: the derived dimensions as locals g_d<j>,
 * computed from locals named fn->dimc[k]; dimension d as C in those terms. */
void emit_derived_dims(const Dag *g, const EmitFn *fn, Buf *b);
void emit_dim(const Dag *g, const EmitFn *fn, Buf *b, int64_t d);
long emit_count_ops(const Dag *g, const NodeId *roots, int nroots);

/* ---------------------------------------------------------------- jit.c */

typedef int (*JitThunk)(const long *dims, const double *const *args, double *const *res, double *work);
typedef struct JitModule JitModule;

/* Compile C source with libtcc (backend 0) or the system compiler into a
 * shared object (backend 1). On failure returns NULL and adds an internal
 * error to diags naming a saved copy of the source. */
JitModule *jit_compile(const char *src, int backend, Diags *diags);
/* The cc backend (backend 1) on a thread of the tiered JIT (tiered.c):
 * NULL on any failure, with no diagnostic and no saved source. While the
 * compiler runs, cancel->child is its process id (under cancel->lock); it
 * is not started once cancel->cancelled is set. */
typedef struct JitCancel {
  pthread_mutex_t lock;
  pid_t child;      /* 0: none running */
  int cancelled;
} JitCancel;
JitModule *jit_compile_cc_quiet(const char *src, JitCancel *cancel);
JitThunk jit_lookup(JitModule *m, const char *name);
void jit_free(JitModule *m);
int jit_have_blas(void);
/* The host's libm has sincos (glibc's computes by the code of sin() and
 * cos(): the same bits), which the JIT's code may call (EmitOpts.sincos). */
#if defined(__GLIBC__)
#define JIT_SINCOS 1
void sincos(double x, double *s, double *c);
#else
#define JIT_SINCOS 0
#endif
int jit_have_tcc(void);   /* 0 when built with GRADC_NO_TCC: cc compiles everything */
/* One translation unit (jit_units.c), in a libtcc state of its own that
 * is deleted before this returns: relocated into place(ctx, size), each
 * global symbol passed to sym(). -1: libtcc rejected it (an internal
 * error in diags, unless NULL), -2: out of memory (place() returned NULL). */
int jit_tcc_unit(const char *src, void *ctx, void *(*place)(void *ctx, size_t size),
                 void (*sym)(void *ctx, const char *name, const void *addr), Diags *diags);
/* The address of a libm function, gradc_rt_tanh or gradc_rt_sigmoid that generated code may
 * call (by its C name), NULL for any other name. */
void *jit_runtime_symbol(const char *name);
/* Held around every use of libtcc in jit.c; jit_units.c forks its worker
 * holding it (no thread of gradc is then inside libtcc). */
void jit_tcc_lock(void);
void jit_tcc_unlock(void);
/* jit_tcc_unit tries x86_parts_compile first (1, the default); 0: libtcc
 * compiles every unit (tests compare the two). */
extern int jit_x86_parts;

/* ------------------------------------------------------------ x86_parts.c */

/* A unit of a streamed kernel's parts (EmitOpts.unit) translated to x86-64
 * code without libtcc, when it holds only straight-line double arithmetic
 * over t[N], a[K][N], r[K][N] and locals, and calls of libm (the results:
 * the bits of libtcc's code for it). Placed and published as jit_tcc_unit
 * does.
 * 0: done; -1: not such a unit (or not x86-64 Linux), nothing placed;
 * -2: out of memory. */
int x86_parts_compile(const char *src, void *ctx, void *(*place)(void *ctx, size_t size),
                      void (*sym)(void *ctx, const char *name, const void *addr));

/* ------------------------------------------------------------- jit_units.c */

/* A huge kernel for libtcc, one translation unit at a time: the parts that
 * emit_c streams (EmitOpts.unit) are each compiled in a libtcc state of
 * their own, relocated into code memory that the JitCode keeps, and the
 * state is deleted at once; the unit of the calling function is compiled
 * last by jit_compile_units, linked to the parts' symbols. Neither the
 * whole C text nor libtcc's state for all of it (its sections are
 * allocated twice over, then copied) ever exists: the peak is the machine
 * code plus one unit. With `worker`, a child process compiles units while
 * the caller emits the next ones (libtcc compiles one source at a time in
 * a process); `nodes`, the DAG's size, bounds the code it can place. The
 * results are the same either way. */
typedef struct JitCode JitCode;
JitCode *jit_code_new(Diags *diags, uint32_t nodes, int worker);
int jit_code_unit(void *code, const char *src, size_t len); /* an EmitOpts.unit */
/* Every unit compiled (waits for the worker, which then exits): 0, 1 if
 * libtcc rejected one (diags says why), -1 out of memory. */
int jit_code_finish(JitCode *c);
/* add(s, name, address) for each function of the units (jit.c links them) */
void jit_code_symbols(const JitCode *c, void *s, void (*add)(void *s, const char *name, const void *addr));
void *jit_code_symbol(const JitCode *c, const char *name);
void jit_code_free(JitCode *c);           /* the code too: after the module */
/* The calling function's unit, after jit_code_finish; the module owns
 * `code` from then on (also when this fails: NULL, an internal error in
 * diags). */
JitModule *jit_compile_units(const char *src, JitCode *code, Diags *diags);

#endif
