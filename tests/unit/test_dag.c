/* test_dag.c: the hash-consed DAG (src/dag.c) through the internal IR
 * (ir.h): sharing, constant folding, the safe identities, dag_check, and
 * every pass on a chain of a million nodes. */
#include <pthread.h>
#include <time.h>

#include "ir.h"
#include "test_util.h"

/* ---- helpers ---------------------------------------------------------------- */

/* A program compiled by the front end, with its DAG in reach. */
typedef struct Prog {
  Source src;
  Diags diags;
  Program prog;
} Prog;

static Prog *prog_compile(const char *text) {
  Prog *p = calloc(1, sizeof *p);
  cr_assert_not_null(p);
  p->src = (Source){"t.expr", text, strlen(text)};
  Parse ps = {.arena = &p->prog.arena, .diags = &p->diags, .src = &p->src};
  cr_assert_eq(parse_source(&ps), 0, "parse failed: %s", text);
  int rc = lower_program(&p->prog, &ps);
  parse_done(&ps);
  cr_assert_eq(rc, GRADC_OK, "lowering failed: %s (%s)", text,
               p->diags.count ? p->diags.items[0].msg : "?");
  cr_assert_eq(dag_check(p->prog.dag), 0);
  return p;
}

static void prog_free(Prog *p) {
  program_free(&p->prog);
  diags_free(&p->diags);
  free(p);
}

static NodeId out_node(const Prog *p, int i) { return p->prog.outs[i].node; }
static NodeId var_node(const Prog *p, const char *name) {
  int k = program_var_index(&p->prog, name);
  cr_assert_geq(k, 0, "no variable %s", name);
  return p->prog.vars[k].node;
}

/* Mark what the roots depend on: one descending sweep (ids are topological). */
static uint8_t *reach(const Dag *g, const NodeId *roots, int nroots) {
  uint8_t *live = calloc(g->count + 1, 1);
  cr_assert_not_null(live);
  for (int r = 0; r < nroots; r++)
    if (roots[r] != NO_NODE)
      live[roots[r]] = 1;
  for (uint32_t i = g->count; i-- > 0;)
    if (live[i])
      for (int k = 0; k < g->nodes[i].nargs; k++)
        live[g->nodes[i].arg[k]] = 1;
  return live;
}

static int count_op(const Dag *g, const NodeId *roots, int nroots, OpKind op) {
  uint8_t *live = reach(g, roots, nroots);
  int n = 0;
  for (uint32_t i = 0; i < g->count; i++)
    n += live[i] && g->nodes[i].op == op;
  free(live);
  return n;
}

/* Operators other than leaves that the roots depend on. */
static int count_ops(const Dag *g, const NodeId *roots, int nroots) {
  uint8_t *live = reach(g, roots, nroots);
  int n = 0;
  for (uint32_t i = 0; i < g->count; i++)
    n += live[i] && g->nodes[i].op != OP_CONST && g->nodes[i].op != OP_VAR;
  free(live);
  return n;
}

static void assert_const(const Dag *g, NodeId n, double v) {
  cr_assert_neq(n, NO_NODE);
  cr_assert_eq(g->nodes[n].op, OP_CONST, "node %u is %s, not a constant", n,
               op_info[g->nodes[n].op].name);
  cr_assert(memcmp(&g->nodes[n].v.num, &v, sizeof v) == 0, "constant %.17g, want %.17g",
            g->nodes[n].v.num, v);
}

/* ---- hash-consing ---------------------------------------------------------------- */

