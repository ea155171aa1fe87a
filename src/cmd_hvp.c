/* cmd_hvp.c: `gradc hvp` and the REPL's `:hvp` (SPEC section 2):
 * Hessian-vector products of a scalar output, forward over reverse in one
 * sweep (gradc_fn_hvp_only, hvp.c); the direction as NAME=VALUE words, read as
 * jvp's --tangent is (read_direction); and the size limit of a dense
 * Hessian (hessian_size_ok). Uses only gradc.h, like cli.c. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "numtext.h"

static int in_repl(const Run *r) { return r->o->cmd && !strcmp(r->o->cmd, "repl"); }

/* "gradc: error: ..." (or "repl: error: ..." in the REPL); a usage error
 * also says where help is. */
static void verror(const Run *r, int usage, const char *fmt, va_list ap) {
  fprintf(stderr, "%s: error: ", in_repl(r) ? "repl" : "gradc");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  if (usage && !in_repl(r))
    fprintf(stderr, "Try 'gradc %s --help'.\n", r->o->cmd);
}

static void error(const Run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void error(const Run *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verror(r, 0, fmt, ap);
  va_end(ap);
}

/* Returns the exit code of a usage error (1 in the REPL). */
static int usage(const Run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A direction given as a number fills every element (a scalar broadcasts,
 * as v in jvp(E, x, v)). Returns 1 when the text was a number (*rc: 0 or an
 * exit code), 0 for anything else (JSON arrays, @FILE), which the caller
 * parses as a value of the variable. */
static int direction_literal(Run *r, const char *opt, const char *name, const char *text, double *dir,
                             long size, int *rc) {
  char *end;
  errno = 0;
  double x = strtod(text, &end);
  if (!*text || *end || isspace((unsigned char)*text))
    return 0;
  if (!num_is_decimal(text, end)) { /* 0x10: not a number as the language writes them */
    error(r, "%s %s=%s: not a number as the language writes them (decimal: 16, 1.5e3)", opt, name, text);
    *rc = EXIT_INPUT;
    return 1;
  }
  if (errno == ERANGE && fabs(x) > 1) {
    error(r, "%s %s=%s: the number is too large for a double", opt, name, text);
    *rc = EXIT_INPUT;
    return 1;
  }
  for (long i = 0; i < size; i++)
    dir[i] = x;
  return 1;
}

/* The value parser's "X=...: 'X' is declared (2) but the value is (3)",
 * said of the direction: "--vector X=...: 'X' is declared (2) but the
 * vector is (3)". Any other error as the parser says it. */
static int direction_error(Run *r, const char *opt, const char *noun) {
  Gradc *g = r->g;
  const char *m = gradc_diag_count(g) == 1 ? gradc_diag_message(g, 0) : NULL;
  const char *but = m ? strstr(m, " but the value is ") : NULL;
  if (!but && m && in_repl(r) && !gradc_diag_file(g, 0)) { /* the REPL's wording, not gradc's */
    error(r, "%s %s", opt, m);
    gradc_diag_clear(g);
    return EXIT_INPUT;
  }
  if (!but)
    return report(g);
  error(r, "%s %.*s but the %s is %s", opt, (int)(but - m), m, noun, but + strlen(" but the value is "));
  gradc_diag_clear(g);
  return EXIT_INPUT;
}

static int usage(const Run *r, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verror(r, 1, fmt, ap);
  va_end(ap);
  return in_repl(r) ? 1 : EXIT_USAGE;
}

/* "shape (3, 2)", or "a scalar" */
static void shape_of(const long *dims, int rank, char *out, size_t n) {
  if (rank == 0) {
    snprintf(out, n, "a scalar");
    return;
  }
  size_t k = (size_t)snprintf(out, n, "shape (");
  for (int i = 0; i < rank && k < n; i++)
    k += (size_t)snprintf(out + k, n - k, "%s%ld", i ? ", " : "", dims[i]);
  if (k < n)
    snprintf(out + k, n - k, ")");
}

int read_direction(Run *r, const char *opt, const char *noun, char **words, int nwords,
                   const int *wrt, int nwrt, double **dir, const long *sizes) {
  Gradc *g = r->g;
  int rc = 0;
  for (int t = 0; t < nwords && !rc; t++) {
    char *eq = strchr(words[t], '=');
    *eq = 0;
    int k = gradc_var_index(g, words[t]), j = 0;
    while (j < nwrt && wrt[j] != k)
      j++;
    for (int u = 0; u < t && k >= 0; u++)
      if (!strncmp(words[u], words[t], strlen(words[t])) && words[u][strlen(words[t])] == '=') {
        rc = usage(r, "%s names '%s' twice", opt, words[t]);
      }
    if (rc) {
    } else if (k < 0) {
      const char *hint = gradc_var_suggest(g, words[t]);
      error(r, "%s: %s has no variable '%s'%s%s%s", opt, in_repl(r) ? "the session" : r->o->file,
            words[t], hint ? " (did you mean '" : "", hint ? hint : "", hint ? "'?)" : "");
      rc = in_repl(r) ? 1 : EXIT_USAGE; /* as jvp's --tangent */
    } else if (j == nwrt) {
      char list[512] = "";
      for (int q = 0, n = 0; q < nwrt && n < (int)sizeof list; q++)
        n += snprintf(list + n, sizeof list - (size_t)n, "%s%s", q ? ", " : "", gradc_var_name(g, wrt[q]));
      rc = usage(r, "%s: '%s' is not a variable of the derivative (%s)%s", opt, words[t], list,
                 in_repl(r) ? "; add it with wrt" : "; add it with --wrt");
    } else if (direction_literal(r, opt, words[t], eq + 1, dir[j], sizes[j], &rc)) {
      /* a number: broadcast */
    } else {
      /* parse it as a value of that variable, then put the value back */
      long dims[4], d2[4];
      int rank, r2;
      double *saved = gradc_get_value(g, k, dims, &rank);
      double *copy = malloc((size_t)sizes[j] * sizeof *copy + 1);
      if (copy)
        memcpy(copy, saved, (size_t)sizes[j] * sizeof *copy);
      if (!copy || gradc_set_value_text(g, words[t], eq + 1) != GRADC_OK) {
        rc = copy ? direction_error(r, opt, noun) : report(g);
      } else {
        double *v = gradc_get_value(g, k, d2, &r2);
        int same = r2 == rank;
        for (int i = 0; same && i < rank; i++)
          same = d2[i] == dims[i];
        if (!same) {
          char want[128], got[128];
          shape_of(dims, rank, want, sizeof want);
          shape_of(d2, r2, got, sizeof got);
          error(r, "%s %s=...: '%s' has %s but the %s has %s", opt, words[t], words[t], want, noun, got);
          rc = EXIT_INPUT;
        } else {
          memcpy(dir[j], v, (size_t)sizes[j] * sizeof *v);
        }
        gradc_set_value(g, k, copy, dims, rank);
      }
      free(copy);
    }
    *eq = '=';
  }
  return rc;
}

int hessian_size_ok(Run *r, long n) {
  const double limit = 1024.0 * 1024 * 1024; /* bytes */
  double bytes = (double)n * (double)n * (double)sizeof(double);
  if (bytes <= limit)
    return 0;
  if (in_repl(r))
    error(r, ":hessian: a dense Hessian of %ld variables needs %.3g GB; :hvp gives products with it", n,
          bytes / 1e9);
  else
    error(r, "hessian: a dense Hessian of %ld variables needs %.3g GB (more than 1 GiB); "
             "--sparse gives its nonzeros, and hvp products with it",
          n, bytes / 1e9);
  return EXIT_INPUT;
}

int cmd_hvp(Run *r, const int *wrt, int nwrt) {
  Gradc *g = r->g;
  const Opts *o = r->o;
  const char *opt = in_repl(r) ? ":hvp" : "--vector";
  if (o->nvector == 0) {
    return in_repl(r) ? usage(r, ":hvp EXPR|NAME [wrt a,b] NAME=VALUE...")
                      : usage(r, "hvp needs --vector NAME=VALUE...");
  }
  int rc;
  int out = scalar_output_arg(r, "hvp", &rc);
  if (out < 0)
    return rc;
  long *sizes = calloc((size_t)nwrt + 1, sizeof *sizes);
  double **v = sizes ? zero_tangents(g, wrt, nwrt, sizes) : NULL;
  rc = v ? read_direction(r, opt, "vector", o->vector, o->nvector, wrt, nwrt, v, sizes) : EXIT_INPUT;
  GradcFn *f = rc ? NULL : gradc_fn_hvp_only(g, out, wrt, nwrt);
  if (!rc && (!f || gradc_run(f, (const double *const *)v) != GRADC_OK))
    rc = report(g);
  if (!rc) {
    const char *name = gradc_output_name(g, out);
    json_t *root = o->json ? json_object() : NULL, *outs = root ? jobj(root, "outputs") : NULL;
    json_t *hv = root ? jobj(jobj(root, "hvps"), name) : NULL;
    long dims[4];
    int rank = gradc_fn_res_shape(f, 0, dims);
    if (root)
      json_object_set_new(outs, name, jtensor(gradc_fn_res_data(f, 0), dims, rank));
    else
      print_named(output_label(g, o, out, 0), gradc_fn_res_data(f, 0), dims, rank);
    for (int k = 0; k < nwrt; k++) {
      int res = 1 + k;
      rank = gradc_fn_res_shape(f, res, dims);
      if (root) {
        json_object_set_new(hv, gradc_var_name(g, wrt[k]), jtensor(gradc_fn_res_data(f, res), dims, rank));
      } else {
        char hname[600]; /* d2L/dw.v, the REPL's d2(EXPR)/dw.v */
        snprintf(hname, sizeof hname, "d2%s/d%s.v", output_label(g, o, out, 1), gradc_var_name(g, wrt[k]));
        print_named(o->expr ? hname : gradc_fn_res_name(f, res), gradc_fn_res_data(f, res), dims, rank);
      }
    }
    if (root)
      json_print(root);
  }
  free_tangents(v, nwrt);
  free(sizes);
  return rc;
}
