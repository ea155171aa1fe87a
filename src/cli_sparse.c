/* cli_sparse.c: `gradc sparsity` and the --sparse forms of `jacobian` and
 * `hessian` (SPEC section 2). Uses only gradc.h.
 *
 * Rows and columns: a Jacobian's rows are the elements of the outputs
 * stacked in the file's order (each output row-major), its columns the
 * elements of the wrt variables stacked in --wrt order (each row-major); a
 * Hessian's rows and columns are both the wrt elements. The JSON gives
 * these blocks as "rows" and "cols" ({"output"/"wrt", "offset",
 * "shape"}), the nonzeros as "row", "col" (and "value") arrays in
 * row-major order. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "numtext.h"

/* Output in big chunks, integers by hand: a sparse matrix may have
 * millions of entries, and printf per number would be most of the run. */
typedef struct Out {
  char buf[1 << 16];
  size_t n;
} Out;

static void out_flush(Out *o) {
  fwrite(o->buf, 1, o->n, stdout);
  o->n = 0;
}

static void out_str(Out *o, const char *s) {
  size_t len = strlen(s);
  if (o->n + len > sizeof o->buf)
    out_flush(o);
  if (len > sizeof o->buf) {
    fputs(s, stdout);
    return;
  }
  memcpy(o->buf + o->n, s, len);
  o->n += len;
}

static void out_long(Out *o, long v) {
  char t[24];
  int k = 0;
  unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;
  do
    t[k++] = (char)('0' + u % 10);
  while (u /= 10);
  if (o->n + 24 > sizeof o->buf)
    out_flush(o);
  if (v < 0)
    o->buf[o->n++] = '-';
  while (k)
    o->buf[o->n++] = t[--k];
}

/* A number: JSON as json_print writes it (17 digits, a real always looks
 * like one: 402.0, non-finite ones as strings), or for people as
 * print_num does (10 digits, NaN, Infinity). */
static void out_num(Out *o, double x, int json) {
  char s[40];
  if (isnan(x)) {
    out_str(o, json ? "\"NaN\"" : "NaN");
  } else if (isinf(x)) {
    out_str(o, x > 0 ? (json ? "\"Infinity\"" : "Infinity") : (json ? "\"-Infinity\"" : "-Infinity"));
  } else if (x == (double)(long)x && fabs(x) < 1e15 && !(x == 0 && signbit(x))) {
    out_long(o, (long)x); /* an integer: no printf */
    if (json)
      out_str(o, ".0");
  } else {
    if (json)
      snprintf(s, sizeof s, "%.17g", x);
    else
      num_format_g10(s, x);
    if (json && !strpbrk(s, ".e"))
      strcat(s, ".0");
    out_str(o, s);
  }
}

static void put_real(double x) {
  Out *o = malloc(sizeof *o);
  if (!o)
    return;
  o->n = 0;
  out_num(o, x, 1);
  out_flush(o);
  free(o);
}

/* "x (1000)" lists of the blocks, for the human form */
static void blocks_text(Gradc *g, const char *what, const int *idx, int n, int outputs) {
  printf("%s", what);
  for (int k = 0; k < n; k++) {
    long dims[4];
    int rank = outputs ? gradc_output_shape(g, idx[k], dims) : gradc_var_shape(g, idx[k], dims);
    printf("%s%s", k ? ", " : "", outputs ? gradc_output_name(g, idx[k]) : gradc_var_name(g, idx[k]));
    if (rank > 0) {
      putchar('[');
      for (int d = 0; d < rank; d++) {
        long v = dims[d] < 0 ? gradc_dim_value(g, (int)~dims[d]) : dims[d];
        printf("%s%ld", d ? ", " : "", v);
      }
      putchar(']');
    }
  }
}

