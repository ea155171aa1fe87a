/* test_jit_units.c: a huge kernel compiled by libtcc one translation unit
 * at a time (src/jit_units.c, EmitOpts.unit). The streamed code computes
 * bit for bit what the kernel compiled from one source computes, with every
 * scalar operator and however its parts fall into units; a unit that
 * libtcc rejects is an internal error that names a saved copy. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "api.h"
#define TEST_UTIL_RANDOM
#include "test_util.h"

/* ---- a program of n definitions over every scalar operator -------------------- */

/* Each definition reads the one before it and an earlier one (so most are
 * statements, used twice), in domains where every operator is finite. */
static char *program(int n) {
  static const char *const forms[] = {
      "%s*%s + p0",          "%s - 0.5*%s",          "%s/(2 + %s*%s)",         "sin(%s) + cos(%s)",
      "tanh(%s)*%s",         "exp(-%s*%s)",          "log(1 + %s*%s)",         "sqrt(1 + %s*%s)",
      "sigmoid(%s) - %s",    "relu(%s) + %s",        "softplus(%s)*0.5 - %s",  "abs(%s) - sign(%s)",
      "erf(%s) + %s",        "log1p(%s*%s)",         "expm1(0.1*%s) + %s",     "atan2(%s, 1 + %s*%s)",
      "max(%s, %s)",         "min(%s, p1*%s)",       "mod(%s, 0.7) + %s",      "logaddexp(%s, %s)",
      "where(%s > %s, p2, %s)", "floor(%s) + ceil(%s)", "round(3*%s)*0.1 + %s", "(%s <= %s) + %s",
      "asin(0.5*tanh(%s)) + %s", "acos(0.5*tanh(%s)) - %s", "atan(%s) + sinh(0.1*%s)",
      "cosh(0.1*%s) - %s",   "tan(0.3*tanh(%s)) + %s", "pow(1 + %s*%s, 1.5)",  "%s^2 - %s^3*0.1",
  };
  enum { NFORMS = sizeof forms / sizeof *forms };
  Str s = {0};
  put(&s, "param p0 = 0.3, p1 = -0.7, p2 = 0.2, p3 = 1.1\n");
  for (int k = 0; k < n; k++) {
    char a[16], b[16];
    if (k == 0) {
      snprintf(a, sizeof a, "p3");
      snprintf(b, sizeof b, "p1");
    } else {
      snprintf(a, sizeof a, "d%d", k - 1);
      snprintf(b, sizeof b, "d%d", pick(k));
    }
    const char *f = forms[k < NFORMS ? k : pick(NFORMS)];
    /* a form's %s are filled with a and b in turn; scaled back to about 1 */
    char body[256];
    snprintf(body, sizeof body, f, a, b, a, b);
    put(&s, "d%d = tanh(%s)\n", k, body);
  }
  put(&s, "output f = d%d + 0.5*d%d - d%d\n", n - 1, n / 2, n / 3);
  return s.s;
}

/* The results of f at the defaults, as bits. */
static void results(Gradc *g, GradcFn *f, uint64_t *bits, int max) {
  cr_assert_not_null(f, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_run(f, NULL), GRADC_OK, "%s", gradc_diag_render(g));
  int n = gradc_fn_res_count(f);
  cr_assert_leq(n, max);
  for (int i = 0; i < n; i++) {
    double x = gradc_fn_res_data(f, i)[0];
    cr_assert(isfinite(x), "result %d is %g", i, x);
    memcpy(&bits[i], &x, sizeof x);
  }
}

