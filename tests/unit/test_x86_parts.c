/* test_x86_parts.c: the parts of a streamed kernel translated to x86-64
 * without libtcc (src/x86_parts.c). On random straight-line parts (every
 * operator, unary minus, literals, nested calls of one and two arguments
 * that keep registers live across the call, locals, long sums, arguments
 * a[K][N] read and results r[K][N] written) the code computes the bits
 * libtcc's code computes, NaN, infinities and -0.0 included, and returns
 * 0; any other form is left to libtcc (-1, nothing placed); and
 * through the API a kernel of 10^5 nodes gives the same bits with and
 * without it. */
#include <sys/mman.h>

#include "api.h"
#define TEST_UTIL_RANDOM
#include "test_util.h"

#if defined(__x86_64__) && defined(__linux__) && !defined(GRADC_NO_TCC)

/* ---- placing code: one mapping, symbols kept by name -------------------------- */

typedef struct Placed {
  unsigned char *mem;
  size_t size, used;
  int nplaced;
  char names[64][32];
  void *addr[64];
  int nsyms;
} Placed;

static void *place(void *ctx, size_t size) {
  Placed *p = ctx;
  size = (size + 63) & ~(size_t)63;
  if (p->used + size > p->size)
    return NULL;
  p->nplaced++;
  unsigned char *at = p->mem + p->used;
  p->used += size;
  return at;
}

static void keep(void *ctx, const char *name, const void *addr) {
  Placed *p = ctx;
  if (strncmp(name, "g_", 2) || p->nsyms == 64 || strlen(name) >= 32)
    return;
  snprintf(p->names[p->nsyms], 32, "%s", name);
  memcpy(&p->addr[p->nsyms++], &addr, sizeof addr);
}

static Placed *placed_new(void) {
  Placed *p = calloc(1, sizeof *p);
  cr_assert_not_null(p);
  p->size = (size_t)16 << 20;
  p->mem = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  cr_assert_neq(p->mem, MAP_FAILED);
  return p;
}

static void placed_free(Placed *p) {
  munmap(p->mem, p->size);
  free(p);
}

typedef int (*PartFn)(const long *d, const double *const *a, double *const *r, double *t,
                      double *const *g_bv);

static PartFn find(const Placed *p, const char *name) {
  for (int i = 0; i < p->nsyms; i++)
    if (!strcmp(p->names[i], name)) {
      PartFn f;
      memcpy(&f, &p->addr[i], sizeof f);
      return f;
    }
  return NULL;
}

static const char prelude[] =
    "double exp(double);\ndouble log(double);\ndouble sqrt(double);\ndouble sin(double);\n"
    "double cos(double);\ndouble tanh(double);\ndouble atan(double);\ndouble fabs(double);\n"
    "double erf(double);\ndouble log1p(double);\ndouble expm1(double);\ndouble floor(double);\n"
    "double pow(double, double);\ndouble fmod(double, double);\ndouble atan2(double, double);\n"
    "double gradc_rt_tanh(double);\n#define g_tanh gradc_rt_tanh\n\n";

/* ---- random parts ---------------------------------------------------------------- */

enum { NA = 4, NAE = 4, NR = 3, NRE = 2, NT = 64 }; /* arguments a[NA][NAE], results r[NR][NRE] */

#define PART_HEAD(k)                                                                                   \
  "int g_fn_p" #k "(const long *d, const double *const *a, double *const *r, double *t,\n"            \
  "            double *const *g_bv) {\n  (void)d;\n  (void)a;\n  (void)r;\n  (void)t;\n  (void)g_bv;\n"

typedef struct Gen {
  Str s;
  int nlocals; /* g_l0 .. g_l<nlocals-1> declared in this part */
  int tlo;     /* t[0..tlo) hold inputs */
} Gen;

static void expr(Gen *g, int depth);

static void leaf(Gen *g) {
  static const char *const lits[] = {"0.5", "1.0", "2.0", "1e-3", "3.25e+2", "0.1", "7.0"};
  switch (pick(g->nlocals ? 4 : 3)) {
  case 0: put(&g->s, "t[%d]", pick(g->tlo)); break;
  case 1: put(&g->s, "a[%d][%d]", pick(NA), pick(NAE)); break;
  case 2: put(&g->s, "%s", lits[pick(7)]); break;
  default: put(&g->s, "g_l%d", 100 + pick(g->nlocals)); break;
  }
}

