/* test_gradcost.c: what the emitter does to make a gradient cheap (issue
 * 18) computes the bits the plain code computes. sin(x) and cos(x) of one
 * operand (a value and its derivative) written as one call of sincos
 * (EmitOpts.sincos): glibc's sincos against sin and cos, then whole
 * kernels, with and without the pairs, from one source and in parts,
 * compiled by libtcc and by cc. */
#include <sys/mman.h>

#include "api.h"
#include "../runtime/gradc_rt.h"
#define STR_RT_(...) #__VA_ARGS__
#define STR_RT(...) STR_RT_(__VA_ARGS__)
#define TEST_UTIL_RANDOM
#include "test_util.h"

/* ---- glibc's sincos ------------------------------------------------------------ */

static uint64_t bits_of(double x) {
  uint64_t u;
  memcpy(&u, &x, sizeof u);
  return u;
}

/* One argument: the bits of sincos's two results are those of sin and cos
 * (NaNs: both NaN). */
static void same_as_sin_cos(double x) {
  double s, c;
  sincos(x, &s, &c);
  double s1 = sin(x), c1 = cos(x);
  if (isnan(s1))
    cr_assert(isnan(s), "sincos(%a): sin %a, sincos %a", x, s1, s);
  else
    cr_assert_eq(bits_of(s), bits_of(s1), "sincos(%a): sin %a, sincos %a", x, s1, s);
  if (isnan(c1))
    cr_assert(isnan(c), "sincos(%a): cos %a, sincos %a", x, c1, c);
  else
    cr_assert_eq(bits_of(c), bits_of(c1), "sincos(%a): cos %a, sincos %a", x, c1, c);
}

/* Every path of the reduction: small, moderate, huge (Payne-Hanek),
 * subnormal and special arguments, and near multiples of pi/2. */
Test(gradcost, sincos_gives_the_bits_of_sin_and_cos) {
  cr_assert_eq(JIT_SINCOS, 1, "glibc has sincos: the JIT's code calls it");
  static const double special[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 0x1p-1074, -0x1p-1074,
                                   0x1p-1022, 0x1p-27, 0x1p-26, 0.855469, 2.426265, 105414350.0,
                                   281474976710656.0, 0x1.fffffffffffffp1023, -0x1.fffffffffffffp1023,
                                   1.5707963267948966, 3.141592653589793, 4.71238898038469};
  for (size_t i = 0; i < sizeof special / sizeof *special; i++)
    same_as_sin_cos(special[i]);
  for (int i = 0; i < 200000; i++) {
    same_as_sin_cos(uniform(-4, 4));
    same_as_sin_cos(uniform(-1e3, 1e3));
    same_as_sin_cos(ldexp(uniform(-1, 1), pick(2100) - 1075)); /* any exponent */
    same_as_sin_cos(1.5707963267948966 * (double)(pick(2001) - 1000) + uniform(-1e-9, 1e-9));
  }
}

/* ---- gcc's sigmoid for libtcc's code ------------------------------------------- */

/* gradc_rt_sigmoid (matmul_rt.c, gcc) against the emitted helper compiled
 * by libtcc (the plain kernel's), on every kind of argument. */
Test(gradcost, gradc_rt_sigmoid_gives_the_bits_of_libtccs_sigmoid) {
  Diags d = {0};
  JitModule *m = jit_compile("double exp(double);\n" STR_RT(GRADC_RT_SIGMOID) "\n"
                             "int g_fn(const long *d, const double *const *a, double *const *r, double *w) {\n"
                             "  (void)d; (void)w;\n  r[0][0] = g_sigmoid(a[0][0]);\n  return 0;\n}\n",
                             0, &d);
  cr_assert_not_null(m);
  JitThunk call = jit_lookup(m, "g_fn");
  cr_assert_not_null(call);
  static const double special[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, -NAN, 0x1p-1074, 745.2, -745.2,
                                   709.8, -709.8, 36.7, -36.7, 1e300, -1e300};
  for (int i = 0; i < 400000; i++) {
    double x = i < 15 ? special[i] : i % 2 ? uniform(-40, 40) : ldexp(uniform(-1, 1), pick(2100) - 1075), y;
    const double *a[1] = {&x};
    double *r[1] = {&y};
    long dims = 0;
    cr_assert_eq(call(&dims, a, r, NULL), 0);
    double z = gradc_rt_sigmoid(x);
    cr_assert(bits_of(y) == bits_of(z), "sigmoid(%a): libtcc %a, gradc_rt_sigmoid %a", x, y, z);
  }
  jit_free(m);
}