Test(jit_units, streamed_kernels_compute_the_same_bits_through_the_api, .timeout = 120) {
  char *text = program(3000);
  uint64_t want[2][8], got[2][8];
  for (int streamed = 0; streamed < 2; streamed++) {
    Gradc *g = compile_ok(text);
    gradc_set_backend(g, GRADC_BACKEND_TCC);
    g->unit_nodes = streamed ? 1 : UINT32_MAX; /* every kernel in units, or none */
    GradcFn *fv = gradc_fn_value(g), *fg = gradc_fn_grad(g, NULL, 0);
    results(g, fv, streamed ? got[0] : want[0], 8);
    results(g, fg, streamed ? got[1] : want[1], 8);
    /* streamed, the gradient's parts (parts of UNIT_PART_STMTS statements)
     * came from units: jit_units.c keeps their names */
    cr_assert_eq(jit_lookup(fg->mod, "g_fn_p1") != NULL, streamed);
    gradc_free(g);
  }
  cr_assert_eq(got[0][0], want[0][0], "the value");
  for (int i = 0; i < 5; i++) /* f and its gradient w.r.t. p0..p3 */
    cr_assert_eq(got[1][i], want[1][i], "result %d of the gradient", i);
  free(text);
  ASSERT_NO_LEAKS();
}

/* A long program over vectors (a symbolic size N): loops, reductions,
 * elements at literal indices, and a label checked at call time (take), so
 * that parts hold buffers, derived dimensions and runtime checks. */
static char *vector_program(int n) {
  Str s = {0};
  put(&s, "input x[N]\ninput label\nparam z[4] = [0.3, -0.2, 0.5, 0.1], c = 0.7\n");
  put(&s, "v0 = tanh(x*c + 0.1)\n");
  for (int k = 1; k < n; k++)
    put(&s, "v%d = tanh(v%d*0.9 + z[%d]*v%d[%d]) + 0.01*v%d\n", k, k - 1, k % 4, pick(k), k % 3, pick(k));
  put(&s, "output f = sum(v%d*v%d) + v%d[1]*c - take(log_softmax(z*v%d[0]), label)\n", n - 1, n / 2, n / 3,
      n - 1);
  return s.s;
}

/* The gradient of the vector program, streamed or from one source, on the
 * same values: the same bits; a label out of range: the same error. */
Test(jit_units, streamed_vector_kernels_compute_the_same_bits, .timeout = 120) {
  char *text = vector_program(700);
  uint64_t bits[2][8];
  for (int streamed = 0; streamed < 2; streamed++) {
    Gradc *g = compile_ok(text);
    gradc_set_backend(g, GRADC_BACKEND_TCC);
    g->unit_nodes = streamed ? 1 : UINT32_MAX;
    double x[3] = {0.4, -1.2, 2.0}, label = 2;
    long dx[1] = {3};
    cr_assert_eq(gradc_set_value(g, 0, x, dx, 1), GRADC_OK);
    cr_assert_eq(gradc_set_value(g, 1, &label, NULL, 0), GRADC_OK);
    cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK, "%s", gradc_diag_render(g));
    GradcFn *f = gradc_fn_grad(g, NULL, 0);
    cr_assert_not_null(f, "%s", gradc_diag_render(g));
    /* streamed, the parts (of loops and statements) came from units */
    cr_assert_eq(jit_lookup(f->mod, "g_fn_p1") != NULL, streamed);
    cr_assert_eq(gradc_run(f, NULL), GRADC_OK, "%s", gradc_diag_render(g));
    int nres = gradc_fn_res_count(f), at = 0;
    cr_assert_eq(nres, 3); /* f, df/dz, df/dc */
    for (int i = 0; i < nres; i++) {
      long dims[4];
      int rank = gradc_fn_res_shape(f, i, dims);
      const double *r = gradc_fn_res_data(f, i);
      for (long k = 0; k < (rank ? dims[0] : 1); k++, at++) {
        cr_assert(isfinite(r[k]), "result %d[%ld] is %g", i, k, r[k]);
        memcpy(&bits[streamed][at], &r[k], sizeof r[k]);
      }
    }
    cr_assert_eq(at, 6);
    label = 7; /* past z's 4 entries: the check in a part fails */
    cr_assert_eq(gradc_set_value(g, 1, &label, NULL, 0), GRADC_OK);
    cr_assert_eq(gradc_run(f, NULL), GRADC_ERR_INPUT);
    cr_assert(strstr(gradc_diag_render(g), "take"), "%s", gradc_diag_render(g));
    gradc_free(g);
  }
  for (int i = 0; i < 6; i++)
    cr_assert_eq(bits[1][i], bits[0][i], "entry %d of the gradient", i);
  free(text);
  ASSERT_NO_LEAKS();
}