static void expr(Gen *g, int depth) {
  static const char *const f1[] = {"sin", "cos", "exp", "log", "sqrt", "tanh", "g_tanh",
                                   "atan", "fabs", "erf", "log1p", "expm1", "floor"};
  static const char *const f2[] = {"pow", "fmod", "atan2"};
  static const char *const ops[] = {" + ", " - ", "*", "/"};
  int k = depth > 5 ? 0 : pick(10);
  if (k <= 2) {
    leaf(g);
  } else if (k <= 5) { /* a chain: a op b op c ... (left-associative) */
    int n = 2 + pick(4);
    for (int i = 0; i < n; i++) {
      if (i)
        put(&g->s, "%s", ops[pick(4)]);
      expr(g, depth + 1);
    }
  } else if (k == 6) {
    put(&g->s, "(");
    expr(g, depth + 1);
    put(&g->s, ")");
  } else if (k == 7) {
    put(&g->s, "- "); /* not "--": C's decrement */
    expr(g, depth + 1);
  } else if (k == 8) {
    put(&g->s, "%s(", f1[pick(13)]);
    expr(g, depth + 1);
    put(&g->s, ")");
  } else {
    put(&g->s, "%s(", f2[pick(3)]);
    expr(g, depth + 1);
    put(&g->s, ", ");
    expr(g, depth + 1);
    put(&g->s, ")");
  }
}

/* A unit of `parts` parts writing t[tlo..NT) and the results from
 * t[0..tlo), the arguments and locals. */
static char *random_unit(int parts) {
  Gen g = {.tlo = 8};
  put(&g.s, "%s", prelude);
  for (int p = 0; p < parts; p++) {
    g.nlocals = 0;
    put(&g.s, "int g_fn_p%d(const long *d, const double *const *a, double *const *r, double *t,\n"
              "            double *const *g_bv) {\n  (void)d;\n  (void)a;\n  (void)r;\n  (void)t;\n"
              "  (void)g_bv;\n",
        p);
    for (int st = 0; st < 12; st++) {
      if (pick(3) == 0) {
        put(&g.s, "  double g_l%d = ", 100 + g.nlocals);
        expr(&g, 0);
        put(&g.s, ";\n");
        g.nlocals++;
      } else if (pick(4) == 0) {
        put(&g.s, "  r[%d][%d] = ", pick(NR), pick(NRE));
        expr(&g, 0);
        put(&g.s, ";\n");
      } else {
        put(&g.s, "  t[%d] = ", g.tlo + pick(NT - g.tlo));
        expr(&g, 0);
        put(&g.s, ";\n");
      }
    }
    put(&g.s, "  return 0;\n}\n\n");
  }
  return g.s.s;
}

/* Runs part `name` of both translations on the same inputs: the same bits. */
static void same_bits(const Placed *x, const Placed *c, const char *name, const char *src, int special) {
  PartFn fx = find(x, name), fc = find(c, name);
  cr_assert_not_null(fx, "%s", name);
  cr_assert_not_null(fc, "%s", name);
  double v[NA][NAE], tx[NT], tc[NT], rx[NR][NRE], rc[NR][NRE];
  const double *av[NA];
  double *rxv[NR], *rcv[NR];
  for (int k = 0; k < NA; k++)
    av[k] = v[k];
  for (int k = 0; k < NR; k++)
    rxv[k] = rx[k], rcv[k] = rc[k];
  static const double odd[] = {NAN, -NAN, INFINITY, -INFINITY, -0.0, 0.0, 1e300, -1e-310};
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < NA * NAE; i++)
      v[i / NAE][i % NAE] = special && pick(4) == 0 ? odd[pick(8)] : uniform(-2, 2);
    for (int i = 0; i < NT; i++)
      tx[i] = tc[i] = special && pick(4) == 0 ? odd[pick(8)] : uniform(-2, 2);
    for (int i = 0; i < NR * NRE; i++)
      rx[i / NRE][i % NRE] = rc[i / NRE][i % NRE] = uniform(-2, 2);
    cr_assert_eq(fx(NULL, av, rxv, tx, NULL), 0, "%s", name);
    cr_assert_eq(fc(NULL, av, rcv, tc, NULL), 0, "%s", name);
    for (int i = 0; i < NT; i++)
      cr_assert(!memcmp(&tx[i], &tc[i], sizeof tx[i]), "%s: t[%d] is %a here, %a with libtcc\n%s", name, i,
                tx[i], tc[i], src);
    for (int i = 0; i < NR * NRE; i++)
      cr_assert(!memcmp(&rx[i / NRE][i % NRE], &rc[i / NRE][i % NRE], sizeof(double)),
                "%s: r[%d][%d] is %a here, %a with libtcc\n%s", name, i / NRE, i % NRE, rx[i / NRE][i % NRE],
                rc[i / NRE][i % NRE], src);
  }
}

