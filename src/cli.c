/* cli.c: the gradc command line (SPEC section 2). Uses only gradc.h; the
 * only file besides repl.c that prints or chooses an exit code. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "numtext.h"



/* The commands and the options each takes (SPEC 2: any other option is a
 * usage error naming it and the command). Every command also takes
 * COMMON; VALUES are the options of the commands that read values. */
#define COMMON " --backend --blas --no-blas --threads --block-rows -h --help --version "
#define VALUES " --inputs --seed "
static const struct {
  const char *cmd, *opts;
} commands[] = {
    {"eval", VALUES "--json --output"},
    {"grad", VALUES "--json --wrt"},
    {"jvp", VALUES "--json --tangent --wrt"},
    {"jacobian", VALUES "--json --wrt --mode --sparse --output"},
    {"hessian", VALUES "--json --wrt --output --loss --sparse"},
    {"hvp", VALUES "--json --vector --wrt --output --loss"},
    {"check", VALUES "--json --wrt --tol"},
    {"trace", VALUES "--json --wrt --output"},
    {"emit", VALUES "-o --header --prefix --sparse --abi"},
    {"dot", " --grad"},
    {"repl", " --seed"},
    {"train", VALUES "--json --loss --output --steps --lr --optimizer --batch --save"},
    {"spectrum", VALUES "--json --k --probes --output --loss --wrt"},
    {"landscape", VALUES "--json -o --dim --along --range --grid --output --loss"},
    {"sparsity", VALUES "--json --hessian --wrt --output --mode"},
    {"diff", " --json --wrt --output"},
};
enum { NCOMMANDS = sizeof commands / sizeof *commands };

/* Whether the option word a (--name or --name=VALUE) is in the list. */
static int option_in(const char *list, const char *a) {
  size_t n = strcspn(a, "=");
  for (const char *p = strstr(list, " -"); p; p = strstr(p + 1, " -")) {
    if (!strncmp(p + 1, a, n) && (p[1 + n] == ' ' || p[1 + n] == 0))
      return 1;
  }
  return 0;
}

/* An option word that the command cmd (index c) does not take: a usage
 * error naming both (exit 2), or an unknown option with the nearest known
 * one; 0 if it is fine. */
static int option_taken(int c, const char *a) {
  char sp[32];
  snprintf(sp, sizeof sp, "%s ", commands[c].cmd);
  if (option_in(COMMON, a) || option_in(commands[c].opts, a))
    return 0;
  size_t n = strcspn(a, "=");
  for (int k = 0; k < NCOMMANDS; k++)
    if (option_in(commands[k].opts, a)) {
      usage_error(sp, "'%s' does not take %.*s", commands[c].cmd, (int)n, a);
      return -1;
    }
  /* the nearest option of this command */
  char words[64][24], name[64];
  const char *cand[64];
  int nc = 0;
  snprintf(name, sizeof name, "%.*s", (int)n, a);
  for (int l = 0; l < 2; l++)
    for (const char *p = l ? commands[c].opts : COMMON; *p && nc < 64;) {
      p += strspn(p, " ");
      size_t w = strcspn(p, " ");
      if (w && w < sizeof words[0]) {
        snprintf(words[nc], sizeof words[0], "%.*s", (int)w, p);
        cand[nc] = words[nc];
        nc++;
      }
      p += w;
    }
  const char *hint = gradc_closest(name, cand, nc);
  if (hint)
    usage_error(sp, "unknown option '%s' (did you mean '%s'?)", name, hint);
  else
    usage_error(sp, "unknown option '%s'", name);
  return -1;
}

void usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "gradc: error: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'gradc %s--help'.\n", cmd ? cmd : "");
}

static void help(const char *cmd) {
  if (!cmd) {
    printf("gradc %s: a compiler for differentiable expressions\n\n"
           "usage: gradc COMMAND FILE [NAME=VALUE...] [OPTIONS]\n\n"
           "commands:\n"
           "  eval      value of every output\n"
           "  grad      values and gradients (reverse mode)\n"
           "  jvp       values and directional derivatives (forward mode)\n"
           "  jacobian  Jacobian of the outputs (--mode forward|reverse|auto)\n"
           "  hessian   Hessian of a scalar output (forward over reverse)\n"
           "  hvp       Hessian-vector product of a scalar output (one sweep)\n"
           "  check     derivatives against central finite differences\n"
           "  trace     the evaluation trace, one row per DAG node\n"
           "  emit      standalone C source (and header)\n"
           "  dot       Graphviz of the DAG\n"
           "  repl      interactive session: define, differentiate, JIT-evaluate\n"
           "  train     gradient descent on a loss (gd, momentum, adam; mini-batches)\n"
           "  spectrum  extreme Hessian eigenvalues (Lanczos on HVPs), trace, kind of point\n"
           "  landscape the loss on a line or plane through the params, as a PNG\n"
           "  sparsity  nonzero pattern of the Jacobian (or Hessian) and its colouring\n"
           "  diff      the derivative as a simplified expression\n\n"
           "common options: --json, --inputs F.json, --seed S, --backend tcc|cc, --blas,\n"
           "  --no-blas, --threads T, --block-rows B, -h/--help, --version. 'gradc COMMAND\n"
           "  --help' for more; an option that a command does not take is an error.\n",
           GRADC_VERSION);
    return;
  }
  static const struct { const char *cmd, *text; } h[] = {
      {"eval", "gradc eval FILE [NAME=VALUE...] [--output NAME] [--json] [--inputs F.json]\n"
               "  Prints NAME = VALUE for every output (--output: for that one).\n"},
      {"grad", "gradc grad FILE [NAME=VALUE...] [--wrt a,b] [--json]\n"
               "  Values and reverse-mode gradients of every output; --wrt defaults to every param.\n"},
      {"jvp", "gradc jvp FILE [NAME=VALUE...] --tangent NAME=VALUE... [--json]\n"
              "  Values and the derivative of every output along one tangent direction;\n"
              "  variables not named after --tangent have tangent 0.\n"},
      {"jacobian", "gradc jacobian FILE [NAME=VALUE...] [--wrt a,b] [--output NAME] [--mode forward|reverse|auto]\n"
                   "               [--sparse] [--json]\n"
                   "  Every output's (--output: one output's) derivative w.r.t. every wrt variable.\n"
                   "  auto: forward mode when the inputs are fewer than the outputs, reverse mode\n"
                   "  otherwise. --sparse: only the nonzeros, from one JVP (or VJP) per\n"
                   "  colour of the sparsity pattern; rows are the outputs' elements stacked in\n"
                   "  order, columns the wrt elements stacked in --wrt order, row-major. Symbolic\n"
                   "  sizes may be given as NAME=SIZE (N=1000).\n"},
      {"hessian", "gradc hessian FILE [NAME=VALUE...] [--wrt a,b] [--output NAME] [--sparse] [--json]\n"
                  "  Hessian of a scalar output (default: the first scalar output), forward\n"
                  "  over reverse: one Hessian-vector product per column. A dense Hessian of\n"
                  "  more than 1 GiB is refused (--sparse gives the nonzeros, hvp products).\n"
                  "  --sparse: only the nonzeros, from one Hessian-vector product per colour of\n"
                  "  a star colouring of the sparsity pattern.\n"},
      {"hvp", "gradc hvp FILE [NAME=VALUE...] --vector NAME=VALUE... [--wrt a,b] [--output NAME] [--json]\n"
              "  The value of a scalar output (default: the first scalar one) and H v, its\n"
              "  Hessian with respect to the wrt variables (default: every param) times the\n"
              "  vector v, shaped like each wrt variable: forward over reverse in one sweep,\n"
              "  at a few times the cost of the value. Wrt variables not named after --vector\n"
              "  have 0 in v.\n"},
      {"check", "gradc check FILE [NAME=VALUE...] [--wrt a,b] [--tol T] [--seed S] [--json]\n"
                "  Compares every derivative of every output (tensor outputs element by element,\n"
                "  in reverse and forward mode) with central differences, whose rounding and\n"
                "  truncation error it estimates, and prints the point and the worst entries.\n"
                "  A derivative is a mismatch when it is off by more than T (default 1e-6,\n"
                "  relative, with an absolute floor) plus that estimate, or not finite where the\n"
                "  differences are; where the function is not finite it is not compared.\n"
                "  Exits 3 on a mismatch. Scalars with no value get a seeded random value.\n"},
      {"trace", "gradc trace FILE [NAME=VALUE...] [--wrt NAME|NAME[i,...]] [--output NAME] [--json]\n"
                "  One row per DAG node: definition, shape, value, tangent (forward mode) and\n"
                "  adjoint (reverse mode). The tangent is along one element of one variable:\n"
                "  --wrt x[1] or W[0, 2] (--wrt W of a tensor: its first element; default: the\n"
                "  first param); the adjoint is of --output (default: the first scalar output;\n"
                "  of a tensor output: of the sum of its elements). Tensors of up to 8\n"
                "  elements print whole, bigger ones as the first and last 3 elements\n"
                "  (row-major) with their shape; --json prints every element.\n"},
      {"emit", "gradc emit FILE [-o OUT.c] [--header OUT.h] [--prefix P] [--abi default|array]\n"
               "                [--sparse [NAME=SIZE...]]\n"
               "  C99 for P_F, P_F_grad and P_F_jvp of every output F, and P_F_hvp of every\n"
               "  scalar one (P: the file's stem).\n"
               "  --sparse adds P_F_jac_sparse (and for a scalar F P_F_hess_sparse): the\n"
               "  nonzeros of the Jacobian (Hessian) w.r.t. the params in compressed sparse\n"
               "  column order, with P_F_..._pattern (colptr, rowind) and P_F_..._work. The\n"
               "  pattern depends on the sizes: give every symbolic dimension (N=1000); the\n"
               "  functions return -2 when called with other sizes.\n"
               "  --abi array: each as int P_F_grad(const double **arg, double **res,\n"
               "  const long *dims, double *work), one pointer per argument and result, with\n"
               "  P_F_grad_n_in(), _n_out(), _name_in(i), _name_out(i), _shape_in(i, dims,\n"
               "  shape), _shape_out(...) and _work(dims), as CasADi's generated code; with\n"
               "  --sparse, P_F_jac_sparse(arg, res, dims, work) writes the nonzeros to res[0].\n"},
      {"sparsity", "gradc sparsity FILE [NAME=VALUE...] [--hessian] [--wrt a,b] [--output NAME]\n"
                   "               [--mode forward|reverse|auto] [--json]\n"
                   "  The nonzero pattern of the Jacobian of the outputs (--output: of one) w.r.t.\n"
                   "  the wrt variables, or with --hessian of the Hessian of a scalar output, from\n"
                   "  the DAG at the bound sizes (NAME=SIZE binds a dimension: N=10000): its\n"
                   "  nonzero count and density, and the colours (JVP, VJP or HVP sweeps) that\n"
                   "  recover the whole matrix. --json adds the pattern as sorted row/col arrays.\n"
                   "  Inputs outside --wrt count as constants at their values.\n"},
      {"dot", "gradc dot FILE [--grad]\n  Graphviz text of the DAG: params, inputs, outputs told apart, a legend;\n"
              "  --grad adds the gradient, each derivative a node labelled dL/dw.\n"},
      {"diff", "gradc diff FILE --wrt NAME[,NAME...] [--output NAME] [--json]\n"
               "  The derivative of a scalar output (default: the first scalar one) as a\n"
               "  simplified expression in the language, shared parts as 'let' lines; needs no\n"
               "  values. --json: {\"derivatives\": {OUT: {VAR: {\"let\": {...},\n"
               "  \"expression\": E}}}}.\n"},
      {"repl", "gradc repl [FILE]\n"
               "  An interactive session: statements as in .expr files, bare expressions are\n"
               "  evaluated; :help lists the commands (:set :vars :grad :jvp :jacobian :hessian\n"
               "  :hvp :diff :check :trace :emit :dot :time :load :quit). With stdin not a\n"
               "  terminal, no prompts are printed and the exit code is 1 if any line failed.\n"},
      {"train", "gradc train FILE [NAME=VALUE...] [--loss NAME] [--steps N] [--lr R]\n"
                "            [--optimizer gd|momentum|adam] [--batch B] [--save P.json] [--seed S]\n"
                "            [--json]\n"
                "  Minimises a scalar output (default: the first scalar one) over the params,\n"
                "  printing the loss and the other scalar outputs as metrics; --save writes the\n"
                "  params as JSON that --inputs reads back. Ctrl-C stops and still saves. At a\n"
                "  loss or gradient that is not finite it stops, names the step, goes back to\n"
                "  the last finite params (saved with --save) and exits 4.\n"
                "  Defaults: adam, lr 0.01 (gd and momentum 0.1), 2000 steps, the whole data.\n"
                "  --json: JSON Lines, {\"step\": S, \"outputs\": {...}} per reported step, then\n"
                "  {\"summary\": {...}} (steps kept, how it stopped, the metrics, the save).\n"},
      {"spectrum", "gradc spectrum FILE [NAME=VALUE...] [--k K] [--probes M] [--output NAME] [--wrt a,b]\n"
                   "               [--seed S] [--json]\n"
                   "  The K (default 3) largest and smallest eigenvalues of the Hessian of a scalar\n"
                   "  output (default: the first scalar one) w.r.t. the params, by Lanczos\n"
                   "  iterations (ARPACK) on Hessian-vector products: the Hessian is never formed,\n"
                   "  except for small n\n"
                   "  (a dense solve from n products). Also a Hutchinson estimate of the trace\n"
                   "  (M seeded Rademacher probes, default 100; 0: none) with its standard error,\n"
                   "  the kind of point (minimum, maximum, saddle, or degenerate when an eigenvalue\n"
                   "  is within the printed tolerance of 0) and the gradient's norm.\n"},
      {"landscape", landscape_help},
  };
  for (size_t i = 0; i < sizeof h / sizeof *h; i++)
    if (!strcmp(h[i].cmd, cmd))
      fputs(h[i].text, stdout);
}