/* ---- kernels with and without the pairs --------------------------------------- */

/* A random DAG of sin, cos, products, sums, tanh and sigmoid over 6 scalars: most
 * operands of sin and cos get the other function in the gradient; some
 * programs have both of one operand in the value too. */
static char *trig_program(int n, int both) {
  Str s = {0};
  put(&s, "param x0 = 0.3, x1 = -0.7, x2 = 1.2, x3 = 2.9, x4 = -1.6, x5 = 0.05\n");
  for (int k = 6; k < 6 + n; k++) {
    int a = k - 1 - pick(k < 8 ? k : 8), b = pick(k);
    char sa[16], sb[16];
    snprintf(sa, sizeof sa, a < 6 ? "x%d" : "a%d", a);
    snprintf(sb, sizeof sb, b < 6 ? "x%d" : "a%d", b);
    switch (pick(both ? 8 : 7)) {
    case 6: put(&s, "a%d = sigmoid(%s)*%s\n", k, sa, sb); break;
    case 0: put(&s, "a%d = sin(%s)\n", k, sa); break;
    case 1: put(&s, "a%d = cos(%s)*0.9 + %s\n", k, sa, sb); break;
    case 2: put(&s, "a%d = %s*%s\n", k, sa, sb); break;
    case 3: put(&s, "a%d = tanh(%s + %s)\n", k, sa, sb); break;
    case 4: put(&s, "a%d = sin(%s*%s) - 0.5*%s\n", k, sa, sb, sb); break;
    case 5: put(&s, "a%d = cos(%s - %s)\n", k, sa, sb); break;
    default: put(&s, "a%d = sin(%s) + cos(%s)\n", k, sa, sa); break;
    }
  }
  put(&s, "output f = a%d", 5 + n);
  for (int k = 6; k < 5 + n; k += 7)
    put(&s, " + 0.1*a%d", k);
  put(&s, "\n");
  return s.s;
}

static int count_substr(const char *s, const char *w) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, w)); p += strlen(w))
    n++;
  return n;
}

/* The calls of libm's fn (sin, cos) in C text: "fn(" not after a letter
 * (sincos), nor its declaration. */
static int calls_of(const char *s, const char *fn) {
  char w[32], decl[64];
  snprintf(w, sizeof w, "%s(", fn);
  snprintf(decl, sizeof decl, "double %s(double)", fn);
  int n = 0;
  for (const char *p = s; (p = strstr(p, w)); p += strlen(w))
    n += p == s || !((p[-1] >= 'a' && p[-1] <= 'z') || p[-1] == '_');
  return n - count_substr(s, decl);
}

enum { MAXRES = 8 };

/* The value and gradient kernel (or the value alone) of the program's
 * output emitted with opts, compiled by backend (0 libtcc, 1 cc), run at
 * npts points (the same for every call): the results' bits, npts rows of
 * MAXRES; *src_out the C. */