static void compare(const char *src, int nparts, int special) {
  Placed *x = placed_new(), *c = placed_new();
  cr_assert_eq(x86_parts_compile(src, x, place, keep), 0, "%s", src);
  cr_assert_eq(x->nplaced, 1);
  cr_assert_eq(x->nsyms, nparts);
  jit_x86_parts = 0;
  int rc = jit_tcc_unit(src, c, place, keep, NULL);
  jit_x86_parts = 1;
  cr_assert_eq(rc, 0, "libtcc: %s", src);
  for (int p = 0; p < nparts; p++) {
    char name[32];
    snprintf(name, sizeof name, "g_fn_p%d", p);
    same_bits(x, c, name, src, special);
  }
  placed_free(x);
  placed_free(c);
}

Test(x86_parts, random_parts_compute_libtccs_bits) {
  for (int unit = 0; unit < 40; unit++) {
    char *src = random_unit(1 + pick(4));
    int nparts = 0;
    for (const char *s = src; (s = strstr(s, "\nint g_fn_p")); s++)
      nparts++;
    compare(src, nparts, 0);
    free(src);
  }
}

Test(x86_parts, nan_infinities_and_signed_zeros_give_libtccs_bits) {
  for (int unit = 0; unit < 40; unit++) {
    char *src = random_unit(2);
    compare(src, 2, 1);
    free(src);
  }
}

/* A part whose first statement nests `levels` subtractions of products,
 * each right operand a parenthesised expression (one xmm register deeper
 * per level), with calls at the bottom and on the way back. */
static char *deep_unit(int levels) {
  Str s = {0};
  put(&s, "%s", prelude);
  put(&s, PART_HEAD(0) "  t[8] = ");
  for (int i = 0; i < levels; i++)
    put(&s, "a[%d][%d] - (t[%d]*", i % NA, i % NAE, i % 8);
  put(&s, "pow(sin(a[1][0]) + 1.0, cos(t[2]) - -a[0][3])");
  for (int i = 0; i < levels; i++)
    put(&s, " + atan2(a[%d][%d], t[%d]))", (i + 2) % NA, i % NAE, i % 8);
  put(&s, ";\n  double g_l7 = -t[8]/-0.5 - -(2.5e-1);\n  t[9] = g_l7*g_l7 - fmod(g_l7, 0.3);\n  g_l7 = 1.0;\n"
          "  r[1][1] = g_l7;\n  return 0;\n}\n");
  return s.s;
}

/* registers live across calls nested as deep as the xmm stack allows */
Test(x86_parts, deep_expressions_and_calls_keep_their_registers) {
  char *src = deep_unit(11); /* pow at xmm12, its -a[0][3] at xmm14, -0.0 at xmm15 */
  compare(src, 1, 0);
  free(src);
  src = deep_unit(12); /* past them: libtcc's */
  Placed *x = placed_new();
  cr_assert_eq(x86_parts_compile(src, x, place, keep), -1);
  cr_assert_eq(x->nplaced, 0);
  placed_free(x);
  free(src);
}