/* ---- units of every size, through emit_c and jit.c directly -------------------- */

typedef struct Counting {
  JitCode *code;
  int units;
} Counting;

static int count_unit(void *ctx, const char *src, size_t len) {
  Counting *c = ctx;
  c->units++;
  return jit_code_unit(c->code, src, len);
}

/* The value and gradient kernel of the program's output, emitted from one
 * source (part_stmts 0) or streamed in parts of part_stmts statements, a
 * new unit whenever one holds unit_bytes, compiled here or with a worker
 * process; its results at the defaults. */
static int kernel_results(Gradc *g, int part_stmts, size_t unit_bytes, int worker, double *res, int *units) {
  Program *prog = &g->prog;
  Dag *d = prog->dag;
  uint32_t n;
  NodeId *adj = ad_reverse(d, prog->outs[0].node, NO_NODE, &n);
  cr_assert_not_null(adj);
  int nv = prog->nvars, nres = 1 + nv;
  EmitArg *args = calloc((size_t)nv, sizeof *args);
  int *arg_of_var = calloc((size_t)nv, sizeof *arg_of_var);
  EmitRes *rs = calloc((size_t)nres, sizeof *rs);
  cr_assert(args && arg_of_var && rs);
  for (int k = 0; k < nv; k++) {
    args[k] = (EmitArg){prog->vars[k].name, k, SHAPE_SCALAR};
    arg_of_var[k] = k;
  }
  rs[0] = (EmitRes){"g_r0", prog->outs[0].node, NULL};
  for (int k = 0; k < nv; k++) {
    NodeId a = adj[prog->vars[k].node];
    rs[1 + k] = (EmitRes){"g_r", a == NO_NODE ? dag_const(d, 0) : a, NULL};
  }
  free(adj);
  EmitFn fn = {.name = "g_fn", .args = args, .nargs = nv, .arg_of_var = arg_of_var, .res = rs, .nres = nres};
  Counting c = {jit_code_new(&g->diags, d->count, worker), 0};
  cr_assert_not_null(c.code);
  EmitOpts o = {.kernel = 1, .split = part_stmts > 0, .part_stmts = part_stmts};
  if (part_stmts > 0) {
    o.unit = count_unit;
    o.unit_ctx = &c;
    o.unit_bytes = unit_bytes;
  }
  Buf src = {0};
  emit_c(d, &fn, 1, &o, &src, NULL);
  cr_assert_not(src.oom);
  cr_assert_eq(jit_code_finish(c.code), 0, "%s", gradc_diag_render(g));
  JitModule *m = part_stmts > 0 ? jit_compile_units(src.data, c.code, &g->diags)
                                : (jit_code_free(c.code), jit_compile(src.data, 0, &g->diags));
  cr_assert_not_null(m, "%s", gradc_diag_render(g));
  if (part_stmts > 0) /* the parts are the units' functions, found by name */
    cr_assert_not_null(jit_lookup(m, "g_fn_p0"));
  JitThunk call = jit_lookup(m, "g_fn");
  cr_assert_not_null(call);
  double *vals = calloc((size_t)nv, sizeof *vals);
  const double **a = calloc((size_t)nv, sizeof *a);
  double **r = calloc((size_t)nres, sizeof *r);
  cr_assert(vals && a && r);
  for (int k = 0; k < nv; k++) {
    cr_assert_eq(gradc_var_default(g, k, &vals[k]), 1);
    a[k] = &vals[k];
  }
  for (int k = 0; k < nres; k++)
    r[k] = &res[k];
  long dims = 0;
  cr_assert_eq(call(&dims, a, r, NULL), 0);
  jit_free(m);
  buf_free(&src);
  free(vals);
  free(a);
  free(r);
  free(args);
  free(arg_of_var);
  free(rs);
  *units = c.units;
  return nres;
}

