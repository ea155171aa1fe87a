/* test_emit.c: the C that `emit` writes (SPEC 3). It must compile with
 * cc -std=c99 -Wall -Wextra -pedantic -Werror, link with -lm only, keep no
 * mutable global state, survive any user names, and compute exactly what
 * the JIT computes: a driver built at test time compares them bit for bit. */
#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

#define CFLAGS "-std=c99 -Wall -Wextra -pedantic -Werror"

/* ---- a scratch directory and a shell ------------------------------------------- */

static char dir[64];

/* .init and .fini of every test that uses the directory: .fini also runs
 * after a failed assertion, so nothing is left behind in /tmp. */
static void make_dir(void) {
  strcpy(dir, "/tmp/gradc-test-emit-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void) {
  if (!dir[0])
    return;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  cr_assert_eq(system(cmd), 0);
  dir[0] = 0;
}

static void write_file(const char *name, const char *text) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "cannot write %s", path);
  cr_assert_eq(fputs(text, f) >= 0, 1);
  cr_assert_eq(fclose(f), 0);
}

static char *read_file(const char *name) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  if (!f)
    return strdup("");
  static char buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  fclose(f);
  return strdup(buf);
}

/* Run a shell command in the scratch directory; its output goes to log.txt.
 * Returns the exit status. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...) {
  char cmd[2048], full[2400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  snprintf(full, sizeof full, "cd '%s' && { %s ; } >log.txt 2>&1", dir, cmd);
  int st = system(full);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect_sh_ok(const char *what, int status) {
  if (status != 0) {
    char *log = read_file("log.txt");
    cr_assert_fail("%s failed (exit %d):\n%s", what, status, log);
    free(log);
  }
}

/* Emit `g` with prefix P into P.c and P.h in the scratch directory. */
static void emit_to(Gradc *g, const char *prefix) {
  char *src = NULL, *hdr = NULL, hname[128], cname[128];
  snprintf(hname, sizeof hname, "%s.h", prefix);
  snprintf(cname, sizeof cname, "%s.c", prefix);
  GradcStatus st = gradc_emit(g, prefix, &src, &hdr, hname);
  cr_assert_eq(st, GRADC_OK, "gradc_emit: %s", gradc_diag_render(g));
  cr_assert_not_null(src);
  cr_assert_not_null(hdr);
  write_file(cname, src);
  write_file(hname, hdr);
  free(src);
  free(hdr);
}

/* An object file must not define writable data (SPEC 3: no global
 * mutable state, so every function is reentrant). */
static void expect_no_mutable_globals(const char *obj) {
  expect_sh_ok("nm", sh("nm '%s' > nm.txt", obj));
  char *syms = read_file("nm.txt");
  for (char *line = strtok(syms, "\n"); line; line = strtok(NULL, "\n")) {
    char *t = strchr(line, ' ');
    while (t && *t == ' ')
      t++;
    if (t && strchr("BbDdCcGgSsVv", t[0]) && t[1] == ' ')
      cr_assert_fail("%s defines mutable data: %s", obj, line);
  }
  free(syms);
}

/* ---- every example compiles warning-free ------------------------------------------ */

Test(emit, every_example_compiles_with_strict_warnings, .init = make_dir, .fini = remove_dir,
     .timeout = 120) {
  DIR *d = opendir(GRADC_EXAMPLES);
  cr_assert_not_null(d, "cannot open %s", GRADC_EXAMPLES);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".expr"))
      continue;
    char path[512], prefix[128];
    snprintf(path, sizeof path, "%s/%s", GRADC_EXAMPLES, e->d_name);
    snprintf(prefix, sizeof prefix, "%.*s", (int)(len - 5), e->d_name);
    for (char *c = prefix; *c; c++)
      if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
        *c = '_';
    Gradc *g = gradc_new();
    cr_assert_eq(gradc_compile_file(g, path), GRADC_OK, "%s:\n%s", path, gradc_diag_render(g));
    emit_to(g, prefix);
    gradc_free(g);
    expect_sh_ok(path, sh("cc " CFLAGS " -c %s.c -o %s.o", prefix, prefix));
    /* the header alone is a valid translation unit too */
    expect_sh_ok(path, sh("printf '#include \"%s.h\"\\n#include \"%s.h\"\\nint g_unused;\\n' > hdr_only.c"
                          " && cc " CFLAGS " -c hdr_only.c -o hdr_only.o",
                          prefix, prefix));
    char obj[160];
    snprintf(obj, sizeof obj, "%s.o", prefix);
    expect_no_mutable_globals(obj);
    n++;
  }
  closedir(d);
  cr_assert_geq(n, 1, "no examples in %s", GRADC_EXAMPLES);
  ASSERT_NO_LEAKS();
}

/* ---- emitted C against the JIT, bit for bit --------------------------------------- */

/* driver: reads points (w x y and a tangent) as C99 hex floats, prints
 * every result's bits. It uses only the generated header. */
static const char driver_c[] =
    "#include <stdio.h>\n"
    "#include <string.h>\n"
    "#include \"seed_scalar.h\"\n"
    "static void put(double v) {\n"
    "  unsigned long long u;\n"
    "  memcpy(&u, &v, sizeof u);\n"
    "  printf(\" %016llx\", u);\n"
    "}\n"
    "int main(void) {\n"
    "  double w, x, y, tw, tx, ty;\n"
    "  while (scanf(\"%la %la %la %la %la %la\", &w, &x, &y, &tw, &tx, &ty) == 6) {\n"
    "    double f = 0, g[4] = {0}, j[2] = {0};\n"
    "    if (seed_scalar_f(w, x, y, &f) != 0) return 1;\n"
    "    if (seed_scalar_f_grad(w, x, y, &g[0], &g[1], &g[2], &g[3]) != 0) return 1;\n"
    "    if (seed_scalar_f_jvp(w, x, y, tw, tx, ty, &j[0], &j[1]) != 0) return 1;\n"
    "    put(f);\n"
    "    for (int i = 0; i < 4; i++) put(g[i]);\n"
    "    for (int i = 0; i < 2; i++) put(j[i]);\n"
    "    printf(\"\\n\");\n"
    "  }\n"
    "  return 0;\n"
    "}\n";

enum { NPOINTS = 12, NRES = 7 };

static uint64_t rng = 88172645463325252ull;
static double uniform(double lo, double hi) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return lo + (hi - lo) * (double)(rng >> 11) * 0x1.0p-53;
}