/* Forms that are not straight-line double arithmetic are libtcc's. */
Test(x86_parts, other_forms_are_left_to_libtcc) {
  static const char *const bodies[] = {
      "t[1] = t[0] > 0.0 ? t[0] : 0.0;",          /* a ternary */
      "t[1] = g_relu(t[0]);",                     /* a helper of the prelude */
      "t[1] = t[0]*2;",                           /* an int literal */
      "t[1] = t[0]*0x1p3;",                       /* hex */
      "t[1] = g_l3;",                             /* an undeclared local */
      "double g_l1 = 1.0; double g_l1 = 2.0;",    /* declared twice */
      "t[1] = hypot(t[0], 1.0);",                 /* not one of gradc's calls */
      "for (long i = 0; i < 3; i++) t[i] = 0.0;", /* a loop */
      "a[0][0] = 1.0;",                           /* the arguments are const */
      "t[1] = g_bv[0][0];",                       /* a buffer */
      "double *g_b0 = g_bv[0];",                  /* a buffer's pointer */
      "return 1;",                                /* a runtime check's status */
      "t[1] = a[0];",                             /* a pointer */
      "t[1] = r[0][0] + t[0]; return g_status;",  /* not return 0 */
      "t[1] = t[0] + ;",                          /* not C */
      "t[99999999999] = 1.0;",                    /* past a displacement */
      "t[1] = sin(t[0], t[0]);",                  /* a call of the wrong arity */
      "t[1] = --t[0];",                           /* C's decrement */
  };
  for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
    Str s = {0};
    put(&s, "%sstatic inline double g_relu(double x) { return x > 0.0 ? x : 0.0; }\n", prelude);
    put(&s, PART_HEAD(0) "  %s\n  return 0;\n}\n", bodies[i]);
    Placed *x = placed_new();
    cr_assert_eq(x86_parts_compile(s.s, x, place, keep), -1, "%s", bodies[i]);
    cr_assert_eq(x->nplaced, 0, "%s", bodies[i]);
    placed_free(x);
    free(s.s);
  }
  /* a macro of its own in the prelude: the parts may not mean what they say */
  Placed *x = placed_new();
  cr_assert_eq(x86_parts_compile("#define t u\n" PART_HEAD(0) "  t[0] = 1.0;\n  return 0;\n}\n", x, place, keep), -1);
  placed_free(x);
  /* a part with no return */
  x = placed_new();
  Str s = {0};
  put(&s, "%s" PART_HEAD(0) "  t[0] = 1.0;\n}\n", prelude);
  cr_assert_eq(x86_parts_compile(s.s, x, place, keep), -1);
  free(s.s);
  placed_free(x);
}

/* ---- through the API ------------------------------------------------------------- */

static char *definitions(int n) {
  static const char *const forms[] = {"%s*%s + p0", "%s - 0.5*%s", "sin(%s)*%s", "tanh(%s + %s)",
                                      "%s/(2 + %s*%s)", "exp(-%s*%s)", "sqrt(1 + %s*%s)", "atan2(%s, 2 + %s)"};
  Str s = {0};
  put(&s, "param p0 = 0.3, p1 = -0.7, p2 = 0.2, p3 = 1.1\n");
  for (int k = 0; k < n; k++) {
    char a[16], b[16];
    snprintf(a, sizeof a, k ? "d%d" : "p3", k - 1);
    snprintf(b, sizeof b, k ? "d%d" : "p1", k ? pick(k) : 0);
    char body[128];
    snprintf(body, sizeof body, forms[pick(8)], a, b, a);
    put(&s, "d%d = tanh(%s)\n", k, body);
  }
  put(&s, "output f = d%d + 0.5*d%d - d%d\n", n - 1, n / 2, n / 3);
  return s.s;
}

Test(x86_parts, a_streamed_gradient_has_the_same_bits_with_and_without_it, .timeout = 120) {
  char *text = definitions(12000);
  uint64_t bits[3][5];
  for (int way = 0; way < 3; way++) { /* whole source, units by libtcc, units here */
    Gradc *g = compile_ok(text);
    gradc_set_backend(g, GRADC_BACKEND_TCC);
    g->unit_nodes = way ? 1 : UINT32_MAX;
    jit_x86_parts = way == 2;
    GradcFn *f = gradc_fn_grad(g, NULL, 0);
    jit_x86_parts = 1;
    cr_assert_not_null(f, "%s", gradc_diag_render(g));
    cr_assert_eq(gradc_set_defaults(g, 0, 0), GRADC_OK);
    cr_assert_eq(gradc_run(f, NULL), GRADC_OK, "%s", gradc_diag_render(g));
    cr_assert_eq(gradc_fn_res_count(f), 5);
    for (int i = 0; i < 5; i++) {
      double x = gradc_fn_res_data(f, i)[0];
      cr_assert(isfinite(x));
      memcpy(&bits[way][i], &x, sizeof x);
    }
    gradc_free(g);
  }
  for (int i = 0; i < 5; i++) {
    cr_assert_eq(bits[1][i], bits[0][i], "result %d: units by libtcc", i);
    cr_assert_eq(bits[2][i], bits[0][i], "result %d: units by x86_parts.c", i);
  }
  free(text);
}

#else

Test(x86_parts, not_x86_64_linux_every_unit_is_libtccs) {
  cr_assert_eq(x86_parts_compile("int g_fn_p0(const long *d, const double *const *a, double *const *r, double *t, "
                                 "double *const *g_bv) {\n  return 0;\n}\n",
                                 NULL, NULL, NULL),
               -1);
}

#endif
