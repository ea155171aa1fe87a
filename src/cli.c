/* cli.c: the gradc command line (SPEC section 2). Uses only gradc.h; the
 * only file besides repl.c that prints or chooses an exit code. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gradc.h"

enum { EXIT_INPUT = 1, EXIT_USAGE = 2, EXIT_MISMATCH = 3 };

typedef struct Opts {
  const char *cmd, *file;
  int json, grad_dot;
  const char *inputs, *wrt, *mode, *out, *header, *prefix, *output;
  double tol;
  unsigned long long seed;
  GradcBackend backend;
  char **assign;       /* NAME=VALUE words */
  int nassign;
  char **tangent;      /* jvp --tangent words */
  int ntangent;
} Opts;

static const char *commands[] = {"eval", "grad", "jvp", "jacobian", "hessian", "check",
                                 "trace", "emit", "dot", "repl", "train"};

static void usage_error(const char *cmd, const char *fmt, ...) {
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
           "  check     derivatives against central finite differences\n"
           "  trace     the evaluation trace, one row per DAG node\n"
           "  emit      standalone C source (and header)\n"
           "  dot       Graphviz of the DAG\n"
           "  repl      interactive session (not implemented yet)\n"
           "  train     gradient descent on a loss (not implemented yet)\n\n"
           "common options: --json, --inputs F.json, --seed S, --backend tcc|cc,\n"
           "  -h/--help, --version. 'gradc COMMAND --help' for more.\n",
           GRADC_VERSION);
    return;
  }
  static const struct { const char *cmd, *text; } h[] = {
      {"eval", "gradc eval FILE [NAME=VALUE...] [--json] [--inputs F.json]\n"
               "  Prints NAME = VALUE for every output.\n"},
      {"grad", "gradc grad FILE [NAME=VALUE...] [--wrt a,b] [--json]\n"
               "  Values and reverse-mode gradients of every output; --wrt defaults to every param.\n"},
      {"jvp", "gradc jvp FILE [NAME=VALUE...] --tangent NAME=VALUE... [--json]\n"
              "  Values and the derivative of every output along one tangent direction;\n"
              "  variables not named after --tangent have tangent 0.\n"},
      {"jacobian", "gradc jacobian FILE [NAME=VALUE...] [--wrt a,b] [--mode forward|reverse|auto] [--json]\n"
                   "  Every output's derivative w.r.t. every wrt variable. auto: forward mode when\n"
                   "  the inputs are fewer than the outputs, reverse mode otherwise.\n"},
      {"hessian", "gradc hessian FILE [NAME=VALUE...] [--wrt a,b] [--output NAME] [--json]\n"
                  "  Hessian of a scalar output (default: the first), forward over reverse.\n"},
      {"check", "gradc check FILE [NAME=VALUE...] [--wrt a,b] [--tol T] [--seed S] [--json]\n"
                "  Compares reverse- and forward-mode derivatives with central differences;\n"
                "  exits 3 when one is off by more than T (default 1e-6, relative).\n"
                "  Scalars with no value get a seeded random value.\n"},
      {"trace", "gradc trace FILE [NAME=VALUE...] [--wrt NAME] [--output NAME] [--json]\n"
                "  One row per DAG node: definition, value, tangent and adjoint.\n"},
      {"emit", "gradc emit FILE [-o OUT.c] [--header OUT.h] [--prefix P]\n"
               "  C99 for P_F, P_F_grad and P_F_jvp of every output F (P: the file's stem).\n"},
      {"dot", "gradc dot FILE [--grad]\n  Graphviz text of the DAG (with the gradient nodes).\n"},
      {"repl", "gradc repl [FILE]\n  Not implemented yet.\n"},
      {"train", "gradc train FILE ...\n  Not implemented yet.\n"},
  };
  for (size_t i = 0; i < sizeof h / sizeof *h; i++)
    if (!strcmp(h[i].cmd, cmd))
      fputs(h[i].text, stdout);
}

/* ---- values ----------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void) { /* splitmix64 */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double rng_uniform(void) { return (double)(rng_next() >> 11) * 0x1.0p-53; }

/* Parse a number, with nothing after it. */
static int parse_number(const char *s, double *x) {
  char *end;
  errno = 0;
  *x = strtod(s, &end);
  while (*end == ' ')
    end++;
  return end != s && *end == 0;
}

static int json_to_scalar(json_t *j, double *x) {
  if (json_is_number(j)) {
    *x = json_number_value(j);
    return 1;
  }
  if (json_is_string(j)) {
    const char *s = json_string_value(j);
    if (!strcmp(s, "NaN")) { *x = NAN; return 1; }
    if (!strcmp(s, "Infinity")) { *x = INFINITY; return 1; }
    if (!strcmp(s, "-Infinity")) { *x = -INFINITY; return 1; }
  }
  return 0;
}