/* The same seven numbers per point from JIT-compiled functions. */
static void jit_results(GradcBackend backend, double pts[][6], double out[][NRES]) {
  Gradc *g = gradc_new();
  gradc_set_backend(g, backend);
  cr_assert_eq(gradc_compile_file(g, GRADC_EXAMPLES "/seed_scalar.expr"), GRADC_OK, "%s",
               gradc_diag_render(g));
  cr_assert_eq(gradc_var_count(g), 3);
  GradcFn *fv = gradc_fn_value(g), *fg = gradc_fn_grad(g, NULL, 0), *fj = gradc_fn_jvp(g, NULL, 0);
  cr_assert(fv && fg && fj, "%s", gradc_diag_render(g));
  cr_assert_eq(gradc_fn_res_count(fg), 4);
  cr_assert_eq(gradc_fn_arg_count(fj), 6);
  cr_assert_eq(gradc_fn_res_count(fj), 2);
  for (int p = 0; p < NPOINTS; p++) {
    call_scalars(fv, pts[p], &out[p][0]);
    call_scalars(fg, pts[p], &out[p][1]);
    call_scalars(fj, pts[p], &out[p][5]);
  }
  gradc_free(g);
}

Test(emit, emitted_seed_example_matches_the_jit_bit_for_bit, .init = make_dir, .fini = remove_dir,
     .timeout = 120) {
  /* the seed point, then random ones of several magnitudes */
  double pts[NPOINTS][6] = {{2, 3, 1, 1, 0, 0}, {2, 3, 1, 0.5, -1, 2}, {0, 0, 0, 1, 1, 1}};
  for (int p = 3; p < NPOINTS; p++) {
    double scale = p % 3 == 0 ? 1e-3 : p % 3 == 1 ? 1 : 1e4;
    for (int k = 0; k < 6; k++)
      pts[p][k] = uniform(-scale, scale);
  }
  char input[4096] = "";
  for (int p = 0; p < NPOINTS; p++) {
    char line[256];
    snprintf(line, sizeof line, "%a %a %a %a %a %a\n", pts[p][0], pts[p][1], pts[p][2],
             pts[p][3], pts[p][4], pts[p][5]);
    strcat(input, line);
  }
  write_file("points.txt", input);

  Gradc *g = gradc_new();
  cr_assert_eq(gradc_compile_file(g, GRADC_EXAMPLES "/seed_scalar.expr"), GRADC_OK);
  emit_to(g, "seed_scalar");
  gradc_free(g);
  write_file("driver.c", driver_c);
  expect_sh_ok("building the driver",
               sh("cc " CFLAGS " -O2 driver.c seed_scalar.c -o driver -lm"));
  expect_sh_ok("running the driver", sh("./driver < points.txt > results.txt"));
  char *text = read_file("results.txt");

  double tcc[NPOINTS][NRES], cc[NPOINTS][NRES];
  jit_results(GRADC_BACKEND_TCC, pts, tcc);
  jit_results(GRADC_BACKEND_CC, pts, cc);

  const char *s = text;
  for (int p = 0; p < NPOINTS; p++) {
    for (int k = 0; k < NRES; k++) {
      unsigned long long bits;
      int used = 0;
      cr_assert_eq(sscanf(s, " %llx%n", &bits, &used), 1, "driver output ends early:\n%s", text);
      s += used;
      double emitted;
      memcpy(&emitted, &bits, sizeof emitted);
      cr_assert(memcmp(&emitted, &tcc[p][k], sizeof emitted) == 0,
                "point %d result %d: emitted C %a, JIT (tcc) %a", p, k, emitted, tcc[p][k]);
      cr_assert(memcmp(&cc[p][k], &tcc[p][k], sizeof emitted) == 0,
                "point %d result %d: JIT (cc) %a, JIT (tcc) %a", p, k, cc[p][k], tcc[p][k]);
    }
  }
  /* and the numbers themselves at the seed point: L = 12.5, grad (15, 10, -5),
   * along (1, 0, 0): 15; along (0.5, -1, 2): 7.5 - 10 - 10 = -12.5 */
  const double want[NRES] = {12.5, 12.5, 15, 10, -5, 12.5, 15};
  for (int k = 0; k < NRES; k++)
    cr_assert_eq(tcc[0][k], want[k], "result %d: %.17g", k, tcc[0][k]);
  cr_assert_eq(tcc[1][6], -12.5);
  free(text);
  ASSERT_NO_LEAKS();
}

/* ---- identifiers ---------------------------------------------------------------------- */

static const char collide_driver_c[] =
    "#include <stdio.h>\n"
    "#include \"names.h\"\n"
    "int main(void) {\n"
    "  double L = 0, g[6] = {0}, j[2] = {0};\n"
    "  if (names_L(2, 3, 5, 7, 11, &L) != 0) return 1;\n"
    "  if (names_L_grad(2, 3, 5, 7, 11, &g[0], &g[1], &g[2], &g[3], &g[4], &g[5]) != 0) return 1;\n"
    "  if (names_L_jvp(2, 3, 5, 7, 11, 1, 0, 0, 0, 0, &j[0], &j[1]) != 0) return 1;\n"
    "  printf(\"%.17g %.17g %.17g %.17g %.17g %.17g %.17g %.17g\\n\",\n"
    "         L, g[1], g[2], g[3], g[4], g[5], j[0], j[1]);\n"
    "  return 0;\n"
    "}\n";

/* Names that are C keywords, library functions, gradc's own slot array and
 * its escape prefix must still give distinct, valid identifiers. */
Test(emit, user_names_never_collide_with_c_or_each_other, .init = make_dir, .fini = remove_dir,
     .timeout = 60) {
  Gradc *g = compile_ok("param int, t, exp2, u_x, x\n"
                        "output L = int*t + exp2*u_x + x*x*exp2\n");
  emit_to(g, "names");
  gradc_free(g);
  expect_sh_ok("names.c", sh("cc " CFLAGS " -c names.c -o names.o"));
  write_file("driver.c", collide_driver_c);
  expect_sh_ok("building the driver", sh("cc " CFLAGS " driver.c names.o -o driver -lm"));
  expect_sh_ok("running the driver", sh("./driver > out.txt"));
  char *out = read_file("out.txt");
  double r[8];
  cr_assert_eq(sscanf(out, "%lf %lf %lf %lf %lf %lf %lf %lf", &r[0], &r[1], &r[2], &r[3],
                      &r[4], &r[5], &r[6], &r[7]),
               8, "%s", out);
  /* int=2 t=3 exp2=5 u_x=7 x=11: L = 6 + 35 + 605 */
  const double want[8] = {646, 3, 2, 7 + 121, 5, 2 * 11 * 5, 646, 3};
  for (int k = 0; k < 8; k++)
    cr_assert_eq(r[k], want[k], "result %d: %.17g, want %.17g", k, r[k], want[k]);
  free(out);
  ASSERT_NO_LEAKS();
}

