/* cli_values.c: values for a command that reads one output only (SPEC 2:
 * "eval --output pred needs no value for a variable that pred does not
 * depend on"). The variables that the output needs (gradc_output_needs)
 * and the wrt variables get their values as gather_values gives them;
 * the others, when nothing gives them a value, get zeros as placeholders,
 * never read by the output, their symbolic dimensions the size that a
 * variable with a value has (or 1 when the output needs no such size), so
 * that no default file of theirs is read and nobody is asked for them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The size of symbolic dimension k from the variables that have values,
 * or the NAME=SIZE given; -1 if none. */
static long bound_size(Gradc *g, int k) {
  for (int v = 0; v < gradc_var_count(g); v++) {
    long dims[4], vd[4];
    int rank;
    if (!gradc_get_value(g, v, dims, &rank))
      continue;
    int r = gradc_var_shape(g, v, vd);
    for (int j = 0; j < r && j < rank; j++)
      if (vd[j] == -(long)k - 1)
        return dims[j];
  }
  return gradc_dim_value(g, k);
}

/* Does a needed variable have symbolic dimension k (so that its value,
 * perhaps a default read later, binds it)? */
static int needed_dim(Gradc *g, const unsigned char *need, int k) {
  for (int v = 0; v < gradc_var_count(g); v++) {
    long vd[4];
    int r = gradc_var_shape(g, v, vd);
    for (int j = 0; need[v] && j < r; j++)
      if (vd[j] == -(long)k - 1)
        return 1;
  }
  return 0;
}

/* Placeholders for the variables not needed and without a value, except
 * those with a size that a needed variable binds and that nothing has
 * bound yet. Returns how many were left, or -1 out of memory. */
static int placeholders(Gradc *g, const unsigned char *need) {
  int left = 0;
  for (int v = 0; v < gradc_var_count(g); v++) {
    if (need[v] || gradc_get_value(g, v, NULL, NULL))
      continue;
    long dims[4], n = 1;
    int rank = gradc_var_shape(g, v, dims), later = 0;
    for (int j = 0; j < rank; j++) {
      if (dims[j] >= 0) {
        n *= dims[j];
        continue;
      }
      int k = (int)(-dims[j] - 1);
      long s = bound_size(g, k);
      if (s < 0 && needed_dim(g, need, k))
        later = 1; /* a size the output needs: a placeholder must not make it 1 */
      dims[j] = s > 0 ? s : 1;
      n *= dims[j];
    }
    if (later) {
      left++;
      continue;
    }
    double *zeros = calloc((size_t)n + 1, sizeof *zeros);
    if (!zeros)
      return -1;
    gradc_set_value(g, v, zeros, dims, rank);
    free(zeros);
  }
  return left;
}

int gather_values_for(Gradc *g, const Opts *o, int out, const int *wrt, int nwrt, int random_scalars) {
  int nv = gradc_var_count(g);
  unsigned char *need = out >= 0 ? calloc((size_t)nv + 1, 1) : NULL;
  if (!need)
    return gather_values(g, o, random_scalars);
  if (given_values(g, o)) {
    free(need);
    return report(g);
  }
  if (gradc_output_needs(g, out, need) != GRADC_OK) {
    free(need);
    return report(g);
  }
  for (int k = 0; k < nwrt; k++)
    need[wrt[k]] = 1;
  int rc = 0, left = placeholders(g, need);
  if (!rc && left > 0) { /* the sizes that needed variables' defaults bind, then the rest */
    gradc_set_defaults(g, o->seed, random_scalars);
    gradc_diag_clear(g);
    left = placeholders(g, need);
  }
  if (!rc && left < 0) {
    fprintf(stderr, "gradc: error: out of memory\n");
    rc = EXIT_INPUT;
  }
  if (!rc && gradc_set_defaults(g, o->seed, random_scalars) != GRADC_OK)
    rc = report(g);
  free(need);
  return rc;
}

int lazy_output(Gradc *g, const Opts *o) {
  const char *name = o->output ? o->output : o->loss;
  if (!strcmp(o->cmd, "eval")) /* trace shows every output's table: not lazy */
    return name ? gradc_output_index(g, name) : -1;
  if (!strcmp(o->cmd, "hessian") || !strcmp(o->cmd, "hvp") || !strcmp(o->cmd, "spectrum") ||
      !strcmp(o->cmd, "landscape")) {
    if (name)
      return gradc_output_index(g, name);
    for (int i = 0; i < gradc_output_count(g); i++)
      if (is_scalar_output(g, i))
        return i;
  }
  return -1;
}

int placeholders_for(Gradc *g, int out, const int *wrt, int nwrt) {
  unsigned char *need = calloc((size_t)gradc_var_count(g) + 1, 1);
  if (!need || gradc_output_needs(g, out, need) != GRADC_OK) {
    free(need);
    return need ? report(g) : EXIT_INPUT;
  }
  for (int k = 0; k < nwrt; k++)
    need[wrt[k]] = 1;
  int left = placeholders(g, need);
  free(need);
  if (left < 0) {
    fprintf(stderr, "gradc: error: out of memory\n");
    return EXIT_INPUT;
  }
  return 0;
}