/* ---- values ------------------------------------------------------------------ */

int parse_number(const char *s, double *x) {
  char *end;
  errno = 0;
  *x = strtod(s, &end);
  /* decimal, as in a file and NAME=VALUE (not 0x10, 0x1p3) */
  if (end == s || !num_is_decimal(s, end))
    return 0;
  while (*end == ' ')
    end++;
  /* a number too large for a double is an error, as in a file */
  return *end == 0 && !(isinf(*x) && !strpbrk(s, "iI"));
}

int report(Gradc *g) {
  fputs(gradc_diag_render(g), stderr);
  return EXIT_INPUT;
}

/* The values given: --inputs, then NAME=VALUE words; 1 if one was bad. */
int given_values(Gradc *g, const Opts *o) {
  int bad = 0;
  if (o->inputs && gradc_set_inputs_file(g, o->inputs) != GRADC_OK)
    bad = 1;
  for (int a = 0; a < o->nassign; a++) {
    char *eq = strchr(o->assign[a], '=');
    *eq = 0;
    if (gradc_set_value_text(g, o->assign[a], eq + 1) != GRADC_OK)
      bad = 1;
    *eq = '=';
  }
  return bad;
}

/* Commands that need no values (emit, dot, diff) still check the names of
 * NAME=VALUE words, with eval's wording and exit code: a name that is no
 * variable or dimension of the file is an error, not ignored. */