Test(emit, hostile_names_compile_warning_free, .init = make_dir, .fini = remove_dir,
     .timeout = 60) {
  static const char *const progs[] = {
      "param main, double, errno, fabs, NULL, printf\n"
      "output int = main*double + errno*fabs - NULL/printf\n"
      "output t = sin(main)*double*errno*fabs*NULL*printf\n",
      "param g_dot_x, g_dL_dx, x, dL, g_r0, u_u_x, u_x\n"
      "output L = g_dot_x*x + g_dL_dx*dL + g_r0*u_u_x*u_x\n",
      "param a, r, i, k, n, work, res, args\n"
      "output out = a*r + i*k + n*work + res*args\n",
      "param size_t, int8_t, EDOM, SIGINT, isfoo, strx, memcpy, INT_MAX\n"
      "output wchar_t = size_t*int8_t + EDOM*SIGINT + isfoo*strx + memcpy*INT_MAX\n",
  };
  for (size_t i = 0; i < sizeof progs / sizeof *progs; i++) {
    Gradc *g = compile_ok(progs[i]);
    emit_to(g, "hostile");
    gradc_free(g);
    if (sh("cc " CFLAGS " -c hostile.c -o hostile.o") != 0) {
      char *log = read_file("log.txt");
      char *c = read_file("hostile.c");
      cr_assert_fail("program %zu:\n%s\n--- cc says:\n%s\n--- emitted:\n%s", i, progs[i], log, c);
    }
  }
  ASSERT_NO_LEAKS();
}

/* Tensor code runs in loops with locals of its own (loop counters,
 * accumulators, buffers); a user name equal to one of them must not be
 * captured by it. With param o, "for (long o = ...) ... X[o]*o" multiplies
 * by the index (sum(X*o) gives 20, not 100, for X = [[1,2],[3,4]], o = 10),
 * and a param b0 clashes with the buffer "double *b0". */
Test(emit, loop_locals_never_capture_user_names, .init = make_dir, .fini = remove_dir,
     .timeout = 60) {
  static const char *const progs[] = {
      "input X[N, 2]\nparam o\noutput L = sum(X*o)\n",
      "input X[N, 2]\nparam acc\noutput L = sum(X*acc)\n",
      "input X[N, 2]\nparam v\noutput L = sum(X*v)\n",
      "input X[N, 2]\nparam b0[2]\noutput L = sum(X @ b0)\n",
      "input X[N, 3]\nparam W[3, 3], p, i, j\noutput L = sum((X @ W)*p*i*j)\n",
      "input X[N, 3]\nparam i0, i1, best\noutput L = sum(X*i0*i1) + sum(argmax(X*best, 1))\n",
  };
  for (size_t i = 0; i < sizeof progs / sizeof *progs; i++) {
    Gradc *g = compile_ok(progs[i]);
    emit_to(g, "loops");
    gradc_free(g);
    if (sh("cc " CFLAGS " -c loops.c -o loops.o") != 0) {
      char *log = read_file("log.txt");
      cr_assert_fail("program %zu:\n%s--- cc says:\n%.1500s", i, progs[i], log);
    }
  }
  ASSERT_NO_LEAKS();
}

/* Every function takes every variable (SPEC 3), so one that an output does
 * not read must not trip -Wunused-parameter under -Werror. */
Test(emit, outputs_that_ignore_some_variables_compile_warning_free, .init = make_dir, .fini = remove_dir,
     .timeout = 60) {
  Gradc *g = compile_ok("param a, b, c\noutput y1 = a*b\noutput y2 = c\noutput y3 = 2\n");
  emit_to(g, "partial");
  gradc_free(g);
  if (sh("cc " CFLAGS " -c partial.c -o partial.o") != 0) {
    char *log = read_file("log.txt");
    cr_assert_fail("cc says:\n%.2000s", log);
  }
  ASSERT_NO_LEAKS();
}

/* A user function is inlined (SPEC 1.8): the C is that of the program
 * written out by hand, with no function of its own, and compiles strictly. */
Test(emit, user_functions_are_inlined_into_the_same_c, .init = make_dir, .fini = remove_dir,
     .timeout = 60) {
  Gradc *a = compile_ok("input X[N, 2], y[N]\nparam w[2] = [0.5, -0.5]\n"
                        "huber(r, d) = where(abs(r) <= d, 0.5*r^2, d*(abs(r) - 0.5*d))\n"
                        "output L = mean(huber(X @ w - y, 1.0))\n");
  Gradc *b = compile_ok("input X[N, 2], y[N]\nparam w[2] = [0.5, -0.5]\n"
                        "output L = mean(where(abs(X @ w - y) <= 1.0, 0.5*(X @ w - y)^2,"
                        " 1.0*(abs(X @ w - y) - 0.5*1.0)))\n");
  char *sa = NULL, *ha = NULL, *sb = NULL, *hb = NULL;
  cr_assert_eq(gradc_emit(a, "fn", &sa, &ha, "fn.h"), GRADC_OK, "%s", gradc_diag_render(a));
  cr_assert_eq(gradc_emit(b, "fn", &sb, &hb, "fn.h"), GRADC_OK, "%s", gradc_diag_render(b));
  cr_assert_str_eq(sa, sb);
  cr_assert_str_eq(ha, hb);
  cr_assert_null(strstr(sa, "huber"));
  free(sa);
  free(ha);
  free(sb);
  free(hb);
  emit_to(a, "fn");
  gradc_free(a);
  gradc_free(b);
  if (sh("cc " CFLAGS " -c fn.c -o fn.o") != 0) {
    char *log = read_file("log.txt");
    cr_assert_fail("cc says:\n%.2000s", log);
  }
  ASSERT_NO_LEAKS();
}

/* A workspace size that does not depend on every dimension (D below) still
 * takes them all, and must not trip -Wunused-parameter either. */
Test(emit, workspace_sizes_that_ignore_a_dimension_compile_warning_free, .init = make_dir,
     .fini = remove_dir, .timeout = 60) {
  Gradc *g = compile_ok("input X[N, D], y[N]\nparam w[D], b\n"
                        "output L = mean((X @ w + b - y)^2)\n");
  emit_to(g, "dims");
  gradc_free(g);
  if (sh("cc " CFLAGS " -c dims.c -o dims.o") != 0) {
    char *log = read_file("log.txt");
    cr_assert_fail("cc says:\n%.2000s", log);
  }
  ASSERT_NO_LEAKS();
}

/* ---- what the emitted code contains ------------------------------------------------- */

static int count_substr(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
    n++;
  return n;
}