static void json_blocks(Gradc *g, const char *key, const char *kind, const int *idx, int n, int outputs) {
  printf("  \"%s\": [", key);
  long off = 0;
  for (int k = 0; k < n; k++) {
    long dims[4];
    int rank = outputs ? gradc_output_shape(g, idx[k], dims) : gradc_var_shape(g, idx[k], dims);
    printf("%s{\"%s\": \"%s\", \"offset\": %ld, \"shape\": [", k ? ", " : "", kind,
           outputs ? gradc_output_name(g, idx[k]) : gradc_var_name(g, idx[k]), off);
    long size = 1;
    for (int d = 0; d < rank; d++) {
      long v = dims[d] < 0 ? gradc_dim_value(g, (int)~dims[d]) : dims[d];
      printf("%s%ld", d ? ", " : "", v);
      size *= v;
    }
    printf("]}");
    off += size;
  }
  printf("],\n");
}

static void json_indices(Out *o, const char *key, const GradcSparse *s, int rows, int last) {
  out_str(o, "  \"");
  out_str(o, key);
  out_str(o, "\": [");
  for (long i = 0, q = 0; i < s->nrow; i++)
    for (long p = s->rowptr[i]; p < s->rowptr[i + 1]; p++, q++) {
      if (q)
        out_str(o, ", ");
      out_long(o, rows ? i : s->col[p]);
    }
  out_str(o, last ? "]\n" : "],\n");
}

static const char *mode_name(const GradcSparse *s) {
  return s->hessian ? "hvp" : s->reverse ? "reverse" : "forward";
}

/* The whole report: the pattern (sparsity) or the nonzeros (--sparse). */
static void print_sparse(Run *r, const GradcSparse *s, const int *outs, int nouts, const int *wrt, int nwrt,
                         int values) {
  Gradc *g = r->g;
  double total = (double)s->nrow * (double)s->ncol;
  double density = total > 0 ? (double)s->nnz / total : 0;
  if (r->o->json) {
    printf("{\n  \"kind\": \"%s\",\n  \"shape\": [%ld, %ld],\n", s->hessian ? "hessian" : "jacobian", s->nrow,
           s->ncol);
    json_blocks(g, "rows", s->hessian ? "wrt" : "output", s->hessian ? wrt : outs, s->hessian ? nwrt : nouts,
                !s->hessian);
    json_blocks(g, "cols", "wrt", wrt, nwrt, 0);
    printf("  \"nnz\": %ld,\n  \"density\": ", s->nnz);
    put_real(density);
    printf(",\n  \"colours\": %d,\n  \"mode\": \"%s\",\n", s->ncolours, mode_name(s));
    fflush(stdout);
    Out *o = malloc(sizeof *o);
    if (!o)
      return;
    o->n = 0;
    json_indices(o, "row", s, 1, 0);
    json_indices(o, "col", s, 0, !values);
    if (values) {
      out_str(o, "  \"value\": [");
      for (long q = 0; q < s->nnz; q++) {
        if (q)
          out_str(o, ", ");
        out_num(o, s->value[q], 1);
      }
      out_str(o, "]\n");
    }
    out_str(o, "}\n");
    out_flush(o);
    free(o);
    return;
  }
  if (s->hessian) {
    printf("hessian of %s w.r.t. (", gradc_output_name(g, outs[0]));
  } else {
    blocks_text(g, "jacobian of (", outs, nouts, 1);
    printf(") w.r.t. (");
  }
  blocks_text(g, "", wrt, nwrt, 0);
  printf("): %ld x %ld\n", s->nrow, s->ncol);
  printf("nonzeros: %ld (density %.6g)\n", s->nnz, density);
  if (s->hessian)
    printf("colours: %d (star colouring: one HVP per colour)\n", s->ncolours);
  else if (s->jvp_sweeps >= 0 && s->vjp_sweeps >= 0)
    printf("colours: %d (%s mode, one %s per colour; forward %d, reverse %d)\n", s->ncolours,
           mode_name(s), s->reverse ? "VJP" : "JVP", s->jvp_sweeps, s->vjp_sweeps);
  else
    printf("colours: %d (%s mode, one %s per colour)\n", s->ncolours, mode_name(s), s->reverse ? "VJP" : "JVP");
  if (!values)
    return;
  printf("# row col value\n");
  fflush(stdout);
  Out *o = malloc(sizeof *o);
  if (!o)
    return;
  o->n = 0;
  for (long i = 0; i < s->nrow; i++)
    for (long q = s->rowptr[i]; q < s->rowptr[i + 1]; q++) {
      out_long(o, i);
      out_str(o, " ");
      out_long(o, s->col[q]);
      out_str(o, " ");
      out_num(o, s->value[q], 0);
      out_str(o, "\n");
    }
  out_flush(o);
  free(o);
}