Test(dag, equal_subexpressions_share_one_node) {
  Dag *g = dag_new();
  NodeId w = dag_var(g, 0, SHAPE_SCALAR), x = dag_var(g, 1, SHAPE_SCALAR);
  cr_assert_eq(dag_var(g, 0, SHAPE_SCALAR), w);
  cr_assert_neq(w, x);
  NodeId a = dag_mul(g, w, x);
  uint32_t n = g->count;
  cr_assert_eq(dag_mul(g, w, x), a);
  cr_assert_eq(dag_op(g, OP_MUL, w, x, NO_NODE), a);
  NodeId s = dag_un(g, OP_SIN, a);
  cr_assert_eq(dag_un(g, OP_SIN, dag_mul(g, w, x)), s);
  cr_assert_neq(dag_un(g, OP_COS, a), s);
  cr_assert_eq(dag_const(g, 2.5), dag_const(g, 2.5));
  cr_assert_eq(g->count, n + 3, "count %u", g->count); /* sin, cos, 2.5 */
  cr_assert_eq(dag_check(g), 0);
  dag_free(g);
  ASSERT_NO_LEAKS();
}

Test(dag, commutative_operands_share_in_either_order) {
  Dag *g = dag_new();
  NodeId w = dag_var(g, 0, SHAPE_SCALAR), x = dag_var(g, 1, SHAPE_SCALAR);
  cr_assert_eq(dag_mul(g, x, w), dag_mul(g, w, x));
  cr_assert_eq(dag_add(g, x, w), dag_add(g, w, x));
  cr_assert_eq(dag_bin(g, OP_MAX, x, w), dag_bin(g, OP_MAX, w, x));
  cr_assert_eq(dag_bin(g, OP_MIN, x, w), dag_bin(g, OP_MIN, w, x));
  cr_assert_eq(dag_bin(g, OP_EQ, x, w), dag_bin(g, OP_EQ, w, x));
  /* and the others do not */
  cr_assert_neq(dag_sub(g, x, w), dag_sub(g, w, x));
  cr_assert_neq(dag_div(g, x, w), dag_div(g, w, x));
  cr_assert_neq(dag_pow(g, x, w), dag_pow(g, w, x));
  cr_assert_neq(dag_bin(g, OP_LT, x, w), dag_bin(g, OP_LT, w, x));
  cr_assert_neq(dag_bin(g, OP_ATAN2, x, w), dag_bin(g, OP_ATAN2, w, x));
  cr_assert_eq(dag_check(g), 0);
  dag_free(g);
  ASSERT_NO_LEAKS();
}

Test(dag, w_times_x_and_x_times_w_share_in_a_program) {
  Prog *p = prog_compile("output L = sin(w*x) + cos(x*w)\n");
  NodeId root = out_node(p, 0);
  cr_assert_eq(count_op(p->prog.dag, &root, 1, OP_MUL), 1);
  prog_free(p);
  ASSERT_NO_LEAKS();
}