/* Where function `name` is defined (not merely declared) in C text. */
static const char *definition(const char *src, const char *name) {
  size_t n = strlen(name);
  for (const char *p = src; (p = strstr(p, name)); p += n) {
    if ((p > src && (p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z'))) || p[n] != '(')
      continue;
    size_t stop = strcspn(p, ";{");
    if (p[stop] == '{')
      return p;
  }
  return NULL;
}

/* The value function computes the shared w*x - y once and calls sin once. */
Test(emit, a_shared_subexpression_is_computed_once) {
  Gradc *g = compile_ok("output L = (w*x-y)^2 + sin(w*x-y)\n");
  char *src = NULL;
  cr_assert_eq(gradc_emit(g, "p", &src, NULL, NULL), GRADC_OK);
  const char *value = definition(src, "p_L");
  cr_assert_not_null(value, "%s", src);
  const char *end = strstr(value, "\n}\n");
  cr_assert_not_null(end);
  char *body = strndup(value, (size_t)(end - value));
  cr_assert_eq(count_substr(body, "w*x"), 1, "%s", body);
  cr_assert_eq(count_substr(body, "sin("), 1, "%s", body);
  free(body);
  free(src);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

Test(emit, a_program_without_outputs_of_its_own_emits_its_last_definition) {
  Gradc *g = compile_ok("u = 2*w\nv = u + 1\n");
  cr_assert_eq(gradc_output_count(g), 1);
  cr_assert_str_eq(gradc_output_name(g, 0), "v");
  char *src = NULL;
  cr_assert_eq(gradc_emit(g, "p", &src, NULL, NULL), GRADC_OK);
  cr_assert(strstr(src, "p_v(") && strstr(src, "p_v_grad(") && strstr(src, "p_v_jvp("), "%s", src);
  free(src);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- long functions are split into parts -------------------------------------------- */

/* A chain of 400 definitions, each used twice (so each is a statement):
 * every function is split into parts (cc -O2 compiles a 10^4-node
 * gradient in seconds, not minutes), and the parts compute bit for bit
 * what the JIT computes, with tcc (not split) and with cc (split). */
static char *long_chain(void) {
  size_t cap = 400 * 64, at = 0;
  char *s = malloc(cap);
  cr_assert_not_null(s);
  at += (size_t)snprintf(s + at, cap - at, "param x, y, z\na0 = x*y + z\n");
  for (int k = 1; k < 400; k++)
    at += (size_t)snprintf(s + at, cap - at, "a%d = sin(a%d)*y + a%d*(x - 0.001*%d)\n", k, k - 1, k - 1, k);
  snprintf(s + at, cap - at, "output f = a399*z + tanh(a200)\n");
  return s;
}

static const char split_driver_c[] =
    "#include <stdio.h>\n"
    "#include <string.h>\n"
    "#include \"chain.h\"\n"
    "static unsigned long long bits(double x) { unsigned long long u; memcpy(&u, &x, 8); return u; }\n"
    "int main(void) {\n"
    "  double f, g[3], v;\n"
    "  if (chain_f_grad(0.3, 0.7, -0.2, &f, &g[0], &g[1], &g[2]) != 0) return 1;\n"
    "  if (chain_f(0.3, 0.7, -0.2, &v) != 0) return 1;\n"
    "  printf(\"%llx %llx %llx %llx %llx\\n\", bits(v), bits(f), bits(g[0]), bits(g[1]), bits(g[2]));\n"
    "  return 0;\n"
    "}\n";

Test(emit, long_functions_are_split_and_compute_the_same_bits, .init = make_dir,
     .fini = remove_dir, .timeout = 300) {
  char *text = long_chain();
  Gradc *g = compile_ok(text);
  char *src = NULL, *hdr = NULL;
  cr_assert_eq(gradc_emit(g, "chain", &src, &hdr, "chain.h"), GRADC_OK);
  /* value and gradient are split: parts g_chain_f_p0.. and g_chain_f_grad_p0..,
   * called with the JIT's arrays of dimensions, arguments and results */
  cr_assert_not_null(strstr(src, "static int g_chain_f_p2(const long *d, const double *const *a, double *const *r,"),
                     "%.2000s", src);
  cr_assert_not_null(strstr(src, "static int g_chain_f_grad_p5(const long *d, const double *const *a,"));
  cr_assert_not_null(strstr(src, "  g_chain_f_grad_p5(0, g_av, g_rv, t, 0);\n"));
  /* a value read only inside its part is a local there, not a t[] entry */
  cr_assert_not_null(strstr(src, "  double g_l"));
  write_file("chain.c", src);
  write_file("chain.h", hdr);
  free(src);
  free(hdr);
  gradc_free(g);
  expect_sh_ok("chain.c", sh("cc " CFLAGS " -O2 -c chain.c -o chain.o"));
  expect_no_mutable_globals("chain.o");
  write_file("driver.c", split_driver_c);
  expect_sh_ok("building the driver", sh("cc " CFLAGS " driver.c chain.o -o driver -lm"));
  expect_sh_ok("running the driver", sh("./driver > out.txt"));
  char *out = read_file("out.txt");
  unsigned long long want[5];
  cr_assert_eq(sscanf(out, "%llx %llx %llx %llx %llx", &want[0], &want[1], &want[2], &want[3], &want[4]), 5,
               "%s", out);
  free(out);

  const GradcBackend backends[2] = {GRADC_BACKEND_TCC, GRADC_BACKEND_CC};
  for (int b = 0; b < 2; b++) {
    g = gradc_new();
    gradc_set_backend(g, backends[b]);
    cr_assert_eq(gradc_compile_string(g, "chain.expr", text, strlen(text)), GRADC_OK);
    GradcFn *fv = gradc_fn_value(g), *fg = gradc_fn_grad(g, NULL, 0);
    cr_assert(fv && fg, "%s", gradc_diag_render(g));
    const double x[3] = {0.3, 0.7, -0.2};
    double r[5];
    call_scalars(fv, x, &r[0]);
    call_scalars(fg, x, &r[1]);
    for (int k = 0; k < 5; k++) {
      unsigned long long u;
      memcpy(&u, &r[k], sizeof u);
      cr_assert_eq(u, want[k], "backend %d, result %d: JIT %a, emitted C %llx", b, k, r[k], want[k]);
    }
    gradc_free(g);
  }
  /* and the gradient is right: against central differences */
  g = compile_ok(text);
  GradcFn *fv = gradc_fn_value(g);
  double dx[3];
  for (int k = 0; k < 3; k++) {
    double x[3] = {0.3, 0.7, -0.2}, hi, lo, h = 1e-6;
    x[k] += h;
    call_scalars(fv, x, &hi);
    x[k] -= 2 * h;
    call_scalars(fv, x, &lo);
    dx[k] = (hi - lo) / (2 * h);
    double gk;
    memcpy(&gk, &want[2 + k], sizeof gk);
    cr_assert(rel_diff(gk, dx[k]) < 1e-5, "d/d%d: %.17g vs differences %.17g", k, gk, dx[k]);
  }
  gradc_free(g);
  free(text);
  ASSERT_NO_LEAKS();
}

/* ---- indexing along symbolic dimensions ------------------------------------------------ */

static const char sym_index_src[] =
    "param x[N]\n"
    "input X[N, D]\n"
    "output f = sum(100*(x[1:] - x[:-1]^2)^2 + (1 - x[:-1])^2) + x[-1]*sum(X[0, :]) +\n"
    "  sum(X[:, -1][:, None] * x[None, ::-2]) + sum(x[1::2] * x[-2::-2])\n"
    "output y = x[::-1] * X[:, 1]\n";

static const char sym_index_driver_c[] =
    "#include <stdio.h>\n"
    "#include <string.h>\n"
    "#include \"symidx.h\"\n"
    "static void put(double v) {\n"
    "  unsigned long long u;\n"
    "  memcpy(&u, &v, sizeof u);\n"
    "  printf(\" %016llx\", u);\n"
    "}\n"
    "int main(void) {\n"
    "  double x[5] = {0.5, -1, 2, 0.25, 3}, t[5] = {1, -2, 0.5, 3, -1};\n"
    "  double X[15] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 0, 1, 2, 2, 2};\n"
    "  double f = 0, g[5] = {0}, j[2] = {0}, y[5] = {0};\n"
    "  if (symidx_f(5, 3, x, X, &f, NULL) != 0) return 1;\n"
    "  put(f);\n"
    "  if (symidx_f_grad(5, 3, x, X, &f, g, NULL) != 0) return 1;\n"
    "  for (int i = 0; i < 5; i++) put(g[i]);\n"
    "  if (symidx_f_jvp(5, 3, x, X, t, &j[0], &j[1], NULL) != 0) return 1;\n"
    "  put(j[1]);\n"
    "  if (symidx_y(5, 3, x, X, y, NULL) != 0) return 1;\n"
    "  for (int i = 0; i < 5; i++) put(y[i]);\n"
    "  printf(\"\\n%d %d\\n\", symidx_f(3, 3, x, X, &f, NULL), symidx_f(0, 3, x, X, &f, NULL));\n"
    "  return 0;\n"
    "}\n";

/* f, df/dx, the jvp along t and y from the JIT, as the driver prints them */
static void sym_index_jit(GradcBackend backend, double out[12]) {
  Gradc *g = gradc_new();
  gradc_set_backend(g, backend);
  cr_assert_eq(gradc_compile_string(g, "symidx.expr", sym_index_src, strlen(sym_index_src)), GRADC_OK,
               "%s", gradc_diag_render(g));
  double x[5] = {0.5, -1, 2, 0.25, 3}, t[5] = {1, -2, 0.5, 3, -1};
  double X[15] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 0, 1, 2, 2, 2};
  long dims[2] = {5, 3};
  const double *args[3] = {x, X, t};
  double f, df[5], y[5], j[2];
  GradcFn *fg = gradc_fn_grad(g, NULL, 0), *fj = gradc_fn_jvp(g, NULL, 0), *fv = gradc_fn_value(g);
  cr_assert(fg && fj && fv, "%s", gradc_diag_render(g));
  double *rg[4] = {&f, y, df, NULL};
  cr_assert_eq(gradc_call_dims(fg, dims, args, rg), GRADC_OK, "%s", gradc_diag_render(g));
  out[0] = f;
  memcpy(out + 1, df, sizeof df);
  double *rj[4] = {&j[0], y, &j[1], y};
  cr_assert_eq(gradc_call_dims(fj, dims, args, rj), GRADC_OK, "%s", gradc_diag_render(g));
  out[6] = j[1];
  double *rv[2] = {&f, y};
  cr_assert_eq(gradc_call_dims(fv, dims, args, rv), GRADC_OK, "%s", gradc_diag_render(g));
  memcpy(out + 7, y, sizeof y);
  /* N = 3: x[-2::-2] and x[1::2] still agree (1 element each), the rest too */
  long small[2] = {3, 3};
  cr_assert_eq(gradc_call_dims(fv, small, args, rv), GRADC_OK, "%s", gradc_diag_render(g));
  gradc_free(g);
}

Test(emit, symbolic_indexing_compiles_strictly_and_matches_the_jit_bit_for_bit,
     .init = make_dir, .fini = remove_dir, .timeout = 120) {
  Gradc *g = compile_ok(sym_index_src);
  emit_to(g, "symidx");
  gradc_free(g);
  write_file("driver.c", sym_index_driver_c);
  expect_sh_ok("building the driver", sh("cc " CFLAGS " -O2 driver.c symidx.c -o driver -lm"));
  expect_sh_ok("running the driver", sh("./driver > results.txt"));
  char *text = read_file("results.txt");
  double tcc[12], cc[12];
  sym_index_jit(GRADC_BACKEND_TCC, tcc);
  sym_index_jit(GRADC_BACKEND_CC, cc);
  const char *s = text;
  for (int k = 0; k < 12; k++) {
    unsigned long long bits;
    int used = 0;
    cr_assert_eq(sscanf(s, " %llx%n", &bits, &used), 1, "driver output ends early:\n%s", text);
    s += used;
    double emitted;
    memcpy(&emitted, &bits, sizeof emitted);
    cr_assert(memcmp(&emitted, &tcc[k], sizeof emitted) == 0, "result %d: emitted %a, tcc %a", k,
              emitted, tcc[k]);
    cr_assert(memcmp(&cc[k], &tcc[k], sizeof emitted) == 0, "result %d: cc %a, tcc %a", k, cc[k],
              tcc[k]);
  }
  int rc = -1, rc0 = -1;
  cr_assert_eq(sscanf(s, " %d %d", &rc, &rc0), 2);
  cr_assert_eq(rc, 0, "N = 3 is in range for every index: %d", rc);
  cr_assert_gt(rc0, 0, "N = 0 has no x[-1]: a failed check, not %d", rc0);
  /* by hand: the chained Rosenbrock part is 100*(-1-0.25)^2 + 0.25 + 100*(2-1)^2 + 4
   * + 100*(0.25-4)^2 + 1 + 100*(3-0.0625)^2 + 0.5625 = 2531.203125; x[-1]*6 = 18;
   * X[:, -1] . x[4, 2, 0] summed = (3+6+9+1+2)*(3+2+0.5) = 115.5; x1*x3 + x3*x1 = -0.5 */
  cr_assert_eq(tcc[0], 2531.203125 + 18 + 115.5 - 0.5);
  /* y = x[::-1] * X[:, 1] */
  const double y[5] = {3 * 2, 0.25 * 5, 2 * 8, -1 * 0.0, 0.5 * 2};
  for (int i = 0; i < 5; i++)
    cr_assert_eq(tcc[7 + i], y[i], "y[%d] = %.17g", i, tcc[7 + i]);
  free(text);
  ASSERT_NO_LEAKS();
}

/* The adjoint of x[i] adds into the adjoint of x in place (a scatter), not a
 * zero-padded copy of x per index: the gradient zeroes its buffer once. */
Test(emit, the_adjoint_of_an_index_is_added_in_place) {
  Gradc *g = compile_ok("param x[N]\noutput f = x[0]*x[1] + x[2]^2 + x[-1]*x[3] + sum(x[1:]*x[:-1])\n");
  char *src = NULL;
  cr_assert_eq(gradc_emit(g, "sc", &src, NULL, NULL), GRADC_OK, "%s", gradc_diag_render(g));
  const char *fg = definition(src, "sc_f_grad");
  cr_assert_not_null(fg);
  const char *end = strstr(fg, "\n}\n");
  cr_assert_not_null(end);
  char *body = strndup(fg, (size_t)(end - fg));
  cr_assert_eq(count_substr(body, "] = 0.0;"), 1, "one zeroed buffer:\n%s", body);
  cr_assert_eq(count_substr(body, "] += "), 6, "six pieces added in place:\n%s", body);
  free(body);
  free(src);
  gradc_free(g);
  ASSERT_NO_LEAKS();
}

/* ---- bad sizes ---------------------------------------------------------------- */

/* A negative dimension is a bad argument: every function (with or without
 * a workspace, allocating it or given one) and its _work return -2, the
 * code of the sparse functions for sizes they do not take, not -1 (out of
 * memory, what malloc of a negative size gave) nor 0 (loops that never
 * run); the array ABI too, and for a NULL dims array. A good size gives 0
 * and the value. */
Test(emit, a_negative_dimension_returns_minus_two, .init = make_dir, .fini = remove_dir,
     .timeout = 60) {
  Gradc *g = compile_ok("param x[N]\ny = exp(x)\noutput p = sum(y*y) + prod(y)\noutput q = sum(x^2)\n");
  emit_to(g, "neg");
  gradc_set_emit_abi(g, GRADC_ABI_ARRAY);
  emit_to(g, "nega");
  gradc_free(g);
  char *h = read_file("neg.h");
  cr_expect(strstr(h, "-2 if a dimension is negative") != NULL, "%s", h);
  free(h);
  write_file("drv.c",
             "#include <stdio.h>\n#include \"neg.h\"\n"
             "int main(void) {\n"
             "  double x[3] = {0.1, 0.2, 0.3}, v[3] = {1, 0, 0}, p, g[3], hv[3], w[1000], one;\n"
             "  int bad = 0;\n"
             "#define WANT(call, rc) do { long r_ = (call); if (r_ != (rc)) { printf(\"%s: %ld, want %d\\n\", #call, r_, rc); bad = 1; } } while (0)\n"
             "  WANT(neg_p_hvp(-3, x, v, &p, g, hv, 0), -2);\n"
             "  WANT(neg_p_hvp(-3, x, v, &p, g, hv, w), -2);\n"
             "  WANT(neg_p(-1, x, &p, 0), -2);\n"
             "  WANT(neg_p_grad(-3, x, &p, g, 0), -2);\n"
             "  WANT(neg_p_jvp(-3, x, v, &p, &one, 0), -2);\n"
             "  WANT(neg_q(-3, x, &p), -2);\n"
             "  WANT(neg_q_hvp(-3, x, v, &p, g, hv), -2);\n"
             "  WANT(neg_p_hvp_work(-3), -2);\n"
             "  WANT(neg_p_hvp(3, x, v, &p, g, hv, 0), 0);\n"
             "  WANT(neg_p(0, x, &p, 0), 0);\n"
             "  return bad;\n}\n");
  write_file("drva.c",
             "#include <stdio.h>\n#include \"nega.h\"\n"
             "int main(void) {\n"
             "  double x[3] = {0.1, 0.2, 0.3}, v[3] = {1, 0, 0}, p, g[3], hv[3];\n"
             "  const double *arg[2] = {x, v};\n  double *res[3] = {&p, g, hv};\n"
             "  long neg[1] = {-3}, ok[1] = {3};\n  int bad = 0;\n"
             "#define WANT(call, rc) do { long r_ = (call); if (r_ != (rc)) { printf(\"%s: %ld, want %d\\n\", #call, r_, rc); bad = 1; } } while (0)\n"
             "  WANT(nega_p_hvp(arg, res, neg, 0), -2);\n"
             "  WANT(nega_p_hvp(arg, res, 0, 0), -2);\n"
             "  WANT(nega_p_hvp_work(neg), -2);\n"
             "  WANT(nega_p_hvp(arg, res, ok, 0), 0);\n"
             "  return bad;\n}\n");
  expect_sh_ok("the default ABI", sh("cc " CFLAGS " drv.c neg.c -lm -o drv && ./drv"));
  expect_sh_ok("the array ABI", sh("cc " CFLAGS " drva.c nega.c -lm -o drva && ./drva"));
  ASSERT_NO_LEAKS();
}

/* ---- indexing, splitting and the workspace (issue 18) ------------------------------- */

/* An unrolled Rosenbrock over x[300] read by index, with tensor code
 * beside it (a matrix product, slices, a reduction): long enough to be
 * split, and the parts hold the tensor loops too. */
static char *indexed_program(void) {
  size_t cap = 300 * 64 + 512, at = 0;
  char *s = malloc(cap);
  cr_assert_not_null(s);
  at += (size_t)snprintf(s + at, cap - at, "param x[300]\nparam W[3, 4]\ninput v[4]\noutput f = 0");
  for (int i = 0; i < 299; i++)
    at += (size_t)snprintf(s + at, cap - at, " + 100*(x[%d] - x[%d]^2)^2 + (1 - x[%d])^2", i + 1, i, i);
  snprintf(s + at, cap - at, " + sum((W @ v)^2) + x[7]*sum(x[10:20]) + x[299]*x[0] + sum(x[3:6]*x[3:6])\n");
  return s;
}

static void indexed_values(double *x, double *W, double *v) {
  for (int i = 0; i < 300; i++)
    x[i] = 0.1 + 0.003 * (double)((i * 37) % 101);
  for (int i = 0; i < 12; i++)
    W[i] = 0.25 * (double)(i % 5) - 0.5;
  for (int i = 0; i < 4; i++)
    v[i] = 1.0 - 0.375 * (double)i;
}

static const char indexed_driver_c[] =
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include <string.h>\n"
    "#include \"idx.h\"\n"
    "static void put(double v) {\n"
    "  unsigned long long u;\n"
    "  memcpy(&u, &v, 8);\n"
    "  printf(\" %%016llx\", u);\n"
    "}\n"
    "int main(void) {\n"
    "  double x[300], W[12], v[4], f, gx[300], gW[12];\n"
    "  for (int i = 0; i < 300; i++) x[i] = 0.1 + 0.003 * (double)((i * 37) %% 101);\n"
    "  for (int i = 0; i < 12; i++) W[i] = 0.25 * (double)(i %% 5) - 0.5;\n"
    "  for (int i = 0; i < 4; i++) v[i] = 1.0 - 0.375 * (double)i;\n"
    "  if (idx_f_grad(x, W, v, &f, gx, gW%s) != 0) return 1;\n"
    "  put(f);\n"
    "  for (int i = 0; i < 300; i++) put(gx[i]);\n"
    "  for (int i = 0; i < 12; i++) put(gW[i]);\n"
    "  printf(\"\\n\");\n"
    "  return 0;\n"
    "}\n";

Test(emit, indexed_long_functions_are_split_with_their_loops_and_compute_the_same_bits,
     .init = make_dir, .fini = remove_dir, .timeout = 600) {
  char *text = indexed_program();
  Gradc *g = compile_ok(text);
  char *src = NULL, *hdr = NULL;
  cr_assert_eq(gradc_emit(g, "idx", &src, &hdr, "idx.h"), GRADC_OK, "%s", gradc_diag_render(g));
  gradc_free(g);
  /* the gradient is split, and a part holds a tensor loop */
  const char *p0 = strstr(src, "static int g_idx_f_grad_p0(");
  cr_assert_not_null(p0, "%.3000s", src);
  const char *fg = definition(src, "idx_f_grad");
  cr_assert_not_null(fg);
  int loop_in_part = 0;
  for (const char *l = strstr(p0, "for (long"); l && l < fg && !loop_in_part; l = strstr(l + 1, "for (long"))
    loop_in_part = 1;
  cr_assert(loop_in_part, "no tensor loop in the parts of idx_f_grad");
  /* x[i] is read in place: no copy of an element into t[] */
  cr_assert_null(strstr(src, "] = a[0][1];"), "an element copied into a slot");
  int work = strstr(hdr, "long idx_f_grad_work(") != NULL;
  write_file("idx.c", src);
  write_file("idx.h", hdr);
  free(src);
  free(hdr);
  expect_sh_ok("idx.c", sh("cc " CFLAGS " -O2 -c idx.c -o idx.o"));
  expect_no_mutable_globals("idx.o");
  char driver[sizeof indexed_driver_c + 64];
  snprintf(driver, sizeof driver, indexed_driver_c, work ? ", NULL" : "");
  write_file("driver.c", driver);
  expect_sh_ok("building the driver", sh("cc " CFLAGS " driver.c idx.o -o driver -lm"));
  expect_sh_ok("running the driver", sh("./driver > out.txt"));
  char *out = read_file("out.txt");
  double want[313];
  const char *s = out;
  for (int k = 0; k < 313; k++) {
    unsigned long long bits;
    int used = 0;
    cr_assert_eq(sscanf(s, " %llx%n", &bits, &used), 1, "driver output ends early at %d", k);
    s += used;
    memcpy(&want[k], &bits, sizeof bits);
  }
  free(out);
  /* the JIT, with tcc (one function) and with cc (split), gives the same bits */
  double x[300], W[12], v[4];
  indexed_values(x, W, v);
  const GradcBackend backends[2] = {GRADC_BACKEND_TCC, GRADC_BACKEND_CC};
  for (int b = 0; b < 2; b++) {
    g = gradc_new();
    gradc_set_backend(g, backends[b]);
    cr_assert_eq(gradc_compile_string(g, "idx.expr", text, strlen(text)), GRADC_OK);
    GradcFn *fg2 = gradc_fn_grad(g, NULL, 0);
    cr_assert_not_null(fg2, "%s", gradc_diag_render(g));
    double got[313];
    const double *args[3] = {x, W, v};
    double *res[3] = {&got[0], &got[1], &got[301]};
    cr_assert_eq(gradc_call(fg2, args, res), GRADC_OK, "%s", gradc_diag_render(g));
    for (int k = 0; k < 313; k++)
      cr_assert(memcmp(&got[k], &want[k], sizeof got[k]) == 0, "backend %d, result %d: JIT %a, emitted %a",
                b, k, got[k], want[k]);
    /* and the gradient is right: central differences of the value */
    GradcFn *fv = gradc_fn_value(g);
    cr_assert_not_null(fv);
    const int probe[6] = {0, 3, 7, 15, 150, 299};
    for (int q = 0; q < 6; q++) {
      int i = probe[q];
      double hi, lo, h = 1e-6, keep = x[i];
      double *rv[1] = {&hi};
      x[i] = keep + h;
      cr_assert_eq(gradc_call(fv, args, rv), GRADC_OK);
      rv[0] = &lo;
      x[i] = keep - h;
      cr_assert_eq(gradc_call(fv, args, rv), GRADC_OK);
      x[i] = keep;
      cr_assert(rel_diff(got[1 + i], (hi - lo) / (2 * h)) < 1e-5, "df/dx[%d]: %.17g vs differences %.17g", i,
                got[1 + i], (hi - lo) / (2 * h));
    }
    gradc_free(g);
  }
  free(text);
  ASSERT_NO_LEAKS();
}

/* Fixed sizes: the value, gradient and JVP of an unrolled Rosenbrock over
 * x[1000] allocate nothing per call (no malloc, no workspace), the
 * gradient is written straight into the result, each element once by
 * assignment (no zeroing, no copy), and the C does not grow with the
 * number of elements beyond one statement per index. */
Test(emit, fixed_size_functions_allocate_nothing_per_call) {
  size_t cap = 1000 * 64, at = 0;
  char *text = malloc(cap);
  cr_assert_not_null(text);
  at += (size_t)snprintf(text + at, cap - at, "param x[1000]\noutput f = 0");
  for (int i = 0; i < 999; i++)
    at += (size_t)snprintf(text + at, cap - at, " + 100*(x[%d] - x[%d]^2)^2 + (1 - x[%d])^2", i + 1, i, i);
  snprintf(text + at, cap - at, "\n");
  Gradc *g = compile_ok(text);
  char *src = NULL;
  cr_assert_eq(gradc_emit(g, "rb", &src, NULL, NULL), GRADC_OK, "%s", gradc_diag_render(g));
  const char *names[3] = {"rb_f", "rb_f_grad", "rb_f_jvp"};
  for (int k = 0; k < 3; k++) {
    char proto[64];
    snprintf(proto, sizeof proto, "long %s_work(", names[k]);
    cr_assert_null(strstr(src, proto), "%s takes a workspace", names[k]);
    const char *body = definition(src, names[k]);
    cr_assert_not_null(body, "%s", names[k]);
    const char *end = strstr(body, "\n}\n");
    cr_assert_not_null(end);
    char *b = strndup(body, (size_t)(end - body));
    cr_assert_null(strstr(b, "malloc"), "%s allocates:\n%.2000s", names[k], b);
    if (k == 1) { /* the gradient's parts come before it */
      cr_assert_not_null(strstr(b, "double *g_b0 = g_df_dx;"), "%.2000s", b);
      const char *p0 = strstr(src, "static int g_rb_f_grad_p0(");
      cr_assert(p0 && p0 < body);
      char *parts = strndup(p0, (size_t)(body - p0));
      cr_assert_eq(count_substr(parts, "] = 0.0;"), 0, "a zeroed adjoint");
      cr_assert_eq(count_substr(parts, "] += "), 0, "an element added to after zeroing");
      cr_assert_eq(count_substr(parts, "  g_b0["), 1000, "one write per element");
      free(parts);
      cr_assert_null(strstr(b, "g_o"), "a loop (a copy) in the gradient:\n%.2000s", b);
    }
    free(b);
  }
  free(src);
  gradc_free(g);
  free(text);
  ASSERT_NO_LEAKS();
}

/* No malloc per call when the sizes are literals (issue 18): the emitted C
 * (array ABI: every function has the same signature, so one driver serves
 * them all) is linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc
 * and a driver that counts the calls. The driver's own allocations (the
 * arguments, results and workspace, made before the calls) must be counted,
 * so the wrapper is seen to work; a function with a workspace called with
 * NULL must allocate (the emitted code's malloc is seen too); 100 calls of
 * each function with its workspace (or none, when it needs none) must
 * allocate nothing. */
static const char alloc_driver_c[] =
    "#include <stdio.h>\n"
    "#include <stdlib.h>\n"
    "#include \"alloc.h\"\n"
    "static long count;\n"
    "void *__real_malloc(size_t n);\n"
    "void *__real_calloc(size_t n, size_t m);\n"
    "void *__real_realloc(void *p, size_t n);\n"
    "void *__wrap_malloc(size_t n);\n"
    "void *__wrap_calloc(size_t n, size_t m);\n"
    "void *__wrap_realloc(void *p, size_t n);\n"
    "void *__wrap_malloc(size_t n) { count++; return __real_malloc(n); }\n"
    "void *__wrap_calloc(size_t n, size_t m) { count++; return __real_calloc(n, m); }\n"
    "void *__wrap_realloc(void *p, size_t n) { count++; return __real_realloc(p, n); }\n"
    "typedef struct Fn {\n"
    "  const char *name;\n"
    "  int (*call)(const double **, double **, const long *, double *);\n"
    "  int (*n_in)(void), (*n_out)(void);\n"
    "  int (*shape_in)(int, const long *, long *), (*shape_out)(int, const long *, long *);\n"
    "  long (*work)(const long *);\n"
    "} Fn;\n"
    "#define FN(s) {#s, s, s##_n_in, s##_n_out, s##_shape_in, s##_shape_out, s##_work}\n"
    "static const Fn fns[] = {FN(alloc_f), FN(alloc_f_grad), FN(alloc_f_jvp), FN(alloc_f_hvp)};\n"
    "static double *array(int rank, const long *shape, int fill) {\n"
    "  long size = 1;\n"
    "  for (int k = 0; k < rank; k++) size *= shape[k];\n"
    "  double *a = malloc((size_t)(size > 0 ? size : 1) * sizeof *a);\n"
    "  for (long e = 0; e < size; e++) a[e] = fill ? 0.25 + 0.001 * (double)(e % 97) : 0.0;\n"
    "  return a;\n"
    "}\n"
    "int main(void) {\n"
    "  long dims[1] = {0};\n"
    "  for (int f = 0; f < 4; f++) {\n"
    "    const Fn *fn = &fns[f];\n"
    "    int nin = fn->n_in(), nout = fn->n_out();\n"
    "    const double *args[16];\n"
    "    double *res[16];\n"
    "    long shape[8];\n"
    "    count = 0;\n"
    "    for (int i = 0; i < nin; i++) args[i] = array(fn->shape_in(i, dims, shape), shape, 1);\n"
    "    for (int i = 0; i < nout; i++) res[i] = array(fn->shape_out(i, dims, shape), shape, 0);\n"
    "    long work = fn->work(dims);\n"
    "    double *w = work > 0 ? malloc((size_t)work * sizeof *w) : NULL;\n"
    "    long before = count;\n"
    "    count = 0;\n"
    "    int rc = 0;\n"
    "    for (int r = 0; r < 100; r++) rc |= fn->call(args, res, dims, w);\n"
    "    long calls = count;\n"
    "    count = 0;\n"
    "    rc |= fn->call(args, res, dims, NULL);\n"
    "    printf(\"%s work %ld before %ld calls %ld null %ld rc %d\\n\", fn->name, work, before, calls,\n"
    "           count, rc);\n"
    "    for (int i = 0; i < nin; i++) free((void *)args[i]);\n"
    "    for (int i = 0; i < nout; i++) free(res[i]);\n"
    "    free(w);\n"
    "  }\n"
    "  return 0;\n"
    "}\n";

/* Runs the driver on the C emitted for text; out[f] = {work, before,
 * calls, null} of alloc_f, _grad, _jvp, _hvp. */
static void count_allocations(const char *text, long out[4][4]) {
  Gradc *g = compile_ok(text);
  char *src = NULL, *hdr = NULL;
  gradc_set_emit_abi(g, GRADC_ABI_ARRAY);
  cr_assert_eq(gradc_emit(g, "alloc", &src, &hdr, "alloc.h"), GRADC_OK, "%s", gradc_diag_render(g));
  gradc_free(g);
  write_file("alloc.c", src);
  write_file("alloc.h", hdr);
  free(src);
  free(hdr);
  write_file("driver.c", alloc_driver_c);
  expect_sh_ok("building the driver",
               sh("cc " CFLAGS " -O0 driver.c alloc.c -o driver -lm"
                  " -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc"));
  expect_sh_ok("running the driver", sh("./driver > out.txt"));
  char *o = read_file("out.txt");
  const char *s = o;
  for (int f = 0; f < 4; f++) {
    char name[64];
    int rc = -1, used = 0;
    cr_assert_eq(sscanf(s, " %63s work %ld before %ld calls %ld null %ld rc %d%n", name, &out[f][0], &out[f][1],
                        &out[f][2], &out[f][3], &rc, &used),
                 6, "driver output: %s", o);
    cr_assert_eq(rc, 0, "%s failed", name);
    s += used;
  }
  free(o);
}

Test(emit, literal_sizes_allocate_nothing_per_call, .init = make_dir, .fini = remove_dir, .timeout = 600) {
  /* the x[1000] Rosenbrock read by index: no buffers at all */
  size_t cap = 1000 * 64, at = 0;
  char *rosen = malloc(cap);
  cr_assert_not_null(rosen);
  at += (size_t)snprintf(rosen + at, cap - at, "param x[1000]\noutput f = 0");
  for (int i = 0; i < 999; i++)
    at += (size_t)snprintf(rosen + at, cap - at, " + 100*(x[%d] - x[%d]^2)^2 + (1 - x[%d])^2", i + 1, i, i);
  snprintf(rosen + at, cap - at, "\n");
  const char *const texts[3] = {
      rosen,
      /* small tensors: every buffer on the stack */
      "param W[8, 6]\ninput v[6]\nparam x[40]\n"
      "output f = sum(tanh(W @ v)^2) + sum(x[1:]*x[:-1]) + x[2]*x[0] + sum(exp(-x[3:9])*v)\n",
      /* large ones: a workspace, the caller's */
      "param A[120, 120]\ninput b[120]\n"
      "output f = sum(tanh(A @ b)^2) + sum(sin(A)*A) + sum(A[1:, :]*A[:-1, :])\n",
  };
  int workspace_seen = 0;
  for (int p = 0; p < 3; p++) {
    long out[4][4];
    count_allocations(texts[p], out);
    for (int f = 0; f < 4; f++) {
      cr_assert_gt(out[f][1], 0, "program %d, function %d: the wrapper counted none of the driver's mallocs", p, f);
      cr_assert_eq(out[f][2], 0, "program %d, function %d: %ld mallocs in 100 calls (workspace %ld)", p, f,
                   out[f][2], out[f][0]);
      if (out[f][0] > 0) { /* called without its workspace, it allocates one */
        cr_assert_gt(out[f][3], 0, "program %d, function %d: no malloc seen without a workspace", p, f);
        workspace_seen = 1;
      } else {
        cr_assert_eq(out[f][3], 0, "program %d, function %d", p, f);
      }
      if (p < 2) /* small enough for the stack: no workspace */
        cr_assert_eq(out[f][0], 0, "program %d, function %d needs a workspace of %ld doubles", p, f, out[f][0]);
    }
  }
  cr_assert(workspace_seen, "no function with a workspace: the NULL case is not exercised");
  free(rosen);
  ASSERT_NO_LEAKS();
}