Test(jit_units, any_cut_into_parts_and_units_gives_the_same_bits, .timeout = 120) {
  char *text = program(300);
  Gradc *g = compile_ok(text);
  double want[8], got[8];
  int units;
  int nres = kernel_results(g, 0, 0, 0, want, &units);
  cr_assert_eq(units, 0);
  /* {part size, unit size}: a part per unit, a few parts per unit, one unit */
  const struct { int part; size_t bytes; int min_units; } cuts[] = {
      {3, 1, 100}, {40, 4000, 3}, {200, (size_t)1 << 20, 1}};
  for (int worker = 0; worker < 2; worker++)
    for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
      kernel_results(g, cuts[c].part, cuts[c].bytes, worker, got, &units);
      cr_assert_geq(units, cuts[c].min_units, "parts of %d: %d units", cuts[c].part, units);
      for (int i = 0; i < nres; i++)
        cr_assert_eq(memcmp(&got[i], &want[i], sizeof got[i]), 0,
                     "parts of %d, worker %d, result %d: %a, from one source %a", cuts[c].part, worker, i,
                     got[i], want[i]);
    }
  gradc_free(g);
  free(text);
  ASSERT_NO_LEAKS();
}

/* ---- a kernel of scalars streamed in one sweep (emit_c.c) ----------------------- */

static int collect_unit(void *ctx, const char *src, size_t len) {
  put(ctx, "%.*s", (int)len, src);
  return 0;
}

/* The grad kernel of g's output (value, then one partial per scalar
 * variable, and those variables themselves as results, so that some
 * results are leaves), streamed in parts: its units appended to *units,
 * the rest of the source in *src. */
static void kernel_source(Gradc *g, int part_stmts, size_t unit_bytes, int sincos, Str *units, Buf *src) {
  Program *prog = &g->prog;
  Dag *d = prog->dag;
  uint32_t n;
  NodeId *adj = ad_reverse(d, prog->outs[0].node, NO_NODE, &n);
  cr_assert_not_null(adj);
  int nv = 0;
  while (nv < prog->nvars && dag_shape(d, prog->vars[nv].node) == SHAPE_SCALAR)
    nv++; /* the scalars first: a tensor after them is not an argument */
  int nres = 1 + 2 * nv;
  EmitArg *args = calloc((size_t)nv + 1, sizeof *args);
  int *arg_of_var = calloc((size_t)prog->nvars, sizeof *arg_of_var);
  EmitRes *rs = calloc((size_t)nres, sizeof *rs);
  cr_assert(args && arg_of_var && rs);
  rs[0] = (EmitRes){"g_r0", prog->outs[0].node, NULL};
  for (int k = 0; k < prog->nvars; k++)
    arg_of_var[k] = k < nv ? k : -1;
  for (int k = 0; k < nv; k++) {
    args[k] = (EmitArg){prog->vars[k].name, k, SHAPE_SCALAR};
    NodeId a = adj[prog->vars[k].node];
    rs[1 + k] = (EmitRes){"g_r", a == NO_NODE ? dag_const(d, 0) : a, NULL};
    rs[1 + nv + k] = (EmitRes){"g_r", prog->vars[k].node, NULL};
  }
  free(adj);
  EmitFn fn = {.name = "g_fn", .args = args, .nargs = nv, .arg_of_var = arg_of_var, .res = rs, .nres = nres};
  EmitOpts o = {.kernel = 1, .split = 1, .rt_matmul = 1, .part_stmts = part_stmts, .unit = collect_unit,
                .unit_ctx = units, .unit_bytes = unit_bytes, .sincos = sincos};
  emit_c(d, &fn, 1, &o, src, NULL);
  cr_assert_not(src->oom);
  free(args);
  free(arg_of_var);
  free(rs);
}