int check_assign_names(Gradc *g, const Opts *o) {
  int bad = 0;
  for (int a = 0; a < o->nassign; a++) {
    char *eq = strchr(o->assign[a], '=');
    *eq = 0;
    const char *name = o->assign[a];
    int known = gradc_var_index(g, name) >= 0;
    for (int d = 0; d < gradc_dim_count(g) && !known; d++)
      known = !strcmp(gradc_dim_name(g, d), name);
    if (!known) {
      const char *hint = gradc_var_suggest(g, name);
      if (gradc_output_index(g, name) >= 0)
        fprintf(stderr, "gradc: error: '%s' is an output, not a variable: it cannot be given a value\n", name);
      else
        fprintf(stderr, "gradc: error: %s has no variable '%s'%s%s%s\n", o->file, name,
                hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
      bad = 1;
    }
    *eq = '=';
  }
  return bad ? EXIT_INPUT : 0;
}

/* Command line > --inputs > defaults in the file; every missing value is
 * listed at once. */
int gather_values(Gradc *g, const Opts *o, int random_scalars) {
  int bad = given_values(g, o);
  if (!bad && gradc_set_defaults(g, o->seed, random_scalars) != GRADC_OK)
    bad = 1;
  return bad ? report(g) : 0;
}

/* --wrt a,b -> variable indices (default: every param); file "repl": the
 * REPL's `wrt a,b`, in its words */
int parse_wrt(Gradc *g, const char *file, const char *list, int **wrt, int *nwrt) {
  int repl = file && !strcmp(file, "repl");
  int n = gradc_var_count(g);
  *nwrt = 0;
  *wrt = malloc(((size_t)n + (list ? strlen(list) : 0) + 1) * sizeof **wrt);
  if (!*wrt)
    return -1;
  if (!list) {
    for (int i = 0; i < n; i++)
      if (gradc_var_is_param(g, i))
        (*wrt)[(*nwrt)++] = i;
    return 0;
  }
  char *copy = strdup(list);
  if (!copy)
    return -1;
  int rc = 0;
  for (char *save, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int k = gradc_var_index(g, tok);
    if (k < 0) {
      const char *hint = gradc_var_suggest(g, tok);
      if (repl)
        fprintf(stderr, "repl: error: wrt %s: the session has no variable '%s'", list, tok);
      else
        fprintf(stderr, "gradc: error: --wrt: %s has no variable '%s'", file, tok);
      fprintf(stderr, "%s%s%s\n", hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
      rc = -1;
      continue;
    }
    for (int j = 0; j < *nwrt; j++)
      if ((*wrt)[j] == k) {
        fprintf(stderr, repl ? "repl: error: wrt names '%s' twice\n" : "gradc: error: --wrt names '%s' twice\n", tok);
        rc = -1;
      }
    (*wrt)[(*nwrt)++] = k;
  }
  free(copy);
  if (rc == 0 && *nwrt == 0) {
    fprintf(stderr, repl ? "repl: error: wrt needs a variable\n" : "gradc: error: --wrt is empty\n");
    rc = -1;
  }
  return rc;
}

/* ---- printing ------------------------------------------------------------------ */

void print_num(double x) {
  if (isnan(x))
    fputs("NaN", stdout);
  else if (isinf(x))
    fputs(x > 0 ? "Infinity" : "-Infinity", stdout);
  else {
    char buf[32];
    fwrite(buf, 1, (size_t)num_format_g10(buf, x), stdout);
  }
}

void print_short(double x) {
  if (isfinite(x))
    printf("%.6g", x);
  else
    print_num(x);
}

long count(const long *dims, int rank) {
  long n = 1;
  for (int i = 0; i < rank; i++)
    n *= dims[i];
  return n;
}

/* Nested brackets; the rows of a matrix on lines of their own. */
static void print_tensor(const double *d, const long *dims, int rank, int depth, int col) {
  if (rank == 0) {
    print_num(d[0]);
    return;
  }
  if (rank == 1) { /* a row: formatted into a buffer, one write per 64 numbers */
    char buf[64 * 40];
    size_t n = 0;
    buf[n++] = '[';
    for (long i = 0; i < dims[0]; i++) {
      if (i) {
        buf[n++] = ',';
        buf[n++] = ' ';
      }
      if (isfinite(d[i]))
        n += (size_t)num_format_g10(buf + n, d[i]);
      else
        n += (size_t)sprintf(buf + n, "%s", isnan(d[i]) ? "NaN" : d[i] > 0 ? "Infinity" : "-Infinity");
      if (n > sizeof buf - 40) {
        fwrite(buf, 1, n, stdout);
        n = 0;
      }
    }
    buf[n++] = ']';
    fwrite(buf, 1, n, stdout);
    return;
  }
  long inner = count(dims + 1, rank - 1);
  putchar('[');
  for (long i = 0; i < dims[0]; i++) {
    if (i) {
      putchar(',');
      if (rank > 1)
        printf("\n%*s", col + depth + 1, "");
      else
        putchar(' ');
    }
    print_tensor(d + i * inner, dims + 1, rank - 1, depth + 1, col);
  }
  putchar(']');
}

void print_named(const char *name, const double *d, const long *dims, int rank) {
  printf("%s = ", name);
  print_tensor(d, dims, rank, 0, (int)strlen(name) + 3);
  putchar('\n');
}

json_t *jnum(double x) {
  if (isnan(x))
    return json_string("NaN");
  if (isinf(x))
    return json_string(x > 0 ? "Infinity" : "-Infinity");
  return json_real(x);
}

json_t *jtensor(const double *d, const long *dims, int rank) {
  if (rank == 0)
    return jnum(d[0]);
  json_t *a = json_array();
  long inner = count(dims + 1, rank - 1);
  for (long i = 0; i < dims[0]; i++)
    json_array_append_new(a, jtensor(d + i * inner, dims + 1, rank - 1));
  return a;
}

void json_print(json_t *root) {
  char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
  if (s) {
    puts(s);
    free(s);
  }
  json_decref(root);
}

/* The object root[key], created on first use. */
json_t *jobj(json_t *root, const char *key) {
  json_t *o = json_object_get(root, key);
  if (!o) {
    o = json_object();
    json_object_set_new(root, key, o);
  }
  return o;
}

/* ---- running ------------------------------------------------------------------- */


/* Result i of f, its dims and rank. */
static const double *res(GradcFn *f, int i, long *dims, int *rank) {
  *rank = gradc_fn_res_shape(f, i, dims);
  return gradc_fn_res_data(f, i);
}

static void put_result(json_t *obj, const char *key, GradcFn *f, int i) {
  long dims[4];
  int rank;
  const double *d = res(f, i, dims, &rank);
  json_object_set_new(obj, key, jtensor(d, dims, rank));
}

static void print_result(const char *name, GradcFn *f, int i) {
  long dims[4];
  int rank;
  const double *d = res(f, i, dims, &rank);
  print_named(name, d, dims, rank);
}

const char *output_label(Gradc *g, const Opts *o, int out, int derivative) {
  if (o->expr)
    return derivative && o->expr_d ? o->expr_d : o->expr;
  return gradc_output_name(g, out);
}

int is_scalar_output(Gradc *g, int o) {
  long dims[4];
  return gradc_output_shape(g, o, dims) == 0;
}

static int output_arg(Run *r, const char *cmd);

int cmd_eval(Run *r) {
  Gradc *g = r->g;
  int only = output_arg(r, "eval "); /* --output NAME: that output only */
  if (only < 0)
    return EXIT_USAGE;
  GradcFn *f = r->o->output ? gradc_fn_value_of(g, only) : gradc_fn_value(g);
  if (!f || gradc_run(f, NULL) != GRADC_OK)
    return report(g);
  int no = gradc_output_count(g);
  json_t *root = r->o->json ? json_object() : NULL, *outs = root ? jobj(root, "outputs") : NULL;
  for (int i = 0; i < no; i++) {
    if (r->o->output && i != only)
      continue;
    int k = r->o->output ? 0 : i; /* --output: the one result */
    if (root)
      put_result(outs, gradc_output_name(g, i), f, k);
    else
      print_result(output_label(g, r->o, i, 0), f, k);
  }
  if (root)
    json_print(root);
  return 0;
}

/* Values and gradients: the outputs, then per scalar output the derivative
 * with respect to each wrt variable (gradc_fn_grad's order). */
int cmd_grad(Run *r, const int *wrt, int nwrt) {
  Gradc *g = r->g;
  GradcFn *f = gradc_fn_grad(g, wrt, nwrt);
  if (!f || gradc_run(f, NULL) != GRADC_OK)
    return report(g);
  int no = gradc_output_count(g), k = no;
  json_t *root = r->o->json ? json_object() : NULL;
  json_t *outs = root ? jobj(root, "outputs") : NULL, *grads = root ? jobj(root, "gradients") : NULL;
  for (int i = 0; i < no; i++) {
    if (root)
      put_result(outs, gradc_output_name(g, i), f, i);
    else
      print_result(output_label(g, r->o, i, 0), f, i);
  }
  int ntensor = 0;
  for (int i = 0; i < no; i++) {
    if (!is_scalar_output(g, i)) {
      ntensor++;
      continue;
    }
    json_t *go = root ? jobj(grads, gradc_output_name(g, i)) : NULL;
    for (int w = 0; w < nwrt; w++, k++) {
      char name[600];
      snprintf(name, sizeof name, "d%s/d%s", output_label(g, r->o, i, 1), gradc_var_name(g, wrt[w]));
      if (root)
        put_result(go, gradc_var_name(g, wrt[w]), f, k);
      else
        print_result(name, f, k);
    }
  }
  if (ntensor && !root) { /* said, not skipped without a word */
    printf("(");
    for (int i = 0, k = 0; i < no; i++)
      if (!is_scalar_output(g, i))
        printf("%s%s", k++ ? ", " : "", output_label(g, r->o, i, 0));
    printf(" %s: no gradient; %sjacobian gives %s derivatives)\n", ntensor > 1 ? "are tensors" : "is a tensor",
           r->o->cmd && !strcmp(r->o->cmd, "repl") ? ":" : "", ntensor > 1 ? "their" : "its");
  }
  if (root)
    json_print(root);
  return 0;
}

/* Arrays of zeros, one per wrt variable, in its shape. */
double **zero_tangents(Gradc *g, const int *wrt, int nwrt, long *sizes) {
  double **t = calloc((size_t)nwrt + 1, sizeof *t);
  for (int k = 0; t && k < nwrt; k++) {
    long dims[4];
    int rank;
    gradc_get_value(g, wrt[k], dims, &rank);
    sizes[k] = count(dims, rank);
    t[k] = calloc((size_t)sizes[k] + 1, sizeof **t);
    if (!t[k])
      return NULL;
  }
  return t;
}

void free_tangents(double **t, int n) {
  for (int k = 0; t && k < n; k++)
    free(t[k]);
  free(t);
}

int cmd_jvp(Run *r, int *wrt, int nwrt) {
  Gradc *g = r->g;
  const Opts *o = r->o;
  if (o->ntangent == 0) {
    usage_error("jvp ", "jvp needs --tangent NAME=VALUE...");
    return EXIT_USAGE;
  }
  /* the direction may name variables beyond --wrt: they join it */
  int rc = 0;
  for (int t = 0; t < o->ntangent; t++) {
    char *eq = strchr(o->tangent[t], '=');
    *eq = 0;
    int k = gradc_var_index(g, o->tangent[t]);
    if (k < 0) {
      const char *hint = gradc_var_suggest(g, o->tangent[t]);
      fprintf(stderr, "gradc: error: --tangent: %s has no variable '%s'%s%s%s\n", o->file,
              o->tangent[t], hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
      rc = EXIT_USAGE;
    } else {
      for (int u = 0; u < t; u++)
        if (!strncmp(o->tangent[u], o->tangent[t], (size_t)(eq - o->tangent[t])) &&
            o->tangent[u][eq - o->tangent[t]] == '=') {
          int repl = o->cmd && !strcmp(o->cmd, "repl");
          fprintf(stderr, "%s names '%s' twice\n", repl ? "repl: error: :jvp" : "gradc: error: --tangent",
                  o->tangent[t]);
          rc = repl ? EXIT_INPUT : EXIT_USAGE;
        }
      int found = 0;
      for (int j = 0; j < nwrt; j++)
        found |= wrt[j] == k;
      if (!found)
        wrt[nwrt++] = k;
    }
    *eq = '=';
  }
  if (rc)
    return rc;
  long *sizes = calloc((size_t)nwrt + 1, sizeof *sizes);
  double **tan = sizes ? zero_tangents(g, wrt, nwrt, sizes) : NULL;
  if (!tan) {
    free(sizes);
    return EXIT_INPUT;
  }
  rc = read_direction(r, o->cmd && !strcmp(o->cmd, "repl") ? ":jvp" : "--tangent", "tangent", o->tangent, o->ntangent, wrt, nwrt, tan, sizes);
  GradcFn *f = rc ? NULL : gradc_fn_jvp(g, wrt, nwrt);
  if (!rc && (!f || gradc_run(f, (const double *const *)tan) != GRADC_OK))
    rc = report(g);
  if (!rc) {
    int no = gradc_output_count(g);
    if (o->json) {
      json_t *root = json_object(), *outs = jobj(root, "outputs"), *tans = jobj(root, "tangents");
      for (int i = 0; i < no; i++) {
        put_result(outs, gradc_output_name(g, i), f, i);
        put_result(tans, gradc_output_name(g, i), f, no + i);
      }
      json_print(root);
    } else {
      for (int i = 0; i < no; i++)
        print_result(output_label(g, o, i, 0), f, i);
      for (int i = 0; i < no; i++) {
        char name[600];
        snprintf(name, sizeof name, "d%s", output_label(g, o, i, 1));
        print_result(name, f, no + i);
      }
    }
  }
  free_tangents(tan, nwrt);
  free(sizes);
  return rc;
}

/* ---- Jacobians ------------------------------------------------------------------------ */

/* J[o][k]: the block of output o and wrt variable k, row-major with the
 * output's shape followed by the variable's. */
typedef struct Jac {
  int no, nwrt;
  long *osize, *wsize;
  double **block;        /* [o * nwrt + k] */
  double **value;        /* [o] */
  int colours, reverse;  /* from the sparsity pattern: its colours (0: not) */
} Jac;

static void jac_free(Jac *J) {
  for (int i = 0; J->block && i < J->no * J->nwrt; i++)
    free(J->block[i]);
  for (int i = 0; J->value && i < J->no; i++)
    free(J->value[i]);
  free(J->block);
  free(J->value);
  free(J->osize);
  free(J->wsize);
}

static int jacobian(Run *r, const int *wrt, int nwrt, int forward, Jac *J) {
  Gradc *g = r->g;
  int no = gradc_output_count(g);
  memset(J, 0, sizeof *J);
  J->no = no;
  J->nwrt = nwrt;
  J->osize = calloc((size_t)no + 1, sizeof *J->osize);
  J->wsize = calloc((size_t)nwrt + 1, sizeof *J->wsize);
  J->block = calloc((size_t)no * (size_t)nwrt + 1, sizeof *J->block);
  J->value = calloc((size_t)no + 1, sizeof *J->value);
  double **tan = J->wsize ? zero_tangents(g, wrt, nwrt, J->wsize) : NULL;
  int rc = (!J->osize || !J->block || !J->value || !tan) ? -1 : 0;
  GradcFn *fv = rc ? NULL : gradc_fn_value(g);
  if (!fv || gradc_run(fv, NULL) != GRADC_OK)
    rc = -1;
  for (int o = 0; !rc && o < no; o++) {
    long dims[4];
    int rank;
    const double *d = res(fv, o, dims, &rank);
    J->osize[o] = count(dims, rank);
    J->value[o] = malloc((size_t)J->osize[o] * sizeof(double));
    if (!J->value[o])
      rc = -1;
    else
      memcpy(J->value[o], d, (size_t)J->osize[o] * sizeof(double));
    for (int k = 0; !rc && k < nwrt; k++)
      if (!(J->block[o * nwrt + k] = calloc((size_t)(J->osize[o] * J->wsize[k]) + 1, sizeof(double))))
        rc = -1;
  }
  if (!rc && (!r->o->mode || !strcmp(r->o->mode, "auto"))) { /* few colours: by the pattern */
    int used = jacobian_by_colours(r, wrt, nwrt, J->block, J->osize, J->wsize, &J->colours, &J->reverse);
    if (used < 0)
      rc = -1;
    if (used > 0) {
      free_tangents(tan, nwrt);
      return rc;
    }
  }
  int vec = rc ? 0 : jacobian_vector(g, wrt, nwrt, forward, J->osize, J->wsize, J->block, fv);
  if (vec <= 0) { /* done, or failed */
    rc = rc ? rc : vec;
  } else if (!rc && forward) { /* one JVP per element of every wrt variable */
    GradcFn *f = gradc_fn_jvp(g, wrt, nwrt);
    for (int k = 0; f && !rc && k < nwrt; k++)
      for (long e = 0; !rc && e < J->wsize[k]; e++) {
        tan[k][e] = 1;
        rc = gradc_run(f, (const double *const *)tan) == GRADC_OK ? 0 : -1;
        tan[k][e] = 0;
        for (int o = 0; !rc && o < no; o++) {
          const double *t = gradc_fn_res_data(f, no + o);
          for (long i = 0; i < J->osize[o]; i++)
            J->block[o * nwrt + k][i * J->wsize[k] + e] = t[i];
        }
      }
    if (!f)
      rc = -1;
  } else if (!rc) { /* one VJP per element of every output */
    for (int o = 0; !rc && o < no; o++) {
      GradcFn *f = gradc_fn_vjp(g, o, wrt, nwrt);
      double *ct = calloc((size_t)J->osize[o] + 1, sizeof *ct);
      if (!f || !ct)
        rc = -1;
      for (long i = 0; !rc && i < J->osize[o]; i++) {
        ct[i] = 1;
        const double *args[1] = {ct};
        rc = gradc_run(f, args) == GRADC_OK ? 0 : -1;
        ct[i] = 0;
        for (int k = 0; !rc && k < nwrt; k++) {
          const double *a = gradc_fn_res_data(f, 1 + k);
          memcpy(J->block[o * nwrt + k] + i * J->wsize[k], a, (size_t)J->wsize[k] * sizeof *a);
        }
      }
      free(ct);
    }
  }
  free_tangents(tan, nwrt);
  return rc;
}

int cmd_jacobian(Run *r, const int *wrt, int nwrt) {
  Gradc *g = r->g;
  const char *mode = r->o->mode ? r->o->mode : "auto";
  int only = output_arg(r, "jacobian "); /* --output NAME: that output's blocks only */
  if (only < 0)
    return EXIT_USAGE;
  int no = gradc_output_count(g), forward;
  long nin = 0, nout = 0, dims[4];
  int rank;
  for (int k = 0; k < nwrt; k++) {
    gradc_get_value(g, wrt[k], dims, &rank);
    nin += count(dims, rank);
  }
  GradcFn *fv = gradc_fn_value(g);
  if (!fv || gradc_run(fv, NULL) != GRADC_OK)
    return report(g);
  for (int o = 0; o < no; o++) {
    res(fv, o, dims, &rank);
    nout += count(dims, rank);
  }
  double bytes = (double)nin * (double)nout * (double)sizeof(double);
  if (bytes > 1024.0 * 1024 * 1024) { /* as hessian_size_ok (cmd_hvp.c) */
    fprintf(stderr, "%s: error: jacobian: a dense Jacobian of %ld x %ld needs %.3g GB (more than 1 GiB); "
                    "--sparse gives its nonzeros, and jvp/grad products with it\n",
            r->o->cmd && !strcmp(r->o->cmd, "repl") ? "repl" : "gradc", nout, nin, bytes / 1e9);
    return EXIT_INPUT;
  }
  if (!strcmp(mode, "forward"))
    forward = 1;
  else if (!strcmp(mode, "reverse"))
    forward = 0;
  else if (!strcmp(mode, "auto"))
    forward = nin < nout; /* the course: forward when inputs are fewer */
  else {
    usage_error("jacobian ", "--mode must be forward, reverse or auto, not '%s'", mode);
    return EXIT_USAGE;
  }
  if (!r->o->backend_given && (forward ? nin : nout) >= JACOBIAN_TIERED_COLUMNS)
    gradc_set_backend(g, GRADC_BACKEND_TIERED); /* many calls: cc -O2 in the background */
  Jac J;
  if (jacobian(r, wrt, nwrt, forward, &J) < 0) {
    jac_free(&J);
    return report(g);
  }
  json_t *root = r->o->json ? json_object() : NULL;
  json_t *outs = root ? jobj(root, "outputs") : NULL, *jac = root ? jobj(root, "jacobians") : NULL;
  if (!root && J.colours) /* from the sparsity pattern (cli_sparse.c) */
    printf("# %s mode: %d %s, one per colour of the sparsity pattern\n", J.reverse ? "reverse" : "forward",
           J.colours, J.reverse ? "VJPs" : "JVPs");
  else if (!root)
    printf("# %s mode\n", forward ? "forward" : "reverse");
  for (int o = 0; o < no; o++) {
    if (r->o->output && o != only)
      continue;
    int orank = gradc_output_shape(g, o, dims);
    res(fv, o, dims, &orank);
    if (root)
      json_object_set_new(outs, gradc_output_name(g, o), jtensor(J.value[o], dims, orank));
    else
      print_named(output_label(g, r->o, o, 0), J.value[o], dims, orank);
  }
  for (int o = 0; o < no; o++) {
    if (r->o->output && o != only)
      continue;
    json_t *jo = root ? jobj(jac, gradc_output_name(g, o)) : NULL;
    for (int k = 0; k < nwrt; k++) {
      long bd[8];
      int orank = gradc_fn_res_shape(fv, o, bd), wrank;
      wrank = gradc_output_shape(g, 0, dims); /* unused; keeps dims valid */
      gradc_get_value(g, wrt[k], bd + orank, &wrank);
      const double *blk = J.block[o * nwrt + k];
      if (root) {
        json_object_set_new(jo, gradc_var_name(g, wrt[k]), jtensor(blk, bd, orank + wrank));
      } else {
        char name[600];
        snprintf(name, sizeof name, "d%s/d%s", output_label(g, r->o, o, 1), gradc_var_name(g, wrt[k]));
        print_named(name, blk, bd, orank + wrank);
      }
    }
  }
  if (root)
    json_print(root);
  jac_free(&J);
  return 0;
}

static int output_arg(Run *r, const char *cmd) {
  if (!r->o->output)
    return 0;
  int k = gradc_output_index(r->g, r->o->output);
  if (k < 0)
    usage_error(cmd, "--output: %s has no output '%s'", r->o->file, r->o->output);
  return k;
}

static void shape_text(Gradc *g, const long *dims, int rank, char *out, size_t n);

/* --output NAME, which must be scalar, by default the first scalar output
 * (SPEC 2); -1 after an error, with *rc its exit code. */
int scalar_output_arg(Run *r, const char *cmd, int *rc) {
  Gradc *g = r->g;
  int no = gradc_output_count(g), repl = r->o->cmd && !strcmp(r->o->cmd, "repl");
  if (!r->o->output) {
    for (int o = 0; o < no; o++)
      if (is_scalar_output(g, o))
        return o;
    if (repl)
      fprintf(stderr, "repl: error: :%s needs a scalar expression\n", cmd);
    else
      fprintf(stderr, "gradc: error: %s: %s has no scalar output\n", cmd, r->o->file);
    *rc = repl ? 1 : EXIT_INPUT;
    return -1;
  }
  char sp[32];
  snprintf(sp, sizeof sp, "%s ", cmd);
  int out = output_arg(r, sp);
  *rc = EXIT_USAGE;
  if (out < 0)
    return -1;
  long dims[4];
  int rank = gradc_output_shape(g, out, dims);
  if (rank > 0) {
    char shape[128];
    shape_text(g, dims, rank, shape, sizeof shape);
    usage_error(sp, "--output: '%s' has shape %s: %s needs a scalar output", r->o->output, shape, cmd);
    return -1;
  }
  return out;
}

int cmd_hessian(Run *r, const int *wrt, int nwrt) {
  Gradc *g = r->g;
  int rc;
  int out = scalar_output_arg(r, "hessian", &rc);
  if (out < 0)
    return rc;
  /* H over the wrt variables flattened in order (SPEC 2.2), one HVP per
   * column (hvp.c) */
  long *size = calloc((size_t)nwrt + 1, sizeof *size), total = 0;
  if (!size)
    return EXIT_INPUT;
  for (int k = 0; k < nwrt; k++) {
    long dims[4];
    int rank;
    gradc_get_value(g, wrt[k], dims, &rank);
    size[k] = count(dims, rank);
    total += size[k];
  }
  if ((rc = hessian_size_ok(r, total)) != 0) {
    free(size);
    return rc;
  }
  double h0[1], *H = malloc(((size_t)total * (size_t)total + 1) * sizeof *H);
  if (!H)
    gradc_error(g, GRADC_ERR_NOMEM, "out of memory for a %ld x %ld Hessian", total, total);
  if (!H || gradc_hessian_dense(g, out, wrt, nwrt, total, h0, H) != GRADC_OK) {
    free(H);
    free(size);
    return report(g);
  }
  const char *name = gradc_output_name(g, out);
  long hd[2] = {total, total};
  if (r->o->json) {
    json_t *root = json_object(), *outs = jobj(root, "outputs"), *hs = jobj(root, "hessians");
    json_object_set_new(outs, name, jnum(h0[0]));
    json_object_set_new(hs, name, jtensor(H, hd, 2));
    json_print(root);
  } else {
    printf("%s = ", output_label(g, r->o, out, 0));
    print_num(h0[0]);
    printf("\nhessian of %s w.r.t. (", output_label(g, r->o, out, 0));
    for (int k = 0; k < nwrt; k++)
      printf("%s%s%s", k ? ", " : "", gradc_var_name(g, wrt[k]), size[k] > 1 ? "[...]" : "");
    printf(") =\n");
    print_tensor(H, hd, 2, 0, 0);
    putchar('\n');
  }
  free(H);
  free(size);
  return 0;
}

/* ---- trace ------------------------------------------------------------------------ */

static int in_repl(const Run *r) { return r->o->cmd && !strcmp(r->o->cmd, "repl"); }

/* "(3, 2)"; symbolic dimensions by name */
static void shape_text(Gradc *g, const long *dims, int rank, char *out, size_t n) {
  size_t k = 0;
  k += (size_t)snprintf(out, n, "(");
  for (int i = 0; i < rank && k < n; i++) {
    if (dims[i] == LONG_MIN) /* derived from dimensions not bound yet */
      k += (size_t)snprintf(out + k, n - k, "%s?", i ? ", " : "");
    else if (dims[i] < 0)
      k += (size_t)snprintf(out + k, n - k, "%s%s", i ? ", " : "", gradc_dim_name(g, (int)~dims[i]));
    else
      k += (size_t)snprintf(out + k, n - k, "%s%ld", i ? ", " : "", dims[i]);
  }
  if (k < n)
    snprintf(out + k, n - k, ")");
}

/* A usage error of trace (exit 2), or of the REPL's :trace. */
static void trace_error(const Run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace_error(const Run *r, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (in_repl(r))
    fprintf(stderr, "repl: error: :trace: %s\n", msg);
  else
    usage_error("trace ", "--wrt: %s", msg);
}

/* --wrt NAME or NAME[i, j...] for trace: the variable, the flat element of
 * the tangent direction (NAME of a tensor: its first element) and its
 * label. Returns 0, or an exit code. */
static int trace_wrt(Run *r, const char *spec, int *var, long *elem, char *label, size_t n) {
  Gradc *g = r->g;
  size_t len = strcspn(spec, "[");
  char name[256];
  snprintf(name, sizeof name, "%.*s", (int)(len < 255 ? len : 255), spec);
  *var = gradc_var_index(g, name);
  if (*var < 0) {
    const char *hint = gradc_var_suggest(g, name);
    fprintf(stderr, "%s: %s has no variable '%s'%s%s%s\n",
            in_repl(r) ? "repl: error: :trace" : "gradc: error: --wrt",
            r->o->file ? r->o->file : "the program", name, hint ? " (did you mean '" : "",
            hint ? hint : "", hint ? "'?)" : "");
    return in_repl(r) ? 1 : EXIT_USAGE;
  }
  int bad = in_repl(r) ? 1 : EXIT_USAGE;
  long dims[4], idx[4] = {0};
  int rank;
  gradc_get_value(g, *var, dims, &rank);
  if (spec[len] == '[') {
    if (rank == 0) {
      trace_error(r, "'%s' is a scalar: name it without an index", name);
      return bad;
    }
    const char *p = spec + len + 1;
    int k = 0;
    for (;; k++) {
      char *end;
      errno = 0;
      long v = strtol(p, &end, 10);
      while (*end == ' ')
        end++;
      if (end == p || errno || (*end != ',' && *end != ']')) {
        trace_error(r, "'%s': an element is NAME[i] or NAME[i, j...], with integer indices", spec);
        return bad;
      }
      if (k < rank && v < 0 && v >= -dims[k]) /* x[-1]: from the end, as in the language */
        v += dims[k];
      if (k < rank && (v < 0 || v >= dims[k])) {
        trace_error(r, "'%s': index %ld is out of range for dimension %d of '%s' (size %ld)", spec,
                    v, k, name, dims[k]);
        return bad;
      }
      if (k < rank)
        idx[k] = v;
      p = end + 1;
      if (*end == ']')
        break;
    }
    if (*p) {
      trace_error(r, "'%s': an element is NAME[i] or NAME[i, j...], with integer indices", spec);
      return bad;
    }
    if (k + 1 != rank) {
      trace_error(r, "'%s': '%s' has %d dimension%s: name one element with %d ind%s", spec, name,
                  rank, rank == 1 ? "" : "s", rank, rank == 1 ? "ex" : "ices");
      return bad;
    }
  }
  *elem = 0;
  for (int k = 0; k < rank; k++)
    *elem = *elem * dims[k] + idx[k];
  size_t w = (size_t)snprintf(label, n, "%s", name);
  for (int k = 0; k < rank && w < n; k++)
    w += (size_t)snprintf(label + w, n - w, "%s%ld%s", k ? ", " : "[", idx[k], k + 1 == rank ? "]" : "");
  return 0;
}

/* One cell of the human table: a number, a small tensor in nested
 * brackets on one line, or the first elements of a big one. */
#define TRACE_SMALL 8
#define TRACE_HEAD 3
static void cell_num(char **p, char *end, double x) {
  int k = isnan(x)   ? snprintf(*p, (size_t)(end - *p), "NaN")
          : isinf(x) ? snprintf(*p, (size_t)(end - *p), "%s", x > 0 ? "Infinity" : "-Infinity")
                     : snprintf(*p, (size_t)(end - *p), "%.10g", x);
  *p += k > 0 && *p + k < end ? k : 0;
}
static void cell_nested(char **p, char *end, const double *d, const long *dims, int rank) {
  if (rank == 0) {
    cell_num(p, end, d[0]);
    return;
  }
  long inner = count(dims + 1, rank - 1);
  if (*p + 1 < end)
    *(*p)++ = '[';
  for (long i = 0; i < dims[0]; i++) {
    if (i && *p + 2 < end) {
      *(*p)++ = ',';
      *(*p)++ = ' ';
    }
    cell_nested(p, end, d + i * inner, dims + 1, rank - 1);
  }
  if (*p + 1 < end)
    *(*p)++ = ']';
}
static void cell(char *out, size_t n, const double *d, const GradcTraceRow *row) {
  char *p = out, *end = out + n;
  if (row->size <= TRACE_SMALL) {
    cell_nested(&p, end, d, row->dims, row->rank);
  } else { /* numpy's summary, flat: the first and last few, row-major */
    *p++ = '[';
    for (long i = 0; i < TRACE_HEAD; i++) {
      cell_num(&p, end, d[i]);
      p += snprintf(p, (size_t)(end - p), ", ");
    }
    p += snprintf(p, (size_t)(end - p), "...");
    for (long i = row->size - TRACE_HEAD; i < row->size; i++) {
      p += snprintf(p, (size_t)(end - p), ", ");
      cell_num(&p, end, d[i]);
    }
    p += snprintf(p, (size_t)(end - p), "]");
  }
  *p = 0;
}

int cmd_trace(Run *r, const int *wrt, int nwrt) {
  Gradc *g = r->g;
  int out = 0;
  if (r->o->output) {
    out = output_arg(r, "trace ");
    if (out < 0)
      return EXIT_USAGE;
  } else { /* the first scalar output, else the first */
    int no = gradc_output_count(g);
    while (out < no && !is_scalar_output(g, out))
      out++;
    if (out == no)
      out = 0;
  }
  int var;
  long elem = 0;
  char wname[300];
  if (r->o->wrt) {
    if (strchr(r->o->wrt, ',') && !strchr(r->o->wrt, '[')) {
      if (in_repl(r))
        fprintf(stderr, "repl: error: :trace takes one variable after wrt\n");
      else
        usage_error("trace ", "--wrt names one variable for trace");
      return in_repl(r) ? 1 : EXIT_USAGE;
    }
    int rc = trace_wrt(r, r->o->wrt, &var, &elem, wname, sizeof wname);
    if (rc)
      return rc;
  } else if (nwrt == 0) {
    usage_error("trace ", "%s has no param: name a variable with --wrt", r->o->file);
    return EXIT_USAGE;
  } else {
    int rc = trace_wrt(r, gradc_var_name(g, wrt[0]), &var, &elem, wname, sizeof wname);
    if (rc)
      return rc;
  }
  GradcTrace *t;
  if (gradc_trace(g, out, var, elem, &t) != GRADC_OK)
    return report(g);
  const char *oname = gradc_output_name(g, out);
  char aname[300];
  snprintf(aname, sizeof aname, t->out_is_tensor ? "sum(%s)" : "%s", oname);
  int no = gradc_output_count(g);
  int tensors = 0;
  for (int i = 0; i < t->nrows; i++)
    tensors |= t->rows[i].rank > 0;
  if (r->o->json) {
    json_t *root = json_object(), *tr = jobj(root, "trace"), *rows = json_array();
    json_object_set_new(tr, "wrt", json_string(wname));
    json_object_set_new(tr, "output", json_string(oname));
    json_object_set_new(tr, "adjoint_of", json_string(aname));
    for (int i = 0; i < t->nrows; i++) {
      const GradcTraceRow *w = &t->rows[i];
      json_t *row = json_object(), *shape = json_array();
      json_object_set_new(row, "name", json_string(w->name));
      json_object_set_new(row, "definition", json_string(w->def));
      for (int k = 0; k < w->rank; k++)
        json_array_append_new(shape, json_integer(w->dims[k]));
      json_object_set_new(row, "shape", shape);
      json_object_set_new(row, "value", jtensor(w->value, w->dims, w->rank));
      json_object_set_new(row, "tangent", jtensor(w->tangent, w->dims, w->rank));
      json_object_set_new(row, "adjoint", jtensor(w->adjoint, w->dims, w->rank));
      json_array_append_new(rows, row);
    }
    json_object_set_new(tr, "rows", rows);
    json_t *outs = jobj(tr, "outputs");
    for (int o = 0; o < no; o++)
      json_object_set_new(outs, gradc_output_name(g, o), json_string(t->out_row[o]));
    json_print(root);
    gradc_trace_free(g, t);
    return 0;
  }
  /* the cells first, then the column widths */
  enum { CELL = 512 };
  char(*cells)[5][CELL] = malloc(((size_t)t->nrows + 1) * sizeof *cells);
  if (!cells) {
    gradc_trace_free(g, t);
    return EXIT_INPUT;
  }
  char h1[320], h2[320];
  snprintf(h1, sizeof h1, "tangent wrt %s", wname);
  snprintf(h2, sizeof h2, "adjoint of %s", aname);
  const char *head[5] = {"node", "shape", "value", h1, h2};
  int w[5] = {10, 5, 16, 16, 16};
  for (int c = 0; c < 5; c++)
    if (c && (int)strlen(head[c]) > w[c])
      w[c] = (int)strlen(head[c]);
  for (int i = 0; i < t->nrows; i++) {
    const GradcTraceRow *row = &t->rows[i];
    snprintf(cells[i][0], CELL, "%s = %s", row->name, row->def);
    if (row->rank)
      shape_text(g, row->dims, row->rank, cells[i][1], CELL);
    else
      cells[i][1][0] = 0;
    cell(cells[i][2], CELL, row->value, row);
    cell(cells[i][3], CELL, row->tangent, row);
    cell(cells[i][4], CELL, row->adjoint, row);
    for (int c = 0; c < 5; c++)
      if ((int)strlen(cells[i][c]) > w[c])
        w[c] = (int)strlen(cells[i][c]);
  }
  /* the shape column only when a row is a tensor: scalar traces read as
   * the course's tables */
  printf("%-*s", w[0], head[0]);
  if (tensors)
    printf("  %-*s", w[1], head[1]);
  printf("  %*s  %*s  %*s\n", w[2], head[2], w[3], head[3], w[4], head[4]);
  for (int i = 0; i < t->nrows; i++) {
    printf("%-*s", w[0], cells[i][0]);
    if (tensors)
      printf("  %-*s", w[1], cells[i][1]);
    printf("  %*s  %*s  %*s\n", w[2], cells[i][2], w[3], cells[i][3], w[4], cells[i][4]);
  }
  for (int o = 0; o < no; o++)
    printf("%s = %s\n", gradc_output_name(g, o), t->out_row[o]);
  free(cells);
  gradc_trace_free(g, t);
  return 0;
}

/* ---- train ------------------------------------------------------------------------ */

static volatile sig_atomic_t interrupted;
static void on_sigint(int sig) {
  (void)sig;
  interrupted = 1;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* CPU time of this process, as api.c's stage times */
static double cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The params as a JSON object that --inputs reads back. */
static int save_params(Gradc *g, const char *path) {
  json_t *root = json_object();
  for (int i = 0; i < gradc_var_count(g); i++) {
    if (!gradc_var_is_param(g, i))
      continue;
    long dims[4];
    int rank;
    const double *v = gradc_get_value(g, i, dims, &rank);
    json_object_set_new(root, gradc_var_name(g, i), jtensor(v, dims, rank));
  }
  char *s = json_dumps(root, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
  json_decref(root);
  if (!s)
    return -1;
  size_t n = strlen(s);
  char *t = malloc(n + 2);
  int rc = -1;
  if (t) {
    memcpy(t, s, n);
    t[n] = '\n';
    t[n + 1] = 0;
    rc = write_atomic(path, t);
  }
  free(t);
  free(s);
  return rc;
}

static int params_finite(Gradc *g) {
  for (int i = 0; i < gradc_var_count(g); i++) {
    if (!gradc_var_is_param(g, i))
      continue;
    long dims[4];
    int rank;
    const double *v = gradc_get_value(g, i, dims, &rank);
    for (long k = 0, n = v ? count(dims, rank) : 0; k < n; k++)
      if (!isfinite(v[k]))
        return 0;
  }
  return 1;
}

/* Loss and metrics (every scalar output) on the whole data. */
static int metrics(Gradc *g, GradcFn *fv, GradcTrainer *t, double *out) {
  if (gradc_trainer_full_data(t) != GRADC_OK || gradc_run(fv, NULL) != GRADC_OK)
    return -1;
  for (int o = 0; o < gradc_output_count(g); o++)
    out[o] = is_scalar_output(g, o) ? gradc_fn_res_data(fv, o)[0] : NAN;
  return 0;
}

static void print_metrics(Gradc *g, int loss, const double *m) {
  printf("%s = ", gradc_output_name(g, loss));
  print_short(m[loss]);
  for (int o = 0; o < gradc_output_count(g); o++)
    if (o != loss && is_scalar_output(g, o)) {
      printf("  %s = ", gradc_output_name(g, o));
      print_short(m[o]);
    }
}

int cmd_train(Run *r) {
  Gradc *g = r->g;
  const Opts *o = r->o;
  int loss = -1, no = gradc_output_count(g);
  if (o->loss) {
    loss = gradc_output_index(g, o->loss);
    if (loss < 0) {
      usage_error("train ", "--loss: %s has no output '%s'", o->file, o->loss);
      return EXIT_USAGE;
    }
    long dims[4];
    int rank = gradc_output_shape(g, loss, dims);
    if (rank > 0) { /* as --output of hessian, hvp, spectrum */
      char shape[128];
      shape_text(g, dims, rank, shape, sizeof shape);
      usage_error("train ", "--loss: '%s' has shape %s: train needs a scalar output", o->loss, shape);
      return EXIT_USAGE;
    }
  } else {
    for (int i = 0; i < no && loss < 0; i++)
      if (is_scalar_output(g, i))
        loss = i;
    if (loss < 0) {
      fprintf(stderr, "gradc: error: %s has no scalar output to minimise\n", o->file);
      return EXIT_INPUT;
    }
  }
  GradcOptimizer opt = GRADC_ADAM;
  const char *oname = o->optimizer ? o->optimizer : "adam";
  if (!strcmp(oname, "gd"))
    opt = GRADC_GD;
  else if (!strcmp(oname, "momentum"))
    opt = GRADC_MOMENTUM;
  else if (strcmp(oname, "adam")) {
    usage_error("train ", "--optimizer must be gd, momentum or adam, not '%s'", oname);
    return EXIT_USAGE;
  }
  double lr = o->lr > 0 ? o->lr : opt == GRADC_ADAM ? 0.01 : 0.1;
  long steps = o->steps > 0 ? o->steps : 2000;
  long rows = -1; /* the data rows that --batch samples: the first symbolic dimension of an input (train.c) */
  for (int i = 0; i < gradc_var_count(g) && o->batch > 0 && rows < 0; i++) {
    long sd[4];
    if (!gradc_var_is_param(g, i) && gradc_var_shape(g, i, sd) > 0 && sd[0] < 0)
      rows = gradc_dim_value(g, (int)~sd[0]);
  }
  if (o->batch > 0 && rows < 0) {
    usage_error("train ", "--batch %ld: %s has no data rows to batch (no input has a symbolic "
                "first dimension, as input X[N, 2] has); leave --batch out", o->batch, o->file);
    return EXIT_USAGE;
  }
  int whole = o->batch <= 0 || o->batch >= rows; /* a batch of every row is the whole data */
  GradcTrainer *t = gradc_trainer_new(g, loss, opt, lr, o->batch, o->seed);
  if (t) /* under mpirun the rows of every process, not this one's */
    whole = gradc_trainer_batch(t, &rows) == 0;
  GradcFn *fv = t ? gradc_fn_value(g) : NULL;
  double *m = calloc((size_t)no + 1, sizeof *m);
  if (!t || !fv || !m) {
    gradc_trainer_free(t);
    free(m);
    return report(g);
  }
  int tty = isatty(STDOUT_FILENO) && !o->json, json = o->json;
  long every = steps / 20 > 0 ? steps / 20 : 1;
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sigaction(SIGINT, &sa, &old);
  if (!json) {
    printf("training %s: %s, lr %g, %ld steps%s", gradc_output_name(g, loss), oname, lr, steps,
           !whole ? ", mini-batches of " : " on the whole data");
    if (!whole)
      printf("%ld", o->batch);
    else if (o->batch > 0)
      printf(" (--batch %ld is not less than its %ld rows)", o->batch, rows);
    printf("\n");
  }
  int rc = 0, width = (int)snprintf(NULL, 0, "%ld", steps);
  const char *saved = NULL, *save_failed = NULL; /* --json: the --save path once written, or not */
  char why[1200] = "";
  if (metrics(g, fv, t, m) < 0) {
    rc = report(g);
    goto out;
  }
  if (!isfinite(m[loss])) {
    snprintf(why, sizeof why, "the loss %s is not finite at step 0 (%s)", gradc_output_name(g, loss),
             isnan(m[loss]) ? "NaN" : m[loss] > 0 ? "Infinity" : "-Infinity");
    goto out;
  }
  if (json) {
    train_json_step(g, 0, m);
  } else {
    printf("step %*d  ", width, 0);
    print_metrics(g, loss, m);
    printf("\n");
  }
  double t0 = now();
  long s;
  for (s = 1; s <= steps && !interrupted; s++) {
    double l;
    GradcStatus st = gradc_trainer_step(t, &l);
    if (st == GRADC_ERR_NONFINITE) { /* the trainer went back to the last finite params */
      int nd = gradc_diag_count(g);
      snprintf(why, sizeof why, "%s", nd ? gradc_diag_message(g, nd - 1) : "a value is not finite");
      gradc_diag_clear(g);
      break;
    }
    if (st != GRADC_OK) {
      rc = report(g);
      goto out;
    }
    if (tty && (s % (every / 10 + 1) == 0 || s == steps)) {
      int w = 30, fill = (int)(w * s / steps);
      printf("\r[%.*s%*s] step %ld/%ld  %s %.6g  %.0f steps/s ", fill,
             "==============================", w - fill, "", s, steps, gradc_output_name(g, loss), l,
             (double)s / (now() - t0 + 1e-9));
      fflush(stdout);
    }
    if (s % every == 0 || s == steps) {
      if (metrics(g, fv, t, m) < 0) {
        rc = report(g);
        goto out;
      }
      if (!isfinite(m[loss])) { /* the params of step s: go back to those of step s - 1 */
        snprintf(why, sizeof why, "the loss %s%s is not finite at step %ld (%s)", gradc_output_name(g, loss),
                 o->batch > 0 ? " on the whole data" : "", s,
                 isnan(m[loss]) ? "NaN" : m[loss] > 0 ? "Infinity" : "-Infinity");
        gradc_trainer_revert(t);
        break;
      }
      if (tty)
        printf("\r%*s\r", 80, "");
      if (json) {
        train_json_step(g, s, m);
        continue;
      }
      printf("step %*ld  ", width, s);
      print_metrics(g, loss, m);
      printf("  (%.0f steps/s)\n", (double)s / (now() - t0 + 1e-9));
      fflush(stdout);
    }
  }
  if (why[0])
    goto out;
  if (interrupted && !json) {
    if (tty)
      printf("\n");
    printf("interrupted after %ld steps\n", s - 1);
    if (metrics(g, fv, t, m) == 0) {
      print_metrics(g, loss, m);
      printf("\n");
    }
  }
out:
  if (why[0]) { /* stopped at a loss or gradient that is not finite (SPEC 2.3) */
    long kept = gradc_trainer_steps(t);
    char at[64] = "the initial params";
    if (kept > 0)
      snprintf(at, sizeof at, "the params of step %ld", kept);
    if (tty)
      printf("\r%*s\r", 80, "");
    fflush(stdout);
    fprintf(stderr, "gradc: error: %s; stopped, keeping %s\n", why, at);
    rc = EXIT_NONFINITE;
  }
  if (o->save && (rc == 0 || rc == EXIT_NONFINITE)) {
    if (gradc_trainer_full_data(t) != GRADC_OK) {
      rc = report(g);
    } else if (!params_finite(g)) {
      fprintf(stderr, "gradc: error: the params are not finite: %s is not written\n", o->save);
      rc = rc ? rc : EXIT_INPUT;
    } else if (save_params(g, o->save) < 0) {
      rc = rc ? rc : EXIT_INPUT;
      save_failed = o->save;
    } else if (!json) {
      printf("saved the params to %s\n", o->save);
    } else {
      saved = o->save;
    }
  }
  if (json && (rc == 0 || rc == EXIT_NONFINITE || save_failed)) { /* the summary, at the params kept */
    TrainSummary sum = {loss, oname, lr, o->batch, gradc_trainer_steps(t),
                        why[0] ? "nonfinite" : interrupted ? "interrupted" : "done", why[0] ? why : NULL,
                        metrics(g, fv, t, m) == 0 ? m : NULL, saved, save_failed};
    train_json_summary(g, &sum);
  }
  sigaction(SIGINT, &old, NULL);
  gradc_trainer_free(t);
  free(m);
  return rc;
}

/* ---- emit and dot ----------------------------------------------------------------- */

/* The file's stem as a C identifier: examples/seed-scalar.expr -> seed_scalar */
static char *default_prefix(const char *file) {
  const char *base = strrchr(file, '/');
  base = base ? base + 1 : file;
  size_t n = strcspn(base, ".");
  char *p = malloc(n + 3);
  if (!p)
    return NULL;
  size_t k = 0;
  if (n == 0 || (base[0] >= '0' && base[0] <= '9'))
    p[k++] = 'm', p[k++] = '_';
  for (size_t i = 0; i < n; i++) {
    char c = base[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    p[k++] = ok ? c : '_';
  }
  p[k] = 0;
  return p;
}

static int valid_ident(const char *s) {
  if (!*s || (*s >= '0' && *s <= '9'))
    return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
      return 0;
  return 1;
}

int cmd_emit(Run *r) {
  const Opts *o = r->o;
  char *prefix = o->prefix ? strdup(o->prefix) : default_prefix(o->file);
  if (!prefix)
    return EXIT_INPUT;
  if (!valid_ident(prefix)) {
    usage_error("emit ", "--prefix '%s' is not a C identifier", prefix);
    free(prefix);
    return EXIT_USAGE;
  }
  char *src = NULL, *hdr = NULL;
  const char *hname = NULL;
  if (o->header) {
    hname = strrchr(o->header, '/');
    hname = hname ? hname + 1 : o->header;
  }
  int rc = o->sparse ? gather_sizes(r) : 0; /* the patterns need sizes */
  if (rc) {
    free(prefix);
    return rc;
  }
  if (o->abi && !strcmp(o->abi, "array"))
    gradc_set_emit_abi(r->g, GRADC_ABI_ARRAY);
  GradcStatus s = (o->sparse ? gradc_emit_sparse : gradc_emit)(r->g, prefix, &src, o->header ? &hdr : NULL, hname);
  free(prefix);
  if (s != GRADC_OK)
    return report(r->g);
  /* both files are written before either replaces its old version */
  Pending ph = {0}, ps = {0};
  if (o->header && write_begin(o->header, hdr, strlen(hdr), &ph) < 0) {
    rc = EXIT_INPUT;
  } else if (o->out && write_begin(o->out, src, strlen(src), &ps) < 0) {
    write_abort(&ph);
    rc = EXIT_INPUT;
  } else {
    if (o->header && write_commit(&ph, o->header) < 0)
      rc = EXIT_INPUT;
    if (o->out && write_commit(&ps, o->out) < 0)
      rc = EXIT_INPUT;
    if (!o->out && fputs(src, stdout) < 0)
      rc = EXIT_INPUT;
  }
  free(src);
  free(hdr);
  return rc;
}

int cmd_dot(Run *r) {
  char *text = NULL;
  if (gradc_dot(r->g, r->o->grad_dot, &text) != GRADC_OK)
    return report(r->g);
  fputs(text, stdout);
  free(text);
  return 0;
}

/* ---- main ------------------------------------------------------------------------- */

static int is_assign(const char *w) {
  const char *eq = strchr(w, '=');
  if (!eq || eq == w || w[0] == '-')
    return 0;
  for (const char *c = w; c < eq; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_'))
      return 0;
  return 1;
}

/* Options that take a value, as "--opt VALUE" or "--opt=VALUE". Each has
 * one value: given twice, it is a usage error (not the last one silently). */
static const char *take(int argc, char **argv, int *i, const char *name, const char *cmd, int *bad) {
  static const char *given[64];
  static int ngiven;
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n))
    return NULL;
  if (argv[*i][n] && argv[*i][n] != '=')
    return NULL;
  for (int k = 0; k < ngiven; k++)
    if (!strcmp(given[k], name)) {
      usage_error(cmd, "%s is given twice: it takes one value", name);
      *bad = 1;
      return NULL;
    }
  if (ngiven < 64)
    given[ngiven++] = name;
  if (argv[*i][n] == '=')
    return argv[*i] + n + 1;
  if (*i + 1 >= argc) {
    usage_error(cmd, "%s needs a value", name);
    *bad = 1;
    return NULL;
  }
  return argv[++*i];
}

static int mpi_procs = 1; /* processes under mpirun (mpi.c), else 1 */

/* The commands that combine every process's rows (parallel.c: sums over
 * blocks of rows, MPI_Allgatherv): the others would compute from rank 0's
 * share alone, so they are refused under mpirun. */
static int mpi_command(const Opts *o) {
  static const char *const ok[] = {"eval", "grad", "jvp", "hvp", "train"};
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
    if (!strcmp(o->cmd, ok[i]))
      return 1;
  return !strcmp(o->cmd, "hessian") && o->sparse;
}

static int cli_main(int argc, char **argv) {
  Opts o = {.tol = 1e-6, .probes = -1};
  if (argc < 2) {
    usage_error(NULL, "a command is missing");
    return EXIT_USAGE;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("gradc %s\n", GRADC_VERSION);
    return 0;
  }
  int c = 0;
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    while (argc > 2 && c < NCOMMANDS && strcmp(commands[c].cmd, argv[2]))
      c++;
    if (argc > 2 && c < NCOMMANDS) { /* gradc help eval: eval's help */
      help(argv[2]);
      return 0;
    }
    help(NULL);
    return 0;
  }
  o.cmd = argv[1];
  while (c < NCOMMANDS && strcmp(commands[c].cmd, o.cmd))
    c++;
  if (c == NCOMMANDS) {
    const char *names[NCOMMANDS];
    for (int k = 0; k < NCOMMANDS; k++)
      names[k] = commands[k].cmd;
    const char *hint = gradc_closest(o.cmd, names, NCOMMANDS);
    if (hint)
      usage_error(NULL, "unknown command '%s' (did you mean '%s'?)", o.cmd, hint);
    else
      usage_error(NULL, "unknown command '%s'", o.cmd);
    return EXIT_USAGE;
  }
  char cmdsp[32];
  snprintf(cmdsp, sizeof cmdsp, "%s ", o.cmd);
  o.assign = calloc((size_t)argc, sizeof *o.assign);
  o.tangent = calloc((size_t)argc, sizeof *o.tangent);
  o.vector = calloc((size_t)argc, sizeof *o.vector);
  if (!o.assign || !o.tangent || !o.vector)
    return EXIT_INPUT;
  int bad = 0;
  for (int i = 2; i < argc && !bad; i++) {
    const char *a = argv[i], *v;
    if (a[0] == '-' && a[1] && option_taken(c, a) < 0) {
      bad = 1;
      break;
    }
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      help(o.cmd);
      goto done;
    } else if (!strcmp(a, "--version")) {
      printf("gradc %s\n", GRADC_VERSION);
      goto done;
    } else if (!strcmp(a, "--json")) {
      o.json = 1;
    } else if (!strcmp(a, "--grad")) {
      o.grad_dot = 1;
    } else if (!strcmp(a, "--blas")) {
      o.blas = 1;
    } else if (!strcmp(a, "--no-blas")) {
      o.blas = -1;
    } else if (!strcmp(a, "--sparse")) {
      o.sparse = 1;
    } else if (!strcmp(a, "--hessian")) {
      o.hessian = 1;
    } else if (!strcmp(a, "--tangent")) {
      while (i + 1 < argc && is_assign(argv[i + 1]))
        o.tangent[o.ntangent++] = argv[++i];
      if (o.ntangent == 0) {
        usage_error(cmdsp, "--tangent needs NAME=VALUE words");
        bad = 1;
      }
    } else if (!strcmp(a, "--vector")) {
      while (i + 1 < argc && is_assign(argv[i + 1]))
        o.vector[o.nvector++] = argv[++i];
      if (o.nvector == 0) {
        usage_error(cmdsp, "--vector needs NAME=VALUE words");
        bad = 1;
      }
    } else if ((v = take(argc, argv, &i, "--inputs", cmdsp, &bad))) {
      o.inputs = v;
    } else if ((v = take(argc, argv, &i, "--wrt", cmdsp, &bad))) {
      o.wrt = v;
    } else if ((v = take(argc, argv, &i, "--mode", cmdsp, &bad))) {
      o.mode = v;
    } else if ((v = take(argc, argv, &i, "--output", cmdsp, &bad))) {
      o.output = v;
    } else if ((v = take(argc, argv, &i, "-o", cmdsp, &bad))) {
      o.out = v;
    } else if ((v = take(argc, argv, &i, "--header", cmdsp, &bad))) {
      o.header = v;
    } else if ((v = take(argc, argv, &i, "--prefix", cmdsp, &bad))) {
      o.prefix = v;
    } else if ((v = take(argc, argv, &i, "--abi", cmdsp, &bad))) {
      o.abi = v;
      if (strcmp(v, "default") && strcmp(v, "array")) {
        usage_error(cmdsp, "--abi must be default or array, not '%s'", v);
        bad = 1;
      } else if (strcmp(o.cmd, "emit")) {
        usage_error(cmdsp, "--abi is an option of emit, not of %s", o.cmd);
        bad = 1;
      }
    } else if ((v = take(argc, argv, &i, "--tol", cmdsp, &bad))) {
      if (!parse_number(v, &o.tol) || !(o.tol > 0) || isinf(o.tol)) {
        usage_error(cmdsp, "--tol needs a positive number, not '%s'", v);
        bad = 1;
      }
    } else if ((v = take(argc, argv, &i, "--seed", cmdsp, &bad))) {
      char *end;
      errno = 0;
      o.seed = strtoull(v, &end, 10);
      if (!*v || *end || errno || v[0] == '-') {
        usage_error(cmdsp, "--seed needs a non-negative integer, not '%s'", v);
        bad = 1;
      }
    } else if ((v = take(argc, argv, &i, "--loss", cmdsp, &bad))) {
      o.loss = v;
    } else if ((v = take(argc, argv, &i, "--optimizer", cmdsp, &bad))) {
      o.optimizer = v;
    } else if ((v = take(argc, argv, &i, "--save", cmdsp, &bad))) {
      o.save = v;
    } else if ((v = take(argc, argv, &i, "--lr", cmdsp, &bad))) {
      if (!parse_number(v, &o.lr) || !(o.lr > 0) || isinf(o.lr)) {
        usage_error(cmdsp, "--lr needs a positive number, not '%s'", v);
        bad = 1;
      }
    } else if ((v = take(argc, argv, &i, "--steps", cmdsp, &bad)) ||
               (v = take(argc, argv, &i, "--batch", cmdsp, &bad))) {
      int steps = !strncmp(argv[i - (argv[i] == v ? 1 : 0)], "--steps", 7);
      char *end;
      errno = 0;
      long n = strtol(v, &end, 10);
      if (!*v || *end || errno || n < 1) {
        usage_error(cmdsp, "%s needs a positive integer, not '%s'", steps ? "--steps" : "--batch", v);
        bad = 1;
      }
      if (steps)
        o.steps = n;
      else
        o.batch = n;
    } else if ((v = take(argc, argv, &i, "--k", cmdsp, &bad)) ||
               (v = take(argc, argv, &i, "--probes", cmdsp, &bad))) {
      int is_k = !strncmp(argv[i - (argv[i] == v ? 1 : 0)], "--k", 3);
      char *end;
      errno = 0;
      long n = strtol(v, &end, 10);
      if (!*v || *end || errno || n < !!is_k || n > 1000000000) {
        usage_error(cmdsp, "%s needs a %s integer, not '%s'", is_k ? "--k" : "--probes",
                    is_k ? "positive" : "non-negative", v);
        bad = 1;
      } else if (is_k) {
        o.k = (int)n;
      } else if (n == 1) { /* a standard error needs two samples */
        usage_error(cmdsp, "--probes 1 gives no standard error: use at least 2 (or 0 for no trace)");
        bad = 1;
      } else {
        o.probes = n;
      }
    } else if ((v = take(argc, argv, &i, "--threads", cmdsp, &bad)) ||
               (v = take(argc, argv, &i, "--block-rows", cmdsp, &bad))) {
      int th = !strncmp(argv[i - (argv[i] == v ? 1 : 0)], "--threads", 9);
      char *end;
      errno = 0;
      long n = strtol(v, &end, 10);
      if (!*v || *end || errno || n < 1 || (th && n > 1024)) {
        usage_error(cmdsp, "%s needs a positive integer%s, not '%s'", th ? "--threads" : "--block-rows",
                    th ? " (at most 1024)" : "", v);
        bad = 1;
      }
      if (th)
        o.threads = (int)n;
      else
        o.block_rows = n;
    } else if ((v = take(argc, argv, &i, "--dim", cmdsp, &bad))) {
      o.dim = !strcmp(v, "1") ? 1 : !strcmp(v, "2") ? 2 : -1;
      if (o.dim < 0) {
        usage_error(cmdsp, "--dim must be 1 or 2, not '%s'", v);
        bad = 1;
      }
    } else if ((v = take(argc, argv, &i, "--grid", cmdsp, &bad))) {
      char *end;
      errno = 0;
      o.grid = strtol(v, &end, 10);
      if (!*v || *end || errno || o.grid < 2) {
        usage_error(cmdsp, "--grid needs an integer of at least 2, not '%s'", v);
        bad = 1;
      }
    } else if ((v = take(argc, argv, &i, "--along", cmdsp, &bad))) {
      o.along = v;
    } else if ((v = take(argc, argv, &i, "--range", cmdsp, &bad))) {
      o.range = v;
    } else if ((v = take(argc, argv, &i, "--backend", cmdsp, &bad))) {
      if (!strcmp(v, "tcc"))
        o.backend = GRADC_BACKEND_TCC, o.backend_given = 1;
      else if (!strcmp(v, "cc"))
        o.backend = GRADC_BACKEND_CC, o.backend_given = 1;
      else {
        usage_error(cmdsp, "--backend must be tcc or cc, not '%s'", v);
        bad = 1;
      }
    } else if (bad) {
      break;
    } else if (a[0] == '-' && a[1] && strchr(a, '=')) { /* a flag: --json=1 */
      usage_error(cmdsp, "%.*s takes no value, not '%s'", (int)strcspn(a, "="), a, strchr(a, '=') + 1);
      bad = 1;
    } else if (a[0] == '-' && a[1]) { /* in the table, not parsed: a bug */
      usage_error(cmdsp, "option '%s' is not implemented", a);
      bad = 1;
    } else if (is_assign(a)) {
      size_t n = strcspn(a, "=");
      for (int k = 0; k < o.nassign && !bad; k++)
        if (!strncmp(o.assign[k], a, n) && o.assign[k][n] == '=') { /* not the last one silently */
          usage_error(cmdsp, "%.*s is given two values (%s, %s): give it one", (int)n, a, o.assign[k], a);
          bad = 1;
        }
      o.assign[o.nassign++] = argv[i];
    } else if (!o.file) {
      o.file = a;
    } else {
      usage_error(cmdsp, "unexpected argument '%s' (values are NAME=VALUE)", a);
      bad = 1;
    }
  }
  /* --loss and --output are one option (SPEC 2: the scalar output) */
  if (!bad && o.loss && o.output && strcmp(o.loss, o.output)) {
    usage_error(cmdsp, "--loss and --output name different outputs");
    bad = 1;
  }
  const char *output_opt = o.output ? "--output" : "--loss";
  if (!o.output)
    o.output = o.loss;
  if (!o.loss)
    o.loss = o.output;
  if (!bad && o.hessian && o.mode) { /* the Hessian's colouring has no mode */
    usage_error(cmdsp, "'sparsity --hessian' does not take --mode");
    bad = 1;
  }
  int rc = 0;
  if (bad) {
    rc = EXIT_USAGE;
    goto out;
  }
  if (!strcmp(o.cmd, "repl")) {
    rc = repl_main(&o);
    goto out;
  }
  if (!o.file) {
    usage_error(cmdsp, "%s needs a FILE", o.cmd);
    rc = EXIT_USAGE;
    goto out;
  }
  if (landscape_usage(&o) != 0) {
    rc = EXIT_USAGE;
    goto out;
  }
  if (mpi_procs > 1 && !mpi_command(&o)) { /* said once, by rank 0 */
    if (gradc_mpi_rank() == 0)
      usage_error(cmdsp, "'%s%s' does not run under mpirun: each process would see only its share "
                  "of the rows. Under mpirun: eval, grad, jvp, hvp, train and hessian --sparse; run "
                  "this one as one process (it can use --threads)", o.cmd, o.sparse ? " --sparse" : "");
    rc = EXIT_USAGE;
    goto out;
  }
  double t_start = now(), c_start = cpu_now(); /* GRADC_TIMING */
  Gradc *g = gradc_new();
  if (!g) {
    fprintf(stderr, "gradc: error: out of memory\n");
    rc = EXIT_INPUT;
    goto out;
  }
  if (o.backend_given) /* else libtcc, tiered for the commands that run many times (tiered.c) */
    gradc_set_backend(g, o.backend);
  else if (!strcmp(o.cmd, "train") || !strcmp(o.cmd, "spectrum") || !strcmp(o.cmd, "landscape"))
    gradc_set_backend(g, GRADC_BACKEND_TIERED);
  gradc_set_threads(g, o.threads);
  gradc_set_block_rows(g, o.block_rows);
  if (mpi_procs > 1) { /* the rows split between the processes; rank 0 prints and saves */
    gradc_set_mpi(g);
    if (gradc_mpi_rank() > 0) {
      o.save = NULL;
      if (!freopen("/dev/null", "w", stdout))
        fclose(stdout);
    }
  }
  if (o.blas && gradc_set_blas(g, o.blas > 0) < 0) {
    usage_error(cmdsp, "--blas: this gradc was built without OpenBLAS");
    gradc_free(g);
    rc = EXIT_USAGE;
    goto out;
  }
  if (gradc_compile_file(g, o.file) != GRADC_OK) {
    rc = report(g);
    gradc_free(g);
    goto out;
  }
  if ((rc = check_outputs(g, &o)) != 0) {
    gradc_free(g);
    goto out;
  }
  /* --output (--loss) names an output: checked before any value is needed */
  if (o.output && gradc_output_index(g, o.output) < 0) {
    int no = gradc_output_count(g);
    const char **cand = malloc(((size_t)no + 1) * sizeof *cand);
    for (int j = 0; cand && j < no; j++)
      cand[j] = gradc_output_name(g, j);
    const char *hint = cand ? gradc_closest(o.output, cand, no) : NULL;
    usage_error(cmdsp, "%s: %s has no output '%s'%s%s%s", output_opt, o.file, o.output,
                hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
    free(cand);
    gradc_free(g);
    rc = EXIT_USAGE;
    goto out;
  }
  double c_compiled = cpu_now();
  Run r = {.g = g, .o = &o, .nv = gradc_var_count(g)};
  if ((!strcmp(o.cmd, "emit") || !strcmp(o.cmd, "dot") || !strcmp(o.cmd, "diff")) &&
      (rc = check_assign_names(g, &o)) != 0) {
    ;
  } else if (!strcmp(o.cmd, "emit")) {
    rc = cmd_emit(&r);
  } else if (!strcmp(o.cmd, "dot")) {
    rc = cmd_dot(&r);
  } else if (!strcmp(o.cmd, "diff")) {
    rc = cmd_diff(&r);
  } else {
    int *wrt = NULL, nwrt = 0;
    /* trace reads its own --wrt (an element: x[1]) */
    if (parse_wrt(g, o.file, strcmp(o.cmd, "trace") ? o.wrt : NULL, &wrt, &nwrt) < 0) {
      rc = EXIT_USAGE; /* a wrong --wrt is a usage error, like a wrong --output */
    } else if (!strcmp(o.cmd, "sparsity")) { /* needs sizes, not every value */
      rc = cmd_sparsity(&r, wrt, nwrt);
    } else if ((rc = gather_values_for(g, &o, lazy_output(g, &o), wrt, strcmp(o.cmd, "eval") ? nwrt : 0,
                                       !strcmp(o.cmd, "check"))) != 0) {
      ;
    } else {
      /* jvp may add tangent variables to wrt */
      int *w2 = realloc(wrt, ((size_t)nwrt + (size_t)o.ntangent + 1) * sizeof *w2);
      if (w2)
        wrt = w2;
      if (!w2)
        rc = EXIT_INPUT;
      else if (!strcmp(o.cmd, "eval"))
        rc = cmd_eval(&r);
      else if (!strcmp(o.cmd, "grad"))
        rc = cmd_grad(&r, wrt, nwrt);
      else if (!strcmp(o.cmd, "jvp"))
        rc = cmd_jvp(&r, wrt, nwrt);
      else if (!strcmp(o.cmd, "jacobian"))
        rc = o.sparse ? cmd_jacobian_sparse(&r, wrt, nwrt) : cmd_jacobian(&r, wrt, nwrt);
      else if (!strcmp(o.cmd, "hessian"))
        rc = o.sparse ? cmd_hessian_sparse(&r, wrt, nwrt) : cmd_hessian(&r, wrt, nwrt);
      else if (!strcmp(o.cmd, "hvp"))
        rc = cmd_hvp(&r, wrt, nwrt);
      else if (!strcmp(o.cmd, "check"))
        rc = cmd_check(&r, wrt, nwrt);
      else if (!strcmp(o.cmd, "trace"))
        rc = cmd_trace(&r, wrt, nwrt);
      else if (!strcmp(o.cmd, "train"))
        rc = cmd_train(&r);
      else if (!strcmp(o.cmd, "spectrum"))
        rc = cmd_spectrum(&r, wrt, nwrt);
      else if (!strcmp(o.cmd, "landscape"))
        rc = cmd_landscape(&r);
      else {
        fprintf(stderr, "gradc: %s is not implemented yet\n", o.cmd);
        rc = EXIT_USAGE;
      }
    }
    free(wrt);
  }
  double c_cmd = cpu_now(), st[5];
  gradc_timings(g, NULL, st);
  int nodes = gradc_node_count(g);
  gradc_free(g);
  if (getenv("GRADC_TIMING")) { /* where a command's time goes, on stderr */
    struct rusage ch;
    getrusage(RUSAGE_CHILDREN, &ch); /* the unit worker (jit_units.c), cc */
    fprintf(stderr, "gradc: timing: CPU s of gradc: read %.3f parse %.3f lower %.3f differentiate %.3f emit %.3f "
            "compile %.3f run+print %.3f free %.3f; of its children %.3f; wall %.3f s; %d DAG nodes\n",
            c_compiled - c_start - st[0] - st[1], st[0], st[1], st[2], st[3], st[4],
            c_cmd - c_compiled - st[2] - st[3] - st[4], cpu_now() - c_cmd,
            (double)ch.ru_utime.tv_sec + (double)ch.ru_stime.tv_sec +
                1e-6 * (double)(ch.ru_utime.tv_usec + ch.ru_stime.tv_usec),
            now() - t_start, nodes);
  }
out:
  free(o.assign);
  free(o.tangent);
  free(o.vector);
  return rc;
done: /* --help and --version: nothing else runs */
  free(o.assign);
  free(o.tangent);
  free(o.vector);
  return 0;
}

int main(int argc, char **argv) {
  mpi_procs = gradc_mpi_init(&argc, &argv);
  int rc = cli_main(argc, argv);
  /* what went to stdout must have arrived (> /dev/full, a closed pipe's
   * reader gone): else an error, not exit 0 with the results lost */
  if ((fflush(stdout) != 0 || ferror(stdout)) && rc == 0) {
    fprintf(stderr, "gradc: error: cannot write the results to the standard output: %s\n", strerror(errno));
    rc = EXIT_INPUT;
  }
  if (rc == EXIT_USAGE) /* decided alike by every process (under mpirun) */
    gradc_mpi_finalize_agreed(rc);
  else
    gradc_mpi_finalize(rc);
  return rc;
}