/* Constants are compared bit for bit: 0.0 and -0.0 differ (1/x tells). */
Test(dag, signed_zeros_stay_distinct) {
  Dag *g = dag_new();
  NodeId pz = dag_const(g, 0.0), nz = dag_const(g, -0.0);
  cr_assert_neq(pz, nz);
  NodeId x = dag_var(g, 0, SHAPE_SCALAR);
  cr_assert_neq(dag_div(g, x, pz), dag_div(g, x, nz));
  dag_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- constant folding ------------------------------------------------------------- */

Test(dag, constants_fold_while_building) {
  Dag *g = dag_new();
  NodeId c = dag_add(g, dag_mul(g, dag_const(g, 2), dag_const(g, 3)), dag_const(g, 1));
  assert_const(g, c, 7);
  assert_const(g, dag_un(g, OP_EXP, dag_const(g, 0)), 1);
  assert_const(g, dag_un(g, OP_SIN, dag_const(g, 0.5)), sin(0.5));
  assert_const(g, dag_pow(g, dag_const(g, 2), dag_const(g, 10)), 1024);
  assert_const(g, dag_bin(g, OP_LT, dag_const(g, 1), dag_const(g, 2)), 1);
  assert_const(g, dag_op(g, OP_WHERE, dag_const(g, 0), dag_const(g, 5), dag_const(g, 6)), 6);
  assert_const(g, dag_neg(g, dag_const(g, 0)), -0.0);
  dag_free(g);
  ASSERT_NO_LEAKS();
}

Test(dag, a_constant_program_is_one_constant_node) {
  Prog *p = prog_compile("2*3+1\n");
  assert_const(p->prog.dag, out_node(p, 0), 7);
  prog_free(p);
  ASSERT_NO_LEAKS();
}

/* SPEC 3: constant folding leaves no arithmetic on literals. */
Test(dag, no_operator_on_literals_alone_survives) {
  static const char *const progs[] = {
      "x*(2*3+1)\n",
      "exp(2)*x + sin(0.5)^2 - log(3)/x + max(1, 2)*min(4, 3)\n",
      "where(1 < 2, x, 3) + atan2(1, 2)*x + sigmoid(0)*softplus(1)\n",
      "x^(1/2) + (x + 2*3) - -(4)\n",
      "sqrt(16)*abs(-2)*sign(-3)*relu(-1)*erf(0.1)*tanh(1)*x\n",
  };
  for (size_t i = 0; i < sizeof progs / sizeof *progs; i++) {
    Prog *p = prog_compile(progs[i]);
    const Dag *g = p->prog.dag;
    NodeId root = out_node(p, 0);
    uint8_t *live = reach(g, &root, 1);
    for (uint32_t n = 0; n < g->count; n++) {
      const Node *nd = &g->nodes[n];
      if (!live[n] || nd->nargs == 0)
        continue;
      int allconst = 1;
      for (int k = 0; k < nd->nargs; k++)
        allconst &= g->nodes[nd->arg[k]].op == OP_CONST;
      cr_assert(!allconst, "%s: node %u (%s) has only literal operands", progs[i], n,
                op_info[nd->op].name);
    }
    free(live);
    prog_free(p);
  }
  ASSERT_NO_LEAKS();
}

/* ---- identities -------------------------------------------------------------------- */

Test(dag, safe_identities_simplify) {
  Dag *g = dag_new();
  NodeId x = dag_var(g, 0, SHAPE_SCALAR);
  NodeId zero = dag_const(g, 0), one = dag_const(g, 1);
  NodeId negzero = dag_const(g, -0.0);
  cr_assert_eq(dag_add(g, x, negzero), x);   /* x + -0 is x; x + 0 is not at x = -0 */
  cr_assert_eq(dag_add(g, negzero, x), x);
  cr_assert_eq(g->nodes[dag_add(g, x, zero)].op, OP_ADD);
  cr_assert_eq(g->nodes[dag_sub(g, zero, x)].op, OP_SUB); /* 0 - 0 is +0, -(0) is -0 */
  cr_assert_eq(g->nodes[dag_sub(g, negzero, x)].op, OP_NEG);
  cr_assert_eq(dag_mul(g, x, one), x);
  cr_assert_eq(dag_mul(g, one, x), x);
  cr_assert_eq(dag_sub(g, x, zero), x);
  cr_assert_eq(dag_div(g, x, one), x);
  cr_assert_eq(dag_pow(g, x, one), x);
  assert_const(g, dag_pow(g, x, zero), 1);
  cr_assert_eq(dag_neg(g, dag_neg(g, x)), x);
  cr_assert_eq(dag_bin(g, OP_MAX, x, x), x);
  cr_assert_eq(dag_op(g, OP_WHERE, one, x, zero), x);
  NodeId y = dag_var(g, 1, SHAPE_SCALAR);
  cr_assert_eq(dag_op(g, OP_WHERE, y, x, x), x);
  cr_assert_eq(dag_check(g), 0);
  dag_free(g);
  ASSERT_NO_LEAKS();
}

/* SPEC 1.6: x - x, 0*x, 0/x and x/x fold only for finite constants, since
 * x may be inf or NaN at run time; 0/0 is not folded to a number. */
Test(dag, identities_keep_ieee_outcomes) {
  Dag *g = dag_new();
  NodeId x = dag_var(g, 0, SHAPE_SCALAR);
  NodeId zero = dag_const(g, 0), three = dag_const(g, 3);
  cr_assert_eq(g->nodes[dag_sub(g, x, x)].op, OP_SUB);
  cr_assert_eq(g->nodes[dag_mul(g, x, zero)].op, OP_MUL);
  cr_assert_eq(g->nodes[dag_mul(g, zero, x)].op, OP_MUL);
  cr_assert_eq(g->nodes[dag_div(g, zero, x)].op, OP_DIV);
  cr_assert_eq(g->nodes[dag_div(g, x, x)].op, OP_DIV);
  cr_assert_eq(g->nodes[dag_div(g, zero, zero)].op, OP_DIV); /* NaN at run time */
  assert_const(g, dag_sub(g, three, three), 0);
  assert_const(g, dag_mul(g, three, zero), 0);
  assert_const(g, dag_div(g, zero, three), 0);
  /* derivative code multiplies strongly: a zero factor wins */
  NodeId inv = dag_div(g, dag_const(g, 1), x); /* may be infinite */
  assert_const(g, dag_smul(g, zero, inv), 0);
  cr_assert_eq(g->nodes[dag_smul(g, x, inv)].op, OP_SMUL);
  cr_assert_eq(g->nodes[dag_smul(g, x, dag_un(g, OP_SIN, x))].op, OP_MUL); /* both finite */
  cr_assert_eq(dag_check(g), 0);
  dag_free(g);
  ASSERT_NO_LEAKS();
}

/* SPEC 1.6 stable forms, wherever they appear. */
Test(dag, stable_forms_of_log_and_exp) {
  Dag *g = dag_new();
  Shape v3 = {.rank = 1, .dim = {3}};
  ShapeId s3 = shape_intern(g, &v3);
  NodeId x = dag_var(g, 0, SHAPE_SCALAR), v = dag_var(g, 1, s3), one = dag_const(g, 1);
  cr_assert_eq(dag_un(g, OP_LOG, dag_un(g, OP_EXP, x)), x);
  cr_assert_eq(dag_un(g, OP_LOG, dag_softmax(g, v, -1)), dag_log_softmax(g, v, -1));
  cr_assert_eq(dag_un(g, OP_LOG, dag_sum(g, dag_un(g, OP_EXP, v), -1)), dag_logsumexp(g, v, -1));
  NodeId sp = dag_un(g, OP_LOG, dag_add(g, one, dag_un(g, OP_EXP, x)));
  cr_assert_eq(g->nodes[sp].op, OP_SOFTPLUS);
  NodeId ls = dag_un(g, OP_LOG, dag_sub(g, one, dag_un(g, OP_SIGMOID, x)));
  cr_assert_eq(g->nodes[ls].op, OP_NEG);
  cr_assert_eq(g->nodes[g->nodes[ls].arg[0]].op, OP_SOFTPLUS);
  cr_assert_eq(g->nodes[g->nodes[ls].arg[0]].arg[0], x);
  NodeId e = dag_add(g, dag_const(g, -1), dag_un(g, OP_EXP, x));
  cr_assert_eq(g->nodes[e].op, OP_EXPM1);
  /* sqrt(u)^2 -> u only where u >= 0 */
  NodeId u = dag_add(g, dag_mul(g, x, x), one);
  cr_assert_eq(dag_pow(g, dag_un(g, OP_SQRT, u), dag_const(g, 2)), u);
  cr_assert_neq(dag_pow(g, dag_un(g, OP_SQRT, x), dag_const(g, 2)), x);
  cr_assert_eq(dag_check(g), 0);
  dag_free(g);
  ASSERT_NO_LEAKS();
}

Test(dag, stable_forms_replace_log_one_plus_and_exp_minus_one) {
  Dag *g = dag_new();
  NodeId x = dag_var(g, 0, SHAPE_SCALAR), one = dag_const(g, 1);
  NodeId l = dag_un(g, OP_LOG, dag_add(g, one, x));
  cr_assert_eq(g->nodes[l].op, OP_LOG1P);
  cr_assert_eq(g->nodes[l].arg[0], x);
  cr_assert_eq(dag_un(g, OP_LOG, dag_add(g, x, one)), l);
  NodeId e = dag_sub(g, dag_un(g, OP_EXP, x), one);
  cr_assert_eq(g->nodes[e].op, OP_EXPM1);
  cr_assert_eq(g->nodes[e].arg[0], x);
  cr_assert_eq(dag_check(g), 0);
  dag_free(g);
  ASSERT_NO_LEAKS();
}

/* The same identities reached from source text. */
Test(dag, identities_apply_to_parsed_programs) {
  static const struct { const char *text; const char *same_as; } cases[] = {
      {"output L = x - 0\n", "x"}, {"output L = 1*x\n", "x"},  {"output L = x/1\n", "x"},
      {"output L = x^1\n", "x"},   {"output L = -(-x)\n", "x"}, {"output L = --x\n", "x"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    Prog *p = prog_compile(cases[i].text);
    cr_assert_eq(out_node(p, 0), var_node(p, cases[i].same_as), "%s", cases[i].text);
    prog_free(p);
  }
  Prog *p = prog_compile("output L = x^0 + (3 - 3)\n");
  assert_const(p->prog.dag, out_node(p, 0), 1);
  prog_free(p);
  p = prog_compile("output L = log(1 + x) + (exp(x) - 1)\n");
  NodeId root = out_node(p, 0);
  cr_assert_eq(count_op(p->prog.dag, &root, 1, OP_LOG1P), 1);
  cr_assert_eq(count_op(p->prog.dag, &root, 1, OP_EXPM1), 1);
  cr_assert_eq(count_op(p->prog.dag, &root, 1, OP_LOG), 0);
  cr_assert_eq(count_op(p->prog.dag, &root, 1, OP_EXP), 0);
  prog_free(p);
  ASSERT_NO_LEAKS();
}

/* ---- dag_check ------------------------------------------------------------------------ */

Test(dag, dag_check_holds_after_the_ad_passes_and_catches_corruption) {
  Prog *p = prog_compile("u = w*x - y\noutput L = 0.5*u^2 + sin(u)*exp(w)\n");
  Dag *g = p->prog.dag;
  uint32_t n;
  NodeId *adj = ad_reverse(g, out_node(p, 0), NO_NODE, &n);
  cr_assert_not_null(adj);
  cr_assert_eq(dag_check(g), 0);
  NodeId tan[3] = {dag_const(g, 1), NO_NODE, NO_NODE}, root = out_node(p, 0);
  NodeId *t = ad_forward(g, tan, 3, &root, 1, &n);
  cr_assert_not_null(t);
  cr_assert_eq(dag_check(g), 0);
  free(adj);
  free(t);
  /* a child younger than its parent breaks the topological order */
  Node saved = g->nodes[root];
  g->nodes[root].arg[0] = g->count - 1 > root ? g->count - 1 : root;
  cr_assert_neq(dag_check(g), 0, "dag_check missed a forward reference");
  g->nodes[root] = saved;
  cr_assert_eq(dag_check(g), 0);
  prog_free(p);
  ASSERT_NO_LEAKS();
}

/* ---- sharing in programs ----------------------------------------------------------------- */

/* (w*x-y) appears twice in the text but once in the DAG. */
Test(dag, a_repeated_subexpression_is_one_node) {
  Prog *p = prog_compile("(w*x-y)^2 + sin(w*x-y)\n");
  const Dag *g = p->prog.dag;
  NodeId root = out_node(p, 0);
  cr_assert_eq(count_op(g, &root, 1, OP_SUB), 1);
  cr_assert_eq(count_op(g, &root, 1, OP_MUL), 1);
  /* add, pow, sin, sub, mul */
  cr_assert_eq(count_ops(g, &root, 1), 5, "%d operators", count_ops(g, &root, 1));
  prog_free(p);
  ASSERT_NO_LEAKS();
}

/* Derivative code reuses primal values instead of recomputing them. */
Test(dag, gradients_reuse_the_primal_nodes) {
  Prog *p = prog_compile("exp(w*x) + sigmoid(w*x)\n");
  Dag *g = p->prog.dag;
  NodeId root = out_node(p, 0);
  uint32_t before = g->count, n;
  NodeId *adj = ad_reverse(g, root, NO_NODE, &n);
  cr_assert_not_null(adj);
  NodeId roots[3] = {root, adj[var_node(p, "w")], adj[var_node(p, "x")]};
  cr_assert_neq(roots[1], NO_NODE);
  cr_assert_neq(roots[2], NO_NODE);
  cr_assert_eq(count_op(g, roots, 3, OP_EXP), 1);
  cr_assert_eq(count_op(g, roots, 3, OP_SIGMOID), 1);
  cr_assert_eq(count_op(g, roots, 3, OP_MUL) - count_op(g, &root, 1, OP_MUL) > 0, 1);
  /* the primal w*x is the one that existed before the pass */
  uint8_t *live = reach(g, roots, 3);
  for (uint32_t i = before; i < g->count; i++)
    cr_assert(!(live[i] && g->nodes[i].op == OP_EXP), "a new exp node %u", i);
  free(live);
  free(adj);
  prog_free(p);
  ASSERT_NO_LEAKS();
}

/* ---- a million nodes ---------------------------------------------------------------------- */

enum { CHAIN = 1000000 };

typedef struct ChainJob {
  Dag *g;
  NodeId root, grad;
  Buf src;
  int check;
} ChainJob;

/* v(i+1) = sin(v(i)): a chain of a million operators; d/dx by reverse mode. */
static void *chain_work(void *arg) {
  ChainJob *j = arg;
  Dag *g = j->g;
  NodeId x = dag_var(g, 0, SHAPE_SCALAR), v = x;
  for (int i = 0; i < CHAIN; i++)
    v = dag_un(g, OP_SIN, v);
  j->root = v;
  uint32_t n;
  NodeId *adj = ad_reverse(g, v, NO_NODE, &n);
  j->grad = adj ? adj[x] : NO_NODE;
  free(adj);
  j->check = dag_check(g);
  EmitArg args[1] = {{"x", 0, SHAPE_SCALAR}};
  int arg_of_var[1] = {0};
  EmitRes res[2] = {{"g_r0", j->root, NULL}, {"g_r1", j->grad, NULL}};
  EmitFn fn = {.name = "chain", .args = args, .nargs = 1, .arg_of_var = arg_of_var,
               .res = res, .nres = 2};
  if (j->grad != NO_NODE)
    emit_c(g, &fn, 1, NULL, &j->src, NULL);
  return NULL;
}

/* Build, differentiate and emit on a thread with a 1 MiB stack: any pass
 * that recursed once per node would overflow it. Then JIT and run. */
Test(dag, a_million_node_chain_needs_no_deep_stack, .timeout = 120) {
  ChainJob j = {.g = dag_new()};
  cr_assert_not_null(j.g);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 1u << 20);
  pthread_t th;
  cr_assert_eq(pthread_create(&th, &attr, chain_work, &j), 0);
  pthread_join(th, NULL);
  pthread_attr_destroy(&attr);
  cr_assert_eq(j.g->oom, 0);
  cr_assert_geq(j.g->count, 3u * CHAIN); /* sin, and cos and * for the adjoints */
  cr_assert_eq(j.check, 0);
  cr_assert_neq(j.grad, NO_NODE);
  cr_assert(!j.src.oom && j.src.len > 0);

  clock_t t0 = clock();
  Diags d = {0};
  JitModule *m = jit_compile(j.src.data, 0, &d);
  double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
  cr_assert_not_null(m, "%s", d.count ? d.items[0].msg : "?");
  cr_assert_lt(secs, 30, "libtcc took %.1f s for %zu bytes of C", secs, j.src.len);
  /* a million values to keep for the reverse sweep: t[] is too large for
   * the stack, so it is in the workspace (NULL: the function allocates it) */
  cr_assert_not_null(strstr(j.src.data, "int chain(double x, double *g_r0, double *g_r1, double *work)"),
                     "the signature: %.200s", strstr(j.src.data, "int chain("));
  JitThunk sym = jit_lookup(m, "chain");
  cr_assert_not_null(sym);
  int (*f)(double, double *, double *, double *);
  memcpy(&f, &sym, sizeof f);
  double x = 0.3, r0 = NAN, r1 = NAN;
  cr_assert_eq(f(x, &r0, &r1, NULL), 0);
  /* reference: the same recurrence, and its derivative by forward mode */
  double v = x, dv = 1;
  for (int i = 0; i < CHAIN; i++) {
    dv = cos(v) * dv;
    v = sin(v);
  }
  cr_assert(memcmp(&r0, &v, sizeof v) == 0, "value %.17g, want %.17g", r0, v);
  cr_assert_lt(rel_diff(r1, dv), 1e-9, "derivative %.17g, want %.17g", r1, dv);
  jit_free(m);
  diags_free(&d);
  buf_free(&j.src);
  dag_free(j.g);
  ASSERT_NO_LEAKS();
}

/* ---- LINSCAN: h_i = a_i h_(i-1) + b_i and its rules --------------------------------- */

/* f = sum(w * linscan(a, b)) for vectors a, b of 5, both directions: the
 * reverse-mode gradient (its reverse rule: a LINSCAN the other way) and
 * the forward-mode JVP (its forward rule) against central differences of
 * the recurrence written out here. prod's partials are built from it. */
static double linscan_f(const double *a, const double *b, int rev) {
  double h = 0, f = 0;
  for (int k = 0; k < 5; k++) {
    int i = rev ? 4 - k : k;
    h = a[i] * h + b[i];
    f += (i + 1.5) * h;
  }
  return f;
}

Test(dag, linscan_rules_against_differences) {
  for (int rev = 0; rev < 2; rev++) {
    Dag *g = dag_new();
    Shape s5 = {.rank = 1, .dim = {5}};
    ShapeId v5 = shape_intern(g, &s5);
    NodeId a = dag_var(g, 0, v5), b = dag_var(g, 1, v5), ta = dag_var(g, 2, v5), tb = dag_var(g, 3, v5);
    NodeId w = dag_add(g, dag_iota(g, 5), dag_const(g, 1.5));
    NodeId f = dag_sum(g, dag_mul(g, w, dag_linscan(g, a, dag_un(g, OP_SIN, b), 0, rev)), -1);
    uint32_t n;
    NodeId *adj = ad_reverse(g, f, NO_NODE, &n);
    NodeId vt[2] = {ta, tb};
    NodeId *tan = ad_forward(g, vt, 2, &f, 1, &n);
    cr_assert(adj && tan && adj[a] != NO_NODE && adj[b] != NO_NODE && tan[f] != NO_NODE);
    EmitArg args[4] = {{"a", 0, v5}, {"b", 1, v5}, {"ta", 2, v5}, {"tb", 3, v5}};
    int arg_of_var[4] = {0, 1, 2, 3};
    EmitRes res[4] = {{"g_f", f, NULL}, {"g_ga", adj[a], NULL}, {"g_gb", adj[b], NULL}, {"g_tf", tan[f], NULL}};
    EmitFn fn = {.name = "ls", .args = args, .nargs = 4, .arg_of_var = arg_of_var, .res = res, .nres = 4};
    EmitOpts o = {.kernel = 1};
    Buf src = {0};
    emit_c(g, &fn, 1, &o, &src, NULL);
    Diags d = {0};
    JitModule *m = jit_compile(src.data, 0, &d);
    cr_assert_not_null(m, "%s", d.count ? d.items[0].msg : "?");
    JitThunk k = jit_lookup(m, "ls");
    double A[5] = {0.5, -1.2, 2, 0, 0.7}, B[5] = {1, 0.3, -0.4, 2, 1.1}, TA[5] = {0.3, -1, 0.2, 0.5, 2};
    double TB[5] = {1, 1, -2, 0.5, 0.1}, F, GA[5], GB[5], TF;
    const double *in[4] = {A, B, TA, TB};
    double *out[4] = {&F, GA, GB, &TF};
    cr_assert_eq(k(NULL, in, out, NULL), 0);
    double sb[5];
    for (int i = 0; i < 5; i++)
      sb[i] = sin(B[i]);
    cr_assert_lt(rel_diff(F, linscan_f(A, sb, rev)), 1e-15);
    double jvp = 0, h = 1e-6;
    for (int i = 0; i < 5; i++) {
      double x0 = A[i], p, q;
      A[i] = x0 + h, p = linscan_f(A, sb, rev);
      A[i] = x0 - h, q = linscan_f(A, sb, rev);
      A[i] = x0;
      cr_assert_lt(fabs(GA[i] - (p - q) / (2 * h)), 1e-6 * fmax(1, fabs(GA[i])), "rev %d: df/da[%d] = %.12g, differences %.12g",
                   rev, i, GA[i], (p - q) / (2 * h));
      double y0 = B[i];
      sb[i] = sin(y0 + h), p = linscan_f(A, sb, rev);
      sb[i] = sin(y0 - h), q = linscan_f(A, sb, rev);
      sb[i] = sin(y0);
      cr_assert_lt(fabs(GB[i] - (p - q) / (2 * h)), 1e-6 * fmax(1, fabs(GB[i])), "rev %d: df/db[%d] = %.12g, differences %.12g",
                   rev, i, GB[i], (p - q) / (2 * h));
      jvp += GA[i] * TA[i] + GB[i] * TB[i];
    }
    cr_assert_lt(rel_diff(TF, jvp), 1e-13, "rev %d: forward %.17g, reverse %.17g", rev, TF, jvp);
    jit_free(m);
    diags_free(&d);
    buf_free(&src);
    free(adj);
    free(tan);
    dag_free(g);
  }
  ASSERT_NO_LEAKS();
}

/* The node limit, reached by derivatives nested in derivatives (each level
 * about doubles the graph), is reported at the statement that reached it,
 * FILE:LINE:COL, with a hint; lowering stops there. */
Test(dag, node_limit_names_the_statement) {
  const char *text = "param x\n"
                     "f0 = sin(x)*exp(x)/(1 + x^2)\n"
                     "f1 = grad(f0, x)\nf2 = grad(f1, x)\nf3 = grad(f2, x)\nf4 = grad(f3, x)\n"
                     "f5 = grad(f4, x)\nf6 = grad(f5, x)\nf7 = grad(f6, x)\nf8 = grad(f7, x)\n"
                     "f9 = grad(f8, x)\nf10 = grad(f9, x)\nf11 = grad(f10, x)\nf12 = grad(f11, x)\n"
                     "output y = f12\n";
  Prog p = {0};
  p.src = (Source){"t.expr", text, strlen(text)};
  p.prog.dag = dag_new();
  cr_assert_not_null(p.prog.dag);
  p.prog.dag->max_nodes = 3000;
  Parse ps = {.arena = &p.prog.arena, .diags = &p.diags, .src = &p.src};
  cr_assert_eq(parse_source(&ps), 0);
  int rc = lower_program(&p.prog, &ps);
  parse_done(&ps);
  cr_assert_eq(rc, GRADC_ERR_INPUT);
  cr_assert_eq(p.diags.count, 1, "one error, not one per later statement (%d)", p.diags.count);
  const Diag *d = &p.diags.items[0];
  cr_assert_gt(d->span.line, 3, "at the statement that reached the limit (line %d)", d->span.line);
  cr_assert_lt(d->span.line, 15);
  cr_assert_not_null(strstr(d->msg, "too large (more than 3000 nodes)"), "%s", d->msg);
  cr_assert_not_null(strstr(d->msg, "jvp()"), "a hint: %s", d->msg);
  program_free(&p.prog);
  diags_free(&p.diags);
}