static void kernel_bits(Gradc *g, int grad, const EmitOpts *opts, int backend, int npts, uint64_t *bits,
                        char **src_out) {
  Program *prog = &g->prog;
  Dag *d = prog->dag;
  uint32_t n;
  NodeId *adj = ad_reverse(d, prog->outs[0].node, NO_NODE, &n);
  cr_assert_not_null(adj);
  int nv = prog->nvars, nres = grad ? 1 + nv : 1;
  cr_assert_leq(nres, MAXRES);
  EmitArg args[MAXRES];
  int arg_of_var[MAXRES];
  EmitRes rs[MAXRES];
  for (int k = 0; k < nv; k++) {
    args[k] = (EmitArg){prog->vars[k].name, k, SHAPE_SCALAR};
    arg_of_var[k] = k;
  }
  rs[0] = (EmitRes){"g_r0", prog->outs[0].node, NULL};
  for (int k = 0; k + 1 < nres; k++) {
    NodeId a = adj[prog->vars[k].node];
    rs[1 + k] = (EmitRes){"g_r", a == NO_NODE ? dag_const(d, 0) : a, NULL};
  }
  free(adj);
  EmitFn fn = {.name = "g_fn", .args = args, .nargs = nv, .arg_of_var = arg_of_var, .res = rs, .nres = nres};
  Buf src = {0};
  emit_c(d, &fn, 1, opts, &src, NULL);
  cr_assert_not(src.oom);
  JitModule *m = jit_compile(src.data, backend, &g->diags);
  cr_assert_not_null(m, "%s", gradc_diag_render(g));
  JitThunk call = jit_lookup(m, "g_fn");
  cr_assert_not_null(call);
  double vals[MAXRES], res[MAXRES];
  const double *a[MAXRES];
  double *r[MAXRES];
  for (int k = 0; k < nv; k++)
    a[k] = &vals[k];
  for (int k = 0; k < nres; k++)
    r[k] = &res[k];
  for (int p = 0; p < npts; p++) {
    for (int k = 0; k < nv; k++)
      if (p == 0)
        cr_assert_eq(gradc_var_default(g, k, &vals[k]), 1);
      else /* any scale; large ones take sin's slow reduction (Payne-Hanek) */
        vals[k] = ldexp((double)((p * 7919 + k * 104729) % 2001 - 1000) / 1000, (p + k) % 12 - 2) +
                  (p % 5 == 0 ? 1e6 : 0);
    long dims = 0;
    cr_assert_eq(call(&dims, a, r, NULL), 0);
    for (int k = 0; k < MAXRES; k++)
      bits[p * MAXRES + k] = k < nres ? bits_of(res[k]) : 0;
  }
  jit_free(m);
  *src_out = strdup(src.data);
  buf_free(&src);
}

/* The plain kernel (no pairs) against pairs made adjacent (1) and written
 * as sincos (2), from one source and in parts of 5 statements (locals of
 * a part, pairs cut by a part's end), by libtcc; pairs adjacent by cc. */
