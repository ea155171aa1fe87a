/* gradc.h: the public C API of gradc, the compiler for differentiable
 * expressions. The CLI, the REPL and the tests use only this header.
 *
 * A Gradc context holds one compiled program (an .expr file or string),
 * its diagnostics and the functions JIT-compiled from it. Contexts share
 * nothing, so several may be used at once. Library code never prints and
 * never exits: errors come back as a status and as diagnostics with source
 * positions, which gradc_diag_render() formats as
 *   FILE:LINE:COL: error: MESSAGE
 *   <the source line>
 *        ^
 */
#ifndef GRADC_H
#define GRADC_H

#include <stddef.h>

#define GRADC_VERSION "0.1.0"

typedef enum GradcStatus {
  GRADC_OK = 0,
  GRADC_ERR_INPUT = 1,     /* the .expr source, a value or a data file */
  GRADC_ERR_USAGE = 2,     /* the API or the command line was misused */
  GRADC_ERR_NOMEM = 4,
  GRADC_ERR_INTERNAL = 5,  /* a bug in gradc (e.g. generated C rejected) */
  GRADC_ERR_NONFINITE = 6, /* gradc_trainer_step: a loss, gradient or update
                              that is not finite (NaN or infinite) */
} GradcStatus;

typedef enum GradcBackend {
  GRADC_BACKEND_TCC = 0,   /* libtcc, in memory (default) */
  GRADC_BACKEND_CC = 1,    /* the system C compiler, a shared object, dlopen */
} GradcBackend;

typedef struct Gradc Gradc;
typedef struct GradcFn GradcFn;

/* ---- context ---------------------------------------------------------- */

Gradc *gradc_new(void);                  /* NULL when out of memory */
void gradc_free(Gradc *g);               /* frees every GradcFn too */
void gradc_set_backend(Gradc *g, GradcBackend b);   /* before building functions */
/* Matrix-matrix products by OpenBLAS's cblas_dgemm, in JIT code and in
 * emitted C (which then links with -lopenblas); -1 if gradc was built
 * without OpenBLAS. Results may differ from the loops in the last bits. */
int gradc_set_blas(Gradc *g, int on);

/* ---- compiling a program (once per context) --------------------------- */

GradcStatus gradc_compile_file(Gradc *g, const char *path);
/* `name` is used in diagnostics; `text` need not be NUL-terminated. */
GradcStatus gradc_compile_string(Gradc *g, const char *name,
                                 const char *text, size_t len);

/* ---- diagnostics ------------------------------------------------------ */

int gradc_diag_count(const Gradc *g);
const char *gradc_diag_message(const Gradc *g, int i);  /* the bare message */
int gradc_diag_line(const Gradc *g, int i);             /* 1-based, 0 if none */
int gradc_diag_col(const Gradc *g, int i);
/* All diagnostics formatted; the string is owned by g, valid until the
 * next call on g. */
