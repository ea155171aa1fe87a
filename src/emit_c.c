/* emit_c.c: straight-line C99 from the DAG, in id (topological) order.
 *
 * A node used more than once, the base of an integer power, and any node
 * whose inlined expression would nest deeper than INLINE_DEPTH get a slot
 * t[k] and are computed once; every other node is inlined into its only
 * user. Variables are the function's parameters, constants are literals.
 * tcc has a 256-entry value stack, so the depth bound matters (TOOLCHAIN). */
#include <stdlib.h>
#include <string.h>

#include "ir.h"
#include "../runtime/gradc_rt.h"

#define INLINE_DEPTH 24
#define STACK_SLOTS 1024

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

/* ---- expressions --------------------------------------------------------- */

typedef struct Emit {
  const Dag *g;
  const EmitFn *fn;
  int32_t *slot;      /* node -> slot, -1 inlined, -2 not needed */
  Buf *out;
  uint64_t used_ops;  /* bit per OpKind seen in the whole file */
  int kernel;         /* JIT calling convention: arrays a[] and r[] */
} Emit;

enum { PREC_CMP = 0, PREC_ADD = 1, PREC_MUL = 2, PREC_UNARY = 3, PREC_ATOM = 4 };

static void literal(Buf *b, double x) {
  char s[40];
  snprintf(s, sizeof s, "%.17g", x);
  if (!strpbrk(s, ".eEn"))
    strcat(s, ".0");
  buf_puts(b, s);
}