Test(gradcost, sin_and_cos_of_one_operand_give_the_same_bits_in_one_call, .timeout = 300) {
  enum { NPTS = 40 };
  static uint64_t want[NPTS * MAXRES], got[NPTS * MAXRES];
  for (int prog_k = 0; prog_k < 6; prog_k++) {
    char *text = trig_program(prog_k < 4 ? 60 : 400, prog_k % 2);
    Gradc *g = compile_ok(text);
    for (int grad = 0; grad < 2; grad++) {
      char *plain, *src;
      EmitOpts o0 = {.kernel = 1};
      kernel_bits(g, grad, &o0, 0, NPTS, want, &plain);
      cr_assert_eq(count_substr(plain, "sincos("), 0);
      const struct { int sincos, split, part, backend; } ways[] = {
          {2, 0, 0, 0}, {2, 1, 5, 0}, {2, 1, 0, 0}, {1, 0, 0, 0}, {1, 1, 0, 1}, {2, 1, 0, 1}};
      for (size_t w = 0; w < sizeof ways / sizeof *ways; w++) {
        if (ways[w].backend == 1 && prog_k >= 2)
          continue; /* cc: two programs */
        EmitOpts o = {.kernel = 1, .sincos = ways[w].sincos, .split = ways[w].split,
                      .part_stmts = ways[w].part, .rt_matmul = ways[w].backend == 0};
        kernel_bits(g, grad, &o, ways[w].backend, NPTS, got, &src);
        int calls = count_substr(src, "  sincos("); /* the calls, not the declaration */
        if (ways[w].sincos == 2 && grad)
          cr_assert_gt(calls, 1, "way %zu: no sincos in the gradient of\n%s\n%s", w, text, src);
        if (ways[w].sincos == 1)
          cr_assert_eq(calls, 0);
        /* a call replaces a call of sin and one of cos */
        cr_assert_eq(calls_of(src, "sin") + calls, calls_of(plain, "sin"), "way %zu\n%s", w, src);
        cr_assert_eq(calls_of(src, "cos") + calls, calls_of(plain, "cos"), "way %zu\n%s", w, src);
        for (int p = 0; p < NPTS; p++)
          for (int k = 0; k < MAXRES; k++)
            cr_assert_eq(got[p * MAXRES + k], want[p * MAXRES + k],
                         "program %d, %s, way %zu, point %d, result %d: %llx against %llx", prog_k,
                         grad ? "gradient" : "value", w, p, k, (unsigned long long)got[p * MAXRES + k],
                         (unsigned long long)want[p * MAXRES + k]);
        free(src);
      }
      free(plain);
    }
    gradc_free(g);
    free(text);
  }
  ASSERT_NO_LEAKS();
}

/* Through the API with libtcc: the gradient from one source and streamed
 * in units (x86_parts.c or libtcc, a unit per few parts), with the pairs
 * as sincos, against the plain kernel at the defaults. */
Test(gradcost, streamed_gradients_with_sincos_give_the_plain_bits, .timeout = 300) {
  for (int prog_k = 0; prog_k < 3; prog_k++) {
    char *text = trig_program(prog_k ? 6000 : 4000, prog_k == 2);
    uint64_t want[MAXRES], got[MAXRES];
    char *plain;
    Gradc *g0 = compile_ok(text);
    EmitOpts o0 = {.kernel = 1};
    kernel_bits(g0, 1, &o0, 0, 1, want, &plain);
    cr_assert_eq(count_substr(plain, "  sincos("), 0);
    free(plain);
    gradc_free(g0);
    for (int streamed = 0; streamed < 2; streamed++) {
      Gradc *g = compile_ok(text);
      gradc_set_backend(g, GRADC_BACKEND_TCC);
      g->unit_nodes = streamed ? 1 : UINT32_MAX;
      GradcFn *f = gradc_fn_grad(g, NULL, 0);
      cr_assert_not_null(f, "%s", gradc_diag_render(g));
      cr_assert_eq(jit_lookup(f->mod, "g_fn_p1") != NULL, streamed);
      cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK, "%s", gradc_diag_render(g));
      cr_assert_eq(gradc_run(f, NULL), GRADC_OK, "%s", gradc_diag_render(g));
      int nres = gradc_fn_res_count(f);
      cr_assert_eq(nres, 7);
      for (int i = 0; i < nres; i++) {
        got[i] = bits_of(gradc_fn_res_data(f, i)[0]);
        cr_assert_eq(got[i], want[i], "program %d, streamed %d, result %d: %llx against %llx", prog_k, streamed,
                     i, (unsigned long long)got[i], (unsigned long long)want[i]);
      }
      gradc_free(g);
    }
    free(text);
  }
  ASSERT_NO_LEAKS();
}

#if defined(__x86_64__) && defined(__linux__)

/* ---- x86_parts.c's sincos: libtcc's bits ---------------------------------------- */

typedef struct Placed {
  unsigned char *mem;
  size_t used;
  int nplaced;
  void *fn; /* the part g_fn_p0 */
} Placed;

static void *place_code(void *ctx, size_t size) {
  Placed *p = ctx;
  p->nplaced++;
  p->used = size;
  return p->mem;
}