#define PART_START " {\n  (void)d;\n  (void)a;\n  (void)r;\n  (void)t;\n  (void)g_bv;\n"

/* The bodies of the parts in text, in order, each from its opening brace
 * to its closing one; returns how many. */
static int part_bodies(const char *text, const char **at, size_t *len, int max) {
  int n = 0;
  for (const char *s = strstr(text, PART_START); s; s = strstr(s + 1, PART_START)) {
    const char *end = strstr(s, "\n}\n");
    cr_assert_not_null(end);
    cr_assert_lt(n, max);
    at[n] = s;
    len[n++] = (size_t)(end - s);
  }
  return n;
}

/* A program of scalars streamed in parts is planned, slotted and written
 * in one sweep (emit_c.c): its parts and its function are the very text
 * that the passes one by one write, as they do for the same program with a
 * tensor beside it that the kernel does not read. */
Test(jit_units, the_streamed_parts_of_scalars_are_those_of_the_passes, .timeout = 120) {
  Str prog = {0};
  char *defs = program(400);
  char *out = strstr(defs, "output f = ");
  cr_assert_not_null(out);
  memcpy(out, "      v0 =", 10); /* a definition, read by the output below */
  put(&prog, "%s", defs);
  free(defs);
  /* a chain deeper than an inlined expression may be, a variable that the
   * output does not read (a constant partial), powers */
  put(&prog, "param q = 0.4, unused = 2\nc0 = sin(q)\n");
  for (int k = 1; k < 60; k++)
    put(&prog, "c%d = %s(c%d)\n", k, k % 3 ? "sin" : "cos", k - 1);
  put(&prog, "output h = v0*c59 + q^2 - q^3 + d7^-2\n");
  Gradc *swept = compile_ok(prog.s);
  put(&prog, "param w[2] = [1, -1]\n");
  Gradc *passes = compile_ok(prog.s);
  cr_assert_eq(swept->prog.dag->nshape, 1);
  cr_assert_gt(passes->prog.dag->nshape, 1);
  /* {part size, unit size, sin and cos of one operand: 2, one call} */
  const struct { int part; size_t bytes; int sincos; } cuts[] = {
      {1, 1, 0}, {3, 1, 0}, {40, 4000, 0}, {200, (size_t)1 << 20, 0}, {1, 1, 2}, {2, 1, 2}, {3, 1, 2}, {40, 4000, 2}};
  enum { MAXP = 8192 };
  const char **pa = malloc(MAXP * sizeof *pa), **pb = malloc(MAXP * sizeof *pb);
  size_t *la = malloc(MAXP * sizeof *la), *lb = malloc(MAXP * sizeof *lb);
  cr_assert(pa && pb && la && lb);
  for (size_t c = 0; c < sizeof cuts / sizeof *cuts; c++) {
    Str ua = {0}, ub = {0};
    Buf sa = {0}, sb = {0};
    kernel_source(swept, cuts[c].part, cuts[c].bytes, cuts[c].sincos, &ua, &sa);
    kernel_source(passes, cuts[c].part, cuts[c].bytes, cuts[c].sincos, &ub, &sb);
    if (cuts[c].sincos) /* pairs there are (the gradient of sin(x) reads cos(x)) */
      cr_assert_not_null(strstr(ua.s, "sincos("), "parts of %d: no sincos call", cuts[c].part);
    cr_assert(ua.s && ub.s, "parts of %d: nothing streamed", cuts[c].part);
    int na = part_bodies(ua.s, pa, la, MAXP), nb = part_bodies(ub.s, pb, lb, MAXP);
    cr_assert_gt(na, 2, "parts of %d: %d parts", cuts[c].part, na);
    cr_assert_eq(na, nb, "parts of %d: %d parts swept, %d by the passes", cuts[c].part, na, nb);
    for (int k = 0; k < na; k++)
      cr_assert(la[k] == lb[k] && !memcmp(pa[k], pb[k], la[k]), "parts of %d: part %d differs:\n%.*s\n---\n%.*s",
                cuts[c].part, k, (int)la[k], pa[k], (int)lb[k], pb[k]);
    cr_assert_str_eq(ua.s, ub.s, "parts of %d: the units differ", cuts[c].part);
    cr_assert_str_eq(sa.data, sb.data, "parts of %d: the calling source differs", cuts[c].part);
    buf_free(&sa);
    buf_free(&sb);
    free(ua.s);
    free(ub.s);
  }
  free(pa);
  free(pb);
  free(la);
  free(lb);
  gradc_free(swept);
  gradc_free(passes);
  free(prog.s);
  ASSERT_NO_LEAKS();
}

