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
  int sparse, hessian;  /* --sparse (jacobian, hessian, emit), --hessian (sparsity) */
  const char *inputs, *wrt, *mode, *out, *header, *prefix, *output;
  double tol;
  unsigned long long seed;
  GradcBackend backend;
  int backend_given;   /* --backend: pinned (else tiered where calls are many) */
  char **assign;       /* NAME=VALUE words */
  int nassign;
  char **tangent;      /* jvp --tangent words */
  int ntangent;
  char **vector;       /* hvp --vector words */
  int nvector;
  const char *loss, *optimizer, *save;
  long steps, batch;
  int blas;            /* --blas 1, --no-blas -1, else 0 (the library's default) */
  double lr;
  int k;               /* spectrum --k (0: not given) */
  long probes;         /* spectrum --probes (-1: not given) */
  int dim;             /* landscape: --dim, --grid, --along, --range */
  long grid;
  const char *along, *range;
  int threads;         /* --threads (0: the cores available) */
  long block_rows;     /* --block-rows (0: the default) */
  const char *abi;     /* emit --abi default|array */
  const char *expr, *expr_d; /* REPL: the one output is this expression (not a name),
                                shown as EXPR and, in derivatives, d(EXPR)/dw */
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
/* NAME=VALUE words whose NAME the file lacks: printed (eval's wording), EXIT_INPUT; else 0. */
int check_assign_names(Gradc *g, const Opts *o);
/* cli_values.c: gather_values for a command that reads output `out` only
 * (-1: every output) and derivatives with respect to wrt: nothing asked
 * for, or read, for a variable that neither needs (placeholder zeros). */
int gather_values_for(Gradc *g, const Opts *o, int out, const int *wrt, int nwrt, int random_scalars);
/* The one output that command o->cmd reads, and computes alone: eval and
 * trace with --output; hessian, hvp and spectrum always (--output, --loss
 * or the first scalar output); -1: every output (jacobian --output too: its
 * sweeps cover every output). */
int lazy_output(Gradc *g, const Opts *o);
/* For a command that reads output `out` only (and the wrt variables):
 * placeholders for the other variables without a value, so that nothing
 * asks for them or for their sizes (cli_values.c). 0 or an exit code. */
int placeholders_for(Gradc *g, int out, const int *wrt, int nwrt);
int given_values(Gradc *g, const Opts *o);  /* --inputs and NAME=VALUE only; 1 if bad */
int parse_wrt(Gradc *g, const char *file, const char *list, int **wrt, int *nwrt);
int is_scalar_output(Gradc *g, int o);
/* --output NAME, which must be scalar, by default the first scalar output;
 * -1 after an error (printed), with *rc its exit code. */
int scalar_output_arg(Run *r, const char *cmd, int *rc);
void print_named(const char *name, const double *d, const long *dims, int rank);
/* How output `out` is called in human output: its name, or the REPL's
 * expression (Opts.expr); in a derivative's name (`derivative`), "(EXPR)",
 * so that d(EXPR)/dw. */
const char *output_label(Gradc *g, const Opts *o, int out, int derivative);
void print_num(double x);              /* %.10g, or NaN, Infinity, -Infinity */
void print_short(double x);            /* %.6g, or NaN, Infinity, -Infinity */
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
/* cli_files.c: the files commands write. */
int same_file(const char *a, const char *b);  /* same path, or same device and inode */
/* Every output file of the run (-o, --header, --save): not one of its input
 * files (exit 2), not a directory, in a writable directory (exit 1); 0 if
 * fine, else the exit code after printing why. g: the compiled file, for
 * its @FILE defaults (NULL: none). */
int check_outputs(Gradc *g, const Opts *o);
/* Atomic writes: the data into a temporary file beside path (beside a
 * symlink's target), put in place by write_commit; a FIFO, device or
 * socket is written into directly by write_begin. 0 or -1 after printing. */
typedef struct Pending {
  char *tmp, *target;
} Pending;
int write_begin(const char *path, const void *data, size_t len, Pending *p);
int write_commit(Pending *p, const char *path);
void write_abort(Pending *p);
int write_atomic(const char *path, const char *text);
int write_atomic_data(const char *path, const void *data, size_t len);
/* --output NAME, which must be scalar, by default the first scalar output;
 * -1 after an error, with *rc its exit code. */
int scalar_output_arg(Run *r, const char *cmd, int *rc);

/* cmd_hvp.c: a direction (jvp --tangent, hvp --vector): each NAME=VALUE
 * word read as a value of variable NAME into dir[j] for NAME == wrt[j]
 * (sizes[j] elements; the others stay as they are). opt names the option
 * in messages, noun what a word gives ("tangent"). 0, or an exit code. */
int read_direction(Run *r, const char *opt, const char *noun, char **words, int nwords,
                   const int *wrt, int nwrt, double **dir, const long *sizes);