static void keep_part(void *ctx, const char *name, const void *addr) {
  Placed *p = ctx;
  if (!strcmp(name, "g_fn_p0"))
    memcpy(&p->fn, &addr, sizeof addr);
}

typedef int (*PartFn)(const long *d, const double *const *a, double *const *r, double *t,
                      double *const *g_bv);

/* A part with sincos of expressions into t[] and into locals declared
 * before it, the results read after it, and sigmoid (gcc's, the prelude's
 * macro): x86_parts.c translates it (no fallback) and computes libtcc's
 * bits. */
Test(gradcost, x86_parts_translates_sincos_and_sigmoid_with_libtccs_bits) {
  static const char unit[] =
      "double sin(double);\ndouble cos(double);\nvoid sincos(double, double *, double *);\n"
      "double gradc_rt_sigmoid(double);\n#define g_sigmoid gradc_rt_sigmoid\n\n"
      "int g_fn_p0(const long *d, const double *const *a, double *const *r, double *t,\n"
      "            double *const *g_bv) {\n  (void)d;\n  (void)a;\n  (void)r;\n  (void)t;\n  (void)g_bv;\n"
      "  sincos(t[0]*a[0][0] + 0.5, &t[1], &t[2]);\n"
      "  double g_l0 = t[1] - t[2];\n"
      "  double g_l1;\n"
      "  double g_l2;\n"
      "  sincos(g_l0*sin(t[2]) - cos(a[0][1]), &g_l1, &g_l2);\n"
      "  sincos(g_l2, &t[3], &g_l1);\n"
      "  t[4] = g_l1*3.0 + g_sigmoid(g_l2 - t[0]*g_sigmoid(t[1]));\n"
      "  double g_l3;\n"
      "  sincos(a[0][2], &g_l3, &t[5]);\n"
      "  r[0][0] = g_l3 - t[5]*t[4];\n"
      "  return 0;\n}\n";
  Placed px = {0}, pc = {0};
  px.mem = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  pc.mem = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert(px.mem != MAP_FAILED && pc.mem != MAP_FAILED);
  cr_assert_eq(x86_parts_compile(unit, &px, place_code, keep_part), 0, "x86_parts.c left it to libtcc");
  jit_x86_parts = 0;
  int rc = jit_tcc_unit(unit, &pc, place_code, keep_part, NULL);
  jit_x86_parts = 1;
  cr_assert_eq(rc, 0);
  cr_assert(px.fn && pc.fn);
  PartFn fx, fc;
  memcpy(&fx, &px.fn, sizeof fx);
  memcpy(&fc, &pc.fn, sizeof fc);
  static const double odd[] = {NAN, INFINITY, -0.0, 0.0, 1e300, 1e6, -1e-310};
  for (int round = 0; round < 200; round++) {
    double av[3], tx[6], tc[6], rx = 0, rcv = 0;
    for (int i = 0; i < 3; i++)
      av[i] = round >= 100 && pick(3) == 0 ? odd[pick(7)] : uniform(-4, 4);
    for (int i = 0; i < 6; i++)
      tx[i] = tc[i] = round >= 100 && pick(3) == 0 ? odd[pick(7)] : uniform(-4, 4);
    const double *a[1] = {av};
    double *rxp[1] = {&rx}, *rcp[1] = {&rcv};
    cr_assert_eq(fx(NULL, a, rxp, tx, NULL), 0);
    cr_assert_eq(fc(NULL, a, rcp, tc, NULL), 0);
    for (int i = 0; i < 6; i++)
      cr_assert(!memcmp(&tx[i], &tc[i], sizeof tx[i]), "round %d: t[%d] is %a, libtcc's %a", round, i, tx[i],
                tc[i]);
    cr_assert(!memcmp(&rx, &rcv, sizeof rx), "round %d: r is %a, libtcc's %a", round, rx, rcv);
  }
  munmap(px.mem, 1 << 16);
  munmap(pc.mem, 1 << 16);
}

#endif