/* The outputs of a Jacobian: --output NAME, or every output. */
static int *jacobian_outputs(Run *r, int *nouts, int *rc) {
  Gradc *g = r->g;
  int no = gradc_output_count(g);
  int *outs = malloc(((size_t)no + 1) * sizeof *outs);
  *rc = EXIT_INPUT;
  if (!outs)
    return NULL;
  if (r->o->output) {
    int k = gradc_output_index(g, r->o->output);
    if (k < 0) {
      usage_error(r->o->cmd && !strcmp(r->o->cmd, "sparsity") ? "sparsity " : "jacobian ",
                  "--output: %s has no output '%s'", r->o->file, r->o->output);
      *rc = EXIT_USAGE;
      free(outs);
      return NULL;
    }
    outs[0] = k;
    *nouts = 1;
    return outs;
  }
  for (int o = 0; o < no; o++)
    outs[o] = o;
  *nouts = no;
  return outs;
}

static int mode_flags(Run *r, int *flags) {
  const char *mode = r->o->mode ? r->o->mode : "auto";
  if (!strcmp(mode, "forward"))
    *flags |= GRADC_SPARSE_FORWARD;
  else if (!strcmp(mode, "reverse"))
    *flags |= GRADC_SPARSE_REVERSE;
  else if (strcmp(mode, "auto")) {
    usage_error(r->o->cmd && !strcmp(r->o->cmd, "sparsity") ? "sparsity " : "jacobian ",
                "--mode must be forward, reverse or auto, not '%s'", mode);
    return EXIT_USAGE;
  }
  return 0;
}

/* sparsity [--hessian]: the pattern and its colouring; --sparse: the
 * nonzeros too. */
static int sparse_report(Run *r, const int *wrt, int nwrt, int hessian, int values) {
  Gradc *g = r->g;
  int rc = 0, nouts = 0, flags = GRADC_SPARSE_AT_VALUES;
  int *outs = NULL;
  if (hessian) {
    int out = scalar_output_arg(r, r->o->cmd && !strcmp(r->o->cmd, "sparsity") ? "sparsity --hessian" : "hessian",
                                &rc);
    if (out < 0)
      return rc;
    outs = malloc(sizeof *outs);
    if (!outs)
      return EXIT_INPUT;
    outs[0] = out;
    nouts = 1;
  } else {
    if ((rc = mode_flags(r, &flags)) != 0)
      return rc;
    outs = jacobian_outputs(r, &nouts, &rc);
    if (!outs)
      return rc;
  }
  GradcSparse *s = hessian ? gradc_sparse_hessian(g, outs[0], wrt, nwrt, flags)
                           : gradc_sparse_jacobian(g, outs, nouts, wrt, nwrt, flags);
  if (!s || (values && gradc_sparse_eval(s) != GRADC_OK)) {
    gradc_sparse_free(s);
    free(outs);
    return report(g);
  }
  print_sparse(r, s, outs, nouts, wrt, nwrt, values);
  gradc_sparse_free(s);
  free(outs);
  return 0;
}

/* The one output that sparsity reads: --output's, or with --hessian the
 * first scalar output; -1 when it is every output or not known. */
static int lazy_output_sparsity(Run *r) {
  Gradc *g = r->g;
  if (r->o->output)
    return gradc_output_index(g, r->o->output);
  for (int i = 0; i < gradc_output_count(g); i++)
    if (is_scalar_output(g, i))
      return i;
  return -1;
}