static int node_prec(const Emit *e, NodeId n) {
  const Node *nd = dag_node(e->g, n);
  if (e->slot[n] >= 0 || nd->op == OP_VAR)
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

static void ref(Emit *e, NodeId n) {
  const Node *nd = dag_node(e->g, n);
  if (nd->op == OP_VAR) {
    int k = e->fn->arg_of_var[nd->v.idx];
    if (e->kernel)
      buf_printf(e->out, "a[%d][0]", k);
    else
      buf_puts(e->out, k >= 0 ? e->fn->args[k].cname : "g_missing_argument");
  } else if (e->slot[n] >= 0) {
    buf_printf(e->out, "t[%d]", e->slot[n]);
  } else {
    expr(e, n, PREC_ATOM);
  }
}

static const char *c_func(OpKind op) {
  switch (op) {
  case OP_ABS: return "fabs";
  case OP_SIGN: return "g_sign";
  case OP_SIGMOID: return "g_sigmoid";
  case OP_RELU: return "g_relu";
  case OP_SOFTPLUS: return "g_softplus";
  case OP_MAX: return "g_max";
  case OP_MIN: return "g_min";
  default: return op_info[op].spell;
  }
}

/* The expression that computes node n (not its slot). */
static void body(Emit *e, NodeId n) {
  const Node *nd = dag_node(e->g, n);
  Buf *b = e->out;
  OpKind op = (OpKind)nd->op;
  int k;
  if (op != OP_POW || !dag_small_int_pow(e->g, nd->arg[1], &k))
    e->used_ops |= 1ull << op; /* which prototypes and helpers to emit */
  switch (op) {
  case OP_CONST:
    literal(b, nd->v.num);
    return;
  case OP_VAR:
    ref(e, n);
    return;
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
  case OP_POW: {
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
  }
  case OP_LT: case OP_LE: case OP_GT: case OP_GE: case OP_EQ: case OP_NE:
    buf_puts(b, "(");
    expr(e, nd->arg[0], PREC_ADD);
    buf_printf(b, " %s ", op_info[op].spell);
    expr(e, nd->arg[1], PREC_ADD);
    buf_puts(b, " ? 1.0 : 0.0)");
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
    buf_printf(b, "%s(", c_func(op));
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
  if (nd->op == OP_VAR || e->slot[n] >= 0) {
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

/* ---- functions ------------------------------------------------------------ */

/* Decide which nodes get slots; returns the number of slots. */
static int plan(Emit *e, const EmitFn *fn) {
  const Dag *g = e->g;
  uint32_t n = g->count;
  uint32_t *uses = calloc(n, sizeof *uses);
  uint8_t *depth = calloc(n, 1);
  if (!uses || !depth) {
    free(uses);
    free(depth);
    return -1;
  }
  for (uint32_t i = 0; i < n; i++)
    e->slot[i] = -2;
  for (int r = 0; r < fn->nres; r++) {
    e->slot[fn->res[r].node] = -1;
    uses[fn->res[r].node]++;
  }
  /* liveness: one descending sweep */
  for (uint32_t i = n; i-- > 0;) {
    if (e->slot[i] == -2)
      continue;
    const Node *nd = dag_node(g, i);
    for (int k = 0; k < nd->nargs; k++) {
      e->slot[nd->arg[k]] = -1;
      uses[nd->arg[k]]++;
    }
    int p;
    if (nd->op == OP_POW && dag_small_int_pow(g, nd->arg[1], &p))
      uses[nd->arg[0]] += 2; /* the base is read several times */
  }
  int nslots = 0;
  for (uint32_t i = 0; i < n; i++) {
    if (e->slot[i] == -2)
      continue;
    const Node *nd = dag_node(g, i);
    if (nd->op == OP_VAR || nd->op == OP_CONST) {
      depth[i] = 0;
      continue;
    }
    int d = 0;
    for (int k = 0; k < nd->nargs; k++)
      if (depth[nd->arg[k]] > d)
        d = depth[nd->arg[k]];
    d++;
    if (uses[i] > 1 || d > INLINE_DEPTH) {
      e->slot[i] = nslots++;
      d = 0;
    }
    depth[i] = (uint8_t)d;
  }
  free(uses);
  free(depth);
  return nslots;
}

static void signature(Buf *b, const EmitFn *fn, int kernel) {
  if (kernel) {
    buf_printf(b, "int %s(const double *const *a, double *const *r)", fn->name);
    return;
  }
  buf_printf(b, "int %s(", fn->name);
  for (int k = 0; k < fn->nargs; k++)
    buf_printf(b, "%sdouble %s", k ? ", " : "", fn->args[k].cname);
  for (int k = 0; k < fn->nres; k++)
    buf_printf(b, "%sdouble *%s", fn->nargs || k ? ", " : "", fn->res[k].cname);
  if (fn->nargs + fn->nres == 0)
    buf_puts(b, "void");
  buf_puts(b, ")");
}

static int function(Emit *e, const EmitFn *fn, Buf *b, int *heap) {
  e->fn = fn;
  int nslots = plan(e, fn);
  if (nslots < 0)
    return -1;
  if (fn->comment)
    buf_printf(b, "/* %s */\n", fn->comment);
  signature(b, fn, e->kernel);
  buf_puts(b, " {\n");
  if (nslots > STACK_SLOTS) {
    *heap = 1;
    buf_printf(b, "  double *t = (double *)malloc(%d * sizeof(double));\n", nslots);
    buf_puts(b, "  if (!t)\n    return -1;\n");
  } else if (nslots > 0) {
    buf_printf(b, "  double t[%d];\n", nslots);
  }
  for (uint32_t i = 0; i < e->g->count; i++) {
    if (e->slot[i] < 0)
      continue;
    buf_printf(b, "  t[%d] = ", e->slot[i]);
    body(e, i);
    buf_puts(b, ";\n");
  }
  for (int r = 0; r < fn->nres; r++) {
    if (e->kernel)
      buf_printf(b, "  r[%d][0] = ", r);
    else
      buf_printf(b, "  *%s = ", fn->res[r].cname);
    expr(e, fn->res[r].node, PREC_CMP);
    buf_puts(b, ";\n");
  }
  if (nslots > STACK_SLOTS)
    buf_puts(b, "  free(t);\n");
  buf_puts(b, "  return 0;\n}\n\n");
  return 0;
}

void emit_c(const Dag *g, const EmitFn *fns, int nfns, const EmitOpts *o,
            Buf *out, Buf *header) {
  Emit e = {.g = g, .kernel = o && o->kernel};
  Buf code = {0};
  e.out = &code;
  e.slot = malloc((g->count ? g->count : 1) * sizeof *e.slot);
  if (!e.slot) {
    out->oom = 1;
    return;
  }
  int heap = 0;
  for (int f = 0; f < nfns; f++)
    if (function(&e, &fns[f], &code, &heap) < 0)
      out->oom = 1;
  free(e.slot);

  /* preamble: only what the code uses */
  buf_printf(out, "/* Generated by gradc %s. C99; link with -lm. */\n", GRADC_VERSION);
  if (heap)
    buf_puts(out, "#include <stdlib.h>\n");
  uint64_t u = e.used_ops;
  int pow_used = (u >> OP_POW) & 1;
  static const OpKind libm[] = {OP_EXP, OP_LOG, OP_SQRT, OP_SIN, OP_COS, OP_TAN,
                                OP_ASIN, OP_ACOS, OP_ATAN, OP_SINH, OP_COSH,
                                OP_TANH, OP_ERF, OP_LOG1P, OP_EXPM1};
  int need_exp = ((u >> OP_EXP) | (u >> OP_SIGMOID) | (u >> OP_SOFTPLUS)) & 1;
  int need_log1p = ((u >> OP_LOG1P) | (u >> OP_SOFTPLUS)) & 1;
  int need_fabs = ((u >> OP_ABS) | (u >> OP_SOFTPLUS)) & 1;
  for (size_t i = 0; i < sizeof libm / sizeof *libm; i++) {
    OpKind op = libm[i];
    int used = (u >> op) & 1;
    if (op == OP_EXP) used = need_exp;
    if (op == OP_LOG1P) used = need_log1p;
    if (used)
      buf_printf(out, "double %s(double);\n", op_info[op].spell);
  }
  if (need_fabs)
    buf_puts(out, "double fabs(double);\n");
  if (pow_used)
    buf_puts(out, "double pow(double, double);\n");
  if ((u >> OP_ATAN2) & 1)
    buf_puts(out, "double atan2(double, double);\n");
  if ((u >> OP_RELU) & 1) buf_puts(out, STR(GRADC_RT_RELU) "\n");
  if ((u >> OP_SIGN) & 1) buf_puts(out, STR(GRADC_RT_SIGN) "\n");
  if ((u >> OP_SIGMOID) & 1) buf_puts(out, STR(GRADC_RT_SIGMOID) "\n");
  if ((u >> OP_SOFTPLUS) & 1) buf_puts(out, STR(GRADC_RT_SOFTPLUS) "\n");
  if ((u >> OP_MAX) & 1) buf_puts(out, STR(GRADC_RT_MAX) "\n");
  if ((u >> OP_MIN) & 1) buf_puts(out, STR(GRADC_RT_MIN) "\n");
  buf_puts(out, "\n");
  for (int f = 0; f < nfns; f++) { /* prototypes keep -Wmissing-prototypes quiet */
    signature(out, &fns[f], e.kernel);
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
      buf_printf(header, "\n/* %s\n", fn->comment ? fn->comment : fn->name);
      for (int k = 0; k < fn->nargs; k++)
        buf_printf(header, " *   %-12s scalar, in\n", fn->args[k].cname);
      for (int k = 0; k < fn->nres; k++)
        buf_printf(header, " *   %-12s scalar, out: %s\n", fn->res[k].cname,
                   fn->res[k].comment ? fn->res[k].comment : "");
      buf_puts(header, " * Returns 0, or -1 if out of memory. */\n");
      signature(header, fn, 0);
      buf_puts(header, ";\n");
    }
  }
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
    if (nd->op != OP_VAR && nd->op != OP_CONST) {
      int k;
      if (nd->op == OP_POW && dag_small_int_pow(g, nd->arg[1], &k))
        ops += (k < 0 ? -k : k) - (k > 0);
      else
        ops++;
    }
    for (int k = 0; k < nd->nargs; k++)
      live[nd->arg[k]] = 1;
  }
  free(live);
  return ops;
}