/* 0 if a dense n x n Hessian fits in about 1 GB; else an error that points
 * to --sparse and hvp, and its exit code. */
int hessian_size_ok(Run *r, long n);

/* each returns an exit code and prints its results */
int cmd_eval(Run *r);
int cmd_grad(Run *r, const int *wrt, int nwrt);
int cmd_jvp(Run *r, int *wrt, int nwrt);      /* wrt has room for the tangents' variables */
int cmd_jacobian(Run *r, const int *wrt, int nwrt);
int cmd_hessian(Run *r, const int *wrt, int nwrt);
int cmd_hvp(Run *r, const int *wrt, int nwrt);   /* cmd_hvp.c */
int cmd_check(Run *r, const int *wrt, int nwrt);  /* check.c */
int cmd_trace(Run *r, const int *wrt, int nwrt);
int cmd_train(Run *r);
int cmd_emit(Run *r);
int cmd_dot(Run *r);
/* cli_sparse.c */
/* The sizes of the symbolic dimensions (NAME=SIZE or values) and whatever
 * values are given; missing values are fine (a pattern holds for any). */
int gather_sizes(Run *r);
/* The same for output `out` only (-1: every output) and the wrt variables. */
int gather_sizes_for(Run *r, int out, const int *wrt, int nwrt);
/* A big Jacobian whose pattern has few colours (at most half of its
 * smaller side), from one sweep per colour into the dense blocks
 * block[o * nwrt + k] (zeroed, osize[o] x wsize[k]): 1 if done, 0 if not
 * worth it (the caller computes it), -1 on error. */
int jacobian_by_colours(Run *r, const int *wrt, int nwrt, double **block, const long *osize,
                        const long *wsize, int *colours, int *reverse);
int cmd_sparsity(Run *r, const int *wrt, int nwrt);
int cmd_jacobian_sparse(Run *r, const int *wrt, int nwrt);
int cmd_hessian_sparse(Run *r, const int *wrt, int nwrt);
int cmd_diff(Run *r);                  /* diff_cmd.c */
int cmd_spectrum(Run *r, const int *wrt, int nwrt);  /* cmd_spectrum.c */

/* cmd_landscape.c */
extern const char landscape_help[];  /* its --help text */
/* Usage errors of landscape's option values: 0 or -1 after printing (which
 * options a command takes is cli.c's table). */
int landscape_usage(const Opts *o);
int cmd_landscape(Run *r);

/* jacobian_vector.c: the Jacobian blocks (block[o * nwrt + k], row-major,
 * the output's shape then the variable's; osize/wsize their sizes) by
 * vector mode, K columns (fwd) or rows per call; fv the value function (its
 * workspace bounds K). 0 done, -1 failed (diagnostics on g), 1 vector mode
 * does not apply (a variable or output of rank 4). */
int jacobian_vector(Gradc *g, const int *wrt, int nwrt, int fwd, const long *osize,
                    const long *wsize, double **block, GradcFn *fv);
/* Directions per call for n columns (rows): at most JACOBIAN_MAX_DIRECTIONS,
 * and K directions' workspace (about twice the value's each) within
 * JACOBIAN_WORK_BUDGET bytes. 128: bench_jacobian's 1000 x 1000 Jacobian
 * of tanh(A @ x) + x^2 takes (CPU seconds, forward/reverse, libtcc)
 * 0.39/0.41 at K = 16, 0.26/0.25 at 32, 0.19/0.17 at 64, 0.12/0.15 at 128
 * and 0.10/0.11 at 256 (one direction per call: 7.7/10.7): the primal part
 * is shared by more directions, but the gain flattens while memory and
 * the code of one-direction-at-a-time rules (vector.c) grow with K. */
int jacobian_directions(GradcFn *fv, long n);
#define JACOBIAN_MAX_DIRECTIONS 128
/* from this many columns (rows) on, at least 4 calls: the tiered JIT */
#define JACOBIAN_TIERED_COLUMNS (4 * JACOBIAN_MAX_DIRECTIONS)
#define JACOBIAN_WORK_BUDGET (256l << 20)

/* train_json.c: train --json as JSON Lines, a line per reported step
 * (m[o]: the scalar outputs' values) and a summary. */
typedef struct TrainSummary {
  int loss;                         /* the output minimised */
  const char *optimizer;            /* "adam" ... */
  double lr;
  long batch;                       /* 0: the whole data */
  long steps;                       /* steps whose params are kept */
  const char *stopped;              /* "done", "interrupted", "nonfinite" */
  const char *message;              /* why it stopped, or NULL */
  const double *metrics;            /* the outputs at the kept params, or NULL */
  const char *saved;                /* the --save path when written, or NULL */
  const char *save_failed;          /* the --save path when it could not be written, or NULL */
} TrainSummary;
void train_json_step(Gradc *g, long step, const double *m);
void train_json_summary(Gradc *g, const TrainSummary *s);

/* repl.c */
int repl_main(const Opts *o);

#endif
