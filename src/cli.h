/* cli.h: the commands of the CLI, shared with the REPL (repl.c). Both use
 * only gradc.h; they are the only files that print and choose exit codes. */
#ifndef GRADC_CLI_H
#define GRADC_CLI_H

#include <jansson.h>

#include "gradc.h"

enum { EXIT_INPUT = 1, EXIT_USAGE = 2, EXIT_MISMATCH = 3, EXIT_NONFINITE = 4 };

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
  const char *loss, *optimizer, *save;
  long steps, batch;
  int blas;
  double lr;
  int dim;             /* landscape: --dim, --grid, --along, --range */
  long grid;
  const char *along, *range;
  const char *abi;     /* emit --abi default|array */
} Opts;

typedef struct Run {
  Gradc *g;
  const Opts *o;
  int nv;
} Run;

void usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int report(Gradc *g);                 /* print the diagnostics; EXIT_INPUT */
int parse_number(const char *s, double *x);
int gather_values(Gradc *g, const Opts *o, int random_scalars);
int parse_wrt(Gradc *g, const char *file, const char *list, int **wrt, int *nwrt);
int is_scalar_output(Gradc *g, int o);
/* --output NAME, which must be scalar, by default the first scalar output;
 * -1 after an error (printed), with *rc its exit code. */
int scalar_output_arg(Run *r, const char *cmd, int *rc);
void print_named(const char *name, const double *d, const long *dims, int rank);
void print_num(double x);              /* %.10g, or NaN, Infinity, -Infinity */
long count(const long *dims, int rank); /* elements of a shape */
/* JSON (SPEC 2.2): a number (non-finite ones as strings), a tensor as
 * nested arrays, root[key] created on first use, and printing (frees root). */
json_t *jnum(double x);
json_t *jtensor(const double *d, const long *dims, int rank);
json_t *jobj(json_t *root, const char *key);
void json_print(json_t *root);
/* Arrays of zeros, one per wrt variable in its shape; sizes[k] gets its size. */
double **zero_tangents(Gradc *g, const int *wrt, int nwrt, long *sizes);
void free_tangents(double **t, int n);
int write_atomic(const char *path, const char *text);
int write_atomic_data(const char *path, const void *data, size_t len);

/* each returns an exit code and prints its results */
int cmd_eval(Run *r);
int cmd_grad(Run *r, const int *wrt, int nwrt);
int cmd_jvp(Run *r, int *wrt, int nwrt);      /* wrt has room for the tangents' variables */
int cmd_jacobian(Run *r, const int *wrt, int nwrt);
int cmd_hessian(Run *r, const int *wrt, int nwrt);
int cmd_check(Run *r, const int *wrt, int nwrt);  /* check.c */
int cmd_trace(Run *r, const int *wrt, int nwrt);
int cmd_train(Run *r);
int cmd_emit(Run *r);
int cmd_dot(Run *r);

/* cmd_landscape.c */
extern const char landscape_help[];  /* its --help text */
/* Usage errors of landscape's options (any command): 0 or -1 after printing. */
int landscape_usage(const Opts *o);
int cmd_landscape(Run *r);

/* repl.c */
int repl_main(const Opts *o);

#endif