/* A VALUE word for a scalar: a number, a JSON number, or @FILE.json. */
static int value_of(const char *name, const char *text, double *x) {
  if (parse_number(text, x))
    return 0;
  json_error_t err;
  json_t *j = NULL;
  if (text[0] == '@') {
    const char *path = text + 1;
    size_t n = strlen(path);
    if (n >= 4 && !strcmp(path + n - 4, ".csv")) {
      fprintf(stderr, "gradc: error: %s: '%s' is a scalar; CSV data needs a tensor declaration\n",
              name, name);
      return -1;
    }
    j = json_load_file(path, JSON_DECODE_ANY, &err);
    if (!j) {
      fprintf(stderr, "%s:%d:%d: error: %s\n", path, err.line, err.column, err.text);
      return -1;
    }
  } else {
    j = json_loads(text, JSON_DECODE_ANY, &err);
    if (!j) {
      fprintf(stderr, "gradc: error: %s=%s: not a number or JSON value (%s)\n", name, text,
              err.text);
      return -1;
    }
  }
  int ok = json_to_scalar(j, x);
  json_decref(j);
  if (!ok) {
    fprintf(stderr, "gradc: error: %s=%s: '%s' is a scalar and needs a number\n", name, text, name);
    return -1;
  }
  return 0;
}

/* The value of every variable: command line > --inputs > defaults in the
 * file; missing ones are listed together. `fill_random` (check) gives
 * scalars without a value a seeded random one. */
static int gather_values(Gradc *g, const Opts *o, double *val, int fill_random) {
  int n = gradc_var_count(g);
  char *have = calloc((size_t)n + 1, 1);
  if (!have)
    return -1;
  int rc = 0;
  for (int i = 0; i < n; i++)
    have[i] = (char)gradc_var_default(g, i, &val[i]);
  if (o->inputs) {
    json_error_t err;
    json_t *root = json_load_file(o->inputs, 0, &err);
    if (!root) {
      fprintf(stderr, "%s:%d:%d: error: %s\n", o->inputs, err.line, err.column, err.text);
      free(have);
      return -1;
    }
    if (!json_is_object(root)) {
      fprintf(stderr, "%s: error: --inputs needs a JSON object of NAME: VALUE\n", o->inputs);
      json_decref(root);
      free(have);
      return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
      int k = gradc_var_index(g, key);
      if (k < 0)
        continue; /* one params file serves several .expr files */
      if (!json_to_scalar(v, &val[k])) {
        fprintf(stderr, "%s: error: \"%s\": '%s' is a scalar and needs a number\n", o->inputs,
                key, key);
        rc = -1;
      }
      have[k] = 1;
    }
    json_decref(root);
  }
  for (int a = 0; a < o->nassign; a++) {
    char *eq = strchr(o->assign[a], '=');
    *eq = 0;
    const char *name = o->assign[a];
    int k = gradc_var_index(g, name);
    if (k < 0) {
      const char *hint = gradc_var_suggest(g, name);
      if (gradc_output_index(g, name) >= 0)
        fprintf(stderr, "gradc: error: '%s' is an output, not a variable: it cannot be given a value\n", name);
      else if (hint)
        fprintf(stderr, "gradc: error: %s has no variable '%s' (did you mean '%s'?)\n", o->file, name, hint);
      else
        fprintf(stderr, "gradc: error: %s has no variable '%s'\n", o->file, name);
      rc = -1;
    } else if (value_of(name, eq + 1, &val[k]) < 0) {
      rc = -1;
    } else {
      have[k] = 1;
    }
    *eq = '=';
  }
  if (rc == 0) {
    int missing = 0;
    for (int i = 0; i < n; i++) {
      if (have[i])
        continue;
      if (fill_random) {
        val[i] = 0.25 + rng_uniform();
        continue;
      }
      if (!missing++)
        fprintf(stderr, "gradc: error: no value for");
      fprintf(stderr, " %s", gradc_var_name(g, i));
    }
    if (missing) {
      fprintf(stderr, "\n  give %s as NAME=VALUE, in --inputs, or as a default in the file\n",
              missing == 1 ? "it" : "them");
      rc = -1;
    }
  }
  free(have);
  return rc;
}