/* ---- failures -------------------------------------------------------------------- */

/* Remove the copy of the source that an internal error names. */
static void remove_saved(const char *msg) {
  const char *at = strstr(msg, "(saved as ");
  cr_assert_not_null(at, "%s", msg);
  char path[256];
  cr_assert_eq(sscanf(at + 10, "%255[^)]", path), 1);
  cr_assert_eq(unlink(path), 0, "%s", path);
}

static void rejected_unit(int worker) {
  Diags diags = {0};
  JitCode *c = jit_code_new(&diags, 1000, worker);
  cr_assert_not_null(c);
  const char good[] = "double g_ok(double x) { return 2 * x; }\n";
  cr_assert_eq(jit_code_unit(c, good, sizeof good - 1), 0);
  const char bad[] = "double g_bad(double x) { return x +; }\n";
  jit_code_unit(c, bad, sizeof bad - 1); /* -1 at once, or at the end with a worker */
  cr_assert_eq(jit_code_finish(c), 1);
  cr_assert_eq(diags.count, 1, "worker %d: %d diagnostics", worker, diags.count);
  cr_assert_eq(diags.items[0].kind, GRADC_ERR_INTERNAL);
  cr_assert_not_null(strstr(diags.items[0].msg, "libtcc rejected the generated C"), "%s", diags.items[0].msg);
  remove_saved(diags.items[0].msg);
  /* nothing more is compiled, and nothing more is reported */
  cr_assert_eq(jit_code_unit(c, good, sizeof good - 1), -1);
  cr_assert_eq(diags.count, 1);
  /* the unit that compiled is there */
  double (*ok)(double);
  void *p = jit_code_symbol(c, "g_ok");
  cr_assert_not_null(p);
  memcpy(&ok, &p, sizeof ok);
  cr_assert_eq(ok(21), 42);
  cr_assert_null(jit_code_symbol(c, "g_bad"));
  jit_code_free(c);
  diags_free(&diags);
  ASSERT_NO_LEAKS();
}

Test(jit_units, a_rejected_unit_is_an_internal_error_and_stops_the_stream) { rejected_unit(0); }
Test(jit_units, a_unit_the_worker_rejects_is_reported_by_gradc) { rejected_unit(1); }

/* A unit callback that fails: emit_c stops and says so (out->oom), and
 * the API reports the unit's error, not a crash or a wrong kernel. */
static int refuse(void *ctx, const char *src, size_t len) {
  (void)src, (void)len;
  ++*(int *)ctx;
  return 1;
}

Test(jit_units, emit_c_fails_when_a_unit_fails) {
  char *text = program(200);
  Gradc *g = compile_ok(text);
  Program *prog = &g->prog;
  EmitArg args[4];
  int arg_of_var[4];
  cr_assert_eq(prog->nvars, 4);
  for (int k = 0; k < 4; k++) {
    args[k] = (EmitArg){prog->vars[k].name, k, SHAPE_SCALAR};
    arg_of_var[k] = k;
  }
  EmitRes r = {"g_r0", prog->outs[0].node, NULL};
  EmitFn fn = {.name = "g_fn", .args = args, .nargs = 4, .arg_of_var = arg_of_var, .res = &r, .nres = 1};
  int calls = 0;
  EmitOpts o = {.kernel = 1, .split = 1, .part_stmts = 2, .unit = refuse, .unit_ctx = &calls, .unit_bytes = 1};
  Buf src = {0};
  emit_c(prog->dag, &fn, 1, &o, &src, NULL);
  cr_assert(src.oom, "emit_c went on after a unit failed");
  cr_assert_eq(calls, 1, "units after the failed one: %d calls", calls);
  buf_free(&src);
  gradc_free(g);
  free(text);
  ASSERT_NO_LEAKS();
}