/* Values for a pattern: the sizes of the symbolic dimensions (NAME=SIZE or
 * from values) and the values of the variables outside wrt, which count as
 * constants at those values; a variable without a value is unknown (any
 * value) and a wrt variable's value does not matter. Returns 0 or an exit
 * code. */
int gather_sizes(Run *r) { return gather_sizes_for(r, -1, NULL, 0); }

int gather_sizes_for(Run *r, int out, const int *wrt, int nwrt) {
  Gradc *g = r->g;
  const Opts *o = r->o;
  if (given_values(g, o))
    return report(g);
  int rc = out >= 0 ? placeholders_for(g, out, wrt, nwrt) : 0;
  if (rc)
    return rc;
  if (gradc_set_defaults(g, o->seed, 0) == GRADC_OK)
    return 0;
  /* missing values: the pattern holds for any value of those variables;
   * only the sizes must be known. Any other error is reported. */
  for (int i = 0; i < gradc_diag_count(g); i++) {
    const char *m = gradc_diag_message(g, i);
    if (strncmp(m, "no value for", 12) && !strstr(m, "symbolic dimension that no data binds"))
      return report(g);
  }
  for (int k = 0; k < gradc_dim_count(g); k++)
    if (gradc_dim_value(g, k) < 0) { /* the size, not the missing values, is what is needed */
      fprintf(stderr, "gradc: error: the size of dimension %s is not known: give it as %s=SIZE\n",
              gradc_dim_name(g, k), gradc_dim_name(g, k));
      return EXIT_INPUT;
    }
  gradc_diag_clear(g);
  return 0;
}

int jacobian_by_colours(Run *r, const int *wrt, int nwrt, double **block, const long *osize,
                        const long *wsize, int *colours, int *reverse) {
  Gradc *g = r->g;
  int no = gradc_output_count(g);
  long nin = 0, nout = 0;
  for (int k = 0; k < nwrt; k++)
    nin += wsize[k];
  for (int o = 0; o < no; o++)
    nout += osize[o];
  long side = nin < nout ? nin : nout;
  if (side < 64 || (double)nin * (double)nout > (double)(1l << 26))
    return 0; /* small (or huge): the dense sweeps */
  int before = gradc_diag_count(g);
  GradcSparse *s = gradc_sparse_jacobian(g, NULL, 0, wrt, nwrt, GRADC_SPARSE_AT_VALUES | GRADC_SPARSE_IF_FEW);
  if (!s || 2l * s->ncolours > side) {
    if (!s && gradc_diag_count(g) > before) /* too dense to hold: the dense sweeps */
      gradc_diag_clear(g);
    gradc_sparse_free(s);
    return 0;
  }
  if (gradc_sparse_eval(s) != GRADC_OK) {
    gradc_sparse_free(s);
    return -1;
  }
  for (long i = 0, o = 0, r0 = 0; i < s->nrow; i++) {
    while (i >= r0 + osize[o])
      r0 += osize[o++];
    for (long q = s->rowptr[i]; q < s->rowptr[i + 1]; q++) {
      long j = s->col[q], c0 = 0;
      int k = 0;
      while (j >= c0 + wsize[k])
        c0 += wsize[k++];
      block[o * nwrt + k][(i - r0) * wsize[k] + (j - c0)] = s->value[q];
    }
  }
  *colours = s->ncolours;
  *reverse = s->reverse;
  gradc_sparse_free(s);
  return 1;
}

int cmd_sparsity(Run *r, const int *wrt, int nwrt) {
  /* --output F (or --hessian's output): only the sizes that F and the wrt
   * variables need are asked for */
  int out = r->o->output || r->o->hessian ? lazy_output_sparsity(r) : -1;
  int rc = gather_sizes_for(r, out, wrt, nwrt);
  return rc ? rc : sparse_report(r, wrt, nwrt, r->o->hessian, 0);
}

int cmd_jacobian_sparse(Run *r, const int *wrt, int nwrt) { return sparse_report(r, wrt, nwrt, 0, 1); }

int cmd_hessian_sparse(Run *r, const int *wrt, int nwrt) { return sparse_report(r, wrt, nwrt, 1, 1); }