const char *gradc_diag_render(Gradc *g);
/* Forget the diagnostics so far (a long-lived context, as in the REPL). */
void gradc_diag_clear(Gradc *g);
/* Add a diagnostic of the caller's own (e.g. a bad value) without a place. */
void gradc_error(Gradc *g, GradcStatus kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the program ------------------------------------------------------ */

int gradc_var_count(const Gradc *g);
const char *gradc_var_name(const Gradc *g, int i);
int gradc_var_is_param(const Gradc *g, int i);
int gradc_var_index(const Gradc *g, const char *name);  /* -1 if none */
/* A suggestion for a misspelt variable name, or NULL. */
const char *gradc_var_suggest(const Gradc *g, const char *name);
/* The default value of a scalar variable, if the file gives one. */
int gradc_var_default(const Gradc *g, int i, double *value);
/* Shapes: returns the rank and fills dims; a symbolic dimension k is
 * given as -(k+1). */
int gradc_var_shape(const Gradc *g, int i, long *dims);
int gradc_output_shape(const Gradc *g, int i, long *dims);
int gradc_dim_count(const Gradc *g);
const char *gradc_dim_name(const Gradc *g, int k);
long gradc_dim_value(const Gradc *g, int k);   /* bound size, or -1 */

/* ---- values ------------------------------------------------------------ */

/* Values of variables, kept on the context for gradc_run. Later calls
 * override earlier ones; gradc_set_defaults then fills in what is unset
 * from the file (constants, seeded randn/uniform, zeros/ones, data files),
 * binds the symbolic dimensions and checks that they agree, and lists
 * every variable that still has no value. `random_scalars` gives scalars
 * without any value a seeded random one (for `check`). */
GradcStatus gradc_set_value(Gradc *g, int var, const double *data, const long *dims, int rank);
/* text: a number, a JSON array, @FILE.json, or @FILE.csv[:COLS] */
GradcStatus gradc_set_value_text(Gradc *g, const char *name, const char *text);
GradcStatus gradc_set_inputs_file(Gradc *g, const char *path);  /* a JSON object */
GradcStatus gradc_set_defaults(Gradc *g, unsigned long long seed, int random_scalars);
/* The value of a variable (NULL if unset); the caller may change the
 * numbers in place between runs (finite differences do). */
double *gradc_get_value(const Gradc *g, int var, long *dims, int *rank);

int gradc_output_count(const Gradc *g);
const char *gradc_output_name(const Gradc *g, int i);
int gradc_output_index(const Gradc *g, const char *name);
int gradc_node_count(const Gradc *g);    /* nodes in the DAG */
/* Whether output `out` depends on variable `var` through differentiable
 * operators (comparisons, argmax, onehot and sign have derivative 0). */
int gradc_differentiable(Gradc *g, int out, int var);

/* ---- functions -------------------------------------------------------- */

/* A compiled function takes one array per argument and writes one array
 * per result. Arguments are the variables in declaration order, then (for
 * JVP functions) the tangents of the wrt variables in wrt order. Results
 * are listed by gradc_fn_res_name(): the outputs first, then derivatives
 * named like "dL/dw". `wrt` lists variable indices; NULL means every param. */
GradcFn *gradc_fn_value(Gradc *g);
GradcFn *gradc_fn_grad(Gradc *g, const int *wrt, int nwrt);
GradcFn *gradc_fn_jvp(Gradc *g, const int *wrt, int nwrt);
/* Value of output `out` and its vector-Jacobian product: one extra argument,
 * the cotangent (the output's shape); results: the value, then the adjoint
 * of each wrt variable. */
GradcFn *gradc_fn_vjp(Gradc *g, int out, const int *wrt, int nwrt);
/* Hessian of output `out` with respect to wrt (forward over reverse):
 * results are the output's value, then H row by row: for each element r
 * of the wrt variables flattened in order, one result per wrt variable
 * (its shape), named "d2L/dw/dx" (or "d2L/dV[r]/dx"). With scalar
 * variables that is one scalar per entry. */
GradcFn *gradc_fn_hessian(Gradc *g, int out, const int *wrt, int nwrt);
/* Hessian-vector product of scalar output `out` (forward over reverse, one
 * sweep; Pearlmutter 1994): arguments are the variables, then one tangent
 * v_k per wrt variable (its shape); results are the output's value, the
 * gradient with respect to each wrt variable ("dL/dw"), then H v for each
 * wrt variable ("d2L/dw.v", its shape), where v stacks the v_k in wrt
 * order. GRADC_ERR_USAGE (NULL, with a diagnostic) when `out` is not a
 * scalar output. */
GradcFn *gradc_fn_hvp(Gradc *g, int out, const int *wrt, int nwrt);

/* Call with the values set on the context (gradc_set_value..., then
 * gradc_set_defaults); `tangents` has one array per tangent argument (JVP
 * functions), else NULL. Results are read with gradc_fn_res_data and are
 * valid until the next run of f. */
GradcStatus gradc_run(GradcFn *f, const double *const *tangents);
const double *gradc_fn_res_data(const GradcFn *f, int i);
/* Shapes with the bound dimensions; returns the rank. */
int gradc_fn_res_shape(const GradcFn *f, int i, long *dims);
int gradc_fn_arg_shape(const GradcFn *f, int i, long *dims);
/* The low-level call: dims holds the symbolic dimensions' sizes (NULL if
 * the program has none), args one array per argument, res one per result. */
GradcStatus gradc_call_dims(GradcFn *f, const long *dims, const double *const *args,
                            double *const *res);

int gradc_fn_arg_count(const GradcFn *f);
const char *gradc_fn_arg_name(const GradcFn *f, int i);
int gradc_fn_res_count(const GradcFn *f);
const char *gradc_fn_res_name(const GradcFn *f, int i);
GradcStatus gradc_call(GradcFn *f, const double *const *args, double *const *res);
/* Arithmetic operations and calls in the function's code (x^n counts as
 * its n-1 multiplications): the cost model of the benchmarks. */
long gradc_fn_op_count(const GradcFn *f);
/* Seconds spent per stage: t[0] parsing, t[1] building the DAG (names,
 * folding, hash-consing), and for f: t[2] differentiation, t[3] emitting C,
 * t[4] compiling it (libtcc or cc). */
void gradc_timings(const Gradc *g, const GradcFn *f, double t[5]);

/* ---- the evaluation trace (the course's tables) ----------------------- */

/* One row per DAG node that the outputs depend on (constants are written
 * into the definitions), in evaluation order: "a4", "a2 * a3", its shape,
 * its value, its tangent along element `elem` of variable `wrt` (forward
 * mode) and its adjoint for output `out` (reverse mode; for a tensor output,
 * the adjoint of the sum of its elements). */
typedef struct GradcTraceRow {
  char name[16];
  char *def;
  int rank;
  long dims[4];     /* symbolic dimensions at their bound sizes */
  long size;        /* elements (1 for a scalar) */
  double *value, *tangent, *adjoint;  /* size elements each, row-major */
} GradcTraceRow;

typedef struct GradcTrace {
  GradcTraceRow *rows;
  int nrows;
  char **out_row;   /* per output: the row that holds it ("a6"), or its constant */
  int out_is_tensor; /* adjoints are of the sum of the output's elements */
} GradcTrace;

/* At the variables' values on the context (gradc_set_defaults first); the
 * tangent direction is the unit vector of flat (row-major) element `elem`
 * of variable `wrt` (0 for a scalar). Free with gradc_trace_free. */
GradcStatus gradc_trace(Gradc *g, int out, int wrt, long elem, GradcTrace **trace);
void gradc_trace_free(Gradc *g, GradcTrace *t);

/* ---- training -------------------------------------------------------- */

typedef enum GradcOptimizer { GRADC_GD, GRADC_MOMENTUM, GRADC_ADAM } GradcOptimizer;
typedef struct GradcTrainer GradcTrainer;

/* Minimise scalar output `loss` over every param, starting from the
 * params' values on the context (gradc_set_defaults first). batch > 0
 * takes seeded random mini-batches of that many rows along the data
 * dimension (the first symbolic dimension of the inputs). */
GradcTrainer *gradc_trainer_new(Gradc *g, int loss, GradcOptimizer opt, double lr, long batch,
                                unsigned long long seed);
/* One update; *loss gets the loss before it (on the batch).
 * GRADC_ERR_NONFINITE, with a diagnostic naming the step, when the loss or
 * an element of the gradient at the current params is not finite: nothing
 * is updated and the params go back to those before the previous update,
 * the last at which the loss and the gradient were finite (on a first step
 * they stay the initial ones). Also when the update itself would make a
 * param (or an optimizer moment) non-finite: then the params stay as they
 * are. The optimizer's moments are not rolled back. */
GradcStatus gradc_trainer_step(GradcTrainer *t, double *loss);
/* The number of updates that the params on the context have had (one
 * less after a step that went back). */
long gradc_trainer_steps(const GradcTrainer *t);
/* Put back the params from before the last update (e.g. when the loss on
 * the whole data is not finite after it), once; GRADC_ERR_USAGE when there
 * is nothing to go back to. */
GradcStatus gradc_trainer_revert(GradcTrainer *t);
/* Put the whole data back on the context, e.g. to evaluate metrics. */
GradcStatus gradc_trainer_full_data(GradcTrainer *t);
void gradc_trainer_free(GradcTrainer *t);

/* ---- the landscape of a scalar output (landscape.c) -------------------- */

/* How gradc_direction_random drew a direction. */
typedef enum GradcDirectionKind {
  GRADC_DIRECTION_FILTER = 0, /* filter-normalised; params of rank 0 and 1 get 0 */
  GRADC_DIRECTION_UNIT = 1,   /* no param of rank >= 2: Gaussian over every element */
} GradcDirectionKind;

/* A seeded random direction in param space: dir has one array per param
 * (declaration order), each as long as the param's current value. When a
 * param has rank >= 2 (a weight matrix), the direction is filter-normalised
 * as in Li et al., "Visualizing the Loss Landscape of Neural Nets" (NeurIPS
 * 2018): Gaussian entries, then each filter (a row of a matrix; a slice
 * along the first axis of a tensor) scaled to the Euclidean norm of the
 * same row of the param's value; params of rank 0 and 1 (biases, scalars)
 * get 0, as in Li et al., so the direction leaves them where they are.
 * Otherwise there are no filters: the direction is Gaussian over every
 * element, made orthogonal to `against` (if not NULL; one array per param)
 * and scaled to its norm (to 1 without it). `k` picks one of independent
 * directions of the same seed. *kind (if not NULL) says which was drawn.
 * GRADC_ERR_INPUT, with a diagnostic, when the direction is zero (every
 * row of every matrix param is zero, or nothing is orthogonal to
 * `against`); GRADC_ERR_USAGE when a param has no value. */
GradcStatus gradc_direction_random(Gradc *g, unsigned long long seed, int k,
                                   const double *const *against, double *const *dir,
                                   GradcDirectionKind *kind);

/* The values of scalar output `out` at the params
 *   p(a, b) = c + a d1 + b d2              (d1 given), or
 *   p(a, b) = (1 - a) c + a end + b d2     (end given: the straight line
 *                                           from c to end, as in Goodfellow
 *                                           et al., ICLR 2015)
 * for every a in alpha[na] and b in beta[nb], where c is the params' values
 * on the context (gradc_set_defaults first) and d1, end, d2 have one array
 * per param (declaration order, each of the param's size). Exactly one of
 * d1 and end; with d2 NULL the term b d2 is left out (a line: nb is 1 and
 * beta is ignored). Computed in that order in double precision without
 * fused multiply-adds, so a caller can rebuild p(a, b) bit for bit. Each
 * point is one call of gradc_fn_value's function, so values equal those of
 * gradc_run at p(a, b) to the last bit. values[j*na + i] gets the value at
 * (alpha[i], beta[j]); non-finite values are stored as they are. progress
 * (if not NULL) is called after each point with the points done and the
 * total. The values on the context are not changed. GRADC_ERR_USAGE when
 * `out` is not a scalar output or an argument is missing; the status of
 * the call when an evaluation fails (e.g. a label out of range). */
GradcStatus gradc_landscape(Gradc *g, int out, const double *const *d1, const double *const *end,
                            const double *const *d2, const double *alpha, long na,
                            const double *beta, long nb, double *values,
                            void (*progress)(void *opaque, long done, long total), void *opaque);

/* ---- emitting C ------------------------------------------------------- */

/* C source (and header) for every output's value, gradient and JVP
 * functions, per SPEC section 3. Strings are malloc'd; the caller frees. */
GradcStatus gradc_emit(Gradc *g, const char *prefix, char **source,
                       char **header, const char *header_name);
/* The calling convention of the functions gradc_emit writes (emit_array.c). */
typedef enum GradcAbi {
  GRADC_ABI_DEFAULT = 0, /* int P_F_grad(long N, double w, const double *X, ...,
                            double *L, double *g_dL_dw, ..., double *work) */
  GRADC_ABI_ARRAY = 1,   /* CasADi's generated code: int P_F_grad(const double **arg,
                            double **res, const long *dims, double *work), one pointer
                            per argument and result, with P_F_grad_n_in(), _n_out(),
                            _name_in(i), _name_out(i), _shape_in(i, dims, shape),
                            _shape_out(...) and _work(dims); the same bits as the
                            default ABI (the array functions call it). Names are the
                            variables' ("x", "tangent of x") and the results' as
                            gradc_fn_res_name gives them ("L", "dL/dw", "dL"). */
} GradcAbi;
void gradc_set_emit_abi(Gradc *g, GradcAbi abi);
/* The derivative of output `out` with respect to variable `var` as a
 * readable expression, shared subexpressions as "let tK = ..." lines and
 * the program's definitions by name. The string is malloc'd. */
GradcStatus gradc_diff_text(Gradc *g, int out, int var, char **text);
/* Graphviz text of the DAG (with the gradient nodes if `grad`). */
GradcStatus gradc_dot(Gradc *g, int grad, char **text);

#endif