/* --wrt a,b -> variable indices (NULL: default) */
static int parse_wrt(Gradc *g, const char *file, const char *list, int **wrt, int *nwrt) {
  *wrt = NULL;
  *nwrt = 0;
  int n = gradc_var_count(g);
  if (!list) {
    *wrt = malloc(((size_t)n + 1) * sizeof **wrt);
    if (!*wrt)
      return -1;
    for (int i = 0; i < n; i++)
      if (gradc_var_is_param(g, i))
        (*wrt)[(*nwrt)++] = i;
    return 0;
  }
  char *copy = strdup(list);
  *wrt = malloc((strlen(list) + 1) * sizeof **wrt);
  if (!copy || !*wrt) {
    free(copy);
    return -1;
  }
  int rc = 0;
  for (char *save, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int k = gradc_var_index(g, tok);
    if (k < 0) {
      const char *hint = gradc_var_suggest(g, tok);
      fprintf(stderr, "gradc: error: --wrt: %s has no variable '%s'%s%s%s\n", file, tok,
              hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
      rc = -1;
      continue;
    }
    for (int j = 0; j < *nwrt; j++)
      if ((*wrt)[j] == k) {
        fprintf(stderr, "gradc: error: --wrt names '%s' twice\n", tok);
        rc = -1;
      }
    (*wrt)[(*nwrt)++] = k;
  }
  free(copy);
  if (rc == 0 && *nwrt == 0) {
    fprintf(stderr, "gradc: error: --wrt is empty\n");
    rc = -1;
  }
  return rc;
}

/* ---- printing ------------------------------------------------------------------ */

static void print_num(double x) {
  if (isnan(x))
    fputs("NaN", stdout);
  else if (isinf(x))
    fputs(x > 0 ? "Infinity" : "-Infinity", stdout);
  else
    printf("%.10g", x);
}

static json_t *jnum(double x) {
  if (isnan(x))
    return json_string("NaN");
  if (isinf(x))
    return json_string(x > 0 ? "Infinity" : "-Infinity");
  return json_real(x);
}

static void json_print(json_t *root) {
  char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
  if (s) {
    puts(s);
    free(s);
  }
  json_decref(root);
}

/* The object root[key], created on first use. */
static json_t *jobj(json_t *root, const char *key) {
  json_t *o = json_object_get(root, key);
  if (!o) {
    o = json_object();
    json_object_set_new(root, key, o);
  }
  return o;
}

/* ---- running ------------------------------------------------------------------- */

typedef struct Run {
  Gradc *g;
  const Opts *o;
  int nv;
  double *val;        /* variable values */
  const double **args;
} Run;

static int call_fn(Run *r, GradcFn *f, const double *tangent, double *res) {
  int na = gradc_fn_arg_count(f), nr = gradc_fn_res_count(f);
  const double **args = malloc(((size_t)na + 1) * sizeof *args);
  double **out = malloc(((size_t)nr + 1) * sizeof *out);
  if (!args || !out) {
    free(args);
    free(out);
    return -1;
  }
  for (int i = 0; i < na; i++)
    args[i] = i < r->nv ? &r->val[i] : &tangent[i - r->nv];
  for (int i = 0; i < nr; i++)
    out[i] = &res[i];
  GradcStatus s = gradc_call(f, args, out);
  free(args);
  free(out);
  return s == GRADC_OK ? 0 : -1;
}

static int report(Gradc *g) {
  fputs(gradc_diag_render(g), stderr);
  int internal = 0;
  for (int i = 0; i < gradc_diag_count(g); i++)
    internal |= strstr(gradc_diag_message(g, i), "rejected the generated C") != NULL;
  (void)internal; /* internal errors are reported as such; SPEC has no exit code of their own */
  return EXIT_INPUT;
}

static int cmd_eval(Run *r) {
  Gradc *g = r->g;
  GradcFn *f = gradc_fn_value(g);
  if (!f)
    return report(g);
  int no = gradc_output_count(g);
  double *res = calloc((size_t)no + 1, sizeof *res);
  if (!res || call_fn(r, f, NULL, res) < 0) {
    free(res);
    return report(g);
  }
  if (r->o->json) {
    json_t *root = json_object(), *outs = jobj(root, "outputs");
    for (int i = 0; i < no; i++)
      json_object_set_new(outs, gradc_output_name(g, i), jnum(res[i]));
    json_print(root);
  } else {
    for (int i = 0; i < no; i++) {
      printf("%s = ", gradc_output_name(g, i));
      print_num(res[i]);
      putchar('\n');
    }
  }
  free(res);
  return 0;
}

/* Values and gradients: results are the outputs, then per output the
 * derivative w.r.t. each wrt variable. */
static int cmd_grad(Run *r, const int *wrt, int nwrt) {
  Gradc *g = r->g;
  GradcFn *f = gradc_fn_grad(g, wrt, nwrt);
  if (!f)
    return report(g);
  int no = gradc_output_count(g), nr = gradc_fn_res_count(f);
  double *res = calloc((size_t)nr + 1, sizeof *res);
  if (!res || call_fn(r, f, NULL, res) < 0) {
    free(res);
    return report(g);
  }
  if (r->o->json) {
    json_t *root = json_object(), *outs = jobj(root, "outputs"), *grads = jobj(root, "gradients");
    for (int i = 0; i < no; i++) {
      json_object_set_new(outs, gradc_output_name(g, i), jnum(res[i]));
      json_t *go = jobj(grads, gradc_output_name(g, i));
      for (int k = 0; k < nwrt; k++)
        json_object_set_new(go, gradc_var_name(g, wrt[k]), jnum(res[no + i * nwrt + k]));
    }
    json_print(root);
  } else {
    for (int i = 0; i < no; i++) {
      printf("%s = ", gradc_output_name(g, i));
      print_num(res[i]);
      putchar('\n');
    }
    for (int i = no; i < nr; i++) {
      printf("%s = ", gradc_fn_res_name(f, i));
      print_num(res[i]);
      putchar('\n');
    }
  }
  free(res);
  return 0;
}

static int cmd_jvp(Run *r, int *wrt, int nwrt) {
  Gradc *g = r->g;
  const Opts *o = r->o;
  if (o->ntangent == 0) {
    usage_error("jvp ", "jvp needs --tangent NAME=VALUE...");
    return EXIT_USAGE;
  }
  double *tan = calloc((size_t)r->nv + 1, sizeof *tan);
  int rc = 0;
  /* the direction may name variables beyond --wrt: they join it */
  for (int t = 0; t < o->ntangent && tan; t++) {
    char *eq = strchr(o->tangent[t], '=');
    *eq = 0;
    int k = gradc_var_index(g, o->tangent[t]);
    if (k < 0) {
      const char *hint = gradc_var_suggest(g, o->tangent[t]);
      fprintf(stderr, "gradc: error: --tangent: %s has no variable '%s'%s%s%s\n", o->file,
              o->tangent[t], hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
      rc = EXIT_INPUT;
    } else {
      int found = 0;
      for (int j = 0; j < nwrt; j++)
        found |= wrt[j] == k;
      if (!found)
        wrt[nwrt++] = k;
      double x;
      if (value_of(o->tangent[t], eq + 1, &x) < 0)
        rc = EXIT_INPUT;
      for (int j = 0; j < nwrt; j++)
        if (wrt[j] == k)
          tan[j] = x;
    }
    *eq = '=';
  }
  if (!tan || rc) {
    free(tan);
    return rc ? rc : EXIT_INPUT;
  }
  GradcFn *f = gradc_fn_jvp(g, wrt, nwrt);
  int no = gradc_output_count(g);
  double *res = f ? calloc((size_t)gradc_fn_res_count(f) + 1, sizeof *res) : NULL;
  if (!f || !res || call_fn(r, f, tan, res) < 0) {
    free(tan);
    free(res);
    return report(g);
  }
  if (o->json) {
    json_t *root = json_object(), *outs = jobj(root, "outputs"), *tans = jobj(root, "tangents");
    for (int i = 0; i < no; i++) {
      json_object_set_new(outs, gradc_output_name(g, i), jnum(res[i]));
      json_object_set_new(tans, gradc_output_name(g, i), jnum(res[no + i]));
    }
    json_print(root);
  } else {
    for (int i = 0; i < no; i++) {
      printf("%s = ", gradc_output_name(g, i));
      print_num(res[i]);
      putchar('\n');
    }
    for (int i = 0; i < no; i++) {
      printf("d%s = ", gradc_output_name(g, i));
      print_num(res[no + i]);
      putchar('\n');
    }
  }
  free(tan);
  free(res);
  return 0;
}

/* J[i][k] = d output_i / d wrt_k, by forward (one JVP per wrt variable) or
 * reverse mode (one gradient per output). */
static int jacobian(Run *r, const int *wrt, int nwrt, int forward, double *vals, double *J) {
  Gradc *g = r->g;
  int no = gradc_output_count(g);
  if (forward) {
    GradcFn *f = gradc_fn_jvp(g, wrt, nwrt);
    double *tan = calloc((size_t)nwrt + 1, sizeof *tan);
    double *res = calloc(2 * (size_t)no + 1, sizeof *res);
    int rc = (!f || !tan || !res) ? -1 : 0;
    for (int k = 0; k < nwrt && rc == 0; k++) {
      memset(tan, 0, (size_t)nwrt * sizeof *tan);
      tan[k] = 1;
      rc = call_fn(r, f, tan, res);
      for (int i = 0; i < no; i++)
        J[i * nwrt + k] = res[no + i];
    }
    if (rc == 0)
      memcpy(vals, res, (size_t)no * sizeof *vals);
    free(tan);
    free(res);
    return rc;
  }
  GradcFn *f = gradc_fn_grad(g, wrt, nwrt);
  double *res = f ? calloc((size_t)gradc_fn_res_count(f) + 1, sizeof *res) : NULL;
  int rc = (!f || !res) ? -1 : call_fn(r, f, NULL, res);
  if (rc == 0) {
    memcpy(vals, res, (size_t)no * sizeof *vals);
    memcpy(J, res + no, (size_t)no * (size_t)nwrt * sizeof *J);
  }
  free(res);
  return rc;
}

static int cmd_jacobian(Run *r, const int *wrt, int nwrt) {
  Gradc *g = r->g;
  const char *mode = r->o->mode ? r->o->mode : "auto";
  int no = gradc_output_count(g), forward;
  if (!strcmp(mode, "forward"))
    forward = 1;
  else if (!strcmp(mode, "reverse"))
    forward = 0;
  else if (!strcmp(mode, "auto"))
    forward = nwrt < no;
  else {
    usage_error("jacobian ", "--mode must be forward, reverse or auto, not '%s'", mode);
    return EXIT_USAGE;
  }
  double *vals = calloc((size_t)no + 1, sizeof *vals);
  double *J = calloc((size_t)no * (size_t)nwrt + 1, sizeof *J);
  if (!vals || !J || jacobian(r, wrt, nwrt, forward, vals, J) < 0) {
    free(vals);
    free(J);
    return report(g);
  }
  if (r->o->json) {
    json_t *root = json_object(), *outs = jobj(root, "outputs"), *jac = jobj(root, "jacobians");
    for (int i = 0; i < no; i++) {
      json_object_set_new(outs, gradc_output_name(g, i), jnum(vals[i]));
      json_t *jo = jobj(jac, gradc_output_name(g, i));
      for (int k = 0; k < nwrt; k++)
        json_object_set_new(jo, gradc_var_name(g, wrt[k]), jnum(J[i * nwrt + k]));
    }
    json_print(root);
  } else {
    printf("# %s mode\n", forward ? "forward" : "reverse");
    for (int i = 0; i < no; i++) {
      printf("%s = ", gradc_output_name(g, i));
      print_num(vals[i]);
      putchar('\n');
    }
    for (int i = 0; i < no; i++)
      for (int k = 0; k < nwrt; k++) {
        printf("d%s/d%s = ", gradc_output_name(g, i), gradc_var_name(g, wrt[k]));
        print_num(J[i * nwrt + k]);
        putchar('\n');
      }
  }
  free(vals);
  free(J);
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

static int cmd_hessian(Run *r, const int *wrt, int nwrt) {
  Gradc *g = r->g;
  int out = output_arg(r, "hessian ");
  if (out < 0)
    return EXIT_USAGE;
  GradcFn *f = gradc_fn_hessian(g, out, wrt, nwrt);
  double *res = f ? calloc((size_t)gradc_fn_res_count(f) + 1, sizeof *res) : NULL;
  if (!f || !res || call_fn(r, f, NULL, res) < 0) {
    free(res);
    return report(g);
  }
  const char *name = gradc_output_name(g, out);
  if (r->o->json) {
    json_t *root = json_object(), *outs = jobj(root, "outputs"), *hs = jobj(root, "hessians");
    json_object_set_new(outs, name, jnum(res[0]));
    json_t *rows = json_array();
    for (int i = 0; i < nwrt; i++) {
      json_t *row = json_array();
      for (int j = 0; j < nwrt; j++)
        json_array_append_new(row, jnum(res[1 + i * nwrt + j]));
      json_array_append_new(rows, row);
    }
    json_object_set_new(hs, name, rows);
    json_print(root);
  } else {
    printf("%s = ", name);
    print_num(res[0]);
    printf("\nhessian of %s w.r.t. (", name);
    for (int k = 0; k < nwrt; k++)
      printf("%s%s", k ? ", " : "", gradc_var_name(g, wrt[k]));
    printf(") =\n[");
    for (int i = 0; i < nwrt; i++) {
      printf("%s[", i ? ",\n " : "");
      for (int j = 0; j < nwrt; j++) {
        if (j)
          printf(", ");
        print_num(res[1 + i * nwrt + j]);
      }
      printf("]");
    }
    printf("]\n");
  }
  free(res);
  return 0;
}

/* ---- check ---------------------------------------------------------------------- */

typedef struct Entry {
  int out, var, forward;
  double analytic, numeric, err;
} Entry;

static int by_err(const void *a, const void *b) {
  double x = ((const Entry *)a)->err, y = ((const Entry *)b)->err;
  return (y > x) - (y < x);
}

static double rel_err(double a, double fd) {
  if (isnan(a) && isnan(fd))
    return 0;
  if (a == fd)
    return 0;
  double d = fabs(a - fd), s = fmax(1.0, fmax(fabs(a), fabs(fd)));
  return isnan(d) ? INFINITY : d / s;
}

static int cmd_check(Run *r, const int *wrt, int nwrt) {
  Gradc *g = r->g;
  int no = gradc_output_count(g);
  GradcFn *fv = gradc_fn_value(g);
  if (!fv)
    return report(g);
  double *vals = calloc((size_t)no + 1, sizeof *vals);
  double *Jr = calloc((size_t)no * (size_t)nwrt + 1, sizeof *Jr);
  double *Jf = calloc((size_t)no * (size_t)nwrt + 1, sizeof *Jf);
  double *plus = calloc((size_t)no + 1, sizeof *plus), *minus = calloc((size_t)no + 1, sizeof *minus);
  Entry *e = calloc(2 * (size_t)no * (size_t)nwrt + 1, sizeof *e);
  int rc = 0;
  if (!vals || !Jr || !Jf || !plus || !minus || !e || jacobian(r, wrt, nwrt, 0, vals, Jr) < 0 ||
      jacobian(r, wrt, nwrt, 1, vals, Jf) < 0) {
    rc = report(g);
    goto done;
  }
  int ne = 0;
  for (int k = 0; k < nwrt; k++) {
    double x = r->val[wrt[k]];
    double h = 6.0554544523933395e-06 * fmax(1.0, fabs(x)); /* cbrt(eps) */
    r->val[wrt[k]] = x + h;
    call_fn(r, fv, NULL, plus);
    r->val[wrt[k]] = x - h;
    call_fn(r, fv, NULL, minus);
    r->val[wrt[k]] = x;
    for (int i = 0; i < no; i++) {
      double fd = (plus[i] - minus[i]) / (2 * h);
      for (int m = 0; m < 2; m++) {
        double a = (m ? Jf : Jr)[i * nwrt + k];
        e[ne++] = (Entry){i, wrt[k], m, a, fd, rel_err(a, fd)};
      }
    }
  }
  qsort(e, (size_t)ne, sizeof *e, by_err);
  int bad = 0;
  for (int i = 0; i < ne; i++)
    bad += !(e[i].err <= r->o->tol);
  if (r->o->json) {
    json_t *root = json_object(), *chk = jobj(root, "check");
    json_object_set_new(chk, "tolerance", json_real(r->o->tol));
    json_object_set_new(chk, "derivatives", json_integer(ne));
    json_object_set_new(chk, "mismatches", json_integer(bad));
    json_object_set_new(chk, "max_error", jnum(ne ? e[0].err : 0));
    json_t *worst = json_array();
    for (int i = 0; i < ne && i < 10; i++) {
      json_t *w = json_object();
      char name[512];
      snprintf(name, sizeof name, "d%s/d%s", gradc_output_name(g, e[i].out), gradc_var_name(g, e[i].var));
      json_object_set_new(w, "derivative", json_string(name));
      json_object_set_new(w, "mode", json_string(e[i].forward ? "forward" : "reverse"));
      json_object_set_new(w, "analytic", jnum(e[i].analytic));
      json_object_set_new(w, "finite_difference", jnum(e[i].numeric));
      json_object_set_new(w, "error", jnum(e[i].err));
      json_array_append_new(worst, w);
    }
    json_object_set_new(chk, "worst", worst);
    json_print(root);
  } else {
    printf("%s: %d derivatives (reverse and forward mode) against central differences\n",
           bad ? "MISMATCH" : "ok", ne);
    printf("max relative error %.3g, tolerance %.3g, %d over\n", ne ? e[0].err : 0.0, r->o->tol, bad);
    printf("\nworst entries:\n  %-20s %-8s %20s %20s %10s\n", "derivative", "mode", "analytic",
           "finite difference", "error");
    for (int i = 0; i < ne && i < 10; i++) {
      char name[512];
      snprintf(name, sizeof name, "d%s/d%s", gradc_output_name(g, e[i].out), gradc_var_name(g, e[i].var));
      printf("  %-20s %-8s %20.12g %20.12g %10.3g%s\n", name, e[i].forward ? "forward" : "reverse",
             e[i].analytic, e[i].numeric, e[i].err, e[i].err <= r->o->tol ? "" : "  <-");
    }
  }
  rc = bad ? EXIT_MISMATCH : 0;
done:
  free(vals);
  free(Jr);
  free(Jf);
  free(plus);
  free(minus);
  free(e);
  return rc;
}

/* ---- trace ------------------------------------------------------------------------ */

static int cmd_trace(Run *r, const int *wrt, int nwrt) {
  Gradc *g = r->g;
  int out = output_arg(r, "trace ");
  if (out < 0)
    return EXIT_USAGE;
  if (nwrt != 1 && r->o->wrt) {
    usage_error("trace ", "--wrt names one variable for trace");
    return EXIT_USAGE;
  }
  if (nwrt == 0) {
    usage_error("trace ", "%s has no param: name a variable with --wrt", r->o->file);
    return EXIT_USAGE;
  }
  GradcTrace *t;
  if (gradc_trace(g, out, wrt[0], r->val, &t) != GRADC_OK)
    return report(g);
  const char *wname = gradc_var_name(g, wrt[0]), *oname = gradc_output_name(g, out);
  int no = gradc_output_count(g);
  if (r->o->json) {
    json_t *root = json_object(), *tr = jobj(root, "trace"), *rows = json_array();
    json_object_set_new(tr, "wrt", json_string(wname));
    json_object_set_new(tr, "output", json_string(oname));
    for (int i = 0; i < t->nrows; i++) {
      json_t *row = json_object();
      json_object_set_new(row, "name", json_string(t->rows[i].name));
      json_object_set_new(row, "definition", json_string(t->rows[i].def));
      json_object_set_new(row, "value", jnum(t->rows[i].value));
      json_object_set_new(row, "tangent", jnum(t->rows[i].tangent));
      json_object_set_new(row, "adjoint", jnum(t->rows[i].adjoint));
      json_array_append_new(rows, row);
    }
    json_object_set_new(tr, "rows", rows);
    json_t *outs = jobj(tr, "outputs");
    for (int o = 0; o < no; o++)
      json_object_set_new(outs, gradc_output_name(g, o), json_string(t->out_row[o]));
    json_print(root);
  } else {
    int w = 10;
    for (int i = 0; i < t->nrows; i++) {
      int len = (int)strlen(t->rows[i].name) + 3 + (int)strlen(t->rows[i].def);
      if (len > w)
        w = len;
    }
    char h1[64], h2[64];
    snprintf(h1, sizeof h1, "tangent wrt %s", wname);
    snprintf(h2, sizeof h2, "adjoint of %s", oname);
    printf("%-*s  %16s  %16s  %16s\n", w, "node", "value", h1, h2);
    for (int i = 0; i < t->nrows; i++) {
      char def[4096];
      snprintf(def, sizeof def, "%s = %s", t->rows[i].name, t->rows[i].def);
      printf("%-*s  %16.10g  %16.10g  %16.10g\n", w, def, t->rows[i].value, t->rows[i].tangent,
             t->rows[i].adjoint);
    }
    for (int o = 0; o < no; o++)
      printf("%s = %s\n", gradc_output_name(g, o), t->out_row[o]);
  }
  gradc_trace_free(g, t);
  return 0;
}

/* ---- emit and dot ----------------------------------------------------------------- */

/* Write a file atomically: a temporary file in the same directory, then
 * rename, so a failed run leaves any previous file intact. */
static int write_atomic(const char *path, const char *text) {
  size_t n = strlen(path);
  char *tmp = malloc(n + 16);
  if (!tmp)
    return -1;
  snprintf(tmp, n + 16, "%s.tmpXXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    fprintf(stderr, "gradc: error: cannot write %s: %s\n", path, strerror(errno));
    free(tmp);
    return -1;
  }
  FILE *f = fdopen(fd, "w");
  size_t len = strlen(text);
  int ok = f && fwrite(text, 1, len, f) == len;
  ok &= f && fflush(f) == 0 && fsync(fd) == 0;
  if (f)
    ok &= fclose(f) == 0;
  else
    close(fd);
  if (ok && rename(tmp, path) == 0) {
    free(tmp);
    return 0;
  }
  fprintf(stderr, "gradc: error: cannot write %s: %s\n", path, strerror(errno));
  unlink(tmp);
  free(tmp);
  return -1;
}

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

static int cmd_emit(Run *r) {
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
  GradcStatus s = gradc_emit(r->g, prefix, &src, o->header ? &hdr : NULL, hname);
  free(prefix);
  if (s != GRADC_OK)
    return report(r->g);
  int rc = 0;
  if (o->header && write_atomic(o->header, hdr) < 0)
    rc = EXIT_INPUT;
  else if (o->out ? write_atomic(o->out, src) < 0 : fputs(src, stdout) < 0)
    rc = EXIT_INPUT;
  free(src);
  free(hdr);
  return rc;
}

static int cmd_dot(Run *r) {
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

/* Options that take a value, as "--opt VALUE" or "--opt=VALUE". */
static const char *take(int argc, char **argv, int *i, const char *name, const char *cmd, int *bad) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n))
    return NULL;
  if (argv[*i][n] == '=')
    return argv[*i] + n + 1;
  if (argv[*i][n])
    return NULL;
  if (*i + 1 >= argc) {
    usage_error(cmd, "%s needs a value", name);
    *bad = 1;
    return NULL;
  }
  return argv[++*i];
}

int main(int argc, char **argv) {
  Opts o = {.tol = 1e-6};
  if (argc < 2) {
    help(NULL);
    return EXIT_USAGE;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("gradc %s\n", GRADC_VERSION);
    return 0;
  }
  if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
    help(NULL);
    return 0;
  }
  o.cmd = argv[1];
  int known = 0;
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    known |= !strcmp(commands[i], o.cmd);
  if (!known) {
    usage_error(NULL, "unknown command '%s'", o.cmd);
    return EXIT_USAGE;
  }
  char cmdsp[32];
  snprintf(cmdsp, sizeof cmdsp, "%s ", o.cmd);
  o.assign = calloc((size_t)argc, sizeof *o.assign);
  o.tangent = calloc((size_t)argc, sizeof *o.tangent);
  if (!o.assign || !o.tangent)
    return EXIT_INPUT;
  int bad = 0;
  for (int i = 2; i < argc && !bad; i++) {
    const char *a = argv[i], *v;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      help(o.cmd);
      return 0;
    } else if (!strcmp(a, "--version")) {
      printf("gradc %s\n", GRADC_VERSION);
      return 0;
    } else if (!strcmp(a, "--json")) {
      o.json = 1;
    } else if (!strcmp(a, "--grad")) {
      o.grad_dot = 1;
    } else if (!strcmp(a, "--tangent")) {
      while (i + 1 < argc && is_assign(argv[i + 1]))
        o.tangent[o.ntangent++] = argv[++i];
      if (o.ntangent == 0) {
        usage_error(cmdsp, "--tangent needs NAME=VALUE words");
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
    } else if ((v = take(argc, argv, &i, "--tol", cmdsp, &bad))) {
      if (!parse_number(v, &o.tol) || !(o.tol > 0)) {
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
    } else if ((v = take(argc, argv, &i, "--backend", cmdsp, &bad))) {
      if (!strcmp(v, "tcc"))
        o.backend = GRADC_BACKEND_TCC;
      else if (!strcmp(v, "cc"))
        o.backend = GRADC_BACKEND_CC;
      else {
        usage_error(cmdsp, "--backend must be tcc or cc, not '%s'", v);
        bad = 1;
      }
    } else if (bad) {
      break;
    } else if (a[0] == '-' && a[1]) {
      usage_error(cmdsp, "unknown option '%s'", a);
      bad = 1;
    } else if (is_assign(a)) {
      o.assign[o.nassign++] = argv[i];
    } else if (!o.file) {
      o.file = a;
    } else {
      usage_error(cmdsp, "unexpected argument '%s' (values are NAME=VALUE)", a);
      bad = 1;
    }
  }
  int rc = 0;
  if (bad) {
    rc = EXIT_USAGE;
    goto out;
  }
  if (!strcmp(o.cmd, "repl") || !strcmp(o.cmd, "train")) {
    fprintf(stderr, "gradc: %s is not implemented yet\n", o.cmd);
    rc = EXIT_USAGE;
    goto out;
  }
  if (!o.file) {
    usage_error(cmdsp, "%s needs a FILE", o.cmd);
    rc = EXIT_USAGE;
    goto out;
  }
  rng_state = o.seed;
  Gradc *g = gradc_new();
  if (!g) {
    fprintf(stderr, "gradc: error: out of memory\n");
    rc = EXIT_INPUT;
    goto out;
  }
  gradc_set_backend(g, o.backend);
  if (gradc_compile_file(g, o.file) != GRADC_OK) {
    rc = report(g);
    gradc_free(g);
    goto out;
  }
  Run r = {.g = g, .o = &o, .nv = gradc_var_count(g)};
  if (!strcmp(o.cmd, "emit")) {
    rc = cmd_emit(&r);
  } else if (!strcmp(o.cmd, "dot")) {
    rc = cmd_dot(&r);
  } else {
    int *wrt = NULL, nwrt = 0;
    r.val = calloc((size_t)r.nv + 1, sizeof *r.val);
    if (!r.val || parse_wrt(g, o.file, o.wrt, &wrt, &nwrt) < 0 ||
        gather_values(g, &o, r.val, !strcmp(o.cmd, "check")) < 0) {
      rc = EXIT_INPUT;
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
        rc = cmd_jacobian(&r, wrt, nwrt);
      else if (!strcmp(o.cmd, "hessian"))
        rc = cmd_hessian(&r, wrt, nwrt);
      else if (!strcmp(o.cmd, "check"))
        rc = cmd_check(&r, wrt, nwrt);
      else if (!strcmp(o.cmd, "trace"))
        rc = cmd_trace(&r, wrt, nwrt);
      else {
        fprintf(stderr, "gradc: %s is not implemented yet\n", o.cmd);
        rc = EXIT_USAGE;
      }
    }
    free(wrt);
    free(r.val);
  }
  gradc_free(g);
out:
  free(o.assign);
  free(o.tangent);
  return rc;
}