/* Tensors are not split: a streamed kernel with a tensor is one unit, as
 * before, and still right. */
Test(jit_units, a_kernel_with_tensors_is_compiled_whole) {
  const char *text = "param w[3] = [0.5, -1, 2], b = 0.25\n"
                     "h = tanh(w*b + 1)\n"
                     "output L = sum(h*h) + b\n";
  double want[5], got[5];
  for (int streamed = 0; streamed < 2; streamed++) {
    Gradc *g = compile_ok(text);
    gradc_set_backend(g, GRADC_BACKEND_TCC);
    g->unit_nodes = streamed ? 1 : UINT32_MAX;
    GradcFn *f = gradc_fn_grad(g, NULL, 0);
    cr_assert_not_null(f, "%s", gradc_diag_render(g));
    cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
    cr_assert_eq(gradc_run(f, NULL), GRADC_OK, "%s", gradc_diag_render(g));
    double *out = streamed ? got : want;
    out[0] = gradc_fn_res_data(f, 0)[0];
    memcpy(&out[1], gradc_fn_res_data(f, 1), 3 * sizeof *out);
    out[4] = gradc_fn_res_data(f, 2)[0];
    gradc_free(g);
  }
  cr_assert_eq(memcmp(got, want, sizeof got), 0);
  ASSERT_NO_LEAKS();
}

/* The worker is forked only while no thread of gradc is inside libtcc
 * (jit.c's lock, held there around every use of libtcc): a thread holds
 * the lock as a libtcc compile would, and the fork waits until it lets
 * go (else the worker's copy of libtcc could hold its semaphore forever). */
static atomic_int lock_held, lock_released;

static void *hold_tcc_lock(void *arg) {
  (void)arg;
  jit_tcc_lock();
  atomic_store(&lock_held, 1);
  usleep(300 * 1000); /* the main thread is at the fork meanwhile */
  atomic_store(&lock_released, 1);
  jit_tcc_unlock();
  return NULL;
}

Test(jit_units, the_worker_is_not_forked_while_a_thread_is_in_libtcc) {
  pthread_t t;
  cr_assert_eq(pthread_create(&t, NULL, hold_tcc_lock, NULL), 0);
  while (!atomic_load(&lock_held))
    usleep(1000);
  Diags diags = {0};
  JitCode *c = jit_code_new(&diags, 1000, 1);
  cr_assert_not_null(c);
  cr_assert(atomic_load(&lock_released), "the worker was forked while libtcc's lock was held");
  cr_assert_eq(pthread_join(t, NULL), 0);
  /* and the worker works: a unit through it */
  const char *unit = "int g_fn_p0(const long *d, const double *const *a, double *const *r, double *t,\n"
                     "            double *const *g_bv) {\n  t[0] = a[0][0]*2.0;\n  return 0;\n}\n";
  cr_assert_eq(jit_code_unit(c, unit, strlen(unit)), 0);
  cr_assert_eq(jit_code_finish(c), 0, "%s", diags.count ? diags.items[0].msg : "");
  int (*f)(const long *, const double *const *, double *const *, double *, double *const *);
  void *p = jit_code_symbol(c, "g_fn_p0");
  cr_assert_not_null(p);
  memcpy(&f, &p, sizeof f);
  double v = 1.5, slot = 0;
  const double *av[1] = {&v};
  cr_assert_eq(f(NULL, av, NULL, &slot, NULL), 0);
  cr_assert_eq(slot, 3.0);
  jit_code_free(c);
  diags_free(&diags);
}
